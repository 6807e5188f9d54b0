//! The load generator: a closed loop like ab, fast enough never to be the bottleneck.
//!
//! `concurrency` connections share one request counter until `requests` have been issued
//! (oha's `while counter.fetch_add(1) < n`). Each load thread runs a mio event loop over its
//! share of the connections and records into its own histograms; they are merged at the end.
//! Without keep-alive every request opens a new connection and is sent as HTTP/1.0, like ab;
//! with keep-alive the connections are persistent HTTP/1.1. Every response is framed by
//! `Content-Length` and checked; one failed request is counted by kind and never stops the run.

mod framing;
mod thread;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

pub use framing::{parse_head, Head};

/// What to send, how hard, and where to run.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    pub addr: SocketAddr,
    /// Request target, e.g. `/`.
    pub path: String,
    pub requests: u64,
    pub concurrency: usize,
    pub keep_alive: bool,
    /// A request not answered this long after it started fails as a timeout.
    pub timeout: Duration,
    /// Hard bound on the whole run: requests still open then fail as timeouts.
    pub max_duration: Duration,
    /// CPUs for load threads: one thread per CPU (at most one per connection). Empty means
    /// one unpinned thread.
    pub cpus: Vec<usize>,
}

impl LoadSpec {
    /// The request bytes: HTTP/1.0 without keep-alive (as ab sends), HTTP/1.1 with it.
    /// Only `Host`, as wrk sends: every extra field is parsing work added to the server's
    /// side of the measurement.
    pub fn request(&self) -> Vec<u8> {
        let version = if self.keep_alive { "HTTP/1.1" } else { "HTTP/1.0" };
        format!("GET {} {version}\r\nHost: {}\r\n\r\n", self.path, self.addr).into_bytes()
    }
}

/// Failed requests, by kind (ab's "Connect, Receive, Length, Exceptions", plus timeouts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Failures {
    pub connect: u64,
    /// Reset or closed before a whole response arrived.
    pub receive: u64,
    pub send: u64,
    pub timeout: u64,
    /// A body length different from the first response's (ab's "Length").
    pub length: u64,
    /// A response that could not be parsed or framed.
    pub protocol: u64,
}

impl Failures {
    pub fn total(&self) -> u64 {
        self.connect + self.receive + self.send + self.timeout + self.length + self.protocol
    }

    fn add(&mut self, other: &Failures) {
        self.connect += other.connect;
        self.receive += other.receive;
        self.send += other.send;
        self.timeout += other.timeout;
        self.length += other.length;
        self.protocol += other.protocol;
    }
}

/// Latency histograms in nanoseconds (recorded with 3 significant digits).
#[derive(Debug, Clone)]
pub struct Latencies {
    /// Request start (before connecting, without keep-alive) to the last response byte.
    pub total: Histogram<u64>,
    /// Connection set-up time, for every connection opened.
    pub connect: Histogram<u64>,
    /// Request start to the first response byte.
    pub ttfb: Histogram<u64>,
}

/// Largest latency a histogram holds: one hour, far past any timeout.
const MAX_LATENCY_NS: u64 = 3_600_000_000_000;

impl Latencies {
    pub fn new() -> Latencies {
        let histogram = || {
            Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3)
                .expect("1 ns..1 h with 3 digits is a valid histogram")
        };
        Latencies { total: histogram(), connect: histogram(), ttfb: histogram() }
    }

    /// Adds another set of histograms (connections, threads, repeats): percentiles are only
    /// ever computed from merged histograms, never averaged.
    pub fn merge(&mut self, other: &Latencies) {
        // Both sides share bounds, so adding cannot fail.
        let _ = self.total.add(&other.total);
        let _ = self.connect.add(&other.connect);
        let _ = self.ttfb.add(&other.ttfb);
    }
}

