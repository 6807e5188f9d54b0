//! A built-in server on another host, through that host's launcher (see [`crate::hosts`]):
//! `harness serve NAME --lifeline …` leads a process group of its own, says which
//! ([`ProcessGroup`]) before its listening line, and stops when its standard input closes — so
//! a killed harness or a dropped SSH session never leaves it running. Its cost is read on its
//! host by `harness sample PGID`; its answer is checked from the first load host (`harness
//! verify`), where the load will come from.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{ChildStdin, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use super::StartFailure;
use crate::cost::GroupSample;
use crate::hosts::protocol::{self, Named, ProcessGroup};
use crate::hosts::{cpu_args, declared, spawn_tied, url};
use crate::load::Job;
use crate::plan::{Host, Verify};
use crate::process::stderr_tail::StderrTail;
use crate::process::tied::TiedChild;
use crate::process::watchdog::Watchdog;

/// How long a remote server may take to say it is listening (an SSH connection included).
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A built-in server on another host.
#[derive(Debug)]
pub struct RemoteServer {
    /// The local launcher process (ssh, ip netns exec → harness serve), leading its group.
    launcher: TiedChild,
    /// The lifeline: closing it stops the server.
    lifeline: Option<ChildStdin>,
    pub addr: SocketAddr,
    /// The server's process group on its host.
    pub remote_pgid: i32,
    /// The variant's name, which the server says back (see [`protocol::Named`]).
    name: String,
    pub argv: Vec<String>,
    host: Host,
    stderr: StderrTail,
}

impl RemoteServer {
    /// Starts built-in `builtin` as variant `name` on `host` and waits for its listening line.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        name: &str,
        builtin: &str,
        port: u16,
        workers: usize,
        cpus: &[usize],
        host: &Host,
        watchdog: &Arc<Watchdog>,
        interrupt: &AtomicBool,
    ) -> Result<RemoteServer, StartFailure> {
        let mut args: Vec<String> = ["serve", builtin, "--addr"].iter().map(|s| (*s).to_owned()).collect();
        args.extend([
            host.address.to_string(),
            "--port".into(),
            port.to_string(),
            "--workers".into(),
            workers.to_string(),
        ]);
        args.extend(["--lifeline".into(), "--name".into(), name.to_owned()]);
        if !cpus.is_empty() {
            args.extend(["--cpus".into(), cpu_args(cpus)]);
        }
        let command = host.harness(&args);
        let argv: Vec<String> = std::iter::once(command.get_program())
            .chain(command.get_args())
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let mut launcher = spawn_tied(command, watchdog).map_err(|err| match err.kind() {
            std::io::ErrorKind::NotFound => StartFailure::NotRunnable(format!(
                "the launcher `{}` of host `{}` is not installed ({err})",
                host.launcher[0], host.name
            )),
            _ => StartFailure::Failed(format!("cannot start `{}`: {err}", argv.join(" "))),
        })?;
        let stderr = StderrTail::follow(&mut launcher.child);
        let lifeline = launcher.child.stdin.take();
        let mut server = RemoteServer {
            launcher,
            lifeline,
            addr: SocketAddr::new(host.address, port),
            remote_pgid: 0,
            name: name.to_owned(),
            argv,
            host: host.clone(),
            stderr,
        };
        if let Err(reason) = server.await_ready(interrupt) {
            let said = server.stderr.last_words();
            server.kill();
            let status = server.launcher.exited().and_then(|s| s.code());
            if status == Some(i32::from(server_common::EXIT_NOT_RUNNABLE)) {
                return Err(StartFailure::NotRunnable(
                    said.strip_prefix("Error: ").unwrap_or(&said).to_owned(),
                ));
            }
            let said = if said.is_empty() { String::new() } else { format!(": {said}") };
            return Err(StartFailure::Failed(format!(
                "did not start on host `{}`: {reason}{said} (command: {})",
                server.host.name,
                server.argv.join(" ")
            )));
        }
        Ok(server)
    }

    /// Reads `process group N`, then the listening line.
    fn await_ready(&mut self, interrupt: &AtomicBool) -> Result<(), String> {
        let stdout = self.launcher.child.stdout.take().ok_or("no stdout")?;
        let (lines_tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines_tx.send(line);
            }
        });
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut named_back = false;
        loop {
            if let Some(status) = self.exit_status() {
                return Err(format!("exited ({status})"));
            }
            if interrupt.load(Ordering::Relaxed) {
                return Err("interrupted".into());
            }
            if Instant::now() >= deadline {
                return Err(format!("no `listening on` line within {READY_TIMEOUT:?}"));
            }
            match lines.recv_timeout(Duration::from_millis(50)) {
                Ok(line) => {
                    if let Some(named) = Named::parse(&line) {
                        named?.check(&self.name, &self.host.name)?;
                        named_back = true;
                    } else if let Some(group) = ProcessGroup::parse(&line) {
                        self.remote_pgid = group?.0;
                    } else if let Some(addr) = server_spec::cli::parse_listening_line(&line) {
                        // Its cost is read by process group: without one, nothing is measured.
                        if self.remote_pgid <= 0 {
                            return Err("listening before saying its process group".into());
                        }
                        if !named_back {
                            return Err("listening before saying the name it was started with".into());
                        }
                        self.addr = addr;
                        return Ok(());
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(Duration::from_millis(50));
                    return Err(self
                        .exit_status()
                        .map_or_else(|| "closed its stdout".to_owned(), |s| format!("exited ({s})")));
                }
            }
        }
    }

    /// Reads what the server's process group has spent, on its host.
    pub fn sample(&self) -> Option<GroupSample> {
        sample_on(&self.host, self.remote_pgid)
    }

    /// The launcher's exit status (the remote server's), if it has exited.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.launcher.exit_status()
    }

    /// The local launcher process: it ends when the remote server does.
    pub fn local_pid(&self) -> i32 {
        self.launcher.pgid
    }

    /// The server's last stderr lines (through the launcher), as one line.
    pub fn last_words(&self) -> String {
        self.stderr.last_words()
    }

    /// Closes the lifeline (the server stops as on SIGTERM) and waits `grace` for it; then
    /// kills the launcher.
    pub fn stop(mut self, grace: Duration) -> Option<ExitStatus> {
        self.lifeline = None;
        self.launcher.wait_for_exit(grace);
        self.kill();
        self.launcher.exited()
    }

    fn kill(&mut self) {
        self.lifeline = None;
        self.launcher.kill();
    }
}

