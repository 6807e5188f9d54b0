//! `harness serve VARIANT`: one built-in in the foreground, exactly as its own binary would run
//! (same options, same exit statuses, including "not runnable here"). With `--lifeline` it is
//! a server on another host, started through that host's launcher (see [`crate::hosts`]).

use std::process::ExitCode;

use server_spec::cli::ServerArgs;

use super::exit;
use crate::hosts::protocol::{Named, ProcessGroup};
use crate::registry;

/// `harness serve`'s arguments: the variant, every server's options, and how it is tied to a
/// harness on another host.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// A name from `harness list`.
    pub variant: String,
    #[command(flatten)]
    pub server: ServerArgs,
    /// Serve until standard input closes (then stop as on SIGTERM), lead a process group of
    /// its own and say so (`process group N`) before the listening line: a server started
    /// through a launcher (ssh, ip netns exec) dies with its launcher.
    #[arg(long)]
    pub lifeline: bool,
    /// Pin the server to these CPUs (e.g. `0` or `0,2`): placement on a host the harness does
    /// not run on.
    #[arg(long, value_delimiter = ',')]
    pub cpus: Vec<usize>,
    /// What the sweep calls this server (its variant's name in the matrix): with
    /// `--lifeline`, said back first (`name "…"`), so the sweep sees it arrived whole.
    #[arg(long)]
    pub name: Option<String>,
}

pub fn run(args: &Args) -> ExitCode {
    let Some(variant) = registry::find(&args.variant) else {
        eprintln!("error: no variant `{}`; known: {}", args.variant, registry::names());
        return ExitCode::from(exit::CONFIG);
    };
    if !args.cpus.is_empty() {
        if let Err(err) = crate::affinity::set_affinity(0, &args.cpus) {
            eprintln!("warning: cannot pin to CPUs {}: {err}", crate::affinity::cpu_list(&args.cpus));
        }
    }
    if args.lifeline {
        // SAFETY: setpgid and getpgrp have no memory-safety preconditions.
        let pgid = unsafe {
            libc::setpgid(0, 0);
            libc::getpgrp()
        };
        if let Some(name) = &args.name {
            println!("{}", Named(name.clone()).line());
        }
        println!("{}", ProcessGroup(pgid).line());
        // The graceful stop is the SIGTERM path every server has.
        crate::hosts::lifeline(|| {
            // SAFETY: kill(2) on our own process.
            unsafe {
                libc::kill(libc::getpid(), libc::SIGTERM);
            }
        });
    }
    match server_common::start(variant, &args.server) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => server_common::report(&err),
    }
}
