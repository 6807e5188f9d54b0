//! The subcommands a sweep runs on other hosts through their launchers (and on this machine),
//! beside `serve --lifeline` and `load --report`: `harness sample PGID` (what a server's
//! process group has spent), `harness verify URL` (a server's answer, checked from where the
//! load comes from) and `harness awake --cpus LIST` (the measured CPUs kept out of their idle
//! states). Each prints one line of [`crate::hosts::protocol`].

use std::process::ExitCode;

use super::exit;
use crate::hosts::protocol::{self, Awake, Sample, Verified};

/// `harness sample`'s arguments.
#[derive(Debug, clap::Args)]
pub struct SampleArgs {
    /// The process group to read.
    pub pgid: i32,
}

/// `harness verify`'s arguments: one request, checked.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// `http://ADDR:PORT/path` of the server.
    pub url: String,
    /// `spec`, `status` or `body` (see matrix.toml's `verify`).
    #[arg(long, default_value = "spec")]
    pub how: String,
    /// Send the keep-alive (HTTP/1.1) request instead of ab's HTTP/1.0 one.
    #[arg(short = 'k', long)]
    pub keep_alive: bool,
    /// Addresses besides loopback that requests may go to (the hosts a matrix declares).
    #[arg(long = "declared-host", value_delimiter = ',')]
    pub declared_hosts: Vec<std::net::IpAddr>,
}

/// `harness awake`'s arguments.
#[derive(Debug, clap::Args)]
pub struct AwakeArgs {
    /// The CPUs to keep awake, e.g. `0,1`.
    #[arg(long, value_delimiter = ',', required = true)]
    pub cpus: Vec<usize>,
}

/// `harness awake --cpus LIST`: keeps the CPUs out of their idle states (see
/// [`crate::machine::idle`]) until standard input closes, after one [`Awake`] line saying how;
/// exit 69 when it cannot here.
pub fn awake(args: &AwakeArgs) -> ExitCode {
    let how = match crate::machine::idle::keep_awake(&args.cpus) {
        Ok(how) => how,
        Err(why) => {
            eprintln!("Error: cannot keep CPUs awake: {why}");
            return ExitCode::from(server_common::EXIT_NOT_RUNNABLE);
        }
    };
    println!("{}", Awake(how).line());
    let _ = std::io::Write::flush(&mut std::io::stdout());
    // Until the harness that started it is gone: its end of our standard input closes.
    let mut sink = [0u8; 64];
    while matches!(std::io::Read::read(&mut std::io::stdin().lock(), &mut sink), Ok(n) if n > 0) {}
    ExitCode::SUCCESS
}

/// `harness sample PGID`: what the group spends, as one [`Sample`] line.
pub fn sample(args: &SampleArgs) -> ExitCode {
    match crate::cost::sample_group(args.pgid) {
        Ok(sample) => {
            println!("{}", protocol::line(&Sample::of(&sample)));
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("Error: {err}");
            ExitCode::from(exit::FAILURES)
        }
    }
}

/// `harness verify URL`: checks the answer; prints its notes as one [`Verified`] line, or the
/// reason it fails.
pub fn verify(args: &VerifyArgs) -> ExitCode {
    let Some(how) = crate::plan::Verify::named(&args.how) else {
        eprintln!("Error: --how must be spec, status or body, not {:?}", args.how);
        return ExitCode::from(exit::CONFIG);
    };
    let (addr, path) = match super::load::parse_target_url(&args.url, &args.declared_hosts) {
        Ok(target) => target,
        Err(err) => {
            eprintln!("Error: {err:#}");
            return ExitCode::from(exit::CONFIG);
        }
    };
    let request = crate::load::request(&path, addr, args.keep_alive);
    let never = std::sync::atomic::AtomicBool::new(false);
    match crate::verify::verify(addr, &request, args.keep_alive, how, &never) {
        Ok(notes) => {
            println!("{}", protocol::line(&Verified(notes)));
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("Error: {err:#}");
            ExitCode::from(exit::FAILURES)
        }
    }
}
