//! One worker's io_uring: how it is set up, how SQEs go in, and the one `io_uring_enter` per
//! loop turn that submits them and waits.
//!
//! # Setup flags
//! `SINGLE_ISSUER | DEFER_TASKRUN`: the worker thread is the ring's only user, so the kernel
//! can skip locking, and completions that need task work (a recv whose data arrived, a send
//! that waited for buffer space) are run only when the worker asks for completions, inside its
//! own `io_uring_enter`, instead of interrupting the thread (an IPI when it runs on another CPU)
//! to run them at once. On a kernel without `DEFER_TASKRUN` (Linux 6.0) the ring falls back to
//! `SINGLE_ISSUER | COOP_TASKRUN`, which also avoids the interrupt but runs task work at any
//! kernel entry, and says so in one line. No `SQPOLL`: its kernel thread would spin on the
//! other core, the one the load generator gets.

use std::collections::VecDeque;
use std::io;
use std::time::Duration;

use io_uring::{opcode, squeue, types, IoUring, Probe};
use server_common::uring::{self, RingSetup};

/// Submission queue entries. SQEs are queued during one loop turn and submitted together at
/// its end, so this is the batch one `io_uring_enter` can take; a turn that queues more
/// spills into [`Ring::push`]'s backlog rather than failing. 256 covers a turn in which 100+
/// connections each get a response and a re-armed recv.
pub const SQ_ENTRIES: u32 = 256;

/// Completion queue entries: 16 times the SQ, because multishot accept and multishot recv
/// post many CQEs per SQE. An overflowing CQ loses nothing (`IORING_FEAT_NODROP`) but makes
/// the kernel buffer completions on a slow path, so it should not happen in normal operation.
pub const CQ_ENTRIES: u32 = 16 * SQ_ENTRIES;

/// The variant's name in error messages.
const NAME: &str = "floor-uring";

/// Ring setups, best first (see [`uring::with_first_accepted`]): task work only inside the
/// worker's `io_uring_enter` (Linux 6.1), else at its next kernel entry without an interrupt.
/// Both need `SINGLE_ISSUER` (Linux 6.0), and so does multishot recv: a kernel that refuses
/// both is too old.
const RING_SETUPS: [RingSetup; 2] = [
    ("SINGLE_ISSUER | DEFER_TASKRUN", |ring| {
        ring.setup_single_issuer().setup_defer_taskrun();
    }),
    ("SINGLE_ISSUER | COOP_TASKRUN", |ring| {
        ring.setup_single_issuer().setup_coop_taskrun();
    }),
];

/// The operations the loop issues; a kernel lacking one is refused at start.
const OPS: [(u8, &str); 7] = [
    (opcode::AcceptMulti::CODE, "ACCEPT"),
    (opcode::RecvMulti::CODE, "RECV"),
    (opcode::Send::CODE, "SEND"),
    (opcode::AsyncCancel::CODE, "ASYNC_CANCEL"),
    (opcode::Shutdown::CODE, "SHUTDOWN"),
    (opcode::Close::CODE, "CLOSE"),
    (opcode::Read::CODE, "READ"),
];

/// A completion, copied out of the CQ so handlers can queue SQEs while walking a batch.
#[derive(Debug, Clone, Copy)]
pub struct Completion {
    pub user_data: u64,
    pub result: i32,
    pub flags: u32,
}

/// A worker's ring and the SQEs that did not fit in its submission queue yet.
pub struct Ring {
    uring: IoUring,
    /// SQEs queued while the SQ was full, in order; they go in before any newer SQE.
    backlog: VecDeque<squeue::Entry>,
}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring").field("backlog", &self.backlog.len()).finish_non_exhaustive()
    }
}

impl Ring {
    /// Sets up a ring for this thread, falling back from `DEFER_TASKRUN` if the kernel lacks
    /// it. Errors are the one-line "io_uring is unavailable" failure.
    pub fn new() -> anyhow::Result<Ring> {
        let uring = build().map_err(|err| uring::unavailable(NAME, &err))?;
        check_ops(&uring).map_err(|err| uring::unavailable(NAME, &err))?;
        Ok(Ring { uring, backlog: VecDeque::new() })
    }

