//! `/offload` for the loops that have no blocking facility of their own (floor-epoll,
//! floor-uring, and monoio, whose `spawn_blocking` needs a feature that changes its I/O path):
//! a helper thread per worker runs the computations, one after another, and wakes the loop
//! through an eventfd when one is done.
//!
//! The loop [`Helper::submit`]s a token (which connection) and an iteration count. The helper
//! thread computes, adds the token to the finished list, and only then writes the eventfd; the
//! loop, seeing the eventfd readable (in epoll, or as a read completing on its ring), takes the
//! finished tokens ([`Helper::take_finished`]). A token added before a write is taken at the
//! latest after the read that consumes that write, so none is ever left behind; a read that
//! finds the list already emptied by an earlier take is harmless.
//!
//! The thread starts at the first submit, so a server never asked to offload runs no extra
//! thread. Both queues are vectors behind a mutex that keep their capacity: once they have
//! grown, submitting and finishing allocate nothing.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use server_spec::work;

/// How the loop reads the helper's eventfd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WakeRead {
    /// With `read(2)` ([`Helper::clear_wake`]) once epoll reports it readable: the eventfd is
    /// non-blocking, so a read can never block the loop.
    Syscall,
    /// With a read on the loop's io_uring, which waits in the kernel: the eventfd blocks,
    /// because io_uring completes a read of a non-blocking one at once with `EAGAIN`.
    Ring,
}

/// One worker's helper thread and the eventfd that says a computation is done.
#[derive(Debug)]
pub struct Helper<T: Send + 'static> {
    shared: Arc<Shared<T>>,
    /// The eventfd the helper thread writes after each computation.
    wake: Arc<OwnedFd>,
    /// Whether the thread has been started (at the first submit).
    started: bool,
}

#[derive(Debug)]
struct Shared<T> {
    jobs: Mutex<Jobs<T>>,
    /// Signalled when a job is queued or the helper is dropped.
    queued: Condvar,
    /// Tokens whose computation is done, not yet taken by the loop.
    finished: Mutex<Vec<T>>,
}

#[derive(Debug)]
struct Jobs<T> {
    waiting: VecDeque<(T, u64)>,
    /// The loop dropped its helper: the thread ends.
    closed: bool,
}

impl<T: Send + 'static> Helper<T> {
    /// A helper whose eventfd is read as `read` says; no thread runs until the first submit.
    pub fn new(read: WakeRead) -> io::Result<Helper<T>> {
        let flags = match read {
            WakeRead::Syscall => libc::EFD_CLOEXEC | libc::EFD_NONBLOCK,
            WakeRead::Ring => libc::EFD_CLOEXEC,
        };
        // SAFETY: eventfd takes no pointers; a non-negative result is a new descriptor.
        let fd = unsafe { libc::eventfd(0, flags) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and nothing else owns it.
        let wake = Arc::new(unsafe { OwnedFd::from_raw_fd(fd) });
        let shared = Arc::new(Shared {
            jobs: Mutex::new(Jobs { waiting: VecDeque::new(), closed: false }),
            queued: Condvar::new(),
            finished: Mutex::new(Vec::new()),
        });
        Ok(Helper { shared, wake, started: false })
    }

    /// The eventfd to watch: readable (its counter above zero) once a computation is done.
    pub fn wake_fd(&self) -> BorrowedFd<'_> {
        self.wake.as_fd()
    }

    /// Queues `work::compute(iterations)` for `token`, starting the thread if it is not
    /// running yet. An error (no thread could be started) fails only the caller's connection.
    pub fn submit(&mut self, token: T, iterations: u64) -> io::Result<()> {
        if !self.started {
            let (shared, wake) = (self.shared.clone(), self.wake.clone());
            std::thread::Builder::new().name("offload".into()).spawn(move || serve(&shared, &wake))?;
            self.started = true;
        }
        lock(&self.shared.jobs).waiting.push_back((token, iterations));
        self.shared.queued.notify_one();
        Ok(())
    }

    /// Whether the helper thread has started (a job was ever submitted): until then nobody will
    /// write the eventfd, and a loop need not watch it.
    pub fn is_started(&self) -> bool {
        self.started
    }

    /// Moves the tokens of finished computations into `into`, oldest first.
    pub fn take_finished(&self, into: &mut Vec<T>) {
        into.append(&mut lock(&self.shared.finished));
    }

    /// Resets the eventfd's counter (for [`WakeRead::Syscall`], once epoll has reported it
    /// readable); a counter already at zero is fine.
    pub fn clear_wake(&self) {
        let mut count = 0u64;
        // SAFETY: the eventfd is open while `self` lives; the kernel writes at most 8 bytes
        // into `count`, which has 8.
        unsafe { libc::read(self.wake.as_raw_fd(), (&raw mut count).cast(), size_of::<u64>()) };
    }
}

impl<T: Send + 'static> Drop for Helper<T> {
    fn drop(&mut self) {
        lock(&self.shared.jobs).closed = true;
        self.shared.queued.notify_one();
    }
}

/// The helper thread: computes queued jobs in order until its [`Helper`] is dropped.
fn serve<T>(shared: &Shared<T>, wake: &OwnedFd) {
    loop {
        let (token, iterations) = {
            let mut jobs = lock(&shared.jobs);
            loop {
                if let Some(job) = jobs.waiting.pop_front() {
                    break job;
                }
                if jobs.closed {
                    return;
                }
                jobs = shared.queued.wait(jobs).unwrap_or_else(std::sync::PoisonError::into_inner);
            }
        };
        work::compute(iterations);
        lock(&shared.finished).push(token);
        let one = 1u64;
        // SAFETY: the eventfd is open (this thread holds it); the kernel reads 8 bytes from
        // `one`. It cannot fail short of the counter overflowing, which 2^64 jobs would take.
        unsafe { libc::write(wake.as_raw_fd(), (&raw const one).cast(), size_of::<u64>()) };
    }
}

/// Locks a mutex; a panic elsewhere while holding it leaves plain data behind, still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Waits (at most 5 s) for the eventfd to become readable.
    fn wait_readable(fd: BorrowedFd<'_>) {
        let mut poll = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd, borrowed mutably for the call.
        let ready = unsafe { libc::poll(&mut poll, 1, 5000) };
        assert_eq!(ready, 1, "the helper never woke the loop");
    }

    #[test]
    fn runs_jobs_in_order_and_wakes_the_loop() {
        let mut helper = Helper::new(WakeRead::Syscall).unwrap();
        helper.submit(7u32, 1000).unwrap();
        helper.submit(8u32, 0).unwrap();
        let mut done = Vec::new();
        let give_up = Instant::now() + Duration::from_secs(5);
        while done.len() < 2 {
            wait_readable(helper.wake_fd());
            helper.clear_wake();
            helper.take_finished(&mut done);
            assert!(Instant::now() < give_up);
        }
        assert_eq!(done, [7, 8]);
        // Nothing more: the counter is back at zero, and a second clear does not block.
        helper.clear_wake();
        helper.take_finished(&mut done);
        assert_eq!(done.len(), 2);
    }

    #[test]
    fn no_thread_until_the_first_submit() {
        let helper: Helper<u32> = Helper::new(WakeRead::Ring).unwrap();
        assert!(!helper.is_started());
        assert_eq!(Arc::strong_count(&helper.shared), 1);
    }
}
