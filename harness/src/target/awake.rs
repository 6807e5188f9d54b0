//! The measured CPUs kept awake for a scenario with `cpu_idle = "awake"`: `harness awake
//! --cpus LIST` (see [`crate::machine::idle`]) as a child tied to the harness like a server —
//! its own process group, never a server's (so never counted in its CPU), dead with the
//! harness even after SIGKILL (the watchdog), stopped when its standard input closes — here,
//! or on another host through its launcher.

use std::process::{Command, Stdio};
use std::sync::Arc;

use crate::hosts::protocol::Awake;
use crate::process::stderr_tail::StderrTail;
use crate::process::tied::TiedChild;
use crate::process::watchdog::Watchdog;

/// How long `harness awake` may take to say how it keeps the CPUs awake (through SSH, too).
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// A running `harness awake`, here or on another host; dropping it lets the CPUs sleep again.
#[derive(Debug)]
pub struct Keeper {
    child: TiedChild,
    /// How the CPUs are kept awake, as it said.
    pub how: String,
}

impl Keeper {
    /// Keeps `cpus` awake through `command` (`harness awake --cpus LIST`, here or through a
    /// launcher); waits for it to say how, or says why it could not.
    pub fn start(mut command: Command, watchdog: &Arc<Watchdog>) -> Result<Keeper, String> {
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = TiedChild::spawn(command, watchdog, || {}).map_err(|err| err.to_string())?;
        let stderr = StderrTail::follow(&mut child.child);
        // Its one line, read on a thread of its own: a keeper that neither speaks nor exits
        // must not hang the sweep.
        let (line_tx, line_rx) = std::sync::mpsc::channel();
        if let Some(stdout) = child.child.stdout.take() {
            std::thread::spawn(move || {
                let mut line = String::new();
                let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line);
                let _ = line_tx.send(line);
            });
        }
        let line = line_rx.recv_timeout(READY_TIMEOUT).unwrap_or_default();
        match Awake::parse(&line) {
            Some(Awake(how)) => Ok(Keeper { child, how }),
            None => {
                child.wait_for_exit(std::time::Duration::from_millis(500));
                let said = stderr.last_words();
                Err(if said.is_empty() { "it exited without saying how".to_owned() } else { said })
            }
        }
    }

    /// `harness awake --cpus LIST` on this machine.
    pub fn here(cpus: &[usize], watchdog: &Arc<Watchdog>) -> Result<Keeper, String> {
        let exe =
            std::env::current_exe().map_err(|err| format!("cannot find the harness executable: {err}"))?;
        let mut command = Command::new(exe);
        command.args(["awake", "--cpus", &crate::hosts::cpu_args(cpus)]);
        Keeper::start(command, watchdog)
    }

    /// The process keeping the CPUs awake (for tests and for `ps`).
    pub fn pid(&self) -> u32 {
        self.child.child.id()
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        // Closing its standard input ends it; the kill makes sure, group and all.
        self.child.child.stdin = None;
        self.child.wait_for_exit(std::time::Duration::from_millis(200));
        self.child.kill();
    }
}
