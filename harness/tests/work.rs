//! `/work/1000` takes about a millisecond on every variant: the calibration each server makes at
//! start holds while it serves. A calibration check, not a performance claim.
//!
//! One test runs every variant in turn (never two at once, nor itself twice), each server
//! pinned to CPU 0 with one worker and this client to CPU 1, and times 200 sequential
//! keep-alive requests from send to the response's last byte. Two figures per variant:
//!
//! - **the server's CPU per request** (its threads' run time, from `/proc/PID/task/*/schedstat`)
//!   must be 0.8–1.25 ms, whatever else the machine runs: the computation itself, plus the
//!   request's own handling (the extra 0.05 ms);
//! - **the p50 from the client** must be 0.8–1.2 ms when CPU 0 is free. The same files say how
//!   long the server's threads waited for a CPU; when that is over a tenth of a millisecond per
//!   request, another process held CPU 0 and the wall-clock figure measures that process, so
//!   it is printed but not judged.

use std::time::{Duration, Instant};

use server_conformance::client::Client;
use server_conformance::ServerProcess;

const HARNESS: &str = env!("CARGO_BIN_EXE_harness");

const REQUESTS: usize = 200;
const WARM_UP: usize = 20;
const REQUEST: &[u8] = b"GET /work/1000 HTTP/1.1\r\nHost: t\r\n\r\n";

/// Run time and run-queue wait of every thread of `pid`, summed (nanoseconds).
fn schedstat(pid: u32) -> (u64, u64) {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("the server's threads");
    let mut total = (0, 0);
    for task in tasks.map_while(Result::ok) {
        let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) else { continue };
        let mut fields = text.split_whitespace().map(|field| field.parse::<u64>().unwrap_or(0));
        total.0 += fields.next().unwrap_or(0);
        total.1 += fields.next().unwrap_or(0);
    }
    total
}

/// One variant's figures.
struct Measured {
    variant: &'static str,
    p50: Duration,
    cpu_per_request: Duration,
    wait_per_request: Duration,
}

impl Measured {
    fn cpu_was_free(&self) -> bool {
        self.wait_per_request <= Duration::from_micros(100)
    }

    fn line(&self) -> String {
        let judged = if self.cpu_was_free() { "" } else { " (CPU 0 was busy: p50 not judged)" };
        format!(
            "{:<22} p50 {:>7.3} ms  server CPU {:>6.3} ms/request  waited for CPU {:>6.3} ms/request{judged}",
            self.variant,
            self.p50.as_secs_f64() * 1e3,
            self.cpu_per_request.as_secs_f64() * 1e3,
            self.wait_per_request.as_secs_f64() * 1e3,
        )
    }
}

fn measure(variant: &'static str) -> Measured {
    let server = ServerProcess::start(HARNESS, &["serve", variant, "--workers", "1", "--cpus", "0"]);
    let mut client = Client::connect(server.addr);
    let mut round_trip = || {
        let started = Instant::now();
        client.send(REQUEST);
        assert_eq!(client.response(false).body, b"Hello, world!\n", "{variant}");
        started.elapsed()
    };
    for _ in 0..WARM_UP {
        round_trip();
    }
    let before = schedstat(server.pid());
    let mut times: Vec<Duration> = (0..REQUESTS).map(|_| round_trip()).collect();
    let after = schedstat(server.pid());
    server.stop_cleanly();
    times.sort();
    let per_request = |ns: u64| Duration::from_nanos(ns / REQUESTS as u64);
    Measured {
        variant,
        p50: times[REQUESTS / 2],
        cpu_per_request: per_request(after.0.saturating_sub(before.0)),
        wait_per_request: per_request(after.1.saturating_sub(before.1)),
    }
}

#[test]
fn work_1000_takes_a_millisecond_on_every_variant() {
    if harness::affinity::online_cpus() < 2 {
        eprintln!("SKIPPED: work_1000_takes_a_millisecond_on_every_variant needs two CPUs (server, client)");
        return;
    }
    let placed = harness::affinity::pin_this_thread(Some(1));
    assert_eq!(placed.failure, None, "cannot pin the client to CPU 1");
    let measured: Vec<Measured> =
        harness::registry::VARIANTS.iter().map(|variant| measure(variant.name)).collect();
    let report: Vec<String> = measured.iter().map(Measured::line).collect();
    let report = report.join("\n");
    println!(
        "/work/1000, {REQUESTS} keep-alive requests in a row, server on CPU 0, client on CPU 1:\n{report}"
    );
    for m in &measured {
        let cpu = m.cpu_per_request;
        assert!(
            cpu >= Duration::from_micros(800) && cpu <= Duration::from_micros(1250),
            "{}: the server spent {cpu:?} of CPU per /work/1000\n{report}",
            m.variant
        );
        if m.cpu_was_free() {
            assert!(
                m.p50 >= Duration::from_micros(800) && m.p50 <= Duration::from_micros(1200),
                "{}: /work/1000 took {:?} at p50 on a free CPU\n{report}",
                m.variant,
                m.p50
            );
        }
    }
}
