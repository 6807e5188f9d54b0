//! One load thread: a mio event loop over its share of the connections.
//!
//! The loop touches only connections with events, due deadlines or a request to start:
//! connections ready for their next request wait in a queue, deadlines in [`Deadlines`], so a
//! thread with thousands of connections does no per-connection work per turn.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use super::framing::{Fed, FramingError, ResponseReader};
use super::timers::Deadlines;
use super::{Failures, LoadResult, Shared};

/// Size of the thread's scratch read buffer; bodies are counted, not kept.
const READ_CHUNK: usize = 64 * 1024;

/// How long a response's connection may stay open after the response when the server said it
/// would close (or without keep-alive). A server's FIN follows its response within
/// microseconds; one that never comes is noted, not waited for forever.
pub const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Longest a turn waits when nothing is due: the stop flag is checked at least this often.
const MAX_TURN: Duration = Duration::from_millis(20);

/// One thread's share of a run.
#[derive(Debug)]
pub(super) struct Job {
    pub addr: SocketAddr,
    pub request: Arc<[u8]>,
    pub connections: usize,
    pub keep_alive: bool,
    pub timeout: Duration,
    /// Hard end of the run (`max_duration`): what is still open then fails as timeouts.
    pub deadline: Instant,
    pub shared: Arc<Shared>,
}

/// What one thread measured.
#[derive(Debug)]
pub(super) struct Part {
    /// Counts and histograms, merged into the run's result.
    pub counts: LoadResult,
    /// When this thread's last request ended.
    pub last_end: Instant,
    /// When the run was cut short here (stop flag or the run's deadline), if it was.
    pub cut_at: Option<Instant>,
    /// The run's reference body length, once known (saves an atomic per response).
    pub first_length: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No request: the counter is exhausted (or the run was cut).
    Done,
    /// Queued to start its next request.
    Ready,
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
    /// close wait. `None`: nothing pending.
    deadline: Option<Instant>,
}

impl Conn {
    fn new(keep_alive: bool, now: Instant) -> Conn {
        Conn {
            stream: None,
            phase: Phase::Ready,
            served: 0,
            request_start: now,
            connect_start: now,
            first_byte: None,
            body_done: None,
            sent: 0,
            reader: ResponseReader::new(keep_alive),
            deadline: None,
        }
    }

    fn close(&mut self) {
        // Dropping a mio stream deregisters and closes it.
        self.stream = None;
    }

    /// A request is in progress (it can time out).
    fn in_request(&self) -> bool {
        matches!(self.phase, Phase::Connecting | Phase::Sending | Phase::Receiving)
    }
}

impl Job {
    pub fn run(self) -> io::Result<Part> {
        let now = Instant::now();
        let mut worker = Worker {
            job: &self,
            poll: Poll::new()?,
            part: Part { counts: LoadResult::empty(), last_end: now, cut_at: None, first_length: None },
            scratch: vec![0u8; READ_CHUNK],
            conns: (0..self.connections).map(|_| Conn::new(self.keep_alive, now)).collect(),
            ready: (0..self.connections).collect(),
            deadlines: Deadlines::new(self.connections),
            open: self.connections,
        };
        worker.event_loop()?;
        Ok(worker.part)
    }
}

/// A load thread's working state.
struct Worker<'a> {
    job: &'a Job,
    poll: Poll,
    part: Part,
    /// Reads land here; heads are parsed in place, bodies are counted.
    scratch: Vec<u8>,
    conns: Vec<Conn>,
    /// Connections waiting to start their next request.
    ready: VecDeque<usize>,
    deadlines: Deadlines,
    /// Connections not yet [`Phase::Done`].
    open: usize,
}

