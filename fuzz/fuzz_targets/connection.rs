//! Fuzzes the spec's request handling: any bytes, split into reads of any size, must never
//! panic, and each step's output stays bounded (memory stays bounded whatever arrives).
//!
//! Run: `cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run connection -- -max_total_time=600`
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use server_spec::limits::{MAX_HEAD, OUTPUT_WINDOW};
use server_spec::{Config, Connection, Step};

/// Largest output one poll may leave: a window of body plus one response head.
const MAX_OUT: usize = OUTPUT_WINDOW + MAX_HEAD;

fuzz_target!(|data: &[u8]| {
    let Some((&split, input)) = data.split_first() else { return };
    let read_size = usize::from(split % 64) + 1;
    let config = Config::default();
    // A clock of its own, moved on by each sleep: a `/sleep` request costs no real time.
    let mut now = Instant::now();
    let mut conn = Connection::new(&config, now);
    let mut out = Vec::new();
    let mut chunks = input.chunks(read_size);
    loop {
        match conn.poll(now, &mut out) {
            Step::Write { .. } => {
                assert!(out.len() <= MAX_OUT, "{} bytes of output in one step", out.len());
                out.clear();
            }
            Step::Sleep(duration) => now += duration,
            // The default config's work rate is 0: nothing to compute.
            Step::Offload { .. } => {}
            // Every name opens a 100-byte file, and its body is "sent" at once.
            Step::OpenFile => {
                assert!(server_spec::files::is_safe_name(conn.file_name()));
                conn.file_opened(Some(100));
            }
            Step::SendFile { len, .. } => assert_eq!(len, 100),
            Step::Read { .. } => match chunks.next() {
                Some(chunk) => conn.received(chunk),
                None => conn.eof(),
            },
            Step::Close { .. } => break,
        }
    }
    assert_eq!(config.lifecycle.in_flight(), 0);
});
