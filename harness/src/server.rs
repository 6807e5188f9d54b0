//! A server under test: started as a child process in its own process group, pinned to the
//! server CPUs, announced (or reachable), and always cleaned up.
//!
//! No orphans: the child gets `PR_SET_PDEATHSIG(SIGKILL)`, so it dies if the harness dies
//! however it dies; dropping a [`RunningServer`] kills its whole process group; a normal stop
//! is SIGTERM, then SIGKILL after 2 s.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::matrix::{Launch, VariantPlan};

/// How long a server may take to announce itself or accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a stopping server gets between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// Lines of a server's stderr kept for error messages.
const STDERR_TAIL: usize = 20;

/// A started server.
#[derive(Debug)]
pub struct RunningServer {
    child: Child,
    pub addr: SocketAddr,
    stderr: Arc<Mutex<VecDeque<String>>>,
    exited: Option<ExitStatus>,
}

/// The command line that starts `plan`'s server.
pub fn command_line(plan: &VariantPlan) -> anyhow::Result<Vec<String>> {
    Ok(match &plan.launch {
        Launch::Builtin(variant) => {
            let harness = std::env::current_exe().context("cannot find the harness executable")?;
            vec![
                harness.to_string_lossy().into_owned(),
                "serve".into(),
                variant.name.into(),
                "--port".into(),
                plan.port.to_string(),
                "--workers".into(),
                plan.workers.to_string(),
            ]
        }
        Launch::Command(args) => args
            .iter()
            .map(|arg| {
                arg.replace("{port}", &plan.port.to_string()).replace("{workers}", &plan.workers.to_string())
            })
            .collect(),
    })
}

/// Starts `plan`'s server on `cpus` and waits until it is ready.
pub fn start(plan: &VariantPlan, cpus: &[usize]) -> anyhow::Result<RunningServer> {
    let argv = command_line(plan)?;
    let (program, args) = argv.split_first().context("empty command")?;
    let mut command = Command::new(program);
    command.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    let cpus = cpus.to_vec();
    // SAFETY: between fork and exec the closure makes only async-signal-safe system calls
    // (prctl, sched_setaffinity) and allocates nothing.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            crate::affinity::set_affinity(0, &cpus)
        });
    }
    let mut child = command.spawn().with_context(|| format!("cannot start `{}`", argv.join(" ")))?;
    let stderr = Arc::new(Mutex::new(VecDeque::new()));
    if let Some(pipe) = child.stderr.take() {
        let tail = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if let Ok(mut tail) = tail.lock() {
                    if tail.len() == STDERR_TAIL {
                        tail.pop_front();
                    }
                    tail.push_back(line);
                }
            }
        });
    }
    let (line_tx, line_rx) = mpsc::channel();
    if let Some(pipe) = child.stdout.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                // Only the first listening line matters; keep draining so the child never blocks.
                let _ = line_tx.send(line);
            }
        });
    }
    let mut server = RunningServer {
        child,
        addr: SocketAddr::from((Ipv4Addr::LOCALHOST, plan.port)),
        stderr,
        exited: None,
    };
    let ready = match plan.launch {
        Launch::Builtin(_) => server.await_listening_line(&line_rx, plan.port),
        Launch::Command(_) => server.await_accepting(),
    };
    if let Err(err) = ready {
        server.kill();
        return Err(err.context(format!(
            "`{}` did not become ready{}",
            argv.join(" "),
            server.stderr_note()
        )));
    }
    Ok(server)
}

impl RunningServer {
    fn await_listening_line(&mut self, lines: &mpsc::Receiver<String>, port: u16) -> anyhow::Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            self.check_alive()?;
            let left = deadline.saturating_duration_since(Instant::now());
            anyhow::ensure!(!left.is_zero(), "no `listening on` line within {READY_TIMEOUT:?}");
            match lines.recv_timeout(left.min(Duration::from_millis(50))) {
                Ok(line) => {
                    if let Some(addr) = server_spec::cli::parse_listening_line(&line) {
                        anyhow::ensure!(
                            port == 0 || addr.port() == port,
                            "asked for port {port}, got {addr}"
                        );
                        self.addr = addr;
                        return Ok(());
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(Duration::from_millis(20));
                    self.check_alive()?;
                    anyhow::bail!("closed its stdout without a `listening on` line");
                }
            }
        }
    }

    fn await_accepting(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            self.check_alive()?;
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "nothing accepted on {} within {READY_TIMEOUT:?}",
                self.addr
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Fails if the server has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.exit_status() {
            anyhow::bail!("the server exited ({status}){}", self.stderr_note());
        }
        Ok(())
    }

    /// The exit status, if the server has exited.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().ok().flatten();
        }
        self.exited
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last lines the server wrote to stderr, as a note for messages.
    pub fn stderr_note(&self) -> String {
        let tail = self
            .stderr
            .lock()
            .map(|tail| tail.iter().cloned().collect::<Vec<_>>().join(" | "))
            .unwrap_or_default();
        if tail.is_empty() {
            String::new()
        } else {
            format!("; its stderr: {tail}")
        }
    }

    /// SIGTERM to the process group, SIGKILL after [`STOP_GRACE`]. Returns how it exited.
    pub fn stop(mut self) -> Option<ExitStatus> {
        if self.exit_status().is_none() {
            self.signal_group(libc::SIGTERM);
            let deadline = Instant::now() + STOP_GRACE;
            while self.exit_status().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        self.kill();
        self.exited
    }

    /// SIGKILL to the whole process group, then reap the child.
    fn kill(&mut self) {
        self.signal_group(libc::SIGKILL);
        if self.exited.is_none() {
            self.exited = self.child.wait().ok();
        }
    }

    fn signal_group(&self, signal: libc::c_int) {
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: kill(2) has no memory-safety preconditions; -pid names the group the
            // child leads (process_group(0)), which holds only the server and its children.
            unsafe {
                libc::kill(-pid, signal);
            }
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.kill();
    }
}
