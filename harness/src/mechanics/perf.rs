//! The kernel's perf events, counting only: `perf_event_open(2)` on a task (and, inherited,
//! everything it starts later: threads and child processes, their counts folded in as they
//! exit) or on the calling thread; tracepoints found by name in tracefs. No `perf` binary is
//! needed, only a kernel that allows it (root, or `perf_event_paranoid` ≤ 1 for another
//! process's tracepoints).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use perf_event_open_sys as sys;

/// What to count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A kernel tracepoint, `group:name` (e.g. `raw_syscalls:sys_enter`), with an optional
    /// filter on its fields (e.g. `prev_state == 0`).
    Tracepoint { group: &'static str, name: String, filter: Option<&'static str> },
    /// A software event: context switches or CPU migrations.
    Software(u64),
}

impl Event {
    pub const CONTEXT_SWITCHES: Event = Event::Software(sys::bindings::PERF_COUNT_SW_CONTEXT_SWITCHES as u64);
    pub const CPU_MIGRATIONS: Event = Event::Software(sys::bindings::PERF_COUNT_SW_CPU_MIGRATIONS as u64);
}

/// Where tracefs may be mounted.
const TRACEFS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// The id of tracepoint `group:name`, from tracefs.
fn tracepoint_id(group: &str, name: &str) -> io::Result<u64> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "tracefs is not mounted");
    for root in TRACEFS {
        match std::fs::read_to_string(format!("{root}/events/{group}/{name}/id")) {
            Ok(id) => {
                return id
                    .trim()
                    .parse()
                    .map_err(|_| io::Error::other(format!("{group}:{name}: a bad id {id:?}")))
            }
            Err(err) => last = io::Error::new(err.kind(), format!("tracepoint {group}:{name}: {err}")),
        }
    }
    Err(last)
}

/// One open counter.
#[derive(Debug)]
pub struct Counter {
    fd: OwnedFd,
}

/// Whose events a counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// A task and everything it starts from now on (threads, children), exited ones included.
    Inherited(i32),
    /// The calling thread only.
    ThisThread,
}

impl Counter {
    /// Opens a counter of `event` for `scope`, counting at once.
    pub fn open(event: &Event, scope: Scope) -> io::Result<Counter> {
        // SAFETY: perf_event_attr is plain data; zeroed is its documented default.
        let mut attr: sys::bindings::perf_event_attr = unsafe { std::mem::zeroed() };
        attr.size = std::mem::size_of::<sys::bindings::perf_event_attr>() as u32;
        match event {
            Event::Tracepoint { group, name, .. } => {
                attr.type_ = sys::bindings::PERF_TYPE_TRACEPOINT;
                attr.config = tracepoint_id(group, name)?;
            }
            Event::Software(config) => {
                attr.type_ = sys::bindings::PERF_TYPE_SOFTWARE;
                attr.config = *config;
            }
        }
        let pid = match scope {
            Scope::Inherited(pid) => {
                attr.set_inherit(1);
                pid
            }
            Scope::ThisThread => 0,
        };
        // SAFETY: attr is a valid perf_event_attr for the syscall's lifetime; pid and cpu (-1:
        // any CPU) are plain values; no group fd.
        let fd = unsafe {
            sys::perf_event_open(&mut attr, pid, -1, -1, sys::bindings::PERF_FLAG_FD_CLOEXEC as u64)
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the kernel just gave us this descriptor, and nobody else owns it.
        let counter = Counter { fd: unsafe { OwnedFd::from_raw_fd(fd) } };
        if let Event::Tracepoint { filter: Some(filter), .. } = event {
            let filter = CString::new(*filter).map_err(io::Error::other)?;
            // SAFETY: SET_FILTER reads the NUL-terminated string during the call.
            let done = unsafe { sys::ioctls::SET_FILTER(counter.fd.as_raw_fd(), filter.as_ptr().cast_mut()) };
            if done < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(counter)
    }

    /// The count so far (with `Inherited`, of every task it covers, living or exited).
    pub fn read(&self) -> io::Result<u64> {
        let mut value = [0u8; 8];
        // SAFETY: reads at most 8 bytes into `value`.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), value.as_mut_ptr().cast(), value.len()) };
        if n != 8 {
            return Err(if n < 0 { io::Error::last_os_error() } else { io::Error::other("a short read") });
        }
        Ok(u64::from_ne_bytes(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This thread's own system calls, counted: a few reads of /proc make a few hundred.
    #[test]
    fn counts_this_threads_system_calls() {
        let event = Event::Tracepoint { group: "raw_syscalls", name: "sys_enter".into(), filter: None };
        let counter = match Counter::open(&event, Scope::ThisThread) {
            Ok(counter) => counter,
            // A kernel or sandbox without perf events: nothing to check here.
            Err(err) => return eprintln!("perf events unavailable here: {err}"),
        };
        let before = counter.read().expect("a count");
        for _ in 0..100 {
            let _ = std::fs::metadata("/proc/self");
        }
        let after = counter.read().expect("a count");
        assert!(after - before >= 100, "{before} → {after}");
    }
}