    /// The submitter, for registrations.
    pub fn submitter(&self) -> io_uring::Submitter<'_> {
        self.uring.submitter()
    }

    /// Queues `entry`; it is submitted at the end of the loop turn.
    ///
    /// # Safety
    ///
    /// Every buffer `entry` points at must stay valid, and unmoved, until its completion
    /// arrives (for a multishot operation, its last completion, the one without
    /// `IORING_CQE_F_MORE`); a buffer the kernel writes into must not be read or written by
    /// anyone else meanwhile.
    pub unsafe fn push(&mut self, entry: squeue::Entry) {
        if self.backlog.is_empty() {
            // SAFETY: the caller's promise about `entry`'s buffers is the one `push` needs.
            if unsafe { self.uring.submission().push(&entry) }.is_ok() {
                return;
            }
        }
        self.backlog.push_back(entry);
    }

    /// Submits everything queued and waits for at least one completion, or until `timeout`
    /// has passed. This is the loop's only system call in the common case.
    pub fn submit_and_wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.flush_backlog()?;
        let result = match timeout {
            None => self.uring.submit_and_wait(1),
            Some(timeout) => {
                let timespec = types::Timespec::new().sec(timeout.as_secs()).nsec(timeout.subsec_nanos());
                let args = types::SubmitArgs::new().timespec(&timespec);
                self.uring.submitter().submit_with_args(1, &args)
            }
        };
        match result {
            Err(err) if !is_wake_up(&err) => Err(err),
            _ => Ok(()),
        }
    }

    /// Moves backlogged SQEs into the SQ, submitting whenever it fills.
    fn flush_backlog(&mut self) -> io::Result<()> {
        while !self.backlog.is_empty() {
            {
                let mut sq = self.uring.submission();
                while let Some(entry) = self.backlog.front() {
                    // SAFETY: `entry` was handed to `push`, whose caller made the promise.
                    if unsafe { sq.push(entry) }.is_err() {
                        break;
                    }
                    self.backlog.pop_front();
                }
            }
            if !self.backlog.is_empty() {
                self.uring.submit()?;
            }
        }
        Ok(())
    }

    /// Copies every available completion into `batch`.
    pub fn reap(&mut self, batch: &mut Vec<Completion>) {
        batch.extend(self.uring.completion().map(|cqe| Completion {
            user_data: cqe.user_data(),
            result: cqe.result(),
            flags: cqe.flags(),
        }));
    }
}

/// Whether an `io_uring_enter` error only means "look at the completions and timers": the
/// timeout passed (a deadline is due), a signal arrived, or the CQ is full and wants reaping.
fn is_wake_up(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::ETIME | libc::EINTR | libc::EBUSY | libc::EAGAIN))
}

/// Builds the worker's ring on the best setup the kernel accepts.
fn build() -> io::Result<IoUring> {
    uring::with_first_accepted(NAME, &RING_SETUPS, |mut ring| {
        ring.setup_cqsize(CQ_ENTRIES);
        ring.build(SQ_ENTRIES)
    })
    .map_err(|err| match err.raw_os_error() {
        Some(libc::EINVAL) => too_old(&err),
        _ => err,
    })
}

/// The kernel refused every setup as unknown: it predates `SINGLE_ISSUER`.
fn too_old(err: &io::Error) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("this kernel refuses IORING_SETUP_SINGLE_ISSUER ({err}); {NAME} needs Linux 6.0 or newer"),
    )
}

/// Fails if the kernel lacks an operation the loop issues.
fn check_ops(uring: &IoUring) -> io::Result<()> {
    let mut probe = Probe::new();
    uring.submitter().register_probe(&mut probe)?;
    match OPS.iter().find(|(code, _)| !probe.is_supported(*code)) {
        Some((_, name)) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("this kernel lacks IORING_OP_{name}; {NAME} needs Linux 6.0 or newer"),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kernel_refusing_every_setup_is_named_too_old() {
        let err = too_old(&io::Error::from_raw_os_error(libc::EINVAL));
        assert!(err.to_string().contains("Linux 6.0"), "{err}");
    }

    #[test]
    fn a_real_ring_has_every_op() {
        let ring = Ring::new().expect("io_uring is available where the tests run");
        assert!(ring.backlog.is_empty());
    }
}
