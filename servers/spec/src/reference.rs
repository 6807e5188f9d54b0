//! The spec's own answer to a request, for comparing a server's bytes with it.

use std::time::Instant;

use crate::{Config, Connection, Step};

/// Everything the spec answers to `request` when the client then half-closes (pipelined
/// responses included), with each `Date` value masked as `*`. Sleeps and computations are
/// skipped: only the bytes matter here. `/files/` requests find no file (a server without
/// `--files`).
pub fn answer(request: &[u8]) -> Vec<u8> {
    answer_with_files(request, &|_| None)
}

/// [`answer`], for a server serving the files `file` gives: the contents of the file a name
/// names, or `None` if it names none.
pub fn answer_with_files(request: &[u8], file: &dyn Fn(&[u8]) -> Option<Vec<u8>>) -> Vec<u8> {
    let mut opened = None;
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
            Step::OpenFile => {
                opened = file(conn.file_name());
                conn.file_opened(opened.as_ref().map(|bytes| bytes.len() as u64));
            }
            Step::SendFile { len, .. } => {
                let bytes = opened.take().unwrap_or_default();
                all.extend_from_slice(&bytes[..usize::try_from(len).unwrap_or(usize::MAX).min(bytes.len())]);
            }
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

    #[test]
    fn answers_files_from_what_it_is_given() {
        let file = |name: &[u8]| (name == b"f").then(|| b"0123456789".to_vec());
        let answer = answer_with_files(
            b"GET /files/f HTTP/1.1\r\nHost: a\r\n\r\nHEAD /files/f HTTP/1.1\r\nHost: a\r\n\r\nGET /files/g HTTP/1.1\r\nHost: a\r\n\r\n",
            &file,
        );
        let text = String::from_utf8(answer).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\nServer: runtime-matrix\r\nDate: *\r\nContent-Type: application/octet-stream\r\nContent-Length: 10\r\n\r\n0123456789\
             HTTP/1.1 200 OK\r\nServer: runtime-matrix\r\nDate: *\r\nContent-Type: application/octet-stream\r\nContent-Length: 10\r\n\r\n\
             HTTP/1.1 404 Not Found\r\nServer: runtime-matrix\r\nDate: *\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 15\r\n\r\n404 Not Found\r\n"
        );
        assert!(String::from_utf8(super::answer(b"GET /files/f HTTP/1.1\r\nHost: a\r\n\r\n"))
            .unwrap()
            .starts_with("HTTP/1.1 404"));
    }
}
