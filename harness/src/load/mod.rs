//! The load generator: a closed loop like ab, fast enough never to be the bottleneck.
//!
//! `concurrency` connections share one request counter until `requests` have been issued
//! (oha's `while counter.fetch_add(1) < n`). Each load thread runs a mio event loop over its
//! share of the connections and records into its own histograms; they are merged at the end.
//! Without keep-alive every request opens a new connection and is sent as HTTP/1.0, like ab,
//! and its response ends with the server's close; with keep-alive the connections are
//! persistent HTTP/1.1 and every response must be framed. One failed request is counted by
//! kind and never stops the run.
//!
//! Besides ab's closed loop it runs an open loop at a fixed rate (wrk2's: each connection on
//! its own schedule, latency from the intended send time) and a scale run (every connection
//! opened first, then requests, then held idle while the server's memory is read).
//!
//! # Layout
//! - [`framing`]: reading one response (head, `Content-Length`, chunked, close-delimited).
//! - [`schedule`]: the open loop's intended send times and coordinated-omission correction.
//! - [`timerfd`]: microsecond wake-ups for the open loop.
//! - [`intervals`]: a run over time, interval by interval (a soak's drift).
//! - `thread`: one load thread's event loop.

pub mod framing;
pub mod intervals;
pub mod schedule;
mod thread;
pub mod timerfd;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::mechanics::{self, Counters};
use serde::{Deserialize, Serialize};

pub use crate::histogram::{latency_histogram, MAX_LATENCY_NS};
pub use framing::{parse_head, Head};
pub use intervals::{Tally, Ticker};
pub use thread::CLOSE_WAIT;

/// What to send, how hard, and where to run.
#[derive(Debug, Clone)]
pub struct Job {
    pub addr: SocketAddr,
    /// Request target, e.g. `/` (with a mix, its first path).
    pub path: String,
    /// A request mix: each request draws its path by weight (seeded, so a run is
    /// reproducible). Empty: every request is `path`.
    pub mix: Vec<(String, u32)>,
    /// Requests each keep-alive connection writes at once before reading their answers
    /// (HTTP/1.1 pipelining); 1: one at a time.
    pub pipeline: usize,
    /// Seeds the draw of paths (thread i draws from `seed + i`).
    pub seed: u64,
    pub shape: Shape,
    pub keep_alive: bool,
    /// A request not answered this long after it started fails as a timeout.
    pub timeout: Duration,
    /// Hard bound on the whole run: requests still open then fail as timeouts.
    pub max_duration: Duration,
    /// CPUs for load threads: one thread per CPU (at most one per connection). Empty means
    /// one unpinned thread.
    pub cpus: Vec<usize>,
    /// Addresses besides loopback that load may go to: the hosts a matrix declares.
    pub allowed: Vec<std::net::IpAddr>,
    /// Count each load thread's system calls, context switches and migrations.
    pub mechanics: bool,
    /// Keep figures per interval of this length over the measured window (see
    /// [`intervals`]); `None` keeps only the run's totals.
    pub interval: Option<Duration>,
}

/// How the load is applied.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// ab's closed loop: `requests` shared by `concurrency` connections.
    Closed { requests: u64, concurrency: usize },
    /// An open loop: `rate` requests/s over `connections`, `warmup` of schedule first (not
    /// recorded), then `duration` measured.
    Open { rate: f64, connections: usize, warmup: Duration, duration: Duration },
    /// Many connections: all `connections` opened first, then `requests` over them, then held
    /// idle until [`run_scale`]'s probe has looked at the server.
    Scale { connections: usize, requests: u64 },
}

impl Shape {
    /// Connections the run uses at once.
    pub fn connections(&self) -> usize {
        match self {
            Shape::Closed { concurrency, .. } => *concurrency,
            Shape::Open { connections, .. } | Shape::Scale { connections, .. } => *connections,
        }
    }

