//! Starting a server binary on an ephemeral port and stopping it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a server may take to print its `listening on` line.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running server process, killed if dropped without [`ServerProcess::stop`].
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
}

impl ServerProcess {
    /// Starts `program ARGS… --port 0` and waits for its `listening on` line.
    pub fn start(program: &str, args: &[&str]) -> ServerProcess {
        ServerProcess::try_start(program, args, &[]).unwrap_or_else(|err| panic!("{err}"))
    }

    /// Like [`ServerProcess::start`], with extra environment variables; an error carries
    /// what the server printed to stderr.
    pub fn try_start(program: &str, args: &[&str], env: &[(&str, &str)]) -> Result<ServerProcess, String> {
        let mut child = Command::new(program)
            .args(args)
            .args(["--port", "0"])
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|err| format!("cannot start {program}: {err}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (line_tx, line_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = line_tx.send(lines.next());
            // Keep reading so the server never blocks on a full pipe.
            for _ in lines {}
        });
        let line = match line_rx.recv_timeout(START_TIMEOUT) {
            Ok(Some(Ok(line))) => line,
            _ => {
                let _ = child.kill();
                let output = child.wait_with_output().map_err(|err| err.to_string())?;
                return Err(format!(
                    "{program} did not print a listening line; status {}, stderr: {}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr).trim()
                ));
            }
        };
        let addr = server_spec::cli::parse_listening_line(&line)
            .ok_or_else(|| format!("{program} printed {line:?}, not a listening line"))?;
        Ok(ServerProcess { child, addr })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits (at most 5 s) for the exit; returns the status and how long
    /// the exit took.
    pub fn stop(mut self) -> (ExitStatus, Duration) {
        let started = Instant::now();
        signal(self.child.id(), libc::SIGTERM);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return (status, started.elapsed());
            }
            if started.elapsed() > Duration::from_secs(5) {
                let _ = self.child.kill();
                panic!("server did not exit within 5 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// [`ServerProcess::stop`], asserting a clean exit within the spec's 2 s grace.
    pub fn stop_cleanly(self) {
        let (status, took) = self.stop();
        assert!(status.success(), "server exited with {status} after SIGTERM");
        assert!(took < Duration::from_millis(2500), "server took {took:?} to exit");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn signal(pid: u32, signal: i32) {
    let pid = libc::pid_t::try_from(pid).expect("pid fits pid_t");
    // SAFETY: kill(2) has no memory-safety preconditions; the pid is our own child's.
    unsafe {
        libc::kill(pid, signal);
    }
}

/// Runs `program ARGS… --port 0` with `env` and waits (at most 20 s) for it to exit by
/// itself; returns its exit status and stderr. Panics if it is still running then.
pub fn run_to_exit(program: &str, args: &[&str], env: &[(&str, &str)]) -> (ExitStatus, String) {
    let mut child = Command::new(program)
        .args(args)
        .args(["--port", "0"])
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start {program}: {err}"));
    let started = Instant::now();
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            let output = child.wait_with_output().expect("collect output");
            return (output.status, String::from_utf8_lossy(&output.stderr).into_owned());
        }
        if started.elapsed() > START_TIMEOUT {
            let _ = child.kill();
            panic!("{program} kept running; it was expected to exit");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
