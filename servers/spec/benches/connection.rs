//! Benchmarks of the spec itself: request bytes in, response bytes out, through one warm
//! [`Connection`], with no socket in the way. What a server variant measures beyond these
//! figures is its runtime's cost.
//!
//! Run with `cargo bench -p server-spec` (add a name, e.g. `-- keep_alive_get`, to run one).
//! Targets for a keep-alive `GET /` once warm: at most 150 ns, and no allocation
//! (`tests/allocations.rs` pins the latter, since timing is never asserted).
//!
//! Allocations are counted exactly and printed after divan's table: before timing, each case
//! runs for over a second on the same warm connection under a counting global allocator, so
//! a change of the `Date` second (when the cache reformats) falls inside the count. divan's
//! own `AllocProfiler` is not used: it reports whole allocations per iteration, so one
//! allocation a second rounds to 0.
//!
//! divan rather than criterion: its dependency tree is a fraction of criterion's, which matters
//! on a shared two-core build machine, and a benchmark that keeps state across iterations (a
//! warm connection) is a plain `FnMut` closure.

use std::alloc::System;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use divan::counter::ItemsCount;
use divan::Bencher;
use server_spec::{Config, Connection, Step};

#[path = "../tests/common/counting.rs"]
mod counting;

use counting::{Counting, Tally};

#[global_allocator]
static ALLOC: Counting<System> = Counting(System);

fn main() {
    divan::main();
    let counted = COUNTED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if !counted.is_empty() {
        println!("\nallocations once warm, counted over {COUNT_FOR:?} or more per case:");
        for line in counted.iter() {
            println!("{line}");
        }
    }
}

/// What a benchmark client sends (ab, wrk and oha all send about this).
const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";
const HEAD: &[u8] = b"HEAD / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";

/// Requests in the pipelined batch.
const BATCH: usize = 16;

/// Requests answered before anything is measured, so the input and output buffers have their
/// final capacity and the `Date` cache is filled: the state of a connection under load.
const WARM_UP: usize = 1000;

/// How long the exact allocation count runs: more than a second, so the `Date` value changes.
const COUNT_FOR: Duration = Duration::from_millis(1100);

/// One line per case of the exact allocation count, printed after divan's table.
static COUNTED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// One connection and the output buffer its I/O loop reuses.
struct Warm {
    conn: Connection,
    out: Vec<u8>,
    /// Passed to every poll: reading the monotonic clock is the I/O loop's cost, not the
    /// spec's (the spec reads the wall clock itself, for `Date`, and that is measured).
    now: Instant,
    /// Response bytes one round trip produces, to check every answer cheaply.
    response_len: usize,
}

impl Warm {
    /// A connection that has already answered [`WARM_UP`] round trips of `input`.
    fn new(input: &[u8]) -> Warm {
        let now = Instant::now();
        let conn = Connection::new(&Config::default(), now);
        let mut warm = Warm { conn, out: Vec::new(), now, response_len: 0 };
        let Step::Read { .. } = warm.conn.poll(now, &mut warm.out) else { panic!("a new connection reads") };
        warm.conn.received(input);
        warm.response_len = warm.answer();
        for _ in 0..WARM_UP {
            warm.request(input);
        }
        warm
    }

    /// Polls until the connection wants input again; returns the response bytes written.
    fn answer(&mut self) -> usize {
        let mut written = 0;
        loop {
            match self.conn.poll(self.now, &mut self.out) {
                Step::Write { .. } => {
                    assert!(self.out.starts_with(b"HTTP/1.1 200 OK\r\n"));
                    written += self.out.len();
                    self.out.clear();
                }
                Step::Read { .. } => return written,
                step => panic!("unexpected {step:?}"),
            }
        }
    }

    /// One round trip of a keep-alive client: `input` arrives in one read, the answer goes
    /// out in one write, and the connection asks for more.
    fn request(&mut self, input: &[u8]) -> usize {
        self.conn.received(input);
        let written = self.answer();
        assert_eq!(written, self.response_len);
        written
    }

    /// Counts allocations over [`COUNT_FOR`] of round trips and records them under `name`.
    fn count_allocations(&mut self, name: &str, input: &[u8], requests_per_trip: usize) {
        let start = Instant::now();
        let before = Tally::now();
        let mut trips = 0u64;
        while start.elapsed() < COUNT_FOR {
            for _ in 0..1024 {
                self.request(input);
            }
            trips += 1024;
        }
        let counted = Tally::now().since(before);
        let requests = trips * requests_per_trip as u64;
        let line = format!(
            "{name:<18} {:.7} allocations per request ({} allocations, {} B, over {requests} requests)",
            counted.allocations as f64 / requests as f64,
            counted.allocations,
            counted.bytes,
        );
        COUNTED.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(line);
    }
}

/// Whether divan measures, rather than running each case once as a test: its own rule, which
/// `Bencher` does not expose (`cargo bench` passes `--bench`; `cargo test --benches` does not).
fn measuring() -> bool {
    let mut args = std::env::args();
    args.any(|arg| arg == "--bench") && !std::env::args().any(|arg| arg == "--test")
}

/// Warms a connection on `input`, counts its allocations when measuring, then times round
/// trips of `input`.
fn bench_round_trip(bencher: Bencher, name: &str, input: &[u8], requests_per_trip: usize) {
    let mut warm = Warm::new(input);
    if measuring() {
        warm.count_allocations(name, input, requests_per_trip);
    }
    bencher.counter(ItemsCount::new(requests_per_trip)).bench_local(|| warm.request(input));
}

/// One keep-alive `GET /`: `received`, poll to `Write`, clear, poll to `Read`.
#[divan::bench(sample_size = 1024, min_time = 1)]
fn keep_alive_get(bencher: Bencher) {
    bench_round_trip(bencher, "keep_alive_get", GET, 1);
}

/// One keep-alive `HEAD /`: the same round trip, no body.
#[divan::bench(sample_size = 1024, min_time = 1)]
fn keep_alive_head(bencher: Bencher) {
    bench_round_trip(bencher, "keep_alive_head", HEAD, 1);
}

/// [`BATCH`] `GET /` requests in one read, answered in one write. The time is per batch; the
/// items/s row and the allocation table are per request.
#[divan::bench(sample_size = 64, min_time = 1)]
fn pipelined_get_16(bencher: Bencher) {
    bench_round_trip(bencher, "pipelined_get_16", &GET.repeat(BATCH), BATCH);
}
