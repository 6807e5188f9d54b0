//! One connection: the spec's [`Connection`] state machine, the response bytes the kernel is
//! sending, and which of the connection's operations are in the kernel.
//!
//! The recv is multishot and stays armed across requests, so a keep-alive connection costs no
//! SQE per read: data arriving while a response is still being written (a pipelining client)
//! is handed to the state machine at once, up to [`UNASKED_INPUT`]; past that the recv is
//! cancelled and re-armed at the next [`Step::Read`], so the socket buffer and TCP flow
//! control hold the rest. A multishot recv that ends (no buffer free, a cancel, the CQ full)
//! is re-armed when the connection next waits for input.
//!
//! A connection is closed by cancelling whatever of its operations are in the kernel and
//! queueing a close of its socket; it leaves the worker's slab only once the kernel has given
//! back every operation that points into it (its send reads the response bytes it owns).

use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use io_uring::{opcode, squeue, types};
use server_common::offload::Helper;
use server_spec::limits::{recycle_output, DRAIN_BYTES, DRAIN_TIME, OUTPUT_WINDOW};
use server_spec::{Connection, Step};

use crate::files::{self, Sending};
use crate::ring::Ring;
use crate::token::{ConnId, Op};
use server_common::deadlines::{Deadline, Timers};

/// Input a connection accepts while it is not waiting for input (writing or sleeping), before
/// its recv is paused: one output window, far more than any client pipelines, and a bound on
/// what a client that sends without reading can make the server hold.
pub const UNASKED_INPUT: usize = OUTPUT_WINDOW;

/// What the worker needs to act on a connection's behalf.
#[derive(Debug)]
pub struct Ctx<'a> {
    pub ring: &'a mut Ring,
    pub timers: &'a mut Timers<ConnId>,
    /// The time the loop turn started; one clock read per turn.
    pub now: Instant,
    /// The provided-buffer group recvs read from.
    pub group: u16,
    /// The worker's helper thread, for `/offload`.
    pub offload: &'a mut Helper<ConnId>,
}

/// What the connection is doing, from the loop's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for input ([`Step::Read`]); the deadline closes it.
    Reading,
    /// A send is in the kernel ([`Step::Write`]); the deadline is `timeout` after the last
    /// progress, and closes it.
    Writing { timeout: Duration },
    /// [`Step::Sleep`]; the deadline wakes it.
    Sleeping,
    /// [`Step::Offload`]: the worker's helper thread computes; [`Conn::on_offloaded`] resumes
    /// it. No deadline: the computation ends by itself.
    Offloading,
    /// Writing is shut down and input is read and dropped ([`Step::Close`] with `drain`); the
    /// deadline, the byte limit or the client's EOF closes it.
    Draining { drained: usize },
    /// A read of the next chunk of a file into `out` is in the kernel ([`Step::SendFile`]);
    /// then it is sent as in [`Phase::Writing`], with `timeout`. No deadline: a disk read has
    /// none.
    ReadingFile { timeout: Duration },
    /// Closed: waiting only for the kernel to give back its operations.
    Closed,
}

/// Where the connection's multishot recv is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recv {
    /// Not in the kernel.
    Idle,
    /// In the kernel, posting a completion per arrival.
    Armed,
    /// A cancel is on its way; the last completion is still to come.
    Cancelling,
}

/// One accepted socket and its protocol state.
#[derive(Debug)]
pub struct Conn {
    id: ConnId,
    fd: RawFd,
    http: Connection,
    /// Response bytes. While `sending`, the kernel reads `out[written..]`: the Vec is neither
    /// written, grown nor dropped until the send's completion arrives.
    out: Vec<u8>,
    /// How much of `out` the kernel has sent so far.
    written: usize,
    sending: bool,
    phase: Phase,
    recv: Recv,
    /// The client shut down its writing side: nothing more will arrive, so no recv is re-armed.
    eof: bool,
    /// Bytes received since the connection last waited for input (see [`UNASKED_INPUT`]).
    unasked: usize,
    /// A send has been queued. Nagle's algorithm can only hold back a later one, so
    /// `TCP_NODELAY` is set just before the second (as nginx does): a connection per request
    /// never pays the `setsockopt`.
    sent_once: bool,
    no_delay: bool,
    pub deadline: Deadline,
    /// The file a `/files/` request opened, until [`Step::SendFile`] takes it.
    opened: Option<std::fs::File>,
    /// The file being sent, chunk by chunk through `out`.
    file: Option<Sending>,
    /// A file read is in the kernel, writing into `out`.
    reading: bool,
}

