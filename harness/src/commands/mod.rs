//! What each subcommand does, one module each; [`crate::cli`] only parses and dispatches.
//!
//! - [`run`]: the sweep job (`harness run matrix.toml`).
//! - [`load`]: one ab-style run (`harness load URL`).
//! - [`compare`]: benchstat for results (`harness compare OLD NEW`).
//! - [`report`]: redraws a results directory's reports (`harness report DIR`).
//! - `list`, `serve`, `sample` and `verify` are a few lines each, here; the last two (and
//!   `serve --lifeline`, `load --lifeline`) are how a sweep works on other hosts.

pub mod compare;
pub mod load;
pub mod report;
pub mod run;

use std::process::ExitCode;

use std::io::Read;

use server_spec::cli::ServerArgs;

use crate::cli::{RemoteServeArgs, VerifyArgs};
use crate::registry;
use crate::report::table::{render, Align};

/// What `harness serve --lifeline` prints before its listening line; the group follows.
pub const PROCESS_GROUP_PREFIX: &str = "process group ";

/// Runs `then` on a thread of its own once standard input reaches its end: the launcher (ssh,
/// `ip netns exec`) that started this process through a pipe has gone.
pub fn lifeline(then: impl FnOnce() + Send + 'static) {
    let _ = std::thread::Builder::new().name("lifeline".into()).spawn(move || {
        let mut sink = [0u8; 512];
        let mut stdin = std::io::stdin().lock();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        then();
    });
}

/// `harness sample PGID`: what the group spends, as one JSON line.
pub fn sample(pgid: i32) -> ExitCode {
    match crate::cost::sample_group(pgid) {
        Ok(sample) => {
            println!(
                "{}",
                serde_json::json!({
                    "cpu_ns": u64::try_from(sample.cpu.as_nanos()).unwrap_or(u64::MAX),
                    "rss_kib": sample.rss_kib,
                    "threads": sample.threads,
                    "processes": sample.processes,
                })
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("Error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// `harness verify URL`: checks the answer; prints its notes as JSON, or the reason it fails.
pub fn verify(args: &VerifyArgs) -> ExitCode {
    let Some(how) = crate::plan::Verify::named(&args.how) else {
        eprintln!("Error: --how must be spec, status or body, not {:?}", args.how);
        return ExitCode::from(crate::cli::EXIT_CONFIG);
    };
    let checked = load::parse_target_url(&args.url, &args.declared_hosts).and_then(|(addr, path)| {
        let request = crate::load::request(&path, addr, args.keep_alive);
        crate::verify::verify(
            addr,
            &request,
            args.keep_alive,
            how,
            &std::sync::atomic::AtomicBool::new(false),
        )
    });
    match checked {
        Ok(notes) => {
            println!("{}", serde_json::json!(notes));
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("Error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// `harness list`: the registry as a table.
pub fn list() -> ExitCode {
    let rows: Vec<Vec<String>> = registry::VARIANTS
        .iter()
        .map(|v| {
            vec![v.name.into(), v.runtime.into(), v.io.name().into(), v.threading.into(), v.workers.into()]
        })
        .collect();
    let headers = ["variant", "runtime", "I/O", "threading model", "--workers N means"];
    print!("{}", render(&headers, &[Align::Left; 5], &rows));
    ExitCode::SUCCESS
}

/// `harness serve VARIANT`: runs one built-in in the foreground, exactly as its own binary
/// would (same exit statuses, including "not runnable here"). With `--lifeline` it leads its
/// own process group, says which, and stops when its standard input closes.
pub fn serve(name: &str, args: &ServerArgs, remote: &RemoteServeArgs) -> ExitCode {
    let Some(variant) = registry::find(name) else {
        eprintln!("Error: no variant `{name}`; known: {}", registry::names());
        return ExitCode::FAILURE;
    };
    if !remote.cpus.is_empty() {
        if let Err(err) = crate::affinity::set_affinity(0, &remote.cpus) {
            eprintln!("warning: cannot pin to CPUs {}: {err}", crate::affinity::cpu_list(&remote.cpus));
        }
    }
    if remote.lifeline {
        // SAFETY: setpgid and getpgrp have no memory-safety preconditions.
        let pgid = unsafe {
            libc::setpgid(0, 0);
            libc::getpgrp()
        };
        println!("{PROCESS_GROUP_PREFIX}{pgid}");
        // The graceful stop is the SIGTERM path every server has.
        lifeline(|| {
            // SAFETY: kill(2) on our own process.
            unsafe {
                libc::kill(libc::getpid(), libc::SIGTERM);
            }
        });
    }
    match server_common::start(variant, args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => server_common::report(&err),
    }
}
