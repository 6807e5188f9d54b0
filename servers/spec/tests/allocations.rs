//! A warm keep-alive connection answers without allocating: pinned here so it cannot regress
//! silently. Only allocations are asserted, never time (`benches/connection.rs` measures that).
//!
//! The counting allocator counts per thread, so tests running beside these, and the harness's
//! own threads, do not disturb the counts.

use std::alloc::System;
use std::time::{Duration, Instant};

use server_spec::{Config, Connection, Step};

mod common {
    pub mod counting;
}

use common::counting::{Counting, Tally};

#[global_allocator]
static ALLOC: Counting<System> = Counting(System);

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";
const HEAD: &[u8] = b"HEAD / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";

/// Round trips before counting: buffers reach their final capacity, the `Date` cache fills.
const WARM_UP: usize = 100;

/// One connection, the output buffer its I/O loop reuses, and the last response it wrote.
struct Client {
    conn: Connection,
    out: Vec<u8>,
    last: Vec<u8>,
}

impl Client {
    fn new() -> Client {
        Client {
            conn: Connection::new(&Config::default(), Instant::now()),
            out: Vec::new(),
            last: Vec::with_capacity(64 * 1024),
        }
    }

    /// `input` in one read, polled until the connection asks for more; the answer is kept
    /// in `last` (a buffer with room to spare, so keeping it allocates nothing).
    fn round_trip(&mut self, input: &[u8]) {
        self.conn.received(input);
        self.last.clear();
        loop {
            match self.conn.poll(Instant::now(), &mut self.out) {
                Step::Write { .. } => {
                    self.last.extend_from_slice(&self.out);
                    self.out.clear();
                }
                Step::Read { .. } => break,
                step => panic!("unexpected {step:?}"),
            }
        }
    }

    /// The `Date` value of the last response.
    fn date(&self) -> [u8; server_spec::date::DATE_LEN] {
        let at = self.last.windows(8).position(|w| w == b"\r\nDate: ").expect("a Date field") + 8;
        self.last[at..at + server_spec::date::DATE_LEN].try_into().expect("a whole Date value")
    }

    /// Allocations made by round trips of `input` until the `Date` value has changed (so the
    /// cache's reformatting is counted too), and the round trips made.
    fn count_across_a_date_change(&mut self, input: &[u8]) -> (Tally, u64) {
        for _ in 0..WARM_UP {
            self.round_trip(input);
        }
        assert!(self.last.starts_with(b"HTTP/1.1 200 OK\r\n"), "{:?}", String::from_utf8_lossy(&self.last));
        let first = self.date();
        // Time is read only to give up; the Date value changes within a second.
        let give_up = Instant::now() + Duration::from_secs(5);
        let before = Tally::now();
        let mut trips = 0;
        while self.date() == first {
            self.round_trip(input);
            trips += 1;
            assert!(Instant::now() < give_up, "the Date value never changed");
        }
        // And a few more on the new value.
        for _ in 0..WARM_UP {
            self.round_trip(input);
            trips += 1;
        }
        (Tally::now().since(before), trips)
    }
}

#[test]
fn warm_keep_alive_get_allocates_nothing() {
    let (tally, trips) = Client::new().count_across_a_date_change(GET);
    assert_eq!(tally, Tally::default(), "over {trips} requests");
}

#[test]
fn warm_keep_alive_head_allocates_nothing() {
    let (tally, trips) = Client::new().count_across_a_date_change(HEAD);
    assert_eq!(tally, Tally::default(), "over {trips} requests");
}

#[test]
fn warm_pipelined_batch_allocates_nothing() {
    let batch = GET.repeat(16);
    let (tally, trips) = Client::new().count_across_a_date_change(&batch);
    assert_eq!(tally, Tally::default(), "over {trips} batches");
}

/// The counter itself works: without this, a broken counter would pass every test above.
#[test]
fn the_counter_sees_allocations() {
    let before = Tally::now();
    let boxed = std::hint::black_box(Box::new([0u8; 100]));
    let counted = Tally::now().since(before);
    drop(boxed);
    assert_eq!(counted, Tally { allocations: 1, bytes: 100 });
}
