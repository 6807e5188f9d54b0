//! One accepted connection as a worker holds it in its slab: the socket, the spec's state
//! machine, the output being written, what it waits for, and the readiness epoll reported.
//!
//! [`Slot::drive`] runs the [`Connection`] as far as the socket allows without blocking:
//! it finishes the current step's I/O (a read, the rest of a write, a drain), polls for the
//! next step, and stops when the socket has nothing to read, no room to write, or the step
//! is a sleep or an offload (which the worker hands to its helper thread). Every other step
//! sets the connection's [`Deadline`]; what passing it means depends on the step (see
//! [`Slot::fired`]).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use server_spec::limits::{recycle_output, DRAIN_BYTES, DRAIN_TIME};
use server_spec::{Config, Connection, Step};

use crate::epoll::{HANG_UP, READABLE, WRITABLE};
use crate::files::{self, Sending, Sent};
use server_common::deadlines::{Deadline, Ticket};

/// The worker's deadline heap, keyed by slab key.
pub type Timers = server_common::deadlines::Timers<usize>;

/// Reads and writes one connection may make per drive before the worker moves on to the
/// others; it carries on in the next turn. 16 reads are 64 KiB of input, 16 writes up to
/// 1 MiB of output: enough that a bulk transfer costs few turns, little enough that a 16 MiB
/// download or upload cannot starve the connections beside it. A request and its response
/// take 2.
const IO_BUDGET: u32 = 16;

/// What a connection waits for between drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// Nothing: poll the connection for its next step.
    Poll,
    /// Input ([`Step::Read`]). The deadline closes the connection without an answer.
    Input,
    /// Room to write the rest of the output ([`Step::Write`]). Once `armed`, the deadline,
    /// `timeout` after the last write that made progress, closes the connection: the client
    /// stopped reading. It is armed only when the write first has to wait (or yield), so a
    /// response that fits the send buffer, the common case, leaves the deadline alone.
    Output { timeout: Duration, armed: bool },
    /// The deadline itself ([`Step::Sleep`]); then the connection is polled again.
    Sleep,
    /// The worker's helper thread, computing ([`Step::Offload`]); no deadline, since the
    /// computation ends by itself. [`Slot::offloaded`] resumes the connection.
    Offload,
    /// Room to send the rest of a file ([`Step::SendFile`], from `Slot::sending`), with the
    /// write deadline of [`Wait::Output`].
    File { timeout: Duration, armed: bool },
    /// The end of input after shutting down writing ([`Step::Close`] with `drain`): read and
    /// drop what the client still sends, `drained` bytes so far, until it closes, or until
    /// [`DRAIN_BYTES`] or the deadline ([`DRAIN_TIME`]) is reached.
    Drain { drained: usize },
}

/// How a drive ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drive {
    /// The connection waits for an event or its deadline.
    Park,
    /// The connection could go on but used its turn's budget: drive it again next turn (no
    /// edge will come for readiness it already has).
    Yield,
    /// The connection is finished or failed: drop the slot, which closes the socket and so
    /// removes it from epoll.
    Close,
    /// The connection waits for `work::compute(iterations)`: the worker hands it to its helper
    /// thread and calls [`Slot::offloaded`] when it is done.
    Offload { iterations: u64 },
}

/// What a due timer entry means for its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fired {
    /// Nothing: the entry was stale, or the deadline had moved later (and is queued again).
    Nothing,
    /// The sleep is over: drive the connection.
    Wake,
    /// The deadline passed while waiting for input, output room or a drain: close.
    Close,
}

/// One connection in a worker's slab.
#[derive(Debug)]
pub struct Slot {
    stream: TcpStream,
    conn: Connection,
    /// Response bytes; `out[written..]` is not written yet. Reused between responses, so a
    /// keep-alive connection allocates it once; dropped when a large body has grown it.
    out: Vec<u8>,
    written: usize,
    wait: Wait,
    deadline: Deadline,
    /// Edge-triggered epoll reports a change of readiness once: these remember it until a
    /// read finds no more input or a write finds no more room.
    readable: bool,
    writable: bool,
    /// The peer closed or reset the connection: reads no longer block (they return the rest,
    /// then 0 or an error), so a short read does not clear `readable`.
    input_ended: bool,
    /// Whether a write has gone out on this connection, and whether `TCP_NODELAY` is set.
    /// Like nginx, the option is set only before a connection's second write: the first has
    /// nothing small unacknowledged before it, so Nagle's algorithm (Linux's, Minshall's
    /// variant) cannot hold it, and a connection that writes one response and closes, as
    /// every HTTP/1.0 one does, saves the system call.
    wrote: bool,
    no_delay: bool,
    /// The file a `/files/` request opened, until [`Step::SendFile`] takes it.
    opened: Option<std::fs::File>,
    /// The file being sent ([`Wait::File`]).
    sending: Option<Sending>,
}