    /// Requests the counter hands out (closed loops); an open loop is bounded by time.
    fn requests(&self) -> u64 {
        match self {
            Shape::Closed { requests, .. } | Shape::Scale { requests, .. } => *requests,
            Shape::Open { .. } => u64::MAX,
        }
    }
}

impl Job {
    /// The request bytes: HTTP/1.0 without keep-alive (as ab sends), HTTP/1.1 with it.
    /// Only `Host`, as wrk sends: every extra field is parsing work added to the server's
    /// side of the measurement.
    pub fn request(&self) -> Vec<u8> {
        request(&self.path, self.addr, self.keep_alive)
    }

    /// Every path requests go to, with its weight: the mix's, or `path` alone.
    pub fn paths(&self) -> Vec<(String, u32)> {
        if self.mix.is_empty() {
            vec![(self.path.clone(), 1)]
        } else {
            self.mix.clone()
        }
    }
}

/// The request the load generator sends for `path` to `addr` (see [`Job::request`]).
pub fn request(path: &str, addr: SocketAddr, keep_alive: bool) -> Vec<u8> {
    let version = if keep_alive { "HTTP/1.1" } else { "HTTP/1.0" };
    format!("GET {path} {version}\r\nHost: {addr}\r\n\r\n").into_bytes()
}

/// Whether load may go to `ip`: loopback, or a host the matrix declares. The harness never
/// sends load anywhere else.
pub fn allowed_target(ip: std::net::IpAddr, declared: &[std::net::IpAddr]) -> bool {
    ip.is_loopback() || declared.contains(&ip)
}

impl Job {
    /// Whether this load's target is allowed (see [`allowed_target`]).
    fn target_allowed(&self) -> bool {
        allowed_target(self.addr.ip(), &self.allowed)
    }
}

/// Failed requests, by kind (ab's "Connect, Receive, Length, Exceptions", plus timeouts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failures {
    pub connect: u64,
    /// Reset or closed before a whole response arrived.
    pub receive: u64,
    pub send: u64,
    pub timeout: u64,
    /// A document length different from the first response's (ab's "Length").
    pub length: u64,
    /// A response that could not be parsed or framed.
    pub protocol: u64,
}

impl Failures {
    pub fn total(&self) -> u64 {
        [self.connect, self.receive, self.send, self.timeout, self.length, self.protocol]
            .iter()
            .fold(0u64, |sum, n| sum.saturating_add(*n))
    }

    /// Adds another's counts (saturating: counts read from another host may be anything).
    pub fn add(&mut self, other: &Failures) {
        for (mine, theirs) in [
            (&mut self.connect, other.connect),
            (&mut self.receive, other.receive),
            (&mut self.send, other.send),
            (&mut self.timeout, other.timeout),
            (&mut self.length, other.length),
            (&mut self.protocol, other.protocol),
        ] {
            *mine = mine.saturating_add(theirs);
        }
    }

    /// The kinds with a count, in words: `connect 3, timeout 1`.
    pub fn in_words(&self) -> String {
        let kinds = [
            ("connect", self.connect),
            ("receive", self.receive),
            ("send", self.send),
            ("timeout", self.timeout),
            ("length", self.length),
            ("protocol", self.protocol),
        ];
        let words: Vec<String> =
            kinds.iter().filter(|(_, n)| *n > 0).map(|(kind, n)| format!("{kind} {n}")).collect();
        words.join(", ")
    }
}

/// Latency histograms in nanoseconds (recorded with 3 significant digits); serialized in
/// HdrHistogram's interchange encoding (see [`crate::histogram`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Latencies {
    /// Request start (before connecting, without keep-alive) to the end of the response
    /// (its last byte; without keep-alive, the server's close).
    #[serde(with = "crate::histogram::encoded")]
    pub total: Histogram<u64>,
    /// Connection set-up time, for every connection opened.
    #[serde(with = "crate::histogram::encoded")]
    pub connect: Histogram<u64>,
    /// Request start to the first response byte.
    #[serde(with = "crate::histogram::encoded")]
    pub ttfb: Histogram<u64>,
    /// Open loop: from the actual send (the figure a closed loop would give); `total` is then
    /// from the intended send.
    #[serde(with = "crate::histogram::encoded")]
    pub uncorrected: Histogram<u64>,
    /// Open loop: how late the generator sent each request (see [`schedule::Timing`]).
    #[serde(with = "crate::histogram::encoded")]
    pub send_lag: Histogram<u64>,
}

