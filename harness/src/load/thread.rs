//! One load thread: a mio event loop over its share of the connections.
//!
//! The loop touches only connections with events, due deadlines or a request to start:
//! connections ready for their next request wait in a queue, deadlines in [`Timers`] (the
//! floors' deadline heap, shared), open-loop sends in a heap whose earliest entry arms a
//! [`TimerFd`], so a thread with thousands of connections does no per-connection work per turn.
//!
//! How requests are paced is the [`Pace`]: a closed loop takes them from the shared counter;
//! an open loop sends each connection's at its scheduled times (see [`super::schedule`]); a
//! scale run opens every connection first, then runs the closed loop, then holds them open.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use super::framing::{Fed, FramingError, ResponseReader};
use super::intervals::Timeline;
use super::schedule::{Schedule, Timing, Window};
use super::timerfd::TimerFd;
use super::{Failures, Gate, LoadResult, PathCounts, Shared};
use crate::mechanics::{Counters, Tally};
use server_common::deadlines::{Deadline, Timers};

/// Size of the thread's scratch read buffer; bodies are counted, not kept.
const READ_CHUNK: usize = 64 * 1024;

/// How long a response's connection may stay open after the response when the server said it
/// would close (or without keep-alive). A server's FIN follows its response within
/// microseconds; one that never comes is noted, not waited for forever.
pub const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Longest a turn waits when nothing is due: the stop flag is checked at least this often.
const MAX_TURN: Duration = Duration::from_millis(20);

/// The poll token of the open loop's timer (connections use their index).
const TIMER: Token = Token(usize::MAX);

/// How a thread paces its requests.
#[derive(Debug)]
pub(super) enum Pace {
    /// Each connection takes the next request from the shared counter as soon as it is free.
    Closed,
    /// Each connection follows its schedule at `rate` requests/s shared by `total` connections
    /// (this thread's are numbered from `first_index`); requests intended in `window` are
    /// measured, earlier ones are the warm-up, none are sent after it.
    Open { start: Instant, rate: f64, total: usize, first_index: usize, window: Window },
    /// Every connection is opened before any request, and after the last they are held open
    /// until the gate is released.
    Scale { gate: Arc<Gate> },
}

/// One thread's share of a run.
#[derive(Debug)]
pub(super) struct Assignment {
    pub addr: SocketAddr,
    pub request: Arc<[u8]>,
    pub connections: usize,
    pub keep_alive: bool,
    pub timeout: Duration,
    /// Hard end of the run (`max_duration`): what is still open then fails as timeouts.
    pub deadline: Instant,
    pub shared: Arc<Shared>,
    pub pace: Pace,
    /// Where this thread's measured requests are tallied by interval (empty: none kept).
    pub timeline: Timeline,
    /// This thread's mechanics counters, read as the open loop's window opens.
    pub counters: Option<Arc<Counters>>,
    /// The paths requests go to, with their bytes and weights.
    pub draw: Arc<Draw>,
    /// Requests written at once on a keep-alive connection (1: one at a time).
    pub pipeline: usize,
    /// Seeds this thread's draw of paths.
    pub seed: u64,
}

/// Most paths a run keeps counts and a latency histogram for, each (a request mix); a run over
/// more (a corpus of files) is counted as a whole only.
pub const MAX_COUNTED_PATHS: usize = 64;

/// The paths of a run's requests: each one's request bytes, and the cumulative weights a
/// request's path is drawn from.
#[derive(Debug)]
pub struct Draw {
    requests: Vec<Vec<u8>>,
    /// Weights summed up to and including each path.
    cumulative: Vec<u64>,
}

impl Draw {
    /// `paths` (path, weight) as requests made by `request`.
    pub fn new(paths: &[(String, u32)], request: impl Fn(&str) -> Vec<u8>) -> Draw {
        let mut total = 0u64;
        let cumulative = paths
            .iter()
            .map(|(_, weight)| {
                total += u64::from(*weight).max(1);
                total
            })
            .collect();
        Draw { requests: paths.iter().map(|(path, _)| request(path)).collect(), cumulative }
    }

    /// Paths there are.
    pub fn len(&self) -> usize {
        self.requests.len()
    }

    /// The path a random draw `r` falls on.
    fn pick(&self, r: u64) -> u16 {
        let total = self.cumulative.last().copied().unwrap_or(1);
        let at = r % total;
        // The first path whose running total passes `at`, found by bisection: a corpus of
        // thousands of files is drawn from as cheaply as a mix of two.
        let index = self.cumulative.partition_point(|c| *c <= at);
        if index < self.cumulative.len() {
            index as u16
        } else {
            0
        }
    }
}

