//! A child process leading a process group of its own, tied to the harness: the watchdog
//! guards its group, it dies with the harness (`PR_SET_PDEATHSIG`), and it is killed, group
//! and all, exactly once. Local servers and the launchers of remote ones and of remote load
//! are all one of these.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::process::watchdog::Watchdog;

/// A started process group and what is known of its end.
#[derive(Debug)]
pub struct TiedChild {
    pub child: Child,
    /// Its process group (the child leads it).
    pub pgid: i32,
    exited: Option<ExitStatus>,
    /// Killed and reaped already: a second kill would signal a group id that may have been
    /// reused since.
    killed: bool,
    watchdog: Arc<Watchdog>,
}

impl TiedChild {
    /// Spawns `command` as the leader of a new process group that dies with the harness and
    /// is guarded by `watchdog`. `in_child` runs between fork and exec, after the death
    /// signal is set: it must make only async-signal-safe calls and allocate nothing.
    pub fn spawn(
        mut command: Command,
        watchdog: &Arc<Watchdog>,
        in_child: impl Fn() + Send + Sync + 'static,
    ) -> std::io::Result<TiedChild> {
        command.process_group(0);
        // SAFETY: between fork and exec the closure calls prctl (async-signal-safe) and
        // `in_child`, which its caller promises is too.
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                in_child();
                Ok(())
            });
        }
        let child = command.spawn()?;
        let pgid = i32::try_from(child.id()).unwrap_or(i32::MAX);
        watchdog.guard(pgid);
        Ok(TiedChild { child, pgid, exited: None, killed: false, watchdog: watchdog.clone() })
    }

    /// The exit status, if the leader has exited (it is reaped then).
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().ok().flatten();
        }
        self.exited
    }

    /// How the leader ended, as last seen.
    pub fn exited(&self) -> Option<ExitStatus> {
        self.exited
    }

    /// Waits at most `grace` for the leader to exit; whether it did.
    pub fn wait_for_exit(&mut self, grace: Duration) -> bool {
        let deadline = Instant::now() + grace;
        while self.exit_status().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.exited.is_some()
    }

    /// Sends `signal` to the whole group.
    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) has no memory-safety preconditions; -pgid names the group the child
        // leads (process_group(0)), which holds only it and its children.
        unsafe {
            libc::kill(-self.pgid, signal);
        }
    }

    /// SIGKILL to the whole group, then reaps the leader and lets the watchdog forget the
    /// group; once.
    pub fn kill(&mut self) {
        if std::mem::replace(&mut self.killed, true) {
            return;
        }
        self.signal(libc::SIGKILL);
        if self.exited.is_none() {
            self.exited = self.child.wait().ok();
        }
        self.watchdog.release(self.pgid);
    }
}

impl Drop for TiedChild {
    fn drop(&mut self) {
        self.kill();
    }
}
