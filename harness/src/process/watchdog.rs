//! No server outlives the harness, however the harness ends — even SIGKILL, which no handler
//! sees, and even for a server's grandchildren (a `sh -c` wrapper's child, nginx's workers),
//! which `PR_SET_PDEATHSIG` on the direct child does not reach.
//!
//! At start the harness runs a copy of itself as `harness watchdog`, in its own process group
//! and deaf to Ctrl-C, with a pipe on its stdin. The harness writes `+PGID` for every server
//! group it starts and `-PGID` once that group is stopped. When the pipe closes — the harness
//! exited, cleanly or not — the watchdog kills every group still registered and exits.

use std::collections::BTreeSet;
use std::io::{BufRead, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;

use anyhow::Context;

/// The harness's end of the watchdog.
#[derive(Debug)]
pub struct Watchdog {
    pipe: Mutex<ChildStdin>,
    _child: Child,
}

impl Watchdog {
    /// Starts `harness watchdog` (this very executable).
    pub fn start() -> anyhow::Result<Watchdog> {
        let exe = std::env::current_exe().context("cannot find the harness executable")?;
        Watchdog::start_with(&exe)
    }

    /// Starts `HARNESS watchdog`, for a program that is not the harness itself (a test).
    pub fn start_with(harness: &std::path::Path) -> anyhow::Result<Watchdog> {
        let mut child = Command::new(harness)
            .arg("watchdog")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start the watchdog that cleans up after the harness")?;
        let pipe = child.stdin.take().context("the watchdog has no stdin")?;
        Ok(Watchdog { pipe: Mutex::new(pipe), _child: child })
    }

    /// From now on, group `pgid` is killed if the harness ends before [`Watchdog::release`].
    pub fn guard(&self, pgid: i32) {
        self.send(&format!("+{pgid}\n"));
    }

    /// Group `pgid` is stopped: forget it (its number may be reused).
    pub fn release(&self, pgid: i32) {
        self.send(&format!("-{pgid}\n"));
    }

    fn send(&self, line: &str) {
        if let Ok(mut pipe) = self.pipe.lock() {
            // A dead watchdog cannot be helped; PR_SET_PDEATHSIG still covers direct children.
            let _ = pipe.write_all(line.as_bytes()).and_then(|()| pipe.flush());
        }
    }
}

/// `harness watchdog`: reads registrations from stdin until it closes, then kills every group
/// still registered.
pub fn run() -> ! {
    // SAFETY: setpgid and signal(SIG_IGN) have no memory-safety preconditions. Its own process
    // group keeps the terminal's Ctrl-C (sent to the harness's group) away from it; ignoring
    // SIGINT, SIGTERM and SIGHUP keeps it alive until its pipe says the harness is gone.
    unsafe {
        libc::setpgid(0, 0);
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::signal(signal, libc::SIG_IGN);
        }
    }
    let mut groups = BTreeSet::new();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let (sign, pgid) = line.split_at(line.len().min(1));
        match (sign, pgid.parse::<i32>()) {
            ("+", Ok(pgid)) if pgid > 1 => {
                groups.insert(pgid);
            }
            ("-", Ok(pgid)) => {
                groups.remove(&pgid);
            }
            _ => {}
        }
    }
    for pgid in groups {
        // SAFETY: kill(2) has no memory-safety preconditions; -pgid names a server's group,
        // which the harness created for it alone.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
    std::process::exit(0)
}