/// xorshift64*: a fast, seeded, reproducible stream for drawing paths.
fn next_random(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    x.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

/// What one thread measured.
#[derive(Debug)]
pub(super) struct Part {
    /// Counts and histograms, merged into the run's result.
    pub counts: LoadResult,
    /// When this thread's last measured request ended.
    pub last_end: Instant,
    /// When the run was cut short here, if it was, and whether by the run's deadline (else by
    /// the stop flag), as this thread saw it then.
    pub cut_at: Option<(Instant, bool)>,
    /// Per path, the run's reference body length once known (saves an atomic per response).
    pub first_lengths: Vec<Option<u64>>,
    /// Open loop: this thread's CPU time when it sent its first measured request, so its CPU
    /// per request leaves the warm-up out.
    pub cpu_at_window: Option<Duration>,
    /// Open loop: its mechanics counts then, for the same reason.
    pub tally_at_window: Option<Tally>,
    /// The measured requests by interval, beside [`Part::counts`]' totals.
    pub timeline: Timeline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No more requests: the counter is exhausted, the schedule is over, or the run was cut.
    Done,
    /// Queued to start its next request.
    Ready,
    /// Open loop: waiting for its next request's intended time.
    Waiting,
    /// Scale: opening the connection before any request.
    Opening,
    /// Scale: open, waiting for every other connection to be open.
    Opened,
    /// Scale: no more requests; the connection is held open, idle, until the gate opens.
    Holding,
    Connecting,
    Sending,
    Receiving,
    /// Without keep-alive: the framed body arrived; the response ends with the server's
    /// close (as in ab), and the bytes until then are counted. Bounded by [`CLOSE_WAIT`].
    AwaitingClose,
    /// The request is complete and the server will close: wait for its FIN before closing,
    /// so the server (not the client) holds the TIME_WAIT. Client TIME_WAITs would pile up
    /// on ephemeral ports, which include the ports later servers want to bind. Bounded by
    /// [`CLOSE_WAIT`]; nothing here is counted.
    Lingering,
}

/// One client connection and the request on it.
#[derive(Debug)]
struct Conn {
    stream: Option<TcpStream>,
    phase: Phase,
    /// Requests completed on the current connection (a reused one may be closed by the
    /// server between requests; that is retried, as ab does, not counted as a failure).
    served: u64,
    request_start: Instant,
    connect_start: Instant,
    first_byte: Option<Instant>,
    /// When the framed body completed (without keep-alive, the latency if no close comes).
    body_done: Option<Instant>,
    sent: usize,
    reader: ResponseReader,
    /// When this connection must be looked at: its request's timeout, or the end of a
    /// close wait; cleared when nothing is pending.
    deadline: Deadline,
    /// Open loop: this connection's schedule, its current request's intended send time, and
    /// since when it has been free for its next one.
    schedule: Option<Schedule>,
    intended: Instant,
    free_since: Instant,
    /// Whether the current request is counted (open loop: intended inside the window).
    measured: bool,
    /// Closed loop: whether this connection holds a request from the shared counter. A new
    /// connection takes its request once it is connected, as ab does: a connect the server
    /// leaves unanswered (its SYN dropped by a full listen queue, to be sent again a second
    /// later) then holds no request, and requests go to the connections that got through.
    bound: bool,
    /// The requests in flight, in the order they were written: each one's path (one request,
    /// or a pipelined batch).
    batch: Vec<u16>,
    /// Responses of the batch read so far.
    answered: usize,
    /// The batch's request bytes, when they are not the run's one request (a mix, a pipeline).
    out: Vec<u8>,
}

impl Conn {
    fn new(keep_alive: bool, now: Instant, schedule: Option<Schedule>, opening: bool) -> Conn {
        Conn {
            stream: None,
            phase: if opening { Phase::Opening } else { Phase::Ready },
            served: 0,
            request_start: now,
            connect_start: now,
            first_byte: None,
            body_done: None,
            sent: 0,
            reader: ResponseReader::new(keep_alive),
            deadline: Deadline::new(now),
            schedule,
            intended: now,
            free_since: now,
            measured: true,
            bound: true,
            batch: Vec::new(),
            answered: 0,
            out: Vec::new(),
        }
    }

    fn close(&mut self) {
        // Dropping a mio stream deregisters and closes it.
        self.stream = None;
    }

    /// Requests of the batch not answered yet (at least the one in progress).
    fn unanswered(&self) -> u64 {
        (self.batch.len().saturating_sub(self.answered)).max(1) as u64
    }

    /// A request is in progress (it can time out).
    fn in_request(&self) -> bool {
        matches!(self.phase, Phase::Connecting | Phase::Sending | Phase::Receiving | Phase::Opening)
    }
}

impl Assignment {
    pub fn run(self) -> io::Result<Part> {
        let now = Instant::now();
        let opening = matches!(self.pace, Pace::Scale { .. });
        let conns: Vec<Conn> = (0..self.connections)
            .map(|index| {
                let schedule = match &self.pace {
                    Pace::Open { start, rate, total, first_index, .. } => {
                        Some(Schedule::new(*start, *rate, *total, first_index + index))
                    }
                    _ => None,
                };
                Conn::new(self.keep_alive, now, schedule, opening)
            })
            .collect();
        let mut worker = Worker {
            job: &self,
            poll: Poll::new()?,
            part: Part {
                counts: LoadResult {
                    // Per-path counts only with a mix: one path is the run itself, and the
                    // thousands of a corpus's files are one workload (a histogram each would
                    // take gigabytes).
                    paths: if (2..=MAX_COUNTED_PATHS).contains(&self.draw.len()) {
                        vec![PathCounts::new(); self.draw.len()]
                    } else {
                        Vec::new()
                    },
                    ..LoadResult::empty()
                },
                last_end: now,
                cut_at: None,
                first_lengths: vec![None; self.draw.len()],
                cpu_at_window: None,
                tally_at_window: None,
                timeline: self.timeline.clone(),
            },
            scratch: vec![0u8; READ_CHUNK],
            conns,
            ready: VecDeque::new(),
            sends: BinaryHeap::new(),
            timer: None,
            timers: Timers::default(),
            random: self.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1,
            open: self.connections,
            opening: if opening { self.connections } else { 0 },
        };
        worker.begin()?;
        worker.event_loop()?;
        if let Pace::Scale { gate } = &self.pace {
            worker.hold(gate)?;
        }
        Ok(worker.part)
    }
}

/// A load thread's working state.
struct Worker<'a> {
    job: &'a Assignment,
    poll: Poll,
    part: Part,
    /// Reads land here; heads are parsed in place, bodies are counted.
    scratch: Vec<u8>,
    conns: Vec<Conn>,
    /// Connections waiting to start their next request.
    ready: VecDeque<usize>,
    /// Open loop: connections waiting for their next intended send time.
    sends: BinaryHeap<Reverse<(Instant, usize)>>,
    /// Open loop: wakes the poll at the earliest send time, to the microsecond.
    timer: Option<TimerFd>,
    /// The connections' deadlines, touched only when one moves earlier or comes due.
    timers: Timers<usize>,
    /// The state of this thread's draw of paths.
    random: u64,
    /// Connections not yet [`Phase::Done`] or [`Phase::Holding`].
    open: usize,
    /// Scale: connections still being opened.
    opening: usize,
}