impl Slot {
    /// A connection accepted at `accepted`; [`Slot::drive`] it once to get its first step.
    pub fn new(stream: TcpStream, config: &Config, accepted: Instant) -> Slot {
        Slot {
            stream,
            conn: Connection::new(config, accepted),
            out: Vec::new(),
            written: 0,
            wait: Wait::Poll,
            deadline: Deadline::new(accepted),
            readable: false,
            // A new socket's send buffer is empty; epoll's first edge would say so too.
            writable: true,
            input_ended: false,
            wrote: false,
            no_delay: false,
            opened: None,
            sending: None,
        }
    }

    /// Records the readiness of an epoll event; returns whether a drive can make progress.
    pub fn ready(&mut self, flags: u32) -> bool {
        self.readable |= flags & READABLE != 0;
        self.writable |= flags & WRITABLE != 0;
        self.input_ended |= flags & HANG_UP != 0;
        match self.wait {
            Wait::Poll => true,
            Wait::Input | Wait::Drain { .. } => self.readable,
            Wait::Output { .. } | Wait::File { .. } => self.writable,
            Wait::Sleep | Wait::Offload => false,
        }
    }

    /// Runs the connection, as the slab's `key`, until it must wait; `scratch` receives reads
    /// (the worker's one read buffer, so an idle connection holds none).
    pub fn drive(&mut self, key: usize, now: Instant, scratch: &mut [u8], timers: &mut Timers) -> Drive {
        let mut budget = IO_BUDGET;
        loop {
            let waiting = match self.wait {
                Wait::Poll => None,
                Wait::Sleep | Wait::Offload => Some(Drive::Park),
                Wait::Input => self.read_input(scratch, &mut budget),
                Wait::Output { timeout, armed } => self.flush(key, now, timeout, armed, timers, &mut budget),
                Wait::Drain { drained } => Some(self.drain(drained, scratch, &mut budget)),
                Wait::File { timeout, armed } => {
                    self.send_file(key, now, timeout, armed, timers, &mut budget)
                }
            };
            if let Some(drive) = waiting {
                return drive;
            }
            if let Some(drive) = self.next_step(key, now, timers) {
                return drive;
            }
        }
    }

    /// Polls the connection and sets up its next wait; `Some` when the drive ends here.
    fn next_step(&mut self, key: usize, now: Instant, timers: &mut Timers) -> Option<Drive> {
        let (wait, deadline) = match self.conn.poll(now, &mut self.out) {
            Step::Write { timeout } => {
                self.wait = Wait::Output { timeout, armed: false };
                return None;
            }
            Step::Read { deadline } => (Wait::Input, deadline),
            Step::Sleep(duration) => (Wait::Sleep, now + duration),
            Step::Offload { iterations } => {
                self.wait = Wait::Offload;
                self.deadline.clear();
                return Some(Drive::Offload { iterations });
            }
            Step::OpenFile => {
                self.opened = files::open(&mut self.conn);
                return None;
            }
            Step::SendFile { len, timeout } => {
                self.sending = Some(Sending::new(self.opened.take(), len));
                self.wait = Wait::File { timeout, armed: false };
                return None;
            }
            Step::Close { drain: false } => return Some(Drive::Close),
            Step::Close { drain: true } => {
                // The FIN goes out after the response; reading on lets the client read it all
                // instead of meeting a reset for input we never read.
                if self.stream.shutdown(Shutdown::Write).is_err() {
                    return Some(Drive::Close);
                }
                (Wait::Drain { drained: 0 }, now + DRAIN_TIME)
            }
        };
        self.wait = wait;
        self.deadline.set(deadline, key, timers);
        None
    }

    /// One read for [`Wait::Input`], handed to the connection; `Some` when the drive ends.
    fn read_input(&mut self, scratch: &mut [u8], budget: &mut u32) -> Option<Drive> {
        if !self.readable {
            return Some(Drive::Park);
        }
        if *budget == 0 {
            return Some(Drive::Yield);
        }
        *budget -= 1;
        match self.read(scratch) {
            Ok(Some(0)) => self.conn.eof(),
            Ok(Some(n)) => self.conn.received(&scratch[..n]),
            Ok(None) => return Some(Drive::Park),
            Err(_) => return Some(Drive::Close),
        }
        self.wait = Wait::Poll;
        None
    }

