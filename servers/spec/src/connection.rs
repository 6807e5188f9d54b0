//! The connection state machine: bytes in, response bytes and next steps out, no I/O inside.
//!
//! An I/O loop drives one [`Connection`] per socket:
//!
//! ```text
//! loop {
//!     match conn.poll(Instant::now(), &mut out) {
//!         Step::Write { timeout } => { write all of `out`, closing if a write makes no
//!                                      progress for `timeout`; out.clear() }
//!         Step::Read { deadline } => { read, or close at the deadline;
//!                                      conn.received(bytes) or conn.eof() }
//!         Step::Sleep(d) => wait `d` on the runtime's own timer
//!         Step::Offload { iterations } => run `work::compute(iterations)` through the
//!                                         runtime's blocking facility, and wait for it
//!         Step::OpenFile => { open conn.file_name() in the served directory;
//!                             conn.file_opened(its size, or None) }
//!         Step::SendFile { len, timeout } => send the opened file's first `len` bytes
//!         Step::Close { drain } => { if drain { shut down writing, drain briefly }; break }
//!     }
//! }
//! ```
//!
//! Responses are produced in order, pipelined requests are batched into one write, large
//! bodies are produced a window at a time, and the input buffer never holds more than one
//! head plus one read, so memory stays bounded whatever the client sends.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::chunked::ChunkedDecoder;
use crate::limits::{HEADER_TIMEOUT, IDLE_TIMEOUT, MAX_HEAD, MAX_REQUEST_LINE, OUTPUT_WINDOW, WRITE_TIMEOUT};
use crate::line::LineCheck;
use crate::request::{parse_head, Framing, Request, Version};
use crate::response::{self, ConnectionField, HeadFields, Status};
use crate::routes::{Method, Route};
use crate::scan::HeadScanner;
use crate::work;

/// What the I/O loop must do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Write all of `out`, clear it, and poll again. If the client stops reading, so that a
    /// write makes no progress for `timeout` (the write timeout), close the connection: a
    /// response nobody reads must not hold a connection, or a pool thread, forever.
    Write { timeout: Duration },
    /// Read more input and pass it to [`Connection::received`] (or call [`Connection::eof`]).
    /// If nothing arrives by `deadline`, close the connection without an answer.
    Read { deadline: Instant },
    /// Wait this long on the runtime's timer (never blocking an executor thread), then poll.
    Sleep(Duration),
    /// Run [`work::compute`]`(iterations)` off the thread that polls the connection, through
    /// the runtime's blocking facility (a thread pool, a helper thread; the blocking variants
    /// just run it), wait for it to finish, then poll. This is `/offload/{µs}`.
    Offload { iterations: u64 },
    /// Open the file [`Connection::file_name`] names in the served directory (`--files`) and
    /// tell [`Connection::file_opened`] its size, or `None` if there is no such regular file
    /// (or no directory); then poll. Keep the file if `file_opened` says its body follows.
    OpenFile,
    /// Send the first `len` bytes of the file opened at the last [`Step::OpenFile`], reading it
    /// in chunks of at most [`crate::files::CHUNK`] bytes, then drop it and poll. Every byte of
    /// the head is already written. If the file ends early (it shrank), close the connection:
    /// the response promised `len` bytes. `timeout` is the write timeout, as in
    /// [`Step::Write`].
    SendFile { len: u64, timeout: Duration },
    /// Close the connection. With `drain`, first shut down writing and read what the client
    /// still sends (bounded by [`crate::limits::DRAIN_BYTES`] and
    /// [`crate::limits::DRAIN_TIME`]) so it sees the response rather than a reset.
    Close { drain: bool },
}

/// Server-wide state shared by every connection: how many requests are in flight, and whether
/// the server is stopping.
#[derive(Debug, Default)]
pub struct Lifecycle {
    in_flight: AtomicUsize,
    stopping: AtomicBool,
}

impl Lifecycle {
    /// Requests whose head has arrived and whose response has not been fully handed out.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Marks the server as stopping: idle connections close at their next step.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
    }

    /// Whether [`Lifecycle::stop`] was called.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }
}

/// The deadlines every connection obeys, whatever the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// A request head must be complete this long after it started (or after the connection
    /// was accepted); a body this long after its head.
    pub header: Duration,
    /// A keep-alive connection may sit between requests this long.
    pub idle: Duration,
    /// A response write may make no progress for this long before the connection closes.
    pub write: Duration,
}

impl Default for Timeouts {
    /// The CLI's defaults (see [`crate::limits`]).
    fn default() -> Timeouts {
        Timeouts { header: HEADER_TIMEOUT, idle: IDLE_TIMEOUT, write: WRITE_TIMEOUT }
    }
}