impl Worker<'_> {
    /// Queues every connection's first move.
    fn begin(&mut self) -> io::Result<()> {
        match &self.job.pace {
            Pace::Closed | Pace::Scale { .. } => self.ready.extend(0..self.conns.len()),
            Pace::Open { .. } => {
                let mut timer = TimerFd::new()?;
                self.poll.registry().register(&mut SourceFd(&timer.raw()), TIMER, Interest::READABLE)?;
                timer.clear();
                self.timer = Some(timer);
                for index in 0..self.conns.len() {
                    self.schedule_next(index, Instant::now());
                }
            }
        }
        Ok(())
    }

    fn event_loop(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        // Whether the connects left without a request were closed (once every request is taken).
        let mut swept = false;
        loop {
            let now = Instant::now();
            while let Some(Reverse((at, index))) = self.sends.peek().copied() {
                if at > now {
                    break;
                }
                self.sends.pop();
                self.start(index, now);
            }
            // Start what is queued; a connection that fails at once is queued again and
            // started next turn, so a string of failures is a loop, never a recursion.
            for _ in 0..self.ready.len() {
                if let Some(index) = self.ready.pop_front() {
                    self.start(index, now);
                }
            }
            if self.open == 0 {
                return Ok(());
            }
            let wait = self.wait(now)?;
            poll(&mut self.poll, &mut events, wait)?;
            let now = Instant::now();
            for event in events.iter() {
                if event.token() == TIMER {
                    if let Some(timer) = self.timer.as_mut() {
                        timer.clear();
                    }
                    continue;
                }
                let index = event.token().0;
                if index < self.conns.len() {
                    // Hang-ups and errors surface as a read or write error.
                    let readable = event.is_readable() || event.is_read_closed() || event.is_error();
                    self.progress(index, now, readable);
                }
            }
            while let Some((index, ticket)) = self.timers.pop_due(now) {
                if self.conns[index].deadline.fired(ticket, now, index, &mut self.timers) {
                    self.expire(index, now);
                }
            }
            let conns = &self.conns;
            self.timers.compact(conns.len(), |index, ticket| conns[index].deadline.holds(ticket));
            if !swept && matches!(self.job.pace, Pace::Closed) && self.job.shared.exhausted() {
                swept = true;
                self.close_unanswered_connects();
            }
            if self.job.shared.stopped() {
                self.cut(now, false);
                return Ok(());
            }
            if now >= self.job.deadline {
                self.cut(now, true);
                return Ok(());
            }
        }
    }

    /// How long the next poll may wait: not at all with work queued; else until the next
    /// deadline (coarse) and, for the open loop, the timer armed for the next send (fine).
    fn wait(&mut self, now: Instant) -> io::Result<Duration> {
        if !self.ready.is_empty() {
            return Ok(Duration::ZERO);
        }
        let coarse = self
            .timers
            .next()
            .map_or(MAX_TURN, |at| at.saturating_duration_since(now))
            .min(MAX_TURN)
            .min(self.job.deadline.saturating_duration_since(now));
        if let (Some(Reverse((at, _))), Some(timer)) = (self.sends.peek(), self.timer.as_mut()) {
            let until = at.saturating_duration_since(now);
            if until.is_zero() {
                return Ok(Duration::ZERO);
            }
            if until < coarse {
                timer.arm_at(*at)?;
            }
        }
        Ok(coarse)
    }

    /// Ends the run here: the stop flag was set (`timed_out` false: requests in progress are
    /// abandoned, neither complete nor failed) or the run's deadline passed (they fail as
    /// timeouts, as `max_run_time` promises).
    fn cut(&mut self, now: Instant, timed_out: bool) {
        self.part.cut_at = Some((now, timed_out));
        for index in 0..self.conns.len() {
            let conn = &mut self.conns[index];
            let measured = conn.measured;
            match conn.phase {
                // A connect that never got through holds no request.
                Phase::Connecting if !conn.bound => self.part.counts.unanswered_connects += 1,
                Phase::Connecting | Phase::Sending | Phase::Receiving | Phase::Opening
                    if timed_out && measured =>
                {
                    self.part.counts.failures.timeout += conn.unanswered();
                    if let Some(tally) = self.part.timeline.at(now) {
                        tally.failures.timeout += conn.unanswered();
                    }
                }
                Phase::Connecting | Phase::Sending | Phase::Receiving if measured => {
                    self.part.counts.abandoned += conn.unanswered()
                }
                // The response arrived; only the close was pending.
                Phase::AwaitingClose => {
                    let at = conn.body_done.unwrap_or(now);
                    self.complete(index, at);
                }
                _ => {}
            }
            let conn = &mut self.conns[index];
            conn.close();
            conn.phase = Phase::Done;
        }
        self.open = 0;
    }

    /// Every request is taken: connects still unanswered hold none and never will. ab closes
    /// them as it ends; so does this (counted, and said in the cell's notes), instead of
    /// waiting out the second their SYN takes to be sent again.
    fn close_unanswered_connects(&mut self) {
        for index in 0..self.conns.len() {
            let conn = &mut self.conns[index];
            if conn.phase == Phase::Connecting && !conn.bound {
                self.part.counts.unanswered_connects += 1;
                conn.deadline.clear();
                self.retire(index);
            }
        }
    }

    /// Starts the next request on `index` (or, when scaling, opens its connection first), or
    /// marks it done.
    fn start(&mut self, index: usize, now: Instant) {
        if self.conns[index].phase == Phase::Opening {
            return self.open_connection(index, now);
        }
        let keep_alive = self.job.keep_alive;
        let needs_connect = !keep_alive || self.conns[index].stream.is_none();
        let mut bound = true;
        let go = match &self.job.pace {
            // A new connection takes its request when it is connected ([`Conn::bound`]).
            Pace::Closed if needs_connect => {
                bound = false;
                !self.job.shared.stopped() && !self.job.shared.exhausted()
            }
            Pace::Closed => {
                let taken = self.take_batch();
                self.fill_batch(index, taken);
                taken > 0
            }
            Pace::Scale { .. } => {
                let taken = self.job.shared.take_request();
                self.fill_batch(index, usize::from(taken));
                taken
            }
            Pace::Open { window, .. } => {
                let window = *window;
                let conn = &mut self.conns[index];
                match conn.schedule.as_mut() {
                    Some(schedule) if !self.job.shared.stopped() && window.sends(schedule.next()) => {
                        conn.intended = schedule.take();
                        conn.measured = window.measures(conn.intended);
                        let lag = Timing::of(conn.intended, conn.free_since, now, now).send_lag;
                        if conn.measured {
                            let _ = self.part.counts.latencies.send_lag.record(nanos(lag));
                            self.part.counts.scheduled += 1;
                            if self.part.cpu_at_window.is_none() {
                                self.part.cpu_at_window = Some(crate::cost::thread_cpu_time());
                                self.part.tally_at_window = self.job.counters.as_ref().and_then(|c| c.read());
                            }
                        }
                        self.fill_batch(index, 1);
                        true
                    }
                    _ => false,
                }
            }
        };
        if !go {
            return self.retire(index);
        }
        let conn = &mut self.conns[index];
        if !keep_alive {
            conn.close();
        }
        conn.bound = bound;
        conn.request_start = now;
        conn.first_byte = None;
        conn.body_done = None;
        conn.sent = 0;
        conn.answered = 0;
        conn.reader.reset(keep_alive);
        conn.deadline.set(now + self.job.timeout, index, &mut self.timers);
        if conn.stream.is_some() {
            conn.phase = Phase::Sending;
            self.send(index, now);
        } else {
            self.connect(index, now);
        }
    }

    /// Takes up to a pipeline's worth of requests from the shared counter; how many.
    fn take_batch(&mut self) -> usize {
        let mut taken = 0;
        while taken < self.job.pipeline && self.job.shared.take_request() {
            taken += 1;
        }
        taken
    }

    /// Draws the paths of `count` requests for `index` and lays out their bytes (the run's one
    /// request is sent as it is, without a copy, when there is one path and no pipeline).
    fn fill_batch(&mut self, index: usize, count: usize) {
        let conn = &mut self.conns[index];
        conn.batch.clear();
        conn.out.clear();
        conn.answered = 0;
        let draw = &self.job.draw;
        for _ in 0..count {
            let path = if draw.len() > 1 { draw.pick(next_random(&mut self.random)) } else { 0 };
            conn.batch.push(path);
        }
        if draw.len() > 1 || count > 1 {
            for path in &conn.batch {
                conn.out.extend_from_slice(&draw.requests[usize::from(*path)]);
            }
        }
    }

    /// No more requests for `index`: a scale run holds its connection, anything else closes.
    fn retire(&mut self, index: usize) {
        let conn = &mut self.conns[index];
        let hold = matches!(self.job.pace, Pace::Scale { .. })
            && conn.stream.is_some()
            && !self.job.shared.stopped();
        if hold {
            conn.phase = Phase::Holding;
            conn.deadline.clear();
        } else {
            conn.close();
            conn.phase = Phase::Done;
        }
        self.open -= 1;
    }

    /// After a request (complete or failed), when `index` takes its next one.
    fn schedule_next(&mut self, index: usize, now: Instant) {
        let conn = &mut self.conns[index];
        conn.free_since = now;
        match (&self.job.pace, conn.schedule.as_ref()) {
            (Pace::Open { window, .. }, Some(schedule)) => {
                let next = schedule.next();
                if !window.sends(next) {
                    conn.close();
                    conn.phase = Phase::Done;
                    self.open -= 1;
                } else if next <= now {
                    conn.phase = Phase::Ready;
                    self.ready.push_back(index);
                } else {
                    conn.phase = Phase::Waiting;
                    self.sends.push(Reverse((next, index)));
                }
            }
            _ => {
                conn.phase = Phase::Ready;
                self.ready.push_back(index);
            }
        }
    }

    /// Scale: opens `index`'s connection before any request.
    fn open_connection(&mut self, index: usize, now: Instant) {
        let conn = &mut self.conns[index];
        conn.connect_start = now;
        conn.deadline.set(now + self.job.timeout, index, &mut self.timers);
        match self.register(index) {
            Ok(stream) => {
                let conn = &mut self.conns[index];
                conn.stream = Some(stream);
                self.part.counts.connections += 1;
            }
            Err(_) => {
                self.part.counts.failures.connect += 1;
                self.opened(index, false);
            }
        }
    }

    /// Scale: `index` is open (or failed to open); once all are, the requests begin.
    fn opened(&mut self, index: usize, ok: bool) {
        let conn = &mut self.conns[index];
        conn.deadline.clear();
        if ok {
            conn.phase = Phase::Opened;
        } else {
            conn.close();
            conn.phase = Phase::Done;
            self.open -= 1;
        }
        self.opening -= 1;
        if self.opening == 0 {
            let opened: Vec<usize> =
                (0..self.conns.len()).filter(|i| self.conns[*i].phase == Phase::Opened).collect();
            for index in opened {
                self.conns[index].phase = Phase::Ready;
                self.ready.push_back(index);
            }
        }
    }

    fn register(&mut self, index: usize) -> io::Result<TcpStream> {
        let mut stream = TcpStream::connect(self.job.addr)?;
        self.poll.registry().register(&mut stream, Token(index), Interest::READABLE | Interest::WRITABLE)?;
        Ok(stream)
    }

    /// Opens a new connection for the current request.
    fn connect(&mut self, index: usize, now: Instant) {
        let conn = &mut self.conns[index];
        conn.connect_start = now;
        conn.served = 0;
        match self.register(index) {
            Ok(stream) => {
                let conn = &mut self.conns[index];
                conn.stream = Some(stream);
                conn.phase = Phase::Connecting;
                self.part.counts.connections += 1;
            }
            Err(_) => self.fail(index, now, |f| &mut f.connect),
        }
    }

    /// Advances `index` after a readiness event.
    fn progress(&mut self, index: usize, now: Instant, readable: bool) {
        let conn = &mut self.conns[index];
        if matches!(conn.phase, Phase::Connecting | Phase::Opening) {
            let Some(stream) = conn.stream.as_ref() else { return };
            let connected = match (stream.take_error(), stream.peer_addr()) {
                (Ok(None), Ok(_)) => true,
                // Not connected yet: wait for the next event.
                (Ok(None), Err(err)) if err.kind() == io::ErrorKind::NotConnected => return,
                _ => false,
            };
            if conn.phase == Phase::Opening {
                if connected {
                    let _ = stream.set_nodelay(true);
                    let _ = self.part.counts.latencies.connect.record(nanos(now - conn.connect_start));
                } else {
                    self.part.counts.failures.connect += 1;
                }
                return self.opened(index, connected);
            }
            if !connected {
                return self.fail(index, now, |f| &mut f.connect);
            }
            // Only a connection that will carry a second request can be held up by Nagle's
            // algorithm; without keep-alive the one request goes out at once anyway.
            if self.job.keep_alive {
                let _ = stream.set_nodelay(true);
            }
            if !conn.bound {
                let taken = self.take_batch();
                let conn = &mut self.conns[index];
                if taken == 0 {
                    // Every request went elsewhere meanwhile: this connection has none.
                    conn.deadline.clear();
                    return self.retire(index);
                }
                conn.bound = true;
                self.fill_batch(index, taken);
            }
            let conn = &mut self.conns[index];
            if conn.measured {
                let _ = self.part.counts.latencies.connect.record(nanos(now - conn.connect_start));
            }
            conn.phase = Phase::Sending;
        }
        match self.conns[index].phase {
            Phase::Sending => self.send(index, now),
            // A write-only wake-up while waiting for the answer needs no read.
            Phase::Receiving | Phase::AwaitingClose if readable => self.receive(index, now),
            Phase::Lingering if readable => self.linger(index, now),
            _ => {}
        }
    }

    fn send(&mut self, index: usize, now: Instant) {
        let conn = &mut self.conns[index];
        let request: &[u8] = if conn.out.is_empty() { &self.job.request } else { &conn.out };
        let Some(stream) = conn.stream.as_mut() else { return };
        while conn.sent < request.len() {
            match stream.write(&request[conn.sent..]) {
                Ok(0) => return self.fail(index, now, |f| &mut f.send),
                Ok(n) => conn.sent += n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.retry_or_fail(index, now, |f| &mut f.send),
            }
        }
        // The answer comes with a readable event (edge-triggered: its arrival is an edge
        // even if it beats us back to the poll), so no read is tried now.
        conn.phase = Phase::Receiving;
    }

    fn receive(&mut self, index: usize, now: Instant) {
        loop {
            let conn = &mut self.conns[index];
            let Some(stream) = conn.stream.as_mut() else { return };
            let n = match stream.read(&mut self.scratch) {
                Ok(0) => return self.end_of_stream(index, now),
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                // A reset once the body is in still ends the response (its close came hard).
                Err(_) if conn.phase == Phase::AwaitingClose => {
                    conn.close();
                    self.complete(index, now);
                    return;
                }
                Err(_) => return self.retry_or_fail(index, now, |f| &mut f.receive),
            };
            conn.first_byte.get_or_insert(now);
            if self.job.pipeline > 1 {
                if self.pipelined(index, now, n) {
                    return;
                }
                continue;
            }
            match conn.reader.feed(&self.scratch[..n]) {
                Ok(Fed::More) => {}
                Ok(Fed::BodyComplete) if self.job.keep_alive => {
                    self.complete(index, now);
                    return;
                }
                Ok(Fed::BodyComplete) => {
                    // As in ab, the response ends with the server's close; wait for it, and
                    // count what comes until then.
                    conn.phase = Phase::AwaitingClose;
                    conn.body_done = Some(now);
                    conn.deadline.set(now + CLOSE_WAIT, index, &mut self.timers);
                }
                Err(err) => return self.protocol_failure(index, now, err),
            }
        }
    }

    /// Feeds `n` bytes read for a pipelined batch, one response at a time; whether the batch
    /// is over (answered, failed or cut off), so reading stops.
    fn pipelined(&mut self, index: usize, now: Instant, n: usize) -> bool {
        let mut at = 0;
        while at < n {
            let conn = &mut self.conns[index];
            match conn.reader.feed_one(&self.scratch[at..n]) {
                Ok((Fed::More, used)) => at += used,
                Ok((Fed::BodyComplete, used)) => {
                    at += used;
                    if !self.complete(index, now) {
                        // The batch goes on: the next response starts here.
                        let conn = &mut self.conns[index];
                        conn.reader.reset(true);
                        conn.first_byte = Some(now);
                        continue;
                    }
                    if at < n && self.conns[index].phase == Phase::Ready {
                        // More than the batch asked for: nothing may follow its last answer.
                        self.part.counts.first_protocol_error.get_or_insert_with(|| {
                            format!("{} bytes after the last answer of a pipelined batch", n - at)
                        });
                    }
                    return true;
                }
                Err(err) => {
                    self.protocol_failure(index, now, err);
                    return true;
                }
            }
        }
        false
    }

    /// The server closed the connection.
    fn end_of_stream(&mut self, index: usize, now: Instant) {
        let conn = &mut self.conns[index];
        if conn.reader.eof() {
            conn.close();
            self.complete(index, now);
            return;
        }
        self.retry_or_fail(index, now, |f| &mut f.receive)
    }

    /// A whole response arrived at `end`: counts it, and either the batch goes on (false) or
    /// the connection moves on to its next request or its close (true).
    fn complete(&mut self, index: usize, end: Instant) -> bool {
        let conn = &mut self.conns[index];
        let Some(head) = conn.reader.head().copied() else { return true };
        let path = usize::from(conn.batch.get(conn.answered).copied().unwrap_or(0));
        if conn.measured {
            let counts = &mut self.part.counts;
            counts.complete += 1;
            self.part.last_end = self.part.last_end.max(end);
            let non_2xx = !(200..300).contains(&head.status);
            if non_2xx {
                counts.non_2xx += 1;
            }
            // ab's "Length" rule: every document is as long as its path's first.
            let document = conn.reader.document_bytes();
            let length_ok = match self.part.first_lengths.get(path).copied().flatten() {
                Some(first) => first == document,
                None => {
                    let ok = self.job.shared.length_matches(path, document);
                    if ok {
                        if let Some(first) = self.part.first_lengths.get_mut(path) {
                            *first = Some(document);
                        }
                    }
                    ok
                }
            };
            if !length_ok {
                // In a pipelined batch, another path's length is an answer out of order.
                let other = conn
                    .batch
                    .iter()
                    .map(|p| usize::from(*p))
                    .find(|p| *p != path && self.job.shared.first_length(*p) == Some(document));
                match other {
                    Some(other) if conn.batch.len() > 1 => {
                        counts.failures.protocol += 1;
                        counts.first_protocol_error.get_or_insert_with(|| {
                            format!(
                                "an answer out of order in a pipelined batch: request {} (path #{path}) got path #{other}'s",
                                conn.answered + 1
                            )
                        });
                    }
                    _ => counts.failures.length += 1,
                }
            }
            if let Some(counted) = counts.paths.get_mut(path) {
                counted.complete += 1;
                counted.non_2xx += u64::from(non_2xx);
                counted.failed += u64::from(!length_ok);
                let _ = counted.latency.record(nanos(end - conn.request_start));
            }
            counts.total_bytes += conn.reader.total_bytes();
            counts.body_bytes += document;
            counts.extra_bytes += conn.reader.extra_bytes();
            counts.close_delimited += u64::from(conn.reader.ends_at_close());
            let latencies = &mut counts.latencies;
            let _ = latencies.ttfb.record(nanos(conn.first_byte.unwrap_or(end) - conn.request_start));
            let latency = if conn.schedule.is_some() {
                let timing = Timing::of(conn.intended, conn.free_since, conn.request_start, end);
                let _ = latencies.uncorrected.record(nanos(timing.uncorrected));
                nanos(timing.corrected)
            } else {
                nanos(end - conn.request_start)
            };
            let _ = latencies.total.record(latency);
            if let Some(tally) = self.part.timeline.at(end) {
                tally.complete += 1;
                tally.non_2xx += u64::from(!(200..300).contains(&head.status));
                tally.failures.length += u64::from(!length_ok);
                let _ = tally.latency.record(latency);
            }
        }
        conn.served += 1;
        conn.answered += 1;
        if conn.answered < conn.batch.len() {
            if head.close {
                // The server closes after this answer: the rest of the batch cannot come.
                let (answered, asked) = (conn.answered, conn.batch.len());
                self.part.counts.first_protocol_error.get_or_insert_with(|| {
                    format!("the server closed after {answered} of a pipelined batch of {asked}")
                });
                self.fail(index, end, |f| &mut f.receive);
                return true;
            }
            return false;
        }
        conn.deadline.clear();
        if conn.stream.is_some() && (head.close || !self.job.keep_alive) {
            conn.phase = Phase::Lingering;
            conn.deadline.set(end + CLOSE_WAIT, index, &mut self.timers);
            // The FIN may have come with the response: look before waiting for an event.
            self.linger(index, end);
            return true;
        }
        self.schedule_next(index, end);
        true
    }

    /// Reads (and drops) until the server's FIN; then the connection is closed and takes its
    /// next request.
    fn linger(&mut self, index: usize, now: Instant) {
        let conn = &mut self.conns[index];
        while let Some(stream) = conn.stream.as_mut() {
            match stream.read(&mut self.scratch) {
                Ok(n) if n > 0 => {}
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                // EOF, or a reset after the whole response: either way this request is done.
                _ => break,
            }
        }
        self.finish_linger(index, now);
    }

    fn finish_linger(&mut self, index: usize, now: Instant) {
        let conn = &mut self.conns[index];
        conn.close();
        conn.deadline.clear();
        self.schedule_next(index, now);
    }

    /// The deadline of `index` has passed.
    fn expire(&mut self, index: usize, now: Instant) {
        let conn = &mut self.conns[index];
        match conn.phase {
            Phase::Opening => {
                self.part.counts.failures.timeout += 1;
                self.opened(index, false);
            }
            _ if conn.in_request() => {
                if conn.answered > 0 {
                    let (answered, asked) = (conn.answered, conn.batch.len());
                    self.part.counts.first_protocol_error.get_or_insert_with(|| {
                        format!("the server answered {answered} of a pipelined batch of {asked}, then nothing within the timeout")
                    });
                }
                self.fail(index, now, |f| &mut f.timeout)
            }
            // The body arrived but the server never closed: the response is complete as of
            // its body; the missing close is counted and reported, never a failure.
            Phase::AwaitingClose => {
                if conn.measured {
                    self.part.counts.unclosed += 1;
                }
                let at = conn.body_done.unwrap_or(now);
                conn.close();
                self.complete(index, at);
            }
            Phase::Lingering => {
                if conn.measured {
                    self.part.counts.unclosed += 1;
                }
                self.finish_linger(index, now);
            }
            _ => {}
        }
    }

    /// A response that cannot be read: a protocol failure, with the first reason kept.
    fn protocol_failure(&mut self, index: usize, now: Instant, err: FramingError) {
        self.part.counts.first_protocol_error.get_or_insert_with(|| err.to_string());
        self.fail(index, now, |f| &mut f.protocol);
    }

    /// A reused keep-alive connection that the server closed before answering anything is
    /// retried on a new connection (ab does the same); anything else is a failure.
    fn retry_or_fail(&mut self, index: usize, now: Instant, kind: fn(&mut Failures) -> &mut u64) {
        let conn = &mut self.conns[index];
        if conn.served > 0 && conn.first_byte.is_none() {
            // A pipelined batch is resent whole: none of it was answered.
            conn.close();
            conn.sent = 0;
            self.part.counts.retried += if conn.measured { conn.unanswered() } else { 0 };
            return self.connect(index, now);
        }
        self.fail(index, now, kind);
    }

    /// Counts a failed request, drops its connection and lets it take its next request.
    fn fail(&mut self, index: usize, now: Instant, kind: fn(&mut Failures) -> &mut u64) {
        let conn = &mut self.conns[index];
        if !conn.bound {
            // A connect that failed before taking its request: it fails the request it
            // would have carried, if one is left.
            conn.deadline.clear();
            if !self.job.shared.take_request() {
                return self.retire(index);
            }
            conn.bound = true;
        }
        let conn = &mut self.conns[index];
        if conn.measured {
            *kind(&mut self.part.counts.failures) += conn.unanswered();
            if let Some(tally) = self.part.timeline.at(now) {
                *kind(&mut tally.failures) += conn.unanswered();
            }
            self.part.last_end = self.part.last_end.max(now);
            for path in conn.batch.iter().skip(conn.answered) {
                if let Some(counted) = self.part.counts.paths.get_mut(usize::from(*path)) {
                    counted.failed += 1;
                }
            }
        }
        conn.close();
        conn.deadline.clear();
        self.schedule_next(index, now);
    }

    /// Scale: closes connection `index` if it is held and the server has closed it (counted);
    /// returns whether it did.
    fn let_go_if_closed(&mut self, index: usize) -> bool {
        let conn = match self.conns.get_mut(index) {
            Some(conn) if conn.phase == Phase::Holding => conn,
            _ => return false,
        };
        let closed = match conn.stream.as_mut().map(|s| s.read(&mut self.scratch)) {
            Some(Ok(0)) => true,
            Some(Err(err)) => !matches!(err.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted),
            _ => false,
        };
        if closed {
            conn.close();
            conn.phase = Phase::Done;
            self.part.counts.closed_while_idle += 1;
        }
        closed
    }

    /// Scale: holds the open connections, idle, until the gate is released (or the run is
    /// stopped); a connection the server closes meanwhile is counted.
    fn hold(&mut self, gate: &Gate) -> io::Result<()> {
        // A close that arrived while the loop still ran was reported there, and edge-triggered
        // readiness will not report it again: look at every held connection once.
        for index in 0..self.conns.len() {
            self.let_go_if_closed(index);
        }
        gate.arrive(self.conns.iter().filter(|c| c.phase == Phase::Holding).count() as u64);
        let mut events = Events::with_capacity(1024);
        while !gate.released() && !self.job.shared.stopped() {
            poll(&mut self.poll, &mut events, MAX_TURN)?;
            for event in events.iter() {
                if self.let_go_if_closed(event.token().0) {
                    gate.let_go();
                }
            }
        }
        for conn in &mut self.conns {
            conn.close();
            conn.phase = Phase::Done;
        }
        Ok(())
    }
}

/// Waits for events at most `wait`. A signal that interrupts the wait is no error (mio does
/// not retry it): the loop looks again, as after a timeout.
fn poll(poll: &mut Poll, events: &mut Events, wait: Duration) -> io::Result<()> {
    match poll.poll(events, Some(wait)) {
        Err(err) if err.kind() == io::ErrorKind::Interrupted => {
            events.clear();
            Ok(())
        }
        other => other,
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX).max(1)
}