impl Latencies {
    pub fn new() -> Latencies {
        Latencies {
            total: latency_histogram(),
            connect: latency_histogram(),
            ttfb: latency_histogram(),
            uncorrected: latency_histogram(),
            send_lag: latency_histogram(),
        }
    }

    /// Adds another set of histograms (connections, threads, repeats): percentiles are only
    /// ever computed from merged histograms, never averaged.
    pub fn merge(&mut self, other: &Latencies) {
        // Both sides share bounds, so adding cannot fail.
        let _ = self.total.add(&other.total);
        let _ = self.connect.add(&other.connect);
        let _ = self.ttfb.add(&other.ttfb);
        let _ = self.uncorrected.add(&other.uncorrected);
        let _ = self.send_lag.add(&other.send_lag);
    }
}

impl Default for Latencies {
    fn default() -> Self {
        Latencies::new()
    }
}

/// Why a run ended before its requests were done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cut {
    /// `max_duration` passed: what was open failed as timeouts.
    Deadline,
    /// A stop flag was set (interrupt, or the server died): what was open was abandoned.
    Stopped,
}

/// What one run measured: everything a load host sends back, too (see
/// [`crate::hosts::protocol`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadResult {
    /// From the first request's start to the last response's end (ab's "Time taken"); for a
    /// run cut short, to the cut: the whole window, so a rate is never inflated by an end
    /// that came early.
    pub elapsed: Duration,
    /// Requests answered with a whole response, whatever the status.
    pub complete: u64,
    pub non_2xx: u64,
    pub failures: Failures,
    /// Bytes of responses received, heads and documents (ab's "Total transferred").
    pub total_bytes: u64,
    /// Bytes of documents (ab's "HTML transferred").
    pub body_bytes: u64,
    /// Bytes after declared bodies, read until the server's close.
    pub extra_bytes: u64,
    /// Responses with no length whose body ended with the server's close.
    pub close_delimited: u64,
    /// Responses whose server did not close within [`CLOSE_WAIT`] when it should have.
    pub unclosed: u64,
    /// Requests in progress when a stop flag ended the run.
    pub abandoned: u64,
    /// Requests sent again on a new connection because the server closed (or reset) a reused
    /// keep-alive connection before answering anything, as ab does; each still counts once.
    #[serde(default)]
    pub retried: u64,
    /// Closed loop: connections whose connect the server had not answered when the last
    /// request was taken (their SYN dropped by a full listen queue, say); closed holding no
    /// request, as ab closes them.
    #[serde(default)]
    pub unanswered_connects: u64,
    /// Open loop: requests intended in the measured window and sent.
    pub scheduled: u64,
    /// Open loop: the measured window's length (the rate's denominator).
    pub window: Duration,
    /// Scale: connections still open, idle, when the server was looked at.
    pub held: u64,
    /// Scale: idle connections the server closed while they were held.
    pub closed_while_idle: u64,
    /// The first response that could not be read, in words.
    pub first_protocol_error: Option<String>,
    pub connections: u64,
    pub latencies: Latencies,
    pub cut: Option<Cut>,
    /// CPU time of the load threads over the run (user + system); an open loop's from its
    /// window on.
    pub cpu: Duration,
    /// Load threads that ran (over every load host), for the generator's utilization.
    pub threads: usize,
    /// CPUs the load threads were allowed on, read back after pinning.
    pub cpus_in_force: Vec<usize>,
    /// Pins that could not be applied, in words.
    pub pin_failures: Vec<String>,
    /// The load threads' system calls, context switches and migrations over the run (an open
    /// loop's from its window on), when every thread could count them.
    #[serde(default)]
    pub mechanics: Option<mechanics::Tally>,
    /// With a request mix, each path's own counts and latencies (in the job's path order).
    #[serde(default)]
    pub paths: Vec<PathCounts>,
    /// The length of [`LoadResult::intervals`]' intervals, when they were kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    /// The measured window interval by interval, from its start (see [`intervals`]): every
    /// measured request in the interval it ended in. Merged exactly across threads and hosts;
    /// cut to whole intervals when the run is summarized ([`intervals::folded`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub intervals: Vec<Tally>,
}