/// Per-server settings every connection needs.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub timeouts: Timeouts,
    pub lifecycle: Arc<Lifecycle>,
    /// Iterations of [`work::compute`] per microsecond, measured once at server start
    /// ([`work::calibrate`]), so `/work/{µs}` and `/offload/{µs}` compute for about µs. 0 (the
    /// default, as in tests and [`crate::reference`]) makes them compute nothing: their bytes
    /// are the same.
    pub work_rate: f64,
}

impl Config {
    /// Settings with these timeouts, a fresh [`Lifecycle`] and no work rate (see
    /// [`Config::work_rate`]).
    pub fn new(timeouts: Timeouts) -> Config {
        Config { timeouts, lifecycle: Arc::default(), work_rate: 0.0 }
    }
}

/// How the body of the current request is being read.
#[derive(Debug)]
enum BodyReader {
    Length(u64),
    Chunked(ChunkedDecoder),
}

/// What the response to a request still has to produce after its head.
#[derive(Debug)]
enum Output {
    /// Bytes of the `/bytes/{n}` pattern: next offset, and the end.
    Pattern { next: u64, end: u64 },
    /// An echoed body, and how much of it has been produced.
    Owned { body: Vec<u8>, next: usize },
}

#[derive(Debug)]
enum State {
    /// Waiting for (the rest of) a request head.
    Head,
    /// Reading the body of `request`; echo bodies are kept in `body`.
    Body { request: Request, reader: BodyReader, body: Vec<u8> },
    /// Head and body are read; the next poll answers.
    Answer { request: Request, body: Vec<u8> },
    /// [`Step::Sleep`] or [`Step::Offload`] was returned; the next poll answers `request`.
    Waited { request: Request },
    /// Producing a response body window by window.
    Streaming { output: Output, keep_alive: bool },
    /// [`Step::OpenFile`] was returned; the next poll answers `request` with the size
    /// [`Connection::file_opened`] gave (none: 404).
    Opening { request: Request },
    /// The head of a file response is in `out`; once it is written, [`Step::SendFile`].
    SendingFile { len: u64, keep_alive: bool },
    /// No more requests: close once `out` is written.
    Closing { drain: bool },
}

/// One HTTP/1.1 connection's protocol state.
#[derive(Debug)]
pub struct Connection {
    config: Config,
    /// Received bytes not yet consumed start at `input[consumed]`.
    input: Vec<u8>,
    consumed: usize,
    scanner: HeadScanner,
    /// Refuses a head whose request line cannot be one, before its end arrives.
    line: LineCheck,
    state: State,
    /// The peer shut down its writing side.
    eof: bool,
    /// When the current wait began: the connection's start, the first byte of a head, the end
    /// of a head (for its body), or the last response (for idleness).
    waiting_since: Instant,
    /// Whether the current head wait is an idle keep-alive wait (no byte of it yet, and at
    /// least one request answered).
    idle: bool,
    /// Whether this connection counts a request in [`Lifecycle::in_flight`].
    counted: bool,
    /// Requests answered so far; after the first, waiting for a head is an idle wait.
    answered: u64,
    /// The decoded name of the current `/files/` request; its buffer is kept for the next.
    file_name: Vec<u8>,
    /// The size of the file [`Connection::file_opened`] reported; `None`: no such file.
    file_size: Option<u64>,
}

impl Connection {
    /// A connection accepted at `now`.
    pub fn new(config: &Config, now: Instant) -> Connection {
        Connection {
            config: config.clone(),
            input: Vec::new(),
            consumed: 0,
            scanner: HeadScanner::default(),
            line: LineCheck::default(),
            state: State::Head,
            eof: false,
            waiting_since: now,
            idle: false,
            counted: false,
            answered: 0,
            file_name: Vec::new(),
            file_size: None,
        }
    }

    /// Adds bytes read from the socket.
    pub fn received(&mut self, data: &[u8]) {
        if self.consumed > 0 && self.consumed == self.input.len() {
            self.input.clear();
            self.consumed = 0;
        } else if self.consumed > 0 && self.consumed >= self.input.len() / 2 {
            self.input.drain(..self.consumed);
            self.consumed = 0;
        }
        self.input.extend_from_slice(data);
    }

    /// The peer will send nothing more.
    pub fn eof(&mut self) {
        self.eof = true;
    }

    /// The decoded name of the file [`Step::OpenFile`] asks for: one path component, never
    /// `.`, `..` or holding `/` or NUL (see [`crate::files`]).
    pub fn file_name(&self) -> &[u8] {
        &self.file_name
    }

    /// The answer to [`Step::OpenFile`]: the regular file's size, or `None` if there is none
    /// by that name (or no directory). Returns whether [`Step::SendFile`] will follow (a GET
    /// of a non-empty file): if not, the variant can let the file go at once.
    pub fn file_opened(&mut self, size: Option<u64>) -> bool {
        self.file_size = size;
        match &self.state {
            State::Opening { request } => request.method != Method::Head && size.is_some_and(|n| n > 0),
            _ => false,
        }
    }

