//! Other hosts, reached through each one's launcher: the command prefix that runs a program
//! there (`ssh … bench@10.0.0.2`, `ip netns exec srv`). No agent: the other host runs the same
//! `harness`, and the two talk through the launcher's pipes in the lines of [`protocol`].
//!
//! A program started so is tied to its launcher by a lifeline: its standard input. When the
//! launcher goes (the harness stopped or was killed, the SSH session dropped), the pipe closes
//! and the program stops as on SIGTERM, so nothing is ever left running on a host.
//!
//! # Layout
//! - [`protocol`]: every line and JSON message that crosses, as types both ends use.
//! - [`load`]: a load split over the load hosts, run at once, and merged exactly.
//! - Servers on another host are [`crate::target::remote`].

pub mod load;
pub mod protocol;

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::Arc;

use crate::load::Job;
use crate::plan::Host;
use crate::process::tied::TiedChild;
use crate::process::watchdog::Watchdog;

impl Host {
    /// A command that runs `harness ARGS` on this host.
    pub fn harness(&self, args: &[String]) -> Command {
        let mut command = Command::new(&self.launcher[0]);
        command.args(&self.launcher[1..]).arg(&self.harness).args(args);
        command
    }
}

/// Starts a launcher (`command`) tied to the harness (see [`TiedChild`]), its standard input
/// a pipe: the lifeline.
pub fn spawn_tied(mut command: Command, watchdog: &Arc<Watchdog>) -> std::io::Result<TiedChild> {
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    TiedChild::spawn(command, watchdog, || {})
}

/// The other end of a lifeline: runs `then` on a thread of its own once standard input reaches
/// its end, because the launcher that started this process through a pipe has gone.
pub fn lifeline(then: impl FnOnce() + Send + 'static) {
    let _ = std::thread::Builder::new().name("lifeline".into()).spawn(move || {
        let mut sink = [0u8; 512];
        let mut stdin = std::io::stdin().lock();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        then();
    });
}

/// CPUs as `--cpus` takes them: `0,2,3` (never a range, which `--cpus` does not read).
pub fn cpu_args(cpus: &[usize]) -> String {
    cpus.iter().map(usize::to_string).collect::<Vec<_>>().join(",")
}

/// The URL of `job`'s target, as `harness load` and `harness verify` take it.
pub fn url(job: &Job) -> String {
    format!("http://{}{}", job.addr, job.path)
}

/// `--declared-host` arguments for the hosts `job` may send to.
pub fn declared(job: &Job) -> Vec<String> {
    job.allowed.iter().flat_map(|ip| ["--declared-host".to_owned(), ip.to_string()]).collect()
}
