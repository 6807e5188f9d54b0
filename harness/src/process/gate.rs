//! A gate before a child's program: `harness gate -- PROGRAM ARGS…` waits until the harness
//! opens it, then becomes PROGRAM (exec, same process). Meanwhile the harness attaches what
//! must see the program from its first instruction — inherited perf counters (see
//! [`crate::mechanics`]), which then count every thread and child it will ever start.
//!
//! (The wait cannot be done between fork and exec in the harness's own `pre_exec`: the standard
//! library's spawn waits for the exec before it returns, so the child would wait for a parent
//! that waits for it.)

use std::ffi::OsString;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

/// The environment variable that tells `harness gate` which descriptor to wait on.
const GATE_FD: &str = "RUNTIME_MATRIX_GATE_FD";

/// The harness's end of a gate.
#[derive(Debug)]
pub struct Gate {
    /// Closed in the harness once the child has it; its copy in the child is what it waits on.
    wait_end: OwnedFd,
    /// Writing a byte (or closing) opens the gate.
    open_end: Option<std::fs::File>,
}

impl Gate {
    pub fn new() -> std::io::Result<Gate> {
        let mut fds = [0 as RawFd; 2];
        // SAFETY: pipe2 writes two descriptors into `fds`.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: both descriptors are new and ours alone.
        let (wait_end, open_end) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), std::fs::File::from_raw_fd(fds[1])) };
        Ok(Gate { wait_end, open_end: Some(open_end) })
    }

    /// `harness gate -- PROGRAM ARGS…` for `command`'s program and arguments, with its
    /// environment, and the wait end handed down.
    pub fn wrap(&self, command: &Command) -> std::io::Result<Command> {
        let harness = std::env::current_exe()?;
        let mut gated = Command::new(harness);
        gated.arg("gate").arg("--").arg(command.get_program()).args(command.get_args());
        for (key, value) in command.get_envs() {
            match value {
                Some(value) => gated.env(key, value),
                None => gated.env_remove(key),
            };
        }
        if let Some(dir) = command.get_current_dir() {
            gated.current_dir(dir);
        }
        let fd = self.wait_end.as_raw_fd();
        gated.env(GATE_FD, fd.to_string());
        // SAFETY: fcntl is async-signal-safe; it clears close-on-exec on the child's copy of
        // the wait end only (the harness's keeps it).
        unsafe {
            gated.pre_exec(move || {
                if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        Ok(gated)
    }

    /// Lets the program run.
    pub fn open(&mut self) {
        if let Some(mut end) = self.open_end.take() {
            let _ = end.write_all(b"g");
        }
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        // A gate never opened would hold its child forever: open it on the way out.
        self.open();
    }
}

/// `harness gate -- PROGRAM ARGS…`: waits on the descriptor the harness gave, then execs
/// PROGRAM; exit 127 if it cannot be run, as a shell does.
pub fn run(program: &[OsString]) -> ExitCode {
    let Some((program, args)) = program.split_first() else {
        eprintln!("Error: harness gate -- PROGRAM [ARGS…]");
        return ExitCode::from(2);
    };
    if let Some(fd) = std::env::var(GATE_FD).ok().and_then(|fd| fd.parse::<RawFd>().ok()) {
        // SAFETY: the harness handed this descriptor down for this process alone.
        let mut wait_end = unsafe { std::fs::File::from_raw_fd(fd) };
        let mut byte = [0u8; 1];
        // A byte, or the end (the harness gone): either way, go.
        let _ = std::io::Read::read(&mut wait_end, &mut byte);
    }
    let err = Command::new(program).args(args).env_remove(GATE_FD).exec();
    eprintln!("Error: cannot run {}: {err}", program.to_string_lossy());
    ExitCode::from(127)
}