    /// Advances the protocol, appending response bytes to `out`, and says what to do next.
    pub fn poll(&mut self, now: Instant, out: &mut Vec<u8>) -> Step {
        loop {
            let state = std::mem::replace(&mut self.state, State::Head);
            let next = match state {
                State::Closing { drain } => {
                    self.state = State::Closing { drain };
                    if !out.is_empty() {
                        return self.write_step();
                    }
                    self.finish_request();
                    return Step::Close { drain };
                }
                State::Streaming { output, keep_alive } => {
                    if out.len() >= OUTPUT_WINDOW {
                        self.state = State::Streaming { output, keep_alive };
                        return self.write_step();
                    }
                    self.stream(output, keep_alive, out);
                    continue;
                }
                State::Answer { request, body } => self.answer(request, body, out),
                State::Waited { request } => {
                    self.respond(&request, &[], out);
                    continue;
                }
                State::Opening { request } => {
                    let request = match self.file_size {
                        Some(_) => request,
                        None => Request { route: Route::Refuse(Status::NotFound, None), ..request },
                    };
                    self.respond(&request, &[], out);
                    continue;
                }
                State::SendingFile { len, keep_alive } => {
                    if !out.is_empty() {
                        self.state = State::SendingFile { len, keep_alive };
                        return self.write_step();
                    }
                    self.state = self.after_response(keep_alive);
                    return Step::SendFile { len, timeout: self.config.timeouts.write };
                }
                State::Head => self.head(now, out),
                State::Body { request, reader, body } => self.body(now, request, reader, body, out),
            };
            match next {
                Some(step) => return step,
                None => continue,
            }
        }
    }

    /// Looks for a complete head. Returns a step to return, or `None` to keep going.
    fn head(&mut self, now: Instant, out: &mut Vec<u8>) -> Option<Step> {
        if out.is_empty() {
            // The previous response has been written: that request is over.
            self.finish_request();
        }
        if out.len() >= OUTPUT_WINDOW {
            return Some(self.write_step());
        }
        let pending = &self.input[self.consumed..];
        if pending.is_empty() {
            if self.config.lifecycle.is_stopping() || self.eof {
                self.state = State::Closing { drain: false };
                return None;
            }
            return Some(self.wait(now, out, true));
        }
        if self.idle {
            // The first byte of a new head ends the idle wait and starts the head timeout.
            self.idle = false;
            self.waiting_since = now;
        }
        let Some(end) = self.scanner.find_end(pending) else {
            // Garbage is answered now, not after the header timeout. (A head that is all here
            // needs no such check: its parse gives the final answer.)
            if !self.line.still_valid(pending) {
                self.refuse(Status::BadRequest, out);
                return None;
            }
            if pending.len() > MAX_HEAD {
                let line_ends = memchr::memchr(b'\n', &pending[..MAX_REQUEST_LINE]).is_some();
                let status = if line_ends { Status::HeaderFieldsTooLarge } else { Status::UriTooLong };
                self.refuse(status, out);
                return None;
            }
            if self.eof {
                self.state = State::Closing { drain: false };
                return None;
            }
            return Some(self.wait(now, out, false));
        };
        let parsed = if end > MAX_HEAD {
            let line_len = memchr::memchr(b'\n', pending).unwrap_or(end);
            Err(if line_len > MAX_REQUEST_LINE { Status::UriTooLong } else { Status::HeaderFieldsTooLarge })
        } else {
            parse_head(&pending[..end])
        };
        self.consumed += end;
        self.scanner.reset();
        self.line.reset();
        if let Ok(Request { route: Route::File, .. }) = parsed {
            let pending = &self.input[self.consumed - end..];
            crate::files::decode_name(crate::files::raw_name(&pending[..end]), &mut self.file_name);
        }
        let request = match parsed {
            Ok(request) => request,
            Err(status) => {
                self.refuse(status, out);
                return None;
            }
        };
        self.start_request();
        self.waiting_since = now;
        let reader = match request.framing {
            Framing::None => return self.answer(request, Vec::new(), out),
            Framing::Length(n) => BodyReader::Length(n),
            Framing::Chunked => BodyReader::Chunked(ChunkedDecoder::default()),
        };
        if request.expect_continue {
            if let Route::Refuse(..) = request.route {
                // Answer without reading the body the client has not sent yet; it may never
                // send it, so the connection cannot be reused.
                let request = Request { keep_alive: false, ..request };
                self.respond(&request, &[], out);
                self.state = State::Closing { drain: true };
                return None;
            }
            if self.consumed == self.input.len() {
                out.extend_from_slice(response::CONTINUE);
            }
        }
        self.state = State::Body { request, reader, body: Vec::new() };
        None
    }