/// One path's share of a run with a request mix.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PathCounts {
    pub complete: u64,
    pub failed: u64,
    pub non_2xx: u64,
    /// Its requests' latency, as `Latencies::total` records them.
    #[serde(with = "crate::histogram::encoded")]
    pub latency: Histogram<u64>,
}

impl PathCounts {
    pub fn new() -> PathCounts {
        PathCounts { complete: 0, failed: 0, non_2xx: 0, latency: latency_histogram() }
    }

    fn absorb(&mut self, other: &PathCounts) {
        // Saturating, like `LoadResult::absorb`: a load host's counts may be anything.
        self.complete = self.complete.saturating_add(other.complete);
        self.failed = self.failed.saturating_add(other.failed);
        self.non_2xx = self.non_2xx.saturating_add(other.non_2xx);
        let _ = self.latency.add(&other.latency);
    }
}

impl Default for PathCounts {
    fn default() -> Self {
        PathCounts::new()
    }
}

impl LoadResult {
    /// Open loop: the rate achieved, complete responses per second of the window (or of the
    /// longer time to the last of them).
    pub fn achieved_rate(&self) -> Option<f64> {
        let seconds = self.window.max(self.elapsed).as_secs_f64();
        (!self.window.is_zero() && seconds > 0.0).then(|| self.complete as f64 / seconds)
    }

    /// Nothing measured yet.
    pub fn empty() -> LoadResult {
        LoadResult {
            elapsed: Duration::ZERO,
            complete: 0,
            non_2xx: 0,
            failures: Failures::default(),
            total_bytes: 0,
            body_bytes: 0,
            extra_bytes: 0,
            close_delimited: 0,
            unclosed: 0,
            abandoned: 0,
            retried: 0,
            unanswered_connects: 0,
            scheduled: 0,
            window: Duration::ZERO,
            held: 0,
            closed_while_idle: 0,
            first_protocol_error: None,
            connections: 0,
            latencies: Latencies::new(),
            cut: None,
            cpu: Duration::ZERO,
            threads: 0,
            cpus_in_force: Vec::new(),
            pin_failures: Vec::new(),
            mechanics: None,
            paths: Vec::new(),
            interval: None,
            intervals: Vec::new(),
        }
    }

