//! One load thread: a mio event loop over its share of the connections.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use super::framing::{parse_head, Head};
use super::{Failures, LoadResult, Shared};

/// How often open requests are checked against their timeout.
const TIMEOUT_SCAN: Duration = Duration::from_millis(10);

/// Size of the thread's scratch read buffer; bodies are counted, not kept.
const READ_CHUNK: usize = 64 * 1024;

/// One thread's share of a run.
#[derive(Debug)]
pub(super) struct Job {
    pub addr: SocketAddr,
    pub request: Arc<[u8]>,
    pub connections: usize,
    pub keep_alive: bool,
    pub timeout: Duration,
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
    /// The run's reference body length, once known (saves an atomic per response).
    pub first_length: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No request: the counter is exhausted.
    Done,
    /// Between requests: the event loop starts the next one (a failure lands here, so a
    /// string of failures is a loop, never a recursion).
    Idle,
    Connecting,
    Sending,
    Receiving,
    /// The response is complete and the server will close: wait for its FIN before closing,
    /// as ab does, so the server (not the client) holds the TIME_WAIT. Client TIME_WAITs would
    /// pile up on ephemeral ports, which include the ports later servers want to bind.
    AwaitingClose,
}

/// One client connection and the request on it.
#[derive(Debug)]
struct Conn {
    /// Its index among the thread's connections, and its poll token.
    token: Token,
    stream: Option<TcpStream>,
    phase: Phase,
    /// Requests completed on the current connection (a reused one may be closed by the
    /// server between requests; that is retried, as ab does, not counted as a failure).
    served: u64,
    request_start: Instant,
    connect_start: Instant,
    first_byte: Option<Instant>,
    sent: usize,
    /// Head bytes received so far (bodies are counted, not kept).
    head_buf: Vec<u8>,
    head: Option<Head>,
    /// Body bytes still expected (with a `Content-Length`).
    body_left: u64,
    /// Body bytes received for this response.
    body_seen: u64,
}

impl Job {
    pub fn run(self) -> io::Result<Part> {
        let now = Instant::now();
        let mut worker = Worker {
            job: &self,
            poll: Poll::new()?,
            part: Part { counts: LoadResult::empty(), last_end: now, first_length: None },
            scratch: vec![0u8; READ_CHUNK],
        };
        let mut conns: Vec<Conn> = (0..self.connections)
            .map(|index| Conn {
                token: Token(index),
                stream: None,
                phase: Phase::Idle,
                served: 0,
                request_start: now,
                connect_start: now,
                first_byte: None,
                sent: 0,
                head_buf: Vec::with_capacity(1024),
                head: None,
                body_left: 0,
                body_seen: 0,
            })
            .collect();
        let mut events = Events::with_capacity(1024);
        let mut next_scan = now + TIMEOUT_SCAN;
        loop {
            let now = Instant::now();
            let mut idle = false;
            let mut open = false;
            for conn in conns.iter_mut() {
                if conn.phase == Phase::Idle {
                    worker.next_request(conn, now);
                }
                idle |= conn.phase == Phase::Idle;
                open |= conn.phase != Phase::Done;
            }
            if !open {
                break;
            }
            // Restarted connections that failed at once are retried without waiting.
            let wait = if idle { Duration::ZERO } else { TIMEOUT_SCAN };
            worker.poll.poll(&mut events, Some(wait))?;
            let now = Instant::now();
            for event in events.iter() {
                if let Some(conn) = conns.get_mut(event.token().0) {
                    // Hang-ups and errors surface as a read or write error.
                    let readable = event.is_readable() || event.is_read_closed() || event.is_error();
                    worker.progress(conn, now, readable);
                }
            }
            if now >= next_scan {
                next_scan = now + TIMEOUT_SCAN;
                worker.expire(&mut conns, now);
            }
        }
        Ok(worker.part)
    }
}

/// A load thread's working state: the job, its poller, what it measured, a read buffer.
struct Worker<'a> {
    job: &'a Job,
    poll: Poll,
    part: Part,
    /// Reads land here; only heads are copied out, bodies are counted.
    scratch: Vec<u8>,
}