    /// Reads body bytes from the input. Returns a step to return, or `None` to keep going.
    fn body(
        &mut self,
        now: Instant,
        request: Request,
        mut reader: BodyReader,
        mut body: Vec<u8>,
        out: &mut Vec<u8>,
    ) -> Option<Step> {
        let keep = request.route.keeps_body();
        let pending = &self.input[self.consumed..];
        let mut sink = |data: &[u8]| {
            if keep {
                body.extend_from_slice(data);
            }
        };
        let done = match &mut reader {
            BodyReader::Length(left) => {
                let take = pending.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                sink(&pending[..take]);
                self.consumed += take;
                *left -= take as u64;
                *left == 0
            }
            BodyReader::Chunked(decoder) => match decoder.decode(pending, &mut sink) {
                Ok(used) => {
                    self.consumed += used;
                    decoder.is_done()
                }
                Err(status) => {
                    self.refuse(status, out);
                    return None;
                }
            },
        };
        if done {
            return self.answer(request, body, out);
        }
        if self.eof {
            self.state = State::Closing { drain: false };
            return None;
        }
        self.state = State::Body { request, reader, body };
        Some(self.wait(now, out, false))
    }

    /// Answers a request whose body has been read: at once, after computing here, or after a
    /// sleep or an offloaded computation (a step for the I/O loop, then [`State::Waited`]).
    fn answer(&mut self, request: Request, body: Vec<u8>, out: &mut Vec<u8>) -> Option<Step> {
        let takes_time = matches!(request.route, Route::Sleep(_) | Route::Work(_) | Route::Offload(_));
        if takes_time && !out.is_empty() {
            // Earlier pipelined answers go out before the wait or the computation.
            self.state = State::Answer { request, body };
            return Some(self.write_step());
        }
        let wait = match request.route {
            Route::Sleep(duration) => Step::Sleep(duration),
            Route::Offload(us) => Step::Offload { iterations: work::iterations(self.config.work_rate, us) },
            Route::Work(us) => {
                // Here, on the thread polling the connection, holding up everything else it
                // serves: what `/work` is for.
                work::compute(work::iterations(self.config.work_rate, us));
                self.respond(&request, &body, out);
                return None;
            }
            Route::File => {
                self.file_size = None;
                self.state = State::Opening { request };
                return Some(Step::OpenFile);
            }
            Route::Hello | Route::Bytes(_) | Route::Echo | Route::Refuse(..) => {
                self.respond(&request, &body, out);
                if let State::Streaming { output: Output::Owned { body: held, .. }, .. } = &mut self.state {
                    *held = body;
                }
                return None;
            }
        };
        self.state = State::Waited { request };
        Some(wait)
    }

    /// Writes the response head (and small bodies) and sets the state after it.
    fn respond(&mut self, request: &Request, body: &[u8], out: &mut Vec<u8>) {
        let connection = match (request.keep_alive, request.version) {
            (false, _) => ConnectionField::Close,
            (true, Version::Http10) => ConnectionField::KeepAlive,
            (true, Version::Http11) => ConnectionField::None,
        };
        let (status, content_type, allow, output) = match request.route {
            Route::Hello => (Status::Ok, response::TEXT_PLAIN, None, Body::Static(response::HELLO_BODY)),
            Route::Sleep(_) | Route::Work(_) | Route::Offload(_) => {
                (Status::Ok, response::TEXT_PLAIN, None, Body::Static(response::HELLO_BODY))
            }
            Route::Bytes(n) => (Status::Ok, response::OCTET_STREAM, None, Body::Pattern(n)),
            Route::Echo => (Status::Ok, response::OCTET_STREAM, None, Body::Echo(body.len())),
            Route::File => {
                (Status::Ok, response::OCTET_STREAM, None, Body::File(self.file_size.unwrap_or(0)))
            }
            Route::Refuse(status, allow) => {
                (status, response::TEXT_PLAIN, allow, Body::Static(status.error_body()))
            }
        };
        let content_length = output.len();
        response::encode_head(out, &HeadFields { status, content_type, content_length, allow, connection });
        let send_body = request.method != Method::Head && content_length > 0;
        self.state = match output {
            _ if !send_body => self.after_response(request.keep_alive),
            Body::Static(bytes) => {
                out.extend_from_slice(bytes);
                self.after_response(request.keep_alive)
            }
            Body::Pattern(n) => State::Streaming {
                output: Output::Pattern { next: 0, end: n },
                keep_alive: request.keep_alive,
            },
            // `answer` moves the body itself in, to avoid a copy.
            Body::Echo(_) => State::Streaming {
                output: Output::Owned { body: Vec::new(), next: 0 },
                keep_alive: request.keep_alive,
            },
            Body::File(len) => State::SendingFile { len, keep_alive: request.keep_alive },
        };
    }