    /// Adds another thread's counts and histograms (elapsed time is the caller's to set).
    pub fn absorb(&mut self, other: &LoadResult) {
        // Nothing absorbed yet: the first part's mechanics are the sum so far.
        let first = self.threads == 0;
        // Saturating: a load host's counts are read from its report and may be anything.
        for (mine, theirs) in [
            (&mut self.complete, other.complete),
            (&mut self.non_2xx, other.non_2xx),
            (&mut self.total_bytes, other.total_bytes),
            (&mut self.body_bytes, other.body_bytes),
            (&mut self.extra_bytes, other.extra_bytes),
            (&mut self.close_delimited, other.close_delimited),
            (&mut self.unclosed, other.unclosed),
            (&mut self.abandoned, other.abandoned),
            (&mut self.retried, other.retried),
            (&mut self.unanswered_connects, other.unanswered_connects),
            (&mut self.scheduled, other.scheduled),
            (&mut self.held, other.held),
            (&mut self.closed_while_idle, other.closed_while_idle),
            (&mut self.connections, other.connections),
        ] {
            *mine = mine.saturating_add(theirs);
        }
        self.failures.add(&other.failures);
        if self.first_protocol_error.is_none() {
            self.first_protocol_error.clone_from(&other.first_protocol_error);
        }
        self.latencies.merge(&other.latencies);
        self.cpu = self.cpu.saturating_add(other.cpu);
        self.threads = self.threads.saturating_add(other.threads);
        for cpu in &other.cpus_in_force {
            if !self.cpus_in_force.contains(cpu) {
                self.cpus_in_force.push(*cpu);
            }
        }
        self.cpus_in_force.sort_unstable();
        self.pin_failures.extend(other.pin_failures.iter().cloned());
        if self.paths.len() < other.paths.len() {
            self.paths.resize_with(other.paths.len(), PathCounts::new);
        }
        for (mine, theirs) in self.paths.iter_mut().zip(&other.paths) {
            mine.absorb(theirs);
        }
        // Counted only if every part was: a sum with a part missing would read as cheaper.
        self.mechanics = match (first, self.mechanics.take(), &other.mechanics) {
            (true, _, theirs) => theirs.clone(),
            (false, Some(mut mine), Some(theirs)) => {
                mine.add(theirs);
                Some(mine)
            }
            _ => None,
        };
        self.interval = self.interval.or(other.interval);
        intervals::merge(&mut self.intervals, &other.intervals);
    }
}

/// Flags that end a run early when any is set (an interrupt, a server that died).
#[derive(Debug, Clone, Default)]
pub struct Stop {
    flags: Vec<Arc<AtomicBool>>,
}

impl Stop {
    /// Stops when any of `flags` is set.
    pub fn any(flags: &[&Arc<AtomicBool>]) -> Stop {
        Stop { flags: flags.iter().map(|flag| Arc::clone(flag)).collect() }
    }

    pub fn is_set(&self) -> bool {
        self.flags.iter().any(|flag| flag.load(Ordering::Relaxed))
    }
}

/// State shared by all load threads of one run.
#[derive(Debug)]
struct Shared {
    /// Requests issued so far; a connection takes the next one while this is below the target.
    issued: AtomicU64,
    target: u64,
    /// Per path: the document length of its first response (or of a probe before the run),
    /// the reference for the "Length" check.
    first_lengths: Vec<AtomicU64>,
    stop: Stop,
}

const NO_LENGTH: u64 = u64::MAX;

impl Shared {
    fn take_request(&self) -> bool {
        !self.stopped() && self.issued.fetch_add(1, Ordering::Relaxed) < self.target
    }

    /// Every request has been taken.
    fn exhausted(&self) -> bool {
        self.issued.load(Ordering::Relaxed) >= self.target
    }

    fn stopped(&self) -> bool {
        self.stop.is_set()
    }

    /// Whether `length` matches path `path`'s first document length (the first sets it).
    fn length_matches(&self, path: usize, length: u64) -> bool {
        let Some(first) = self.first_lengths.get(path) else { return true };
        match first.compare_exchange(NO_LENGTH, length, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => true,
            Err(first) => first == length,
        }
    }

    /// Path `path`'s reference document length, once known.
    fn first_length(&self, path: usize) -> Option<u64> {
        self.first_lengths.get(path).map(|l| l.load(Ordering::Relaxed)).filter(|l| *l != NO_LENGTH)
    }
}

/// Where the threads of a scale run meet: each arrives once it holds its connections, and
/// waits for the release; meanwhile the gate counts the connections held open.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct GateState {
    arrived: usize,
    released: bool,
    /// Connections open and idle right now, over every thread.
    held: u64,
}

impl Gate {
    /// A thread holds `held` connections open (0 for one that failed before it could).
    fn arrive(&self, held: u64) {
        if let Ok(mut state) = self.state.lock() {
            state.arrived += 1;
            state.held += held;
            self.changed.notify_all();
        }
    }