    /// Writes the rest of the output for [`Wait::Output`]; `Some` when the drive ends first.
    fn flush(
        &mut self,
        key: usize,
        now: Instant,
        timeout: Duration,
        armed: bool,
        timers: &mut Timers,
        budget: &mut u32,
    ) -> Option<Drive> {
        let mut progressed = false;
        while self.written < self.out.len() {
            let stop = self.must_stop_writing(*budget);
            if let Some(drive) = stop {
                // The write timeout counts from the last progress, or from now if the write
                // waits before its first.
                if !armed || progressed {
                    self.deadline.set(now + timeout, key, timers);
                    self.wait = Wait::Output { timeout, armed: true };
                }
                return Some(drive);
            }
            *budget -= 1;
            if !self.nodelay_after_first_write() {
                return Some(Drive::Close);
            }
            match (&self.stream).write(&self.out[self.written..]) {
                Ok(0) => return Some(Drive::Close),
                Ok(n) => {
                    self.written += n;
                    self.wrote = true;
                    progressed = true;
                    // A short write filled the send buffer: a new edge comes when room frees
                    // up, so the write that would fail with EAGAIN is skipped.
                    self.writable = self.written == self.out.len();
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => self.writable = false,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Some(Drive::Close),
            }
        }
        recycle_output(&mut self.out);
        self.written = 0;
        self.wait = Wait::Poll;
        None
    }

    /// Why a write loop (output or a file) stops before its next write, if it must: no room
    /// in the send buffer until the next edge, or its turn's budget spent.
    fn must_stop_writing(&self, budget: u32) -> Option<Drive> {
        if !self.writable {
            Some(Drive::Park)
        } else if budget == 0 {
            Some(Drive::Yield)
        } else {
            None
        }
    }

    /// Sets `TCP_NODELAY` before a connection's second write, as nginx does (see the crate
    /// docs); false when the socket refuses it, which fails this one connection.
    fn nodelay_after_first_write(&mut self) -> bool {
        if self.wrote && !self.no_delay {
            if self.stream.set_nodelay(true).is_err() {
                return false;
            }
            self.no_delay = true;
        }
        true
    }

    /// Sends the rest of the file for [`Wait::File`], as [`Slot::flush`] writes output; `Some`
    /// when the drive ends first.
    fn send_file(
        &mut self,
        key: usize,
        now: Instant,
        timeout: Duration,
        armed: bool,
        timers: &mut Timers,
        budget: &mut u32,
    ) -> Option<Drive> {
        let mut progressed = false;
        while self.sending.as_ref().is_some_and(|sending| !sending.is_done()) {
            let stop = self.must_stop_writing(*budget);
            if let Some(drive) = stop {
                if !armed || progressed {
                    self.deadline.set(now + timeout, key, timers);
                    self.wait = Wait::File { timeout, armed: true };
                }
                return Some(drive);
            }
            *budget -= 1;
            if !self.nodelay_after_first_write() {
                return Some(Drive::Close);
            }
            let Some(sending) = self.sending.as_mut() else { break };
            match sending.send(&self.stream) {
                Sent::Some => {
                    self.wrote = true;
                    progressed = true;
                    // Short of what was left: the send buffer is full, as after a short write.
                    self.writable = sending.is_done();
                }
                Sent::Full => self.writable = false,
                Sent::Failed => return Some(Drive::Close),
            }
        }
        self.sending = None;
        self.wait = Wait::Poll;
        None
    }

    /// Reads and drops input for [`Wait::Drain`].
    fn drain(&mut self, mut drained: usize, scratch: &mut [u8], budget: &mut u32) -> Drive {
        let drive = loop {
            if !self.readable {
                break Drive::Park;
            }
            if *budget == 0 {
                break Drive::Yield;
            }
            *budget -= 1;
            match self.read(scratch) {
                Ok(Some(0)) | Err(_) => return Drive::Close,
                Ok(Some(n)) => drained += n,
                Ok(None) => break Drive::Park,
            }
            if drained >= DRAIN_BYTES {
                return Drive::Close;
            }
        };
        self.wait = Wait::Drain { drained };
        drive
    }

    /// Reads once into `scratch`: `Some(n)` bytes (0 at the end of input), or `None` if there
    /// is nothing to read yet.
    fn read(&mut self, scratch: &mut [u8]) -> io::Result<Option<usize>> {
        loop {
            match (&self.stream).read(scratch) {
                Ok(0) => {
                    self.input_ended = true;
                    return Ok(Some(0));
                }
                Ok(n) => {
                    // A short read emptied the receive queue, and input arriving after it
                    // raises a new edge: the read that would fail with EAGAIN is skipped,
                    // one system call per request saved.
                    if n < scratch.len() && !self.input_ended {
                        self.readable = false;
                    }
                    return Ok(Some(n));
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    self.readable = false;
                    return Ok(None);
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
    }

    /// A timer entry with `ticket` came due at `now`.
    pub fn fired(&mut self, ticket: Ticket, now: Instant, key: usize, timers: &mut Timers) -> Fired {
        if !self.deadline.fired(ticket, now, key, timers) {
            return Fired::Nothing;
        }
        match self.wait {
            Wait::Sleep => {
                self.wait = Wait::Poll;
                Fired::Wake
            }
            Wait::Poll | Wait::Input | Wait::Output { .. } | Wait::Drain { .. } | Wait::File { .. } => {
                Fired::Close
            }
            // Not reached: the deadline was cleared when the offload began.
            Wait::Offload => Fired::Nothing,
        }
    }

    /// The helper thread finished this connection's computation: whether to drive it now
    /// (false if it was not waiting for one).
    pub fn offloaded(&mut self) -> bool {
        if self.wait != Wait::Offload {
            return false;
        }
        self.wait = Wait::Poll;
        true
    }

    /// Whether `ticket` is this connection's live timer entry.
    pub fn holds(&self, ticket: Ticket) -> bool {
        self.deadline.holds(ticket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    use server_spec::limits::READ_BUFFER;

    const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";
    const KEY: usize = 3;

    /// A connected pair, the server's end non-blocking as the worker accepts it, wrapped in
    /// a slot that has been driven to its first wait.
    fn connected(config: &Config, now: Instant, timers: &mut Timers) -> (Slot, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        let mut slot = Slot::new(server, config, now);
        assert_eq!(slot.drive(KEY, now, &mut [0; READ_BUFFER], timers), Drive::Park);
        assert_eq!(slot.wait, Wait::Input);
        (slot, client)
    }

    /// Sends `bytes` and gives loopback a moment to queue them at the server's end.
    fn send(client: &mut TcpStream, bytes: &[u8]) {
        client.write_all(bytes).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }

    fn read_response(client: &mut TcpStream) -> Vec<u8> {
        let mut buf = vec![0; 1024];
        let n = client.read(&mut buf).unwrap();
        buf.truncate(n);
        buf
    }

    #[test]
    fn a_request_is_read_answered_and_parked_in_one_drive() {
        let mut timers = Timers::default();
        let now = Instant::now();
        let (mut slot, mut client) = connected(&Config::default(), now, &mut timers);
        let mut scratch = [0; READ_BUFFER];
        for _ in 0..10 {
            send(&mut client, GET);
            assert!(slot.ready(libc::EPOLLIN as u32), "input is what it waits for");
            assert_eq!(slot.drive(KEY, now, &mut scratch, &mut timers), Drive::Park);
            assert_eq!(slot.wait, Wait::Input);
            assert!(!slot.readable, "the short read cleared readiness: no read that fails with EAGAIN");
            assert!(read_response(&mut client).starts_with(b"HTTP/1.1 200 OK\r\n"));
        }
        // The header deadline, then the first idle one (shorter): per connection, not per
        // request, since later deadlines only move lazily.
        assert_eq!(timers.len(), 2, "ten requests, two timer entries");
    }

    #[test]
    fn a_sleep_parks_until_its_timer_fires() {
        let mut timers = Timers::default();
        let now = Instant::now();
        let (mut slot, mut client) = connected(&Config::default(), now, &mut timers);
        let mut scratch = [0; READ_BUFFER];
        send(&mut client, b"GET /sleep/50 HTTP/1.1\r\nHost: t\r\n\r\n");
        slot.ready(libc::EPOLLIN as u32);
        assert_eq!(slot.drive(KEY, now, &mut scratch, &mut timers), Drive::Park);
        assert_eq!(slot.wait, Wait::Sleep);
        assert_eq!(timers.timeout_ms(now), 50);
        assert!(!slot.ready(libc::EPOLLOUT as u32), "readiness does not end a sleep");
        assert_eq!(timers.pop_due(now + Duration::from_millis(49)), None);
        let (key, ticket) = timers.pop_due(now + Duration::from_millis(50)).unwrap();
        assert_eq!(key, KEY);
        let woke = now + Duration::from_millis(50);
        assert_eq!(slot.fired(ticket, woke, key, &mut timers), Fired::Wake);
        assert_eq!(slot.drive(KEY, woke, &mut scratch, &mut timers), Drive::Park);
        assert!(read_response(&mut client).ends_with(b"Hello, world!\n"));
    }

    #[test]
    fn an_offload_parks_without_a_deadline_until_offloaded() {
        let mut timers = Timers::default();
        let now = Instant::now();
        let config = Config { work_rate: 2.0, ..Config::default() };
        let (mut slot, mut client) = connected(&config, now, &mut timers);
        let mut scratch = [0; READ_BUFFER];
        send(&mut client, b"GET /offload/50 HTTP/1.1\r\nHost: t\r\n\r\n");
        slot.ready(libc::EPOLLIN as u32);
        assert_eq!(slot.drive(KEY, now, &mut scratch, &mut timers), Drive::Offload { iterations: 100 });
        assert_eq!(slot.wait, Wait::Offload);
        assert!(!slot.ready(libc::EPOLLIN as u32 | libc::EPOLLOUT as u32), "readiness does not end it");
        let later = now + Duration::from_secs(60);
        while let Some((key, ticket)) = timers.pop_due(later) {
            assert_eq!(slot.fired(ticket, later, key, &mut timers), Fired::Nothing, "no deadline runs");
        }
        assert!(slot.offloaded());
        assert!(!slot.offloaded(), "only once");
        assert_eq!(slot.drive(KEY, later, &mut scratch, &mut timers), Drive::Park);
        assert!(read_response(&mut client).ends_with(b"Hello, world!\n"));
    }

    #[test]
    fn a_large_upload_yields_after_the_budget() {
        let mut timers = Timers::default();
        let now = Instant::now();
        let (mut slot, client) = connected(&Config::default(), now, &mut timers);
        let body = 1 << 20;
        let uploader = std::thread::spawn(move || {
            let mut client = client;
            client.set_read_timeout(Some(Duration::from_secs(10)))?;
            client.write_all(
                format!("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: {body}\r\n\r\n").as_bytes(),
            )?;
            client.write_all(&vec![b'x'; body])?;
            let mut echoed = Vec::new();
            let mut buf = vec![0; 64 * 1024];
            loop {
                let n = client.read(&mut buf)?;
                assert_ne!(n, 0, "closed early");
                echoed.extend_from_slice(&buf[..n]);
                let head = echoed.windows(4).position(|w| w == b"\r\n\r\n").map(|at| at + 4);
                if let Some(head) = head.filter(|head| echoed.len() >= head + body) {
                    // The client goes back with the count, open: closing it here could let the
                    // loop below drive the slot into the EOF between its check and its drive.
                    return std::io::Result::Ok((echoed.len() - head, client));
                }
            }
        });
        std::thread::sleep(Duration::from_millis(50));
        let mut scratch = [0; READ_BUFFER];
        slot.ready(libc::EPOLLIN as u32);
        assert_eq!(
            slot.drive(KEY, now, &mut scratch, &mut timers),
            Drive::Yield,
            "64 KiB read; more waiting"
        );
        // The worker drives it again next turn (and on each new edge) until it is done.
        let mut turns = 1;
        while !uploader.is_finished() {
            slot.ready(libc::EPOLLIN as u32 | libc::EPOLLOUT as u32);
            assert_ne!(slot.drive(KEY, now, &mut scratch, &mut timers), Drive::Close);
            turns += 1;
            std::thread::sleep(Duration::from_micros(100));
        }
        let (echoed, _client) = uploader.join().unwrap().unwrap();
        assert_eq!(echoed, body, "the whole body echoed");
        assert!(turns >= 16, "1 MiB in {turns} turns of at most 64 KiB each?");
    }

    #[test]
    fn a_reader_that_stalls_is_closed_at_the_write_deadline() {
        let mut timers = Timers::default();
        let now = Instant::now();
        let timeouts = server_spec::Timeouts { write: Duration::from_secs(3), ..Default::default() };
        let (mut slot, mut client) = connected(&Config::new(timeouts), now, &mut timers);
        let mut scratch = [0; READ_BUFFER];
        send(&mut client, b"GET /bytes/16777216 HTTP/1.1\r\nHost: t\r\n\r\n");
        slot.ready(libc::EPOLLIN as u32);
        // The client reads nothing: the send buffer fills, and the connection waits for room.
        let mut drive = Drive::Yield;
        while drive == Drive::Yield {
            drive = slot.drive(KEY, now, &mut scratch, &mut timers);
        }
        assert_eq!(
            (drive, slot.wait),
            (Drive::Park, Wait::Output { timeout: Duration::from_secs(3), armed: true })
        );
        let stalled = now + Duration::from_secs(3);
        let mut fired = Fired::Nothing;
        while let Some((key, ticket)) = timers.pop_due(stalled) {
            fired = slot.fired(ticket, stalled, key, &mut timers);
        }
        assert_eq!(fired, Fired::Close);
    }
}