    /// Produces the next window of a streamed body.
    fn stream(&mut self, mut output: Output, keep_alive: bool, out: &mut Vec<u8>) {
        let room = OUTPUT_WINDOW.saturating_sub(out.len()).max(1);
        let finished = match &mut output {
            Output::Pattern { next, end } => {
                let take = usize::try_from(*end - *next).unwrap_or(usize::MAX).min(room);
                response::extend_pattern(out, *next, take);
                *next += take as u64;
                next == end
            }
            Output::Owned { body, next } => {
                let take = (body.len() - *next).min(room);
                out.extend_from_slice(&body[*next..*next + take]);
                *next += take;
                *next == body.len()
            }
        };
        self.state =
            if finished { self.after_response(keep_alive) } else { State::Streaming { output, keep_alive } };
    }

    /// The state after a response has been fully produced.
    fn after_response(&mut self, keep_alive: bool) -> State {
        if keep_alive {
            State::Head
        } else {
            // Unread pipelined bytes would make close() send a reset: drain them.
            State::Closing { drain: self.consumed < self.input.len() }
        }
    }

    /// Answers a protocol error and closes.
    fn refuse(&mut self, status: Status, out: &mut Vec<u8>) {
        let request = Request {
            method: Method::Get,
            route: Route::Refuse(status, None),
            version: Version::Http11,
            keep_alive: false,
            framing: Framing::None,
            expect_continue: false,
        };
        self.respond(&request, &[], out);
        self.state = State::Closing { drain: true };
    }

    /// Returns the step that waits for input, flushing output first.
    fn wait(&mut self, now: Instant, out: &[u8], between_requests: bool) -> Step {
        if !out.is_empty() {
            return self.write_step();
        }
        if between_requests && !self.idle && self.answered > 0 {
            self.idle = true;
            self.waiting_since = now;
        }
        let timeout = if self.idle { self.config.timeouts.idle } else { self.config.timeouts.header };
        Step::Read { deadline: self.waiting_since + timeout }
    }

    /// The step that writes `out`.
    fn write_step(&self) -> Step {
        Step::Write { timeout: self.config.timeouts.write }
    }

    fn start_request(&mut self) {
        if !self.counted {
            self.counted = true;
            self.config.lifecycle.in_flight.fetch_add(1, Ordering::AcqRel);
        }
    }