    /// A held connection was closed by the server.
    fn let_go(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.held = state.held.saturating_sub(1);
        }
    }

    /// The connections held open right now.
    fn held(&self) -> u64 {
        self.state.lock().map_or(0, |state| state.held)
    }

    /// Waits until `threads` have arrived, `stop` is set or `deadline` passes; returns
    /// whether they all arrived.
    fn wait_for(&self, threads: usize, stop: &Stop, deadline: Instant) -> bool {
        let Ok(mut state) = self.state.lock() else { return false };
        while state.arrived < threads && !stop.is_set() && Instant::now() < deadline {
            state = match self.changed.wait_timeout(state, Duration::from_millis(20)) {
                Ok((state, _)) => state,
                Err(_) => return false,
            };
        }
        state.arrived >= threads
    }

    fn release(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.released = true;
        }
    }

    fn released(&self) -> bool {
        self.state.lock().map_or(true, |state| state.released)
    }
}

/// Runs the load and returns what it measured; `stop` ends it early. Only loopback addresses
/// and the hosts `job` declares are accepted. `at_window` is called as the measured window
/// opens (see [`Hooks`]).
pub fn run(job: &Job, stop: &Stop, at_window: &mut dyn FnMut()) -> std::io::Result<LoadResult> {
    run_scale(job, stop, Hooks { at_window, idle: Duration::ZERO, probe: &mut || {}, ticks: None })
}

/// What a run calls back, so the caller can read the server at the right moments.
pub struct Hooks<'a> {
    /// Called as the measured window opens: at once for closed and scale runs, after the
    /// warm-up for an open loop (so a server sampled here is charged for measured requests
    /// only).
    pub at_window: &'a mut dyn FnMut(),
    /// Scale: how long every connection is held idle before `probe`.
    pub idle: Duration,
    /// Scale: called once every connection is open, has made its requests and has been idle
    /// for `idle`, before they are closed.
    pub probe: &'a mut dyn FnMut(),
    /// Called at each interval boundary of the measured window (not for a scale run).
    pub ticks: Option<Ticks<'a>>,
}

/// A callback at each interval boundary of a run's measured window: `at(k)` once
/// `k × every` has passed since it opened (k = 1, 2, …), so the caller can read the server
/// as each interval ends.
pub struct Ticks<'a> {
    pub every: Duration,
    pub at: &'a mut dyn FnMut(usize),
}

impl Ticks<'_> {
    /// Calls back every boundary `ticker` says has passed.
    pub fn catch_up(&mut self, ticker: &mut Ticker) {
        while let Some(boundary) = ticker.due(Instant::now()) {
            (self.at)(boundary);
        }
    }
}