impl Drop for RemoteServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `harness sample PGID` on `host`.
pub fn sample_on(host: &Host, pgid: i32) -> Option<GroupSample> {
    // Group 0 would be the kernel's threads, not a server.
    if pgid <= 0 {
        return None;
    }
    let asked = Instant::now();
    let output = host.harness(&["sample".into(), pgid.to_string()]).stdin(Stdio::null()).output().ok()?;
    // The host read /proc somewhere between asking and answering: the middle is the best guess.
    let at = asked + asked.elapsed() / 2;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout);
    protocol::parse::<protocol::Sample>(&text, "harness sample").ok().map(|sample| sample.at(at))
}

/// `harness verify` on `host`: the server's answer, checked where the load comes from.
pub fn verify_from(host: &Host, job: &Job, how: Verify) -> anyhow::Result<Vec<String>> {
    let mut args = vec!["verify".to_owned(), url(job), "--how".into(), how.name().into()];
    if job.keep_alive {
        args.push("-k".into());
    }
    args.extend(declared(job));
    let output = host.harness(&args).stdin(Stdio::null()).output()?;
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stderr);
        let said = said.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no reason given");
        anyhow::bail!("{} (checked from host `{}`)", said.strip_prefix("Error: ").unwrap_or(said), host.name);
    }
    let what = format!("harness verify on host `{}`", host.name);
    let verified: protocol::Verified =
        protocol::parse(&String::from_utf8_lossy(&output.stdout), &what).map_err(anyhow::Error::msg)?;
    Ok(verified.0)
}
