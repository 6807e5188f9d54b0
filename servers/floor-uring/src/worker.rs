//! One worker thread: its ring, its listener, its connections and its timers, and the loop
//! that drives them.
//!
//! Each loop turn: fire the deadlines that are due, then one `io_uring_enter` submits every SQE
//! the turn queued and sleeps until a completion arrives or the earliest deadline passes, then
//! every completion is handled.
//!
//! `/offload` goes to the worker's helper thread ([`server_common::offload`]); from its first
//! job on, a read of the helper's eventfd stays armed on the ring, and its completion resumes
//! the connections whose computation is done.

use std::net::TcpListener;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Instant;

use io_uring::{cqueue, opcode, squeue, types};
use server_common::offload::{Helper, WakeRead};
use server_common::{after_accept_error, AfterAcceptError, Ready};
use server_spec::limits::READ_BUFFER;
use server_spec::{Config, Connection};
use slab::Slab;

use crate::buffers::{self, BufferRing};
use crate::conn::{Conn, Ctx};
use crate::ring::{Completion, Ring};
use crate::token::{self, ConnId, Generations, Op};
use server_common::deadlines::Timers;

/// The buffer group id of the worker's provided-buffer ring (one ring per io_uring, so any
/// fixed id will do).
const BUFFER_GROUP: u16 = 0;

/// Where the listener's multishot accept is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Accept {
    /// In the kernel.
    Armed,
    /// Accept failed (out of descriptors, say): re-arm at this time.
    RetryAt(Instant),
    /// The server is stopping: the listener was shut down and is not accepted on again.
    Stopped,
}

/// Sets up this thread's ring and serves `listener` on it until the process exits.
pub fn run(listener: TcpListener, config: Config, ready: &Ready) -> anyhow::Result<()> {
    let mut worker = Worker::new(listener, config)?;
    ready.arrive();
    worker.serve()
}

/// Everything one worker thread owns.
struct Worker {
    ring: Ring,
    /// Where every recv of this worker lands; a buffer is out only while its completion is
    /// handled.
    buffers: BufferRing,
    /// Live connections, and closed ones whose operations the kernel has not given back yet.
    conns: Slab<Conn>,
    /// Every connection's deadline.
    timers: Timers<ConnId>,
    /// Tells a slab slot's tenants apart in `user_data`.
    generations: Generations,
    /// Owned here so the multishot accept's fd stays open as long as the worker.
    listener: TcpListener,
    accept: Accept,
    /// Shared with every connection: timeouts, and the lifecycle that counts requests in flight.
    config: Config,
    /// Completions of the current turn; kept to reuse its allocation.
    batch: Vec<Completion>,
    /// Runs `/offload` computations for the connections.
    offload: Helper<ConnId>,
    /// Where the armed read of the helper's eventfd puts its counter: boxed, so it stays put
    /// while the kernel may write it. `None` until the helper's first job.
    wake_counter: Option<Box<u64>>,
    /// The connections the helper gave back; kept to reuse its allocation.
    offloaded: Vec<ConnId>,
}

impl Worker {
    fn new(listener: TcpListener, config: Config) -> anyhow::Result<Worker> {
        let ring = Ring::new()?;
        let buffers =
            BufferRing::register(&ring.submitter(), BUFFER_GROUP, buffers::COUNT, READ_BUFFER as u32)
                .map_err(|err| server_common::uring::unavailable("floor-uring", &explain_buf_ring(err)))?;
        let mut worker = Worker {
            ring,
            buffers,
            conns: Slab::new(),
            timers: Timers::default(),
            generations: Generations::default(),
            listener,
            accept: Accept::Stopped,
            config,
            batch: Vec::new(),
            offload: Helper::new(WakeRead::Ring)?,
            wake_counter: None,
            offloaded: Vec::new(),
        };
        worker.arm_accept();
        Ok(worker)
    }

    /// The loop. Returns only if the ring fails.
    fn serve(&mut self) -> anyhow::Result<()> {
        let mut now = Instant::now();
        loop {
            self.fire_timers(now);
            // `now` is when this turn's completions arrived, not the present: the wait can end
            // late by the time they took to handle (microseconds), never early. One clock read
            // per turn is worth more than that precision.
            if self.wake_counter.is_none() && self.offload.is_started() {
                self.wake_counter = Some(Box::new(0));
                self.arm_wake();
            }
            let timeout = self.next_wake().map(|at| at.saturating_duration_since(now));
            self.ring.submit_and_wait(timeout)?;
            now = Instant::now();
            self.handle_completions(now);
        }
    }