/// Runs the load, calling `hooks` back (see [`Hooks`]).
pub fn run_scale(job: &Job, stop: &Stop, hooks: Hooks<'_>) -> std::io::Result<LoadResult> {
    let Hooks { at_window, idle, probe, mut ticks } = hooks;
    if !job.target_allowed() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("refusing to send load to {}: only loopback addresses and declared hosts", job.addr),
        ));
    }
    raise_descriptor_limit(job.shape.connections())?;
    let paths = job.paths();
    let shared = Arc::new(Shared {
        issued: AtomicU64::new(0),
        target: job.shape.requests(),
        first_lengths: paths.iter().map(|_| AtomicU64::new(NO_LENGTH)).collect(),
        stop: stop.clone(),
    });
    // With several paths pipelined, each path's length is learned first, from a request of
    // its own: an answer out of order then shows as another path's length.
    if paths.len() > 1 && job.pipeline > 1 {
        for (index, (path, _)) in paths.iter().enumerate() {
            if let Some(length) =
                probe_length(job.addr, &request(path, job.addr, job.keep_alive), job.timeout)
            {
                shared.length_matches(index, length);
            }
        }
    }
    let total = job.shape.connections().max(1);
    let threads = job.cpus.len().clamp(1, total);
    let request: Arc<[u8]> = job.request().into();
    let draw = Arc::new(thread::Draw::new(&paths, |path| request_bytes(path, job)));
    let gate = Arc::new(Gate::default());
    if !matches!(job.shape, Shape::Open { .. }) {
        at_window();
    }
    let started = Instant::now();
    // The open loop's schedule starts a moment after the threads, so none is late at once.
    let schedule_start = started + Duration::from_millis(2);
    let mut first_index = 0;
    let handles: Vec<_> = (0..threads)
        .map(|index| {
            let connections = total / threads + usize::from(index < total % threads);
            let cpu = job.cpus.get(index).copied();
            let pace = match &job.shape {
                Shape::Closed { .. } => thread::Pace::Closed,
                Shape::Scale { .. } => thread::Pace::Scale { gate: gate.clone() },
                Shape::Open { rate, warmup, duration, .. } => {
                    let window_start = schedule_start + *warmup;
                    thread::Pace::Open {
                        start: schedule_start,
                        rate: *rate,
                        total,
                        first_index,
                        window: schedule::Window { start: window_start, end: window_start + *duration },
                    }
                }
            };
            first_index += connections;
            let window_start = match &job.shape {
                Shape::Open { warmup, .. } => schedule_start + *warmup,
                _ => started,
            };
            let every = job.interval.filter(|_| !matches!(job.shape, Shape::Scale { .. }));
            let mut assignment = thread::Assignment {
                timeline: intervals::Timeline::new(window_start, every),
                addr: job.addr,
                request: request.clone(),
                connections,
                keep_alive: job.keep_alive,
                timeout: job.timeout,
                deadline: started + job.max_duration,
                shared: shared.clone(),
                pace,
                counters: None,
                draw: draw.clone(),
                pipeline: job.pipeline.max(1),
                seed: job.seed.wrapping_add(index as u64),
            };
            let mechanics = job.mechanics;
            // A thread that fails before it holds its connections still arrives at the gate,
            // or the run would wait for it until its deadline.
            let gate = gate.clone();
            std::thread::Builder::new().name(format!("load-{index}")).spawn(move || {
                let placed = crate::affinity::pin_this_thread(cpu);
                // This thread's own system calls and switches, where perf events allow.
                assignment.counters =
                    mechanics.then(Counters::this_thread).and_then(Result::ok).map(Arc::new);
                let counters = assignment.counters.clone();
                let tally_before = counters.as_ref().and_then(|c| c.read());
                let cpu_before = crate::cost::thread_cpu_time();
                let mut part = assignment.run().inspect_err(|_| gate.arrive(0))?;
                let cpu_from = part.cpu_at_window.unwrap_or(cpu_before);
                part.counts.cpu = crate::cost::thread_cpu_time().saturating_sub(cpu_from);
                let tally_from = part.tally_at_window.take().or(tally_before);
                part.counts.mechanics = counters
                    .as_ref()
                    .and_then(|c| c.read())
                    .zip(tally_from)
                    .map(|(after, from)| after.since(&from));
                part.counts.threads = 1;
                part.counts.cpus_in_force = placed.in_force;
                part.counts.pin_failures = placed.failure.into_iter().collect();
                Ok::<_, std::io::Error>(part)
            })
        })
        .collect::<std::io::Result<_>>()?;
    if let Shape::Open { warmup, .. } = &job.shape {
        // The threads run the schedule; this one only waits for the window to open.
        let opens = schedule_start + *warmup;
        while Instant::now() < opens && !stop.is_set() {
            std::thread::sleep(Duration::from_millis(5).min(opens.saturating_duration_since(Instant::now())));
        }
        if !stop.is_set() {
            at_window();
        }
    }
    if let Some(ticks) = ticks.as_mut().filter(|_| !matches!(job.shape, Shape::Scale { .. })) {
        // The window is open: call back at its interval boundaries until the threads end.
        let mut ticker = Ticker::new(Instant::now(), ticks.every);
        while !handles.iter().all(std::thread::JoinHandle::is_finished) {
            ticks.catch_up(&mut ticker);
            std::thread::sleep(ticker.until_next(Instant::now()).min(Duration::from_millis(10)));
        }
    }
    let mut held_at_probe = None;
    if matches!(job.shape, Shape::Scale { .. }) {
        // Every thread holds its connections (or the run was stopped): let them sit idle,
        // look at the server, then let the threads close them.
        if gate.wait_for(threads, stop, started + job.max_duration) {
            let until = Instant::now() + idle;
            while Instant::now() < until && !stop.is_set() {
                std::thread::sleep(
                    Duration::from_millis(10).min(until.saturating_duration_since(Instant::now())),
                );
            }
            if !stop.is_set() {
                probe();
                held_at_probe = Some(gate.held());
            }
        }
        gate.release();
    }
    let mut result = LoadResult::empty();
    let mut last_end = started;
    let mut cut_at: Option<Instant> = None;
    let mut deadline_cut = false;
    for handle in handles {
        let part = handle.join().map_err(|_| std::io::Error::other("a load thread panicked"))??;
        result.absorb(&part.counts);
        intervals::merge(&mut result.intervals, &part.timeline.tallies);
        last_end = last_end.max(part.last_end);
        if let Some((at, timed_out)) = part.cut_at {
            cut_at = Some(cut_at.map_or(at, |seen| seen.max(at)));
            deadline_cut |= timed_out;
        }
    }
    result.cut = cut_at.map(|_| if deadline_cut { Cut::Deadline } else { Cut::Stopped });
    result.interval = job.interval.filter(|_| !result.intervals.is_empty());
    result.held = held_at_probe.unwrap_or(0);
    match &job.shape {
        Shape::Open { warmup, duration, .. } => {
            // The run's time is the measured window (to the last measured response if later).
            result.window = *duration;
            let window_start = schedule_start + *warmup;
            result.elapsed =
                cut_at.unwrap_or(last_end).saturating_duration_since(window_start).max(*duration);
        }
        _ => result.elapsed = cut_at.unwrap_or(last_end) - started,
    }
    Ok(result)
}