impl Worker<'_> {
    fn event_loop(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut due = Vec::new();
        loop {
            let now = Instant::now();
            // Start what is queued; a connection that fails at once is queued again and
            // started next turn, so a string of failures is a loop, never a recursion.
            for _ in 0..self.ready.len() {
                if let Some(conn) = self.ready.pop_front() {
                    self.start_request(conn, now);
                }
            }
            if self.open == 0 {
                return Ok(());
            }
            let wait = if self.ready.is_empty() {
                let until =
                    self.deadlines.earliest().map_or(MAX_TURN, |at| at.saturating_duration_since(now));
                until.min(MAX_TURN).min(self.job.deadline.saturating_duration_since(now))
            } else {
                Duration::ZERO
            };
            self.poll.poll(&mut events, Some(wait))?;
            let now = Instant::now();
            for event in events.iter() {
                let conn = event.token().0;
                if conn < self.conns.len() {
                    // Hang-ups and errors surface as a read or write error.
                    let readable = event.is_readable() || event.is_read_closed() || event.is_error();
                    self.progress(conn, now, readable);
                }
            }
            self.deadlines.pop_due(now, &mut due);
            for conn in due.drain(..) {
                self.expire(conn, now);
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

    /// Ends the run here: the stop flag was set (`timed_out` false: requests in progress are
    /// abandoned, neither complete nor failed) or the run's deadline passed (they fail as
    /// timeouts, as `max_run_time` promises).
    fn cut(&mut self, now: Instant, timed_out: bool) {
        self.part.cut_at = Some(now);
        for index in 0..self.conns.len() {
            let conn = &mut self.conns[index];
            match conn.phase {
                Phase::Connecting | Phase::Sending | Phase::Receiving if timed_out => {
                    self.part.counts.failures.timeout += 1;
                }
                Phase::Connecting | Phase::Sending | Phase::Receiving => self.part.counts.abandoned += 1,
                // The response arrived; only the close was pending.
                Phase::AwaitingClose => {
                    let at = conn.body_done.unwrap_or(now);
                    self.complete(index, at);
                }
                Phase::Done | Phase::Ready | Phase::Lingering => {}
            }
            let conn = &mut self.conns[index];
            conn.close();
            conn.phase = Phase::Done;
        }
        self.open = 0;
    }

    /// Starts the next request on `conn`, or marks it done.
    fn start_request(&mut self, index: usize, now: Instant) {
        let keep_alive = self.job.keep_alive;
        if !self.job.shared.take_request() {
            let conn = &mut self.conns[index];
            conn.close();
            conn.phase = Phase::Done;
            self.open -= 1;
            return;
        }
        let conn = &mut self.conns[index];
        if !keep_alive {
            conn.close();
        }
        conn.request_start = now;
        conn.first_byte = None;
        conn.body_done = None;
        conn.sent = 0;
        conn.reader.reset(keep_alive);
        conn.deadline = Some(now + self.job.timeout);
        self.deadlines.arm(index, now + self.job.timeout);
        if conn.stream.is_some() {
            conn.phase = Phase::Sending;
            self.send(index, now);
        } else {
            self.connect(index, now);
        }
    }

    /// Opens a new connection for the current request.
    fn connect(&mut self, index: usize, now: Instant) {
        let conn = &mut self.conns[index];
        conn.connect_start = now;
        conn.served = 0;
        let opened = TcpStream::connect(self.job.addr).and_then(|mut stream| {
            self.poll.registry().register(
                &mut stream,
                Token(index),
                Interest::READABLE | Interest::WRITABLE,
            )?;
            Ok(stream)
        });
        match opened {
            Ok(stream) => {
                conn.stream = Some(stream);
                conn.phase = Phase::Connecting;
                self.part.counts.connections += 1;
            }
            Err(_) => self.fail(index, now, |f| &mut f.connect),
        }
    }

    /// Advances `conn` after a readiness event.
    fn progress(&mut self, index: usize, now: Instant, readable: bool) {
        let conn = &mut self.conns[index];
        if conn.phase == Phase::Connecting {
            let Some(stream) = conn.stream.as_ref() else { return };
            match (stream.take_error(), stream.peer_addr()) {
                (Ok(None), Ok(_)) => {}
                // Not connected yet: wait for the next event.
                (Ok(None), Err(err)) if err.kind() == io::ErrorKind::NotConnected => return,
                _ => return self.fail(index, now, |f| &mut f.connect),
            }
            let _ = stream.set_nodelay(true);
            let _ = self.part.counts.latencies.connect.record(nanos(now - conn.connect_start));
            conn.phase = Phase::Sending;
        }
        match conn.phase {
            Phase::Sending => self.send(index, now),
            // A write-only wake-up while waiting for the answer needs no read.
            Phase::Receiving | Phase::AwaitingClose if readable => self.receive(index, now),
            Phase::Lingering if readable => self.linger(index),
            _ => {}
        }
    }

    fn send(&mut self, index: usize, now: Instant) {
        let request = &self.job.request;
        let conn = &mut self.conns[index];
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
                    return self.complete(index, now);
                }
                Err(_) => return self.retry_or_fail(index, now, |f| &mut f.receive),
            };
            conn.first_byte.get_or_insert(now);
            match conn.reader.feed(&self.scratch[..n]) {
                Ok(Fed::More) => {}
                Ok(Fed::BodyComplete) if self.job.keep_alive => return self.complete(index, now),
                Ok(Fed::BodyComplete) => {
                    // As in ab, the response ends with the server's close; wait for it, and
                    // count what comes until then.
                    conn.phase = Phase::AwaitingClose;
                    conn.body_done = Some(now);
                    conn.deadline = Some(now + CLOSE_WAIT);
                    self.deadlines.arm(index, now + CLOSE_WAIT);
                }
                Err(err) => return self.protocol_failure(index, now, err),
            }
        }
    }

    /// The server closed the connection.
    fn end_of_stream(&mut self, index: usize, now: Instant) {
        let conn = &mut self.conns[index];
        if conn.reader.eof() {
            conn.close();
            return self.complete(index, now);
        }
        self.retry_or_fail(index, now, |f| &mut f.receive)
    }

    /// A whole response arrived at `end`.
    fn complete(&mut self, index: usize, end: Instant) {
        let conn = &mut self.conns[index];
        let Some(head) = conn.reader.head().copied() else { return };
        let counts = &mut self.part.counts;
        counts.complete += 1;
        self.part.last_end = self.part.last_end.max(end);
        if !(200..300).contains(&head.status) {
            counts.non_2xx += 1;
        }
        // ab's "Length" rule: every document is as long as the first.
        let document = conn.reader.document_bytes();
        let length_ok = match self.part.first_length {
            Some(first) => first == document,
            None => {
                let ok = self.job.shared.length_matches(document);
                if ok {
                    self.part.first_length = Some(document);
                }
                ok
            }
        };
        if !length_ok {
            counts.failures.length += 1;
        }
        counts.total_bytes += conn.reader.total_bytes();
        counts.body_bytes += document;
        counts.extra_bytes += conn.reader.extra_bytes();
        counts.close_delimited += u64::from(conn.reader.ends_at_close());
        let _ = counts.latencies.total.record(nanos(end - conn.request_start));
        let _ = counts.latencies.ttfb.record(nanos(conn.first_byte.unwrap_or(end) - conn.request_start));
        conn.served += 1;
        conn.deadline = None;
        if conn.stream.is_none() {
            conn.phase = Phase::Ready;
            self.ready.push_back(index);
        } else if head.close || !self.job.keep_alive {
            conn.phase = Phase::Lingering;
            conn.deadline = Some(end + CLOSE_WAIT);
            self.deadlines.arm(index, end + CLOSE_WAIT);
            // The FIN may have come with the response: look before waiting for an event.
            self.linger(index);
        } else {
            conn.phase = Phase::Ready;
            self.ready.push_back(index);
        }
    }

    /// Reads (and drops) until the server's FIN; then the connection is closed and queued
    /// for its next request.
    fn linger(&mut self, index: usize) {
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
        self.finish_linger(index);
    }

    fn finish_linger(&mut self, index: usize) {
        let conn = &mut self.conns[index];
        conn.close();
        conn.deadline = None;
        conn.phase = Phase::Ready;
        self.ready.push_back(index);
    }

    /// A deadline of `conn` may be due.
    fn expire(&mut self, index: usize, now: Instant) {
        let conn = &mut self.conns[index];
        match conn.deadline {
            None => {}
            Some(at) if at > now => self.deadlines.arm(index, at),
            Some(_) => match conn.phase {
                _ if conn.in_request() => self.fail(index, now, |f| &mut f.timeout),
                // The body arrived but the server never closed: the response is complete as
                // of its body; the missing close is counted and reported, never a failure.
                Phase::AwaitingClose => {
                    self.part.counts.unclosed += 1;
                    let at = conn.body_done.unwrap_or(now);
                    conn.close();
                    self.complete(index, at);
                }
                Phase::Lingering => {
                    self.part.counts.unclosed += 1;
                    self.finish_linger(index);
                }
                _ => conn.deadline = None,
            },
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
            conn.close();
            conn.sent = 0;
            return self.connect(index, now);
        }
        self.fail(index, now, kind);
    }

    /// Counts a failed request, drops its connection and queues it for the next request.
    fn fail(&mut self, index: usize, now: Instant, kind: fn(&mut Failures) -> &mut u64) {
        *kind(&mut self.part.counts.failures) += 1;
        self.part.last_end = self.part.last_end.max(now);
        let conn = &mut self.conns[index];
        conn.close();
        conn.deadline = None;
        conn.phase = Phase::Ready;
        self.ready.push_back(index);
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX).max(1)
}
