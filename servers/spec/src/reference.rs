//! The spec's own answer to a request, for comparing a server's bytes with it.

use std::time::Instant;

use crate::{Config, Connection, Step};

/// Everything the spec answers to `request` when the client then half-closes (pipelined
/// responses included), with each `Date` value masked as `*`. Sleeps and computations are
/// skipped: only the bytes matter here.
pub fn answer(request: &[u8]) -> Vec<u8> {
    let config = Config::default();
    let mut conn = Connection::new(&config, Instant::now());
    conn.received(request);
    conn.eof();
    let mut all = Vec::new();
    let mut out = Vec::new();
    loop {
        match conn.poll(Instant::now(), &mut out) {
            Step::Write { .. } => {
                all.extend_from_slice(&out);
                out.clear();
            }
            Step::Sleep(_) | Step::Offload { .. } => {}
            Step::Read { .. } | Step::Close { .. } => return mask_date(&all),
        }
    }
}

/// Replaces the value of every `Date` field with `*`, so responses can be compared.
pub fn mask_date(raw: &[u8]) -> Vec<u8> {
    let mut masked = Vec::with_capacity(raw.len());
    let mut rest = raw;
    let key = b"\r\nDate: ";
    while let Some(at) = rest.windows(key.len()).position(|w| w == key) {
        let value = at + key.len();
        masked.extend_from_slice(&rest[..value]);
        masked.push(b'*');
        let end = rest[value..].windows(2).position(|w| w == b"\r\n").map_or(rest.len(), |e| value + e);
        rest = &rest[end..];
    }
    masked.extend_from_slice(rest);
    masked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_every_date() {
        let masked = mask_date(b"HTTP/1.1 200 OK\r\nDate: Fri, 27 Nov 2026 05:20:00 GMT\r\nX: y\r\n\r\n");
        assert_eq!(masked, b"HTTP/1.1 200 OK\r\nDate: *\r\nX: y\r\n\r\n");
    }

    #[test]
    fn answers_pipelined_requests() {
        let answer = answer(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /missing HTTP/1.1\r\nHost: a\r\n\r\n");
        let text = String::from_utf8(answer).unwrap();
        assert_eq!(text.matches("HTTP/1.1 ").count(), 2);
        assert!(text.contains("Date: *\r\n"));
    }
}
