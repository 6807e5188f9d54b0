//! What the spec itself answers: the reference every variant's bytes are compared with.

use std::time::Instant;

use server_spec::{Config, Connection, Step};

use crate::client::mask_date;

/// The spec's answer to `request` (all of it, pipelined responses included), with `Date`
/// masked. Sleeps are skipped: only the bytes matter here.
pub fn spec_answer(request: &[u8]) -> Vec<u8> {
    let config = Config::new(std::time::Duration::from_secs(10), std::time::Duration::from_secs(5));
    let mut conn = Connection::new(&config, Instant::now());
    conn.received(request);
    conn.eof();
    let mut all = Vec::new();
    let mut out = Vec::new();
    loop {
        match conn.poll(Instant::now(), &mut out) {
            Step::Write => {
                all.extend_from_slice(&out);
                out.clear();
            }
            Step::Sleep(_) => {}
            Step::Read { .. } | Step::Close { .. } => return mask_date(&all),
        }
    }
}
