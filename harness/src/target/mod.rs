//! Where a server under test runs, and its whole life there: started in a process group of its
//! own, proven to be the one listening on its port, watched for its death, sampled for what it
//! spends, and always cleaned up — on this machine ([`local`]) or on another host through that
//! host's launcher ([`remote`]). The sweep sees one [`Server`] either way.
//!
//! # Layout
//! - [`local`]: a server as a child process here (a built-in, or any `command`).
//! - [`remote`]: a built-in on another host (`harness serve --lifeline` through its launcher).
//! - [`sockets`]: who listens on (or holds) a port, from `/proc/net/tcp*`.
//! - [`ports`]: a port below the ephemeral range for a `command` that leaves `port` out.
//! - [`awake`]: the CPUs a server and its load run on, kept out of their idle states.
//! - The processes themselves are [`crate::process`]: tied to the harness, never orphaned.

pub mod awake;
pub mod local;
pub mod ports;
pub mod remote;
pub mod sockets;

use std::net::SocketAddr;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub use local::LocalServer;
pub use remote::RemoteServer;

/// How long a stopping server gets between SIGTERM and SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(2);

/// The grace after an interrupt: the sweep must end within a second whatever servers do.
pub const INTERRUPTED_GRACE: Duration = Duration::from_millis(300);

/// Why a server could not be started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartFailure {
    /// This machine cannot run it (see [`crate::results::ProblemKind::NotRunnable`]).
    #[error("not runnable here: {0}")]
    NotRunnable(String),
    #[error("{0}")]
    Failed(String),
}

/// Whether a stop went as it should: built-ins exit 0 on SIGTERM (the spec says so); other
/// programs may also simply die of the signal.
pub fn stopped_cleanly(status: Option<ExitStatus>, builtin: bool) -> Result<(), String> {
    match status {
        Some(status) if status.success() => Ok(()),
        Some(status) if !builtin && status.signal() == Some(libc::SIGTERM) => Ok(()),
        Some(status) => Err(format!("the server did not stop cleanly on SIGTERM ({status})")),
        None => Err("the server's exit status is unknown".into()),
    }
}

/// Watches a process for its exit from a thread of its own (a pidfd, polled): a run in
/// progress stops at once when its server dies, instead of hammering a dead port.
#[derive(Debug)]
pub struct DeathWatch {
    /// Set once the process has exited.
    pub died: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DeathWatch {
    /// Starts watching `pid`; [`DeathWatch::died`] is set once it exits, while this lives.
    pub fn start(pid: i32) -> DeathWatch {
        let died = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicBool::new(false));
        let (flag, stop) = (died.clone(), done.clone());
        let thread = std::thread::Builder::new()
            .name("death-watch".into())
            .spawn(move || {
                let pidfd = pidfd_open(pid);
                while !stop.load(Ordering::Relaxed) {
                    let exited = match &pidfd {
                        Some(fd) => poll_readable(fd, 50),
                        None => {
                            std::thread::sleep(Duration::from_millis(10));
                            !alive(pid)
                        }
                    };
                    if exited {
                        flag.store(true, Ordering::Relaxed);
                        return;
                    }
                }
            })
            .ok();
        DeathWatch { died, done, thread }
    }
}

impl Drop for DeathWatch {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A pidfd for `pid` (Linux 5.3+): readable once the process exits.
fn pidfd_open(pid: i32) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = i32::try_from(fd).ok().filter(|fd| *fd >= 0)?;
    // SAFETY: `fd` is a descriptor the kernel just gave us and nobody else owns.
    Some(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

fn poll_readable(fd: &std::os::fd::OwnedFd, timeout_ms: i32) -> bool {
    use std::os::fd::AsRawFd;
    let mut pollfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: poll reads and writes the one pollfd we pass.
    let ready = unsafe { libc::poll(&mut pollfd, 1, timeout_ms) };
    ready > 0 && pollfd.revents != 0
}

/// Whether `pid` is alive and not a zombie (the fallback without pidfds).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit(')').next().map(|rest| !rest.trim_start().starts_with('Z')))
        .unwrap_or(false)
}

/// A server under test, on this machine or on another host.
#[derive(Debug)]
pub enum Server {
    Local(LocalServer),
    Remote(RemoteServer),
}

impl Server {
    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        match self {
            Server::Local(server) => server.addr,
            Server::Remote(server) => server.addr,
        }
    }

    /// The exit status (of the launcher, for a remote server), if it has exited.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        match self {
            Server::Local(server) => server.exit_status(),
            Server::Remote(server) => server.exit_status(),
        }
    }

    /// Its last stderr lines, as one line.
    pub fn last_words(&self) -> String {
        match self {
            Server::Local(server) => server.last_words(),
            Server::Remote(server) => server.last_words(),
        }
    }

    /// Watches the server's (local) process for its end: a remote server's launcher ends
    /// with it.
    pub fn watch(&self) -> DeathWatch {
        match self {
            Server::Local(server) => DeathWatch::start(server.pgid),
            Server::Remote(server) => DeathWatch::start(server.local_pid()),
        }
    }

    /// What its process group has spent so far, read on its host.
    pub fn sample(&self) -> Option<crate::cost::GroupSample> {
        match self {
            Server::Local(server) => crate::cost::sample_group(server.pgid).ok().map(|mut sample| {
                sample.mechanics = server.counters.as_ref().ok().and_then(|c| c.read());
                sample
            }),
            Server::Remote(server) => server.sample(),
        }
    }

    /// The CPUs its process may run on, as read back (unknown for a remote one).
    pub fn cpus_in_force(&self) -> &[usize] {
        match self {
            Server::Local(server) => &server.cpus_in_force,
            Server::Remote(_) => &[],
        }
    }

    /// The command line it was started with.
    pub fn argv(&self) -> &[String] {
        match self {
            Server::Local(server) => &server.argv,
            Server::Remote(server) => &server.argv,
        }
    }

    /// Stops it (SIGTERM, or closing a remote one's lifeline), killing it after `grace`.
    pub fn stop(self, grace: Duration) -> Option<ExitStatus> {
        match self {
            Server::Local(server) => server.stop(grace),
            Server::Remote(server) => server.stop(grace),
        }
    }
}