    fn finish_request(&mut self) {
        if self.counted {
            self.counted = false;
            self.answered += 1;
            self.config.lifecycle.in_flight.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.finish_request();
    }
}

/// The body a response will carry.
enum Body {
    Static(&'static [u8]),
    Pattern(u64),
    Echo(usize),
    /// A file of this size, which the variant sends ([`Step::SendFile`]).
    File(u64),
}

impl Body {
    fn len(&self) -> u64 {
        match self {
            Body::Static(bytes) => bytes.len() as u64,
            Body::Pattern(n) => *n,
            Body::Echo(n) => *n as u64,
            Body::File(n) => *n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `chunks` one by one, running the connection until it wants input again; returns
    /// all output (Date values masked) and the last step.
    fn drive(chunks: &[&[u8]], eof: bool) -> (String, Step, Arc<Lifecycle>) {
        let config = Config::default();
        let lifecycle = config.lifecycle.clone();
        let mut conn = Connection::new(&config, Instant::now());
        let mut all = Vec::new();
        let mut out = Vec::new();
        let mut chunks = chunks.iter();
        let step = loop {
            match conn.poll(Instant::now(), &mut out) {
                Step::Write { .. } => {
                    all.extend_from_slice(&out);
                    out.clear();
                }
                Step::Sleep(_) | Step::Offload { .. } => {}
                Step::OpenFile => {
                    conn.file_opened(None);
                }
                Step::SendFile { .. } => unreachable!("no file is ever opened here"),
                Step::Read { .. } => match chunks.next() {
                    Some(chunk) => conn.received(chunk),
                    None if eof => conn.eof(),
                    None => break Step::Read { deadline: Instant::now() },
                },
                step @ Step::Close { .. } => break step,
            }
        };
        (mask_dates(&all), step, lifecycle)
    }

    fn mask_dates(bytes: &[u8]) -> String {
        let text = String::from_utf8_lossy(bytes).into_owned();
        let mut masked = String::new();
        let mut rest = text.as_str();
        while let Some(at) = rest.find("\r\nDate: ") {
            let value = at + "\r\nDate: ".len();
            masked.push_str(&rest[..value]);
            masked.push('*');
            rest = &rest[value + crate::date::DATE_LEN..];
        }
        masked.push_str(rest);
        masked
    }

    fn statuses(text: &str) -> Vec<&str> {
        text.match_indices("HTTP/1.1 ").map(|(at, _)| &text[at + 9..at + 12]).collect()
    }

    const WRITE: Step = Step::Write { timeout: WRITE_TIMEOUT };

    const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";

    #[test]
    fn hello_exact_bytes() {
        let (text, _, _) = drive(&[GET], false);
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\nServer: runtime-matrix\r\nDate: *\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 14\r\n\r\nHello, world!\n"
        );
    }

    #[test]
    fn pipelined_requests_in_order_in_one_write() {
        let input = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /nope HTTP/1.1\r\nHost: a\r\n\r\nHEAD / HTTP/1.1\r\nHost: a\r\n\r\n";
        let (text, _, _) = drive(&[input], false);
        assert_eq!(statuses(&text), ["200", "404", "200"]);
        assert!(text.ends_with("Content-Length: 14\r\n\r\n"), "HEAD has no body");
    }

    #[test]
    fn byte_at_a_time() {
        let input = b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc";
        let chunks: Vec<&[u8]> = input.chunks(1).collect();
        let (text, _, _) = drive(&chunks, false);
        assert!(text.starts_with("HTTP/1.1 200 OK"));
        assert!(text.ends_with("Content-Length: 3\r\n\r\nabc"), "{text}");
    }

    #[test]
    fn close_rules() {
        let input =
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let (text, step, _) = drive(&[input], false);
        assert_eq!(statuses(&text), ["200"], "nothing answered after close");
        assert!(text.contains("Connection: close\r\n"));
        assert_eq!(step, Step::Close { drain: true });

        let (text, step, _) = drive(&[b"GET / HTTP/1.0\r\n\r\n"], false);
        assert!(text.contains("Connection: close\r\n"));
        assert_eq!(step, Step::Close { drain: false });

        let (text, step, _) = drive(&[b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"], false);
        assert!(text.contains("Connection: keep-alive\r\n"));
        assert!(matches!(step, Step::Read { .. }), "{step:?}");
    }

    #[test]
    fn errors_answer_then_close() {
        let (text, step, _) = drive(&[b"GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"], false);
        assert_eq!(statuses(&text), ["400"]);
        assert!(text.contains("Connection: close\r\n"));
        assert_eq!(step, Step::Close { drain: true });
    }

    #[test]
    fn garbage_is_refused_before_its_head_ends() {
        // No blank line will ever come: the answer must not wait for one (or a timeout).
        let (text, step, _) = drive(&[b"\x16\x03\x01\x00\xa5\x01\x00\x00"], false);
        assert_eq!(statuses(&text), ["400"]);
        assert_eq!(step, Step::Close { drain: true });
        // On a kept-alive connection too, after a good request.
        let (text, _, _) = drive(&[GET, b"SSH-2.0-OpenSSH_9.2\r\n"], false);
        assert_eq!(statuses(&text), ["200", "400"]);
    }

    #[test]
    fn oversized_heads() {
        let long_line = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(9000));
        let (text, _, _) = drive(&[long_line.as_bytes()], false);
        assert_eq!(statuses(&text), ["414"]);
        let big_fields = format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n", "a".repeat(9000));
        let (text, _, _) = drive(&[big_fields.as_bytes()], false);
        assert_eq!(statuses(&text), ["431"]);
        // Never completed, but already too long: answered without waiting for the end.
        let endless = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(9000));
        let (text, _, _) = drive(&[endless.as_bytes()], false);
        assert_eq!(statuses(&text), ["431"]);
    }

    #[test]
    fn body_over_limit_is_413_before_the_body() {
        let head = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n";
        let (text, step, _) = drive(&[head], false);
        assert_eq!(statuses(&text), ["413"]);
        assert_eq!(step, Step::Close { drain: true });
    }

    #[test]
    fn chunked_echo_then_next_request() {
        let input = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let (text, _, _) = drive(&[input], false);
        assert_eq!(statuses(&text), ["200", "200"], "{text}");
        assert!(text.contains("Content-Length: 3\r\n\r\nabc"));
    }

    #[test]
    fn discarded_body_is_never_a_request() {
        let input =
            b"POST /nope HTTP/1.1\r\nHost: a\r\nContent-Length: 27\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let (text, _, _) = drive(&[input], false);
        assert_eq!(statuses(&text), ["404"]);
    }

    #[test]
    fn expect_continue() {
        let head = b"POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n";
        let (text, _, _) = drive(&[head, b"hi"], false);
        assert!(text.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"), "{text}");
        let refused = b"POST /nope HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n";
        let (text, step, _) = drive(&[refused], false);
        assert_eq!(statuses(&text), ["404"]);
        assert_eq!(step, Step::Close { drain: true });
    }

    #[test]
    fn sleep_waits_then_answers() {
        let config = Config::default();
        let mut conn = Connection::new(&config, Instant::now());
        let mut out = Vec::new();
        conn.received(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /sleep/20 HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(conn.poll(Instant::now(), &mut out), WRITE, "earlier answer first");
        out.clear();
        assert_eq!(conn.poll(Instant::now(), &mut out), Step::Sleep(Duration::from_millis(20)));
        assert!(out.is_empty());
        assert_eq!(conn.poll(Instant::now(), &mut out), WRITE);
        assert!(out.starts_with(b"HTTP/1.1 200 OK"));
    }

    #[test]
    fn offload_steps_out_then_answers() {
        let config = Config { work_rate: 10.0, ..Config::default() };
        let mut conn = Connection::new(&config, Instant::now());
        let mut out = Vec::new();
        conn.received(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /offload/300 HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(conn.poll(Instant::now(), &mut out), WRITE, "earlier answer first");
        out.clear();
        assert_eq!(conn.poll(Instant::now(), &mut out), Step::Offload { iterations: 3000 });
        assert!(out.is_empty());
        assert_eq!(conn.poll(Instant::now(), &mut out), WRITE);
        assert!(out.starts_with(b"HTTP/1.1 200 OK") && out.ends_with(b"Hello, world!\n"));
    }

    #[test]
    fn work_answers_like_hello_after_earlier_answers() {
        let input = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /work/5 HTTP/1.1\r\nHost: a\r\n\r\nHEAD /work/0 HTTP/1.1\r\nHost: a\r\n\r\nGET /work/1000001 HTTP/1.1\r\nHost: a\r\n\r\n";
        let (text, _, _) = drive(&[input], false);
        assert_eq!(statuses(&text), ["200", "200", "200", "400"]);
        let config = Config::default();
        let mut conn = Connection::new(&config, Instant::now());
        let mut out = Vec::new();
        conn.received(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /work/5 HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(conn.poll(Instant::now(), &mut out), WRITE);
        assert_eq!(statuses(&String::from_utf8_lossy(&out)), ["200"], "the first answer goes out alone");
    }

    /// `/work` computes inside `poll`, for about the time asked at the calibrated rate (a lower
    /// bound only: a shared machine can only make it slower).
    #[test]
    fn work_computes_inside_poll() {
        let config = Config { work_rate: work::calibrate(), ..Config::default() };
        let mut conn = Connection::new(&config, Instant::now());
        let mut out = Vec::new();
        conn.received(b"GET /work/3000 HTTP/1.1\r\nHost: a\r\n\r\n");
        let started = Instant::now();
        assert_eq!(conn.poll(Instant::now(), &mut out), WRITE);
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(1), "3 ms of work took {took:?}");
        assert!(out.ends_with(b"Hello, world!\n"));
    }

    #[test]
    fn large_bodies_stream_in_windows() {
        let config = Config::default();
        let mut conn = Connection::new(&config, Instant::now());
        let mut out = Vec::new();
        conn.received(b"GET /bytes/1000000 HTTP/1.1\r\nHost: a\r\n\r\n");
        let mut body = Vec::new();
        while let Step::Write { .. } = conn.poll(Instant::now(), &mut out) {
            assert!(out.len() <= OUTPUT_WINDOW + 256);
            body.extend_from_slice(&out);
            out.clear();
        }
        let start = body.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        assert_eq!(body.len() - start, 1_000_000);
        assert!(body[start..].iter().enumerate().all(|(i, b)| *b == response::pattern_byte(i as u64)));
    }

    #[test]
    fn timeouts_idle_and_head() {
        let config = Config::default();
        let start = Instant::now();
        let mut conn = Connection::new(&config, start);
        let mut out = Vec::new();
        assert_eq!(conn.poll(start, &mut out), Step::Read { deadline: start + Duration::from_secs(10) });
        conn.received(GET);
        assert_eq!(conn.poll(start, &mut out), WRITE);
        out.clear();
        let later = start + Duration::from_secs(1);
        assert_eq!(conn.poll(later, &mut out), Step::Read { deadline: later + Duration::from_secs(5) });
        conn.received(b"G");
        let byte = start + Duration::from_secs(2);
        assert_eq!(conn.poll(byte, &mut out), Step::Read { deadline: byte + Duration::from_secs(10) });
    }

    #[test]
    fn the_head_deadline_counts_from_accept() {
        let timeouts = Timeouts { header: Duration::from_secs(10), ..Timeouts::default() };
        let accepted = Instant::now();
        let mut conn = Connection::new(&Config::new(timeouts), accepted);
        // A worker picks the connection up 30 s after accept (a queue): already expired.
        let picked_up = accepted + Duration::from_secs(30);
        let Step::Read { deadline } = conn.poll(picked_up, &mut Vec::new()) else { panic!("wants input") };
        assert_eq!(deadline, accepted + Duration::from_secs(10));
        assert!(deadline < picked_up);
    }

    #[test]
    fn writes_carry_the_write_timeout() {
        let timeouts = Timeouts { write: Duration::from_millis(1234), ..Timeouts::default() };
        let mut conn = Connection::new(&Config::new(timeouts), Instant::now());
        conn.received(GET);
        assert_eq!(
            conn.poll(Instant::now(), &mut Vec::new()),
            Step::Write { timeout: Duration::from_millis(1234) }
        );
    }

    #[test]
    fn in_flight_counts_until_written() {
        let config = Config::default();
        let lifecycle = config.lifecycle.clone();
        let mut conn = Connection::new(&config, Instant::now());
        let mut out = Vec::new();
        conn.received(GET);
        assert_eq!(conn.poll(Instant::now(), &mut out), WRITE);
        assert_eq!(lifecycle.in_flight(), 1);
        out.clear();
        assert!(matches!(conn.poll(Instant::now(), &mut out), Step::Read { .. }));
        assert_eq!(lifecycle.in_flight(), 0);
        lifecycle.stop();
        assert_eq!(conn.poll(Instant::now(), &mut out), Step::Close { drain: false });
    }

    #[test]
    fn eof_after_pipelined_requests_still_answers() {
        let (text, step, lifecycle) = drive(&[GET, GET], true);
        assert_eq!(statuses(&text), ["200", "200"]);
        assert_eq!(step, Step::Close { drain: false });
        assert_eq!(lifecycle.in_flight(), 0);
    }

    #[test]
    fn a_file_is_opened_then_its_head_written_then_its_body_sent() {
        let config = Config::default();
        let lifecycle = config.lifecycle.clone();
        let mut conn = Connection::new(&config, Instant::now());
        let mut out = Vec::new();
        conn.received(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /files/a%2Eb HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(
            conn.poll(Instant::now(), &mut out),
            Step::OpenFile,
            "opened before earlier output is written"
        );
        assert_eq!(conn.file_name(), b"a.b");
        assert!(conn.file_opened(Some(1000)), "a GET of a non-empty file: its body follows");
        assert_eq!(conn.poll(Instant::now(), &mut out), WRITE, "both heads at once");
        let text = mask_dates(&out);
        assert_eq!(statuses(&text), ["200", "200"]);
        assert!(
            text.ends_with("Content-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n"),
            "{text}"
        );
        out.clear();
        assert_eq!(conn.poll(Instant::now(), &mut out), Step::SendFile { len: 1000, timeout: WRITE_TIMEOUT });
        assert!(out.is_empty());
        assert_eq!(lifecycle.in_flight(), 1, "in flight until the body is sent");
        assert!(matches!(conn.poll(Instant::now(), &mut out), Step::Read { .. }));
        assert_eq!(lifecycle.in_flight(), 0);
    }

    #[test]
    fn head_and_empty_files_and_missing_ones_send_no_body() {
        for (request, size, status, length) in [
            (&b"HEAD /files/f HTTP/1.1\r\nHost: a\r\n\r\n"[..], Some(5), "200", "5"),
            (b"GET /files/f HTTP/1.1\r\nHost: a\r\n\r\n", Some(0), "200", "0"),
            (b"GET /files/f HTTP/1.1\r\nHost: a\r\n\r\n", None, "404", "15"),
        ] {
            let mut conn = Connection::new(&Config::default(), Instant::now());
            let mut out = Vec::new();
            conn.received(request);
            assert_eq!(conn.poll(Instant::now(), &mut out), Step::OpenFile);
            assert!(!conn.file_opened(size), "no body follows");
            assert_eq!(conn.poll(Instant::now(), &mut out), WRITE);
            let text = mask_dates(&out);
            assert_eq!(statuses(&text), [status]);
            assert!(text.contains(&format!("Content-Length: {length}\r\n")), "{text}");
            assert!(!text.contains("Connection: close"), "a missing file keeps the connection");
            out.clear();
            assert!(matches!(conn.poll(Instant::now(), &mut out), Step::Read { .. }));
        }
    }

    #[test]
    fn unsafe_file_names_are_404_without_asking_the_variant() {
        let (text, _, _) = drive(
            &[b"GET /files/..%2Fetc%2Fpasswd HTTP/1.1\r\nHost: a\r\n\r\nGET /files/%2e%2e HTTP/1.1\r\nHost: a\r\n\r\n"],
            false,
        );
        assert_eq!(statuses(&text), ["404", "404"]);
    }

    #[test]
    fn a_file_response_closes_when_the_request_says_so() {
        let mut conn = Connection::new(&Config::default(), Instant::now());
        let mut out = Vec::new();
        conn.received(b"GET /files/f HTTP/1.0\r\n\r\n");
        assert_eq!(conn.poll(Instant::now(), &mut out), Step::OpenFile);
        assert!(conn.file_opened(Some(3)));
        assert_eq!(conn.poll(Instant::now(), &mut out), WRITE);
        assert!(mask_dates(&out).contains("Connection: close\r\n"));
        out.clear();
        assert_eq!(conn.poll(Instant::now(), &mut out), Step::SendFile { len: 3, timeout: WRITE_TIMEOUT });
        assert_eq!(conn.poll(Instant::now(), &mut out), Step::Close { drain: false });
    }
}