/// The bytes of a request for `path` in `job`.
fn request_bytes(path: &str, job: &Job) -> Vec<u8> {
    request(path, job.addr, job.keep_alive)
}

/// One request on a connection of its own, its document length read as the load generator
/// reads it; `None` if it does not come whole within `timeout`.
fn probe_length(addr: SocketAddr, request: &[u8], timeout: Duration) -> Option<u64> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.write_all(request).ok()?;
    let mut reader = framing::ResponseReader::new(true);
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut buf).ok().filter(|n| *n > 0)?;
        if let Ok((framing::Fed::BodyComplete, _)) = reader.feed_one(&buf[..n]) {
            return Some(reader.document_bytes());
        }
    }
}

/// Raises the soft limit on open files to the hard limit when `connections` need more than
/// the soft one allows (it is often 1024); says which limit to raise when even the hard one
/// is too low.
pub fn raise_descriptor_limit(connections: usize) -> std::io::Result<()> {
    use server_common::rlimit::{get, raise_to_hard, Limit};
    /// Descriptors beyond the connections: the harness's own files, pipes and epoll.
    const SPARE: u64 = 256;
    let needed = connections as u64 + SPARE;
    if get(Limit::OpenFiles)?.0 >= needed {
        return Ok(());
    }
    let (soft, hard) = raise_to_hard(Limit::OpenFiles)?;
    if soft < needed {
        return Err(std::io::Error::other(format!(
            "{connections} connections need about {needed} open files, but RLIMIT_NOFILE allows {soft} (hard limit {hard}): \
             raise it (`ulimit -n {needed}` as root, LimitNOFILE= under systemd, --ulimit nofile= in docker)"
        )));
    }
    Ok(())
}