impl Default for Latencies {
    fn default() -> Self {
        Latencies::new()
    }
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct LoadResult {
    /// From the first request's start to the last response's end (ab's "Time taken").
    pub elapsed: Duration,
    /// Requests answered with a whole response, whatever the status.
    pub complete: u64,
    pub non_2xx: u64,
    pub failures: Failures,
    /// Bytes of responses received, heads and bodies (ab's "Total transferred").
    pub total_bytes: u64,
    /// Bytes of response bodies (ab's "HTML transferred").
    pub body_bytes: u64,
    pub connections: u64,
    pub latencies: Latencies,
    /// The run was cut off by `max_duration` or an interrupt.
    pub cut_short: bool,
}

impl LoadResult {
    /// Nothing measured yet.
    pub fn empty() -> LoadResult {
        LoadResult {
            elapsed: Duration::ZERO,
            complete: 0,
            non_2xx: 0,
            failures: Failures::default(),
            total_bytes: 0,
            body_bytes: 0,
            connections: 0,
            latencies: Latencies::new(),
            cut_short: false,
        }
    }

    /// Adds another thread's counts and histograms (elapsed time is the caller's to set).
    fn absorb(&mut self, other: &LoadResult) {
        self.complete += other.complete;
        self.non_2xx += other.non_2xx;
        self.failures.add(&other.failures);
        self.total_bytes += other.total_bytes;
        self.body_bytes += other.body_bytes;
        self.connections += other.connections;
        self.latencies.merge(&other.latencies);
        self.cut_short |= other.cut_short;
    }
}

/// State shared by all load threads of one run.
#[derive(Debug)]
struct Shared {
    /// Requests issued so far; a connection takes the next one while this is below the target.
    issued: AtomicU64,
    target: u64,
    /// Body length of the first response, the reference for the "Length" check.
    first_length: AtomicU64,
    /// Set to end the run early (interrupt).
    stop: Arc<AtomicBool>,
}

const NO_LENGTH: u64 = u64::MAX;

impl Shared {
    fn take_request(&self) -> bool {
        !self.stop.load(Ordering::Relaxed) && self.issued.fetch_add(1, Ordering::Relaxed) < self.target
    }

    /// Whether `length` matches the first response's body length (the first sets it).
    fn length_matches(&self, length: u64) -> bool {
        match self.first_length.compare_exchange(NO_LENGTH, length, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => true,
            Err(first) => first == length,
        }
    }
}

/// Runs the load and returns what it measured. `stop` ends it early when set. Only loopback
/// addresses are accepted: the harness never sends load off this machine.
pub fn run(spec: &LoadSpec, stop: Arc<AtomicBool>) -> std::io::Result<LoadResult> {
    if !spec.addr.ip().is_loopback() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("refusing to send load to {}: only loopback addresses", spec.addr),
        ));
    }
    let shared = Arc::new(Shared {
        issued: AtomicU64::new(0),
        target: spec.requests,
        first_length: AtomicU64::new(NO_LENGTH),
        stop,
    });
    let threads = spec.cpus.len().clamp(1, spec.concurrency.max(1));
    let request: Arc<[u8]> = spec.request().into();
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|index| {
            let connections = spec.concurrency / threads + usize::from(index < spec.concurrency % threads);
            let cpu = spec.cpus.get(index).copied();
            let job = thread::Job {
                addr: spec.addr,
                request: request.clone(),
                connections,
                keep_alive: spec.keep_alive,
                timeout: spec.timeout,
                deadline: started + spec.max_duration,
                shared: shared.clone(),
            };
            std::thread::Builder::new().name(format!("load-{index}")).spawn(move || {
                if let Some(cpu) = cpu {
                    // Unpinned load still measures; placement is reported, so carry on.
                    let _ = crate::affinity::pin_current_thread(cpu);
                }
                job.run()
            })
        })
        .collect::<std::io::Result<_>>()?;
    let mut result = LoadResult::empty();
    let mut last_end = started;
    for handle in handles {
        let part = handle.join().map_err(|_| std::io::Error::other("a load thread panicked"))??;
        result.absorb(&part.counts);
        last_end = last_end.max(part.last_end);
    }
    result.elapsed = last_end - started;
    Ok(result)
}
