//! A `timerfd` in the event loop, for sends timed to the microsecond: mio's poll timeout is
//! whole milliseconds (rounded up), far too coarse for an open loop at thousands of requests
//! per second; a timerfd fires with the kernel's high-resolution timers and wakes the same
//! `epoll_wait` as the sockets do.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// A monotonic timerfd, non-blocking.
#[derive(Debug)]
pub struct TimerFd {
    fd: OwnedFd,
    /// The instant it is armed for, until it fires: arming it again for that instant or a
    /// later one is skipped (one `timerfd_settime` per send, not one per loop turn).
    armed_for: Option<Instant>,
}

impl TimerFd {
    pub fn new() -> io::Result<TimerFd> {
        // SAFETY: timerfd_create takes a clock id and flags and returns a new descriptor or -1.
        let fd =
            unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a descriptor the kernel just gave us and nobody else owns.
        Ok(TimerFd { fd: unsafe { OwnedFd::from_raw_fd(fd) }, armed_for: None })
    }

    /// Fires once at `at`, unless it is already armed to fire by then.
    pub fn arm_at(&mut self, at: Instant) -> io::Result<()> {
        if self.armed_for.is_some_and(|armed| armed <= at) {
            return Ok(());
        }
        // The delay from a fresh clock read: the loop's `now` is as old as the turn, and a
        // delay from it would fire late by the time the turn took. At least a nanosecond:
        // zero would disarm it.
        let after = at.saturating_duration_since(Instant::now()).max(Duration::from_nanos(1));
        let value = libc::timespec {
            tv_sec: libc::time_t::try_from(after.as_secs()).unwrap_or(libc::time_t::MAX),
            tv_nsec: libc::c_long::from(after.subsec_nanos()),
        };
        let spec =
            libc::itimerspec { it_interval: libc::timespec { tv_sec: 0, tv_nsec: 0 }, it_value: value };
        // SAFETY: timerfd_settime reads one itimerspec; the old value pointer may be null.
        let result = unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
        if result != 0 {
            return Err(io::Error::last_os_error());
        }
        self.armed_for = Some(at);
        Ok(())
    }

    /// Consumes an expiry after it woke the loop (the count is not needed).
    pub fn clear(&mut self) {
        let mut expirations = [0u8; 8];
        // SAFETY: read writes at most 8 bytes into the buffer we pass.
        let _ =
            unsafe { libc::read(self.fd.as_raw_fd(), expirations.as_mut_ptr().cast(), expirations.len()) };
        self.armed_for = None;
    }

    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_after_its_delay() {
        let mut timer = TimerFd::new().unwrap();
        let started = Instant::now();
        timer.arm_at(started + Duration::from_micros(300)).unwrap();
        // Already armed to fire by then: not armed again for later.
        timer.arm_at(started + Duration::from_secs(5)).unwrap();
        let mut pollfd = libc::pollfd { fd: timer.raw(), events: libc::POLLIN, revents: 0 };
        // SAFETY: poll reads and writes the one pollfd we pass.
        let ready = unsafe { libc::poll(&mut pollfd, 1, 1000) };
        assert_eq!(ready, 1);
        assert!(started.elapsed() >= Duration::from_micros(300));
        timer.clear();
        assert_eq!(timer.armed_for, None);
    }
}