    /// When the loop must wake up even if no completion arrives.
    fn next_wake(&self) -> Option<Instant> {
        let retry = match self.accept {
            Accept::RetryAt(at) => Some(at),
            Accept::Armed | Accept::Stopped => None,
        };
        match (self.timers.next(), retry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn handle_completions(&mut self, now: Instant) {
        let mut batch = std::mem::take(&mut self.batch);
        self.ring.reap(&mut batch);
        for completion in &batch {
            self.handle(*completion, now);
        }
        batch.clear();
        self.batch = batch;
    }

    fn handle(&mut self, completion: Completion, now: Instant) {
        let Completion { user_data, result, flags } = completion;
        let Some((op, id)) = token::decode(user_data) else { return };
        match op {
            Op::Accept => self.on_accept(result, flags, now),
            Op::Recv => self.on_recv(id, result, flags, now),
            Op::Send => self.with_conn(id, now, |conn, ctx| conn.on_send(result, ctx)),
            Op::Read => self.with_conn(id, now, |conn, ctx| conn.on_file_read(result, ctx)),
            Op::Shutdown => self.with_conn(id, now, Conn::on_shutdown_failed),
            Op::Wake => self.on_wake(now),
            // A cancel that found nothing (the operation had finished) or a close that failed
            // (the socket is gone either way): nothing to do.
            Op::Cancel | Op::Close => {}
        }
    }

    /// Runs `f` on the live connection `id` (if it still is), then drops it from the slab if
    /// the kernel holds nothing of it any more.
    fn with_conn(&mut self, id: ConnId, now: Instant, f: impl FnOnce(&mut Conn, &mut Ctx<'_>)) {
        let key = id.key as usize;
        let Some(conn) = self.conns.get_mut(key).filter(|conn| conn.id() == id) else { return };
        let mut ctx = Ctx {
            ring: &mut self.ring,
            timers: &mut self.timers,
            now,
            group: BUFFER_GROUP,
            offload: &mut self.offload,
        };
        f(conn, &mut ctx);
        if conn.is_finished() {
            self.conns.remove(key);
        }
    }

    fn on_recv(&mut self, id: ConnId, result: i32, flags: u32, now: Instant) {
        let bid = cqueue::buffer_select(flags);
        let len = usize::try_from(result).unwrap_or(0);
        let key = id.key as usize;
        if let Some(conn) = self.conns.get_mut(key).filter(|conn| conn.id() == id) {
            let data = match bid {
                // SAFETY: this completion handed `bid` to us, and it is given back only below,
                // after `data`'s last use.
                Some(bid) => unsafe { self.buffers.get(bid, len) },
                None => &[],
            };
            let mut ctx = Ctx {
                ring: &mut self.ring,
                timers: &mut self.timers,
                now,
                group: BUFFER_GROUP,
                offload: &mut self.offload,
            };
            conn.on_recv(result, data, cqueue::more(flags), &mut ctx);
            if conn.is_finished() {
                self.conns.remove(key);
            }
        }
        // Whoever the data was for, the buffer goes straight back to the kernel.
        if let Some(bid) = bid {
            self.buffers.give_back(bid);
        }
    }

    fn on_accept(&mut self, result: i32, flags: u32, now: Instant) {
        let more = cqueue::more(flags);
        let after_error = match result {
            fd @ 0.. => {
                self.open(fd, now);
                None
            }
            errno => {
                Some(after_accept_error(&std::io::Error::from_raw_os_error(-errno), &self.config.lifecycle))
            }
        };
        match (more, after_error) {
            (true, Some(AfterAcceptError::Stop)) => {
                // Still armed, yet the server is stopping: take it out of the kernel.
                let entry = opcode::AsyncCancel::new(token::worker_token(Op::Accept))
                    .build()
                    .flags(squeue::Flags::SKIP_SUCCESS)
                    .user_data(token::worker_token(Op::Cancel));
                // SAFETY: a cancel names no memory.
                unsafe { self.ring.push(entry) };
                self.accept = Accept::Stopped;
            }
            (true, _) => {}
            (false, None) => self.arm_accept(),
            (false, Some(AfterAcceptError::Stop)) => self.accept = Accept::Stopped,
            (false, Some(AfterAcceptError::Retry(pause))) if pause.is_zero() => self.arm_accept(),
            (false, Some(AfterAcceptError::Retry(pause))) => self.accept = Accept::RetryAt(now + pause),
        }
    }

    /// The helper's eventfd was read: resumes the connections whose computation is done, and
    /// reads it again.
    fn on_wake(&mut self, now: Instant) {
        let mut offloaded = std::mem::take(&mut self.offloaded);
        self.offload.take_finished(&mut offloaded);
        for id in offloaded.drain(..) {
            self.with_conn(id, now, Conn::on_offloaded);
        }
        self.offloaded = offloaded;
        self.arm_wake();
    }

    /// Queues a read of the helper's eventfd (its counter, 8 bytes).
    fn arm_wake(&mut self) {
        let Some(counter) = self.wake_counter.as_mut() else { return };
        let counter: *mut u64 = &mut **counter;
        let entry = opcode::Read::new(types::Fd(self.offload.wake_fd().as_raw_fd()), counter.cast(), 8)
            .build()
            .user_data(token::worker_token(Op::Wake));
        // SAFETY: the kernel writes 8 bytes into the boxed counter, which is never read, moved
        // or freed while the worker lives (the box's heap slot stays put when the worker
        // moves); the eventfd is owned by `self.offload`, which lives as long as the worker.
        unsafe { self.ring.push(entry) };
    }

    fn arm_accept(&mut self) {
        let entry = opcode::AcceptMulti::new(types::Fd(self.listener.as_raw_fd()))
            .flags(libc::SOCK_CLOEXEC)
            .build()
            .user_data(token::worker_token(Op::Accept));
        // SAFETY: a multishot accept without a peer address names no memory of ours; the
        // listener it accepts on lives as long as the worker.
        unsafe { self.ring.push(entry) };
        self.accept = Accept::Armed;
    }

    /// Starts serving the accepted socket `fd`.
    fn open(&mut self, fd: RawFd, now: Instant) {
        let slot = self.conns.vacant_entry();
        let Ok(key) = u32::try_from(slot.key()) else {
            // Four billion connections on one worker: the fd limit makes this unreachable.
            return close_now(fd);
        };
        let id = ConnId { key, gen: self.generations.draw() };
        // The header deadline counts from accept.
        let conn = slot.insert(Conn::new(id, fd, Connection::new(&self.config, now), now));
        let mut ctx = Ctx {
            ring: &mut self.ring,
            timers: &mut self.timers,
            now,
            group: BUFFER_GROUP,
            offload: &mut self.offload,
        };
        conn.advance(&mut ctx);
        if conn.is_finished() {
            self.conns.remove(key as usize);
        }
    }

    /// Acts on every deadline due at `now`, and re-arms a backed-off accept.
    fn fire_timers(&mut self, now: Instant) {
        while let Some((id, ticket)) = self.timers.pop_due(now) {
            let key = id.key as usize;
            let Some(conn) = self.conns.get_mut(key).filter(|conn| conn.id() == id) else { continue };
            let mut ctx = Ctx {
                ring: &mut self.ring,
                timers: &mut self.timers,
                now,
                group: BUFFER_GROUP,
                offload: &mut self.offload,
            };
            if conn.deadline.fired(ticket, now, id, ctx.timers) {
                conn.on_deadline(&mut ctx);
                if conn.is_finished() {
                    self.conns.remove(key);
                }
            }
        }
        if matches!(self.accept, Accept::RetryAt(at) if at <= now) {
            self.arm_accept();
        }
        // Closed connections leave their entries behind: drop them once they pile up.
        let conns = &self.conns;
        self.timers.compact(conns.len(), |id, ticket| {
            conns.get(id.key as usize).is_some_and(|conn| conn.id() == id && conn.deadline.holds(ticket))
        });
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Only a failing ring ends a worker, just before the process exits. The kernel tears
        // the ring down asynchronously once its fd is closed, and sends in flight until then
        // read the connections' `out` buffers: leak them rather than free memory the kernel
        // may still read; and the eventfd read's counter, which it may still write.
        std::mem::forget(std::mem::take(&mut self.conns));
        std::mem::forget(self.wake_counter.take());
    }
}

/// Closes a socket no operation was ever issued on.
fn close_now(fd: RawFd) {
    // SAFETY: `fd` was just accepted, is owned by nobody else, and no SQE names it.
    unsafe { libc::close(fd) };
}

/// Names the kernel needed when provided-buffer rings are refused as unknown.
fn explain_buf_ring(err: std::io::Error) -> std::io::Error {
    if err.raw_os_error() == Some(libc::EINVAL) {
        std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            format!("cannot register a provided-buffer ring ({err}); floor-uring needs Linux 6.0 or newer"),
        )
    } else {
        err
    }
}