impl Conn {
    /// A connection on the socket `fd`, accepted at `now`; call [`Conn::advance`] to start it.
    pub fn new(id: ConnId, fd: RawFd, http: Connection, now: Instant) -> Conn {
        Conn {
            id,
            fd,
            http,
            out: Vec::new(),
            written: 0,
            sending: false,
            phase: Phase::Reading,
            recv: Recv::Idle,
            eof: false,
            unasked: 0,
            sent_once: false,
            no_delay: false,
            deadline: Deadline::new(now),
            opened: None,
            file: None,
            reading: false,
        }
    }

    pub fn id(&self) -> ConnId {
        self.id
    }

    /// Closed, and the kernel holds nothing of it: its slab slot can go.
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Closed && self.recv == Recv::Idle && !self.sending && !self.reading
    }

    /// Runs the state machine until it needs something from the kernel or the clock.
    pub fn advance(&mut self, ctx: &mut Ctx<'_>) {
        debug_assert!(
            !self.sending && !self.reading,
            "the kernel owns `out` while a send or read is in flight"
        );
        loop {
            match self.http.poll(ctx.now, &mut self.out) {
                // Nothing to write is written at once: poll again.
                Step::Write { .. } if self.out.is_empty() => {}
                Step::Write { timeout } => {
                    self.phase = Phase::Writing { timeout };
                    self.written = 0;
                    self.send(ctx);
                    return;
                }
                Step::Read { deadline } => {
                    // A deadline already past fires at the end of this turn.
                    self.phase = Phase::Reading;
                    self.unasked = 0;
                    self.deadline.set(deadline, self.id, ctx.timers);
                    self.arm_recv(ctx);
                    return;
                }
                Step::Sleep(duration) => {
                    self.phase = Phase::Sleeping;
                    self.deadline.set(ctx.now + duration, self.id, ctx.timers);
                    return;
                }
                Step::Offload { iterations } => {
                    self.phase = Phase::Offloading;
                    self.deadline.clear();
                    // No helper thread could start: this connection fails, the server goes on.
                    if ctx.offload.submit(self.id, iterations).is_err() {
                        self.close(ctx);
                    }
                    return;
                }
                Step::OpenFile => self.opened = files::open(&mut self.http),
                Step::SendFile { len, timeout } => {
                    self.file = Some(Sending::new(self.opened.take(), len));
                    self.phase = Phase::ReadingFile { timeout };
                    return self.read_file(ctx);
                }
                Step::Close { drain: true } => return self.drain(ctx),
                Step::Close { drain: false } => return self.close(ctx),
            }
        }
    }

    /// Queues a send of the rest of `out`, and restarts the no-progress clock.
    fn send(&mut self, ctx: &mut Ctx<'_>) {
        let Phase::Writing { timeout } = self.phase else { return };
        if self.sent_once && !self.no_delay {
            // A socket that refuses the option fails as one connection.
            if set_nodelay(self.fd).is_err() {
                return self.close(ctx);
            }
            self.no_delay = true;
        }
        self.sent_once = true;
        let rest = &self.out[self.written..];
        // A send of at most 4 GiB; a partial send is resubmitted like any other.
        let len = u32::try_from(rest.len()).unwrap_or(u32::MAX);
        let entry = opcode::Send::new(types::Fd(self.fd), rest.as_ptr(), len)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .user_data(self.id.token(Op::Send));
        // SAFETY: the kernel reads `len` bytes at `out[written..]` until the send completes.
        // They stay valid and unmoved until then: `out` is touched only by `advance` and
        // `on_send`, and `advance` runs only when `sending` is false; the Vec's heap buffer
        // does not move when the slab moves the `Conn`; and a closed `Conn` stays in the slab
        // until `is_finished`, which waits for `sending` to clear.
        unsafe { ctx.ring.push(entry) };
        self.sending = true;
        self.deadline.set(ctx.now + timeout, self.id, ctx.timers);
    }

    /// A send completed: `result` bytes sent, or an error.
    pub fn on_send(&mut self, result: i32, ctx: &mut Ctx<'_>) {
        self.sending = false;
        if self.phase == Phase::Closed {
            return;
        }
        let sent = match usize::try_from(result) {
            // A broken pipe, a reset, a cancel after the write timeout: the client is gone.
            Err(_) | Ok(0) => return self.close(ctx),
            Ok(sent) => sent,
        };
        self.written += sent;
        if self.written < self.out.len() {
            return self.send(ctx);
        }
        if self.file.is_some() {
            return self.read_file(ctx);
        }
        recycle_output(&mut self.out);
        self.advance(ctx);
    }

    /// Queues the read of the file's next chunk into `out`, or, once all of it is sent, goes on
    /// with the next step.
    fn read_file(&mut self, ctx: &mut Ctx<'_>) {
        let timeout = match self.phase {
            Phase::Writing { timeout } | Phase::ReadingFile { timeout } => timeout,
            _ => return,
        };
        let Some(sending) = self.file.as_ref().filter(|sending| !sending.is_done()) else {
            self.file = None;
            recycle_output(&mut self.out);
            return self.advance(ctx);
        };
        // SAFETY: `out` is untouched until the read's completion (`on_file_read`): `advance`
        // and `send` run only when `reading` is false, and a closed `Conn` stays in the slab
        // until `is_finished`, which waits for `reading` to clear.
        let Some(entry) = (unsafe { sending.read(&mut self.out, self.id.token(Op::Read)) }) else {
            return self.close(ctx);
        };
        // SAFETY: as above: the buffer the kernel writes stays valid and unmoved until then.
        unsafe { ctx.ring.push(entry) };
        self.reading = true;
        self.phase = Phase::ReadingFile { timeout };
        self.deadline.clear();
    }

    /// A file read completed: send what it read, or close if it failed or the file ended early.
    pub fn on_file_read(&mut self, result: i32, ctx: &mut Ctx<'_>) {
        self.reading = false;
        let Phase::ReadingFile { timeout } = self.phase else { return };
        let Some(sending) = self.file.as_mut() else { return self.close(ctx) };
        // SAFETY: `out` is the buffer this read was given, untouched since (see `read_file`).
        if !unsafe { sending.on_read(result, &mut self.out) } {
            return self.close(ctx);
        }
        self.phase = Phase::Writing { timeout };
        self.written = 0;
        self.send(ctx);
    }

    /// A recv completion: `data` (empty at EOF or on error), `result` as the kernel gave it,
    /// and whether the multishot recv is still armed.
    pub fn on_recv(&mut self, result: i32, data: &[u8], more: bool, ctx: &mut Ctx<'_>) {
        if !more {
            self.recv = Recv::Idle;
        }
        match result {
            1.. => self.on_data(data, ctx),
            0 => self.on_eof(ctx),
            // No free buffer, or our own cancel: re-armed below if input is still wanted.
            _ if result == -libc::ENOBUFS || result == -libc::ECANCELED => {}
            // A reset, or any other failure: the connection is over.
            _ => self.close(ctx),
        }
        if self.recv == Recv::Idle && self.wants_input() {
            self.arm_recv(ctx);
        }
    }

    fn on_data(&mut self, data: &[u8], ctx: &mut Ctx<'_>) {
        match self.phase {
            Phase::Reading => {
                self.http.received(data);
                self.advance(ctx);
            }
            Phase::Writing { .. } | Phase::Sleeping | Phase::Offloading | Phase::ReadingFile { .. } => {
                self.http.received(data);
                self.unasked += data.len();
                if self.unasked > UNASKED_INPUT {
                    self.pause_recv(ctx);
                }
            }
            Phase::Draining { drained } => {
                let drained = drained + data.len();
                self.phase = Phase::Draining { drained };
                if drained >= DRAIN_BYTES {
                    self.close(ctx);
                }
            }
            Phase::Closed => {}
        }
    }

    fn on_eof(&mut self, ctx: &mut Ctx<'_>) {
        self.eof = true;
        match self.phase {
            Phase::Reading => {
                self.http.eof();
                self.advance(ctx);
            }
            // The state machine sees it when it next needs input.
            Phase::Writing { .. } | Phase::Sleeping | Phase::Offloading | Phase::ReadingFile { .. } => {
                self.http.eof()
            }
            // The client has read everything and closed: close cleanly.
            Phase::Draining { .. } => self.close(ctx),
            Phase::Closed => {}
        }
    }

    /// The connection's deadline passed.
    pub fn on_deadline(&mut self, ctx: &mut Ctx<'_>) {
        match self.phase {
            Phase::Sleeping => self.advance(ctx),
            // No input by the deadline, no write progress for the write timeout, or the drain
            // took its time: close.
            Phase::Reading | Phase::Writing { .. } | Phase::Draining { .. } => self.close(ctx),
            // No deadline is set meanwhile (and none is live: cleared).
            Phase::Offloading | Phase::ReadingFile { .. } | Phase::Closed => {}
        }
    }

    /// The helper thread finished this connection's computation.
    pub fn on_offloaded(&mut self, ctx: &mut Ctx<'_>) {
        if self.phase == Phase::Offloading {
            self.advance(ctx);
        }
    }

    fn wants_input(&self) -> bool {
        !self.eof && matches!(self.phase, Phase::Reading | Phase::Draining { .. })
    }

    /// Arms the multishot recv unless it is already in the kernel (or on its way out: it is
    /// re-armed when its last completion arrives).
    fn arm_recv(&mut self, ctx: &mut Ctx<'_>) {
        if self.recv != Recv::Idle || self.eof {
            return;
        }
        let entry =
            opcode::RecvMulti::new(types::Fd(self.fd), ctx.group).build().user_data(self.id.token(Op::Recv));
        // SAFETY: the recv names no memory of ours: the kernel writes only into buffers of the
        // provided-buffer ring, which are never freed and which we read only after a
        // completion hands one over.
        unsafe { ctx.ring.push(entry) };
        self.recv = Recv::Armed;
    }

    /// Cancels the recv until the connection next wants input.
    fn pause_recv(&mut self, ctx: &mut Ctx<'_>) {
        if self.recv == Recv::Armed {
            self.cancel(Op::Recv, ctx);
            self.recv = Recv::Cancelling;
        }
    }

    /// Shuts down writing and reads what the client still sends, briefly, so it sees the
    /// response rather than a reset.
    fn drain(&mut self, ctx: &mut Ctx<'_>) {
        if self.eof {
            // Everything the client sent has been read: a plain close is already clean.
            return self.close(ctx);
        }
        let entry = opcode::Shutdown::new(types::Fd(self.fd), libc::SHUT_WR)
            .build()
            .flags(squeue::Flags::SKIP_SUCCESS)
            .user_data(self.id.token(Op::Shutdown));
        // SAFETY: a shutdown names no memory.
        unsafe { ctx.ring.push(entry) };
        self.phase = Phase::Draining { drained: 0 };
        self.deadline.set(ctx.now + DRAIN_TIME, self.id, ctx.timers);
        self.arm_recv(ctx);
    }

    /// Closes the connection: cancels its operations in the kernel and queues the close of
    /// its socket. The kernel holds the socket open until the cancelled operations let go of
    /// it; the `Conn` stays in the slab until their last completions arrive.
    pub fn close(&mut self, ctx: &mut Ctx<'_>) {
        if self.phase == Phase::Closed {
            return;
        }
        self.phase = Phase::Closed;
        self.deadline.clear();
        if self.recv == Recv::Armed {
            self.cancel(Op::Recv, ctx);
            self.recv = Recv::Cancelling;
        }
        if self.sending {
            self.cancel(Op::Send, ctx);
        }
        if self.reading {
            self.cancel(Op::Read, ctx);
        }
        let entry = opcode::Close::new(types::Fd(self.fd))
            .build()
            .flags(squeue::Flags::SKIP_SUCCESS)
            .user_data(self.id.token(Op::Close));
        // SAFETY: a close names no memory. No SQE for this fd is queued after it (the
        // connection is closed), so a new connection reusing the number is never confused.
        unsafe { ctx.ring.push(entry) };
    }

    /// Queues a cancel of this connection's `op`. It completes only if it fails (the
    /// operation already finished), which changes nothing.
    fn cancel(&self, op: Op, ctx: &mut Ctx<'_>) {
        let entry = opcode::AsyncCancel::new(self.id.token(op))
            .build()
            .flags(squeue::Flags::SKIP_SUCCESS)
            .user_data(self.id.token(Op::Cancel));
        // SAFETY: a cancel names no memory; the cancelled operation's own completion still
        // arrives, and its buffers stay valid until then (see `send` and `arm_recv`).
        unsafe { ctx.ring.push(entry) };
    }

    /// A shutdown before a drain failed: the socket is already dead.
    pub fn on_shutdown_failed(&mut self, ctx: &mut Ctx<'_>) {
        self.close(ctx);
    }
}

/// Disables Nagle's algorithm, so a response is not held back waiting for the ACK of the
/// previous one.
fn set_nodelay(fd: RawFd) -> std::io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: `fd` is a socket we own; the option value is a live c_int of the length given.
    let result = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&raw const on).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