impl Worker<'_> {
    /// Fails requests past their timeout, and everything open once the run's deadline passes.
    fn expire(&mut self, conns: &mut [Conn], now: Instant) {
        let cut = now >= self.job.deadline;
        self.part.counts.cut_short |= cut && conns.iter().any(|c| c.phase != Phase::Done);
        for conn in conns.iter_mut() {
            let open = !matches!(conn.phase, Phase::Done | Phase::Idle);
            let overdue = now.duration_since(conn.request_start) >= self.job.timeout;
            if open && (overdue || cut) {
                self.part.counts.failures.timeout += 1;
                conn.close();
                conn.phase = if cut { Phase::Done } else { Phase::Idle };
            } else if cut {
                conn.phase = Phase::Done;
            }
        }
    }

    /// Starts the next request on `conn`, or marks it done.
    fn next_request(&mut self, conn: &mut Conn, now: Instant) {
        if !self.job.keep_alive {
            conn.close();
        }
        if !self.job.shared.take_request() {
            conn.close();
            conn.phase = Phase::Done;
            return;
        }
        conn.request_start = now;
        conn.first_byte = None;
        conn.sent = 0;
        conn.head_buf.clear();
        conn.head = None;
        conn.body_seen = 0;
        if conn.stream.is_some() {
            conn.phase = Phase::Sending;
            self.send(conn, now);
        } else {
            self.connect(conn, now);
        }
    }

    /// Opens a new connection for the current request.
    fn connect(&mut self, conn: &mut Conn, now: Instant) {
        conn.connect_start = now;
        conn.served = 0;
        let opened = TcpStream::connect(self.job.addr).and_then(|mut stream| {
            self.poll.registry().register(
                &mut stream,
                conn.token,
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
            Err(_) => self.fail(conn, now, |f| &mut f.connect),
        }
    }

    /// Advances `conn` after a readiness event.
    fn progress(&mut self, conn: &mut Conn, now: Instant, readable: bool) {
        if conn.phase == Phase::Connecting {
            let Some(stream) = conn.stream.as_ref() else { return };
            match (stream.take_error(), stream.peer_addr()) {
                (Ok(None), Ok(_)) => {}
                // Not connected yet: wait for the next event.
                (Ok(None), Err(err)) if err.kind() == io::ErrorKind::NotConnected => return,
                _ => return self.fail(conn, now, |f| &mut f.connect),
            }
            let _ = stream.set_nodelay(true);
            let _ = self.part.counts.latencies.connect.record(nanos(now - conn.connect_start));
            conn.phase = Phase::Sending;
        }
        if conn.phase == Phase::Sending {
            self.send(conn, now);
        }
        // A write-only wake-up while waiting for the answer needs no read (saves a syscall).
        if conn.phase == Phase::Receiving && readable {
            self.receive(conn, now);
        }
        if conn.phase == Phase::AwaitingClose && readable {
            self.await_close(conn);
        }
    }

    fn send(&mut self, conn: &mut Conn, now: Instant) {
        let Some(stream) = conn.stream.as_mut() else { return };
        let request = &self.job.request;
        while conn.sent < request.len() {
            match stream.write(&request[conn.sent..]) {
                Ok(0) => return self.fail(conn, now, |f| &mut f.send),
                Ok(n) => conn.sent += n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.retry_or_fail(conn, now, |f| &mut f.send),
            }
        }
        conn.phase = Phase::Receiving;
    }

    fn receive(&mut self, conn: &mut Conn, now: Instant) {
        loop {
            let Some(stream) = conn.stream.as_mut() else { return };
            let n = match stream.read(&mut self.scratch) {
                Ok(0) => return self.end_of_stream(conn, now),
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return self.retry_or_fail(conn, now, |f| &mut f.receive),
            };
            conn.first_byte.get_or_insert(now);
            let mut data = &self.scratch[..n];
            if conn.head.is_none() {
                // Usually the whole head is in this one read: parse it in place, no copy.
                let buffered = !conn.head_buf.is_empty();
                if buffered {
                    conn.head_buf.extend_from_slice(data);
                }
                let head_bytes = if buffered { &conn.head_buf[..] } else { data };
                match parse_head(head_bytes) {
                    Ok(Some(head)) => {
                        let already = head_bytes.len() - head.len;
                        conn.head = Some(head);
                        conn.body_left = head.content_length.unwrap_or(u64::MAX);
                        data = &self.scratch[n - already..n];
                    }
                    Ok(None) if !buffered => {
                        conn.head_buf.extend_from_slice(data);
                        continue;
                    }
                    Ok(None) if conn.head_buf.len() > 64 * 1024 => {
                        return self.fail(conn, now, |f| &mut f.protocol);
                    }
                    Ok(None) => continue,
                    Err(_) => return self.fail(conn, now, |f| &mut f.protocol),
                }
            }
            let take = (data.len() as u64).min(conn.body_left);
            conn.body_left -= take;
            conn.body_seen += take;
            if conn.body_left == 0 {
                return self.complete(conn, now);
            }
        }
    }

    /// The server closed the connection.
    fn end_of_stream(&mut self, conn: &mut Conn, now: Instant) {
        match conn.head {
            // No Content-Length: the body ends with the connection.
            Some(head) if head.content_length.is_none() => {
                conn.close();
                self.complete(conn, now)
            }
            _ => self.retry_or_fail(conn, now, |f| &mut f.receive),
        }
    }

    /// A whole response arrived.
    fn complete(&mut self, conn: &mut Conn, now: Instant) {
        let Some(head) = conn.head else { return };
        let part = &mut self.part;
        part.counts.complete += 1;
        part.last_end = now;
        if !(200..300).contains(&head.status) {
            part.counts.non_2xx += 1;
        }
        let length_ok = match part.first_length {
            Some(first) => first == conn.body_seen,
            None => {
                let ok = self.job.shared.length_matches(conn.body_seen);
                if ok {
                    part.first_length = Some(conn.body_seen);
                }
                ok
            }
        };
        if !length_ok {
            part.counts.failures.length += 1;
        }
        part.counts.total_bytes += head.len as u64 + conn.body_seen;
        part.counts.body_bytes += conn.body_seen;
        let _ = part.counts.latencies.total.record(nanos(now - conn.request_start));
        let _ = part.counts.latencies.ttfb.record(nanos(conn.first_byte.unwrap_or(now) - conn.request_start));
        conn.served += 1;
        if head.close || !self.job.keep_alive {
            conn.phase = Phase::AwaitingClose;
            // The FIN may have come with the response: look before waiting for an event.
            self.await_close(conn);
            return;
        }
        self.next_request(conn, now);
    }

    /// Reads (and drops) until the server's FIN; then the connection is closed and the next
    /// request starts from the event loop.
    fn await_close(&mut self, conn: &mut Conn) {
        loop {
            let Some(stream) = conn.stream.as_mut() else {
                conn.phase = Phase::Idle;
                return;
            };
            match stream.read(&mut self.scratch) {
                Ok(n) if n > 0 => {}
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                // EOF, or a reset after the whole response: either way this request is done.
                _ => {
                    conn.close();
                    conn.phase = Phase::Idle;
                    return;
                }
            }
        }
    }

    /// A reused keep-alive connection that the server closed before answering anything is
    /// retried on a new connection (ab does the same); anything else is a failure.
    fn retry_or_fail(&mut self, conn: &mut Conn, now: Instant, kind: fn(&mut Failures) -> &mut u64) {
        if conn.served > 0 && conn.first_byte.is_none() {
            conn.close();
            conn.sent = 0;
            return self.connect(conn, now);
        }
        self.fail(conn, now, kind);
    }

    /// Counts a failed request, drops its connection and leaves it for the event loop to
    /// restart (a string of failures is a loop, never a recursion).
    fn fail(&mut self, conn: &mut Conn, now: Instant, kind: fn(&mut Failures) -> &mut u64) {
        *kind(&mut self.part.counts.failures) += 1;
        self.part.last_end = now;
        conn.close();
        conn.phase = Phase::Idle;
    }
}

impl Conn {
    fn close(&mut self) {
        // Dropping a mio stream deregisters and closes it.
        self.stream = None;
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX).max(1)
}
