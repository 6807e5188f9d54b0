//! `GET`/`HEAD /files/{name}`: which names may name a file, sans-I/O.
//!
//! The spec decides the route, the name and the head; the variant opens the file (relative to
//! the directory it was given with `--files`, through `server_common::files`) and reads it
//! with its runtime's own file API. A connection asks for the file with [`crate::Step::OpenFile`]
//! (the name is [`crate::Connection::file_name`]), learns its size from
//! [`crate::Connection::file_opened`], writes the head itself, and then asks for the body with
//! [`crate::Step::SendFile`].
//!
//! A name is percent-decoded first, so `%2e%2e` or `%2F` cannot smuggle what the plain
//! characters may not. Refused with 404, as a file that is not there: an empty name, `.`,
//! any name holding `/`, `..` or a NUL, and names longer than a file name can be
//! ([`MAX_NAME`]). The variant refuses the rest of the unsafe cases (a symlink, a directory, a
//! device) when it opens the name.

use crate::response::Status;
use crate::routes::{Method, Route};

/// What the path of a file request starts with; the file's name follows.
pub const PREFIX: &str = "/files/";

/// The longest file name Linux allows (`NAME_MAX`); a longer one names no file.
pub const MAX_NAME: usize = 255;

/// How much of a file a variant reads at a time: one output window, so a file costs the same
/// memory per connection as a `/bytes/{n}` body, whatever its size (a 1 GiB file streams
/// through 64 KiB).
pub const CHUNK: usize = crate::limits::OUTPUT_WINDOW;

/// Routes `/files/{raw}` for `method` (`raw` still percent-encoded, query removed).
pub fn route(method: Method, raw: &str) -> Route {
    if !matches!(method, Method::Get | Method::Head) {
        return Route::Refuse(Status::MethodNotAllowed, Some("GET, HEAD"));
    }
    let mut name = Vec::new();
    if decode_name(raw.as_bytes(), &mut name) {
        Route::File
    } else {
        Route::Refuse(Status::NotFound, None)
    }
}

/// Percent-decodes `raw` into `name` (cleared first) and says whether the result is a name a
/// file may be served under (see the module doc).
pub fn decode_name(raw: &[u8], name: &mut Vec<u8>) -> bool {
    name.clear();
    let mut at = 0;
    while at < raw.len() {
        let byte = match raw[at] {
            b'%' => {
                let (Some(high), Some(low)) =
                    (raw.get(at + 1).and_then(hex_value), raw.get(at + 2).and_then(hex_value))
                else {
                    return false;
                };
                at += 3;
                high << 4 | low
            }
            byte => {
                at += 1;
                byte
            }
        };
        name.push(byte);
    }
    is_safe_name(name)
}

/// Whether a decoded name may name a file in the served directory: one path component, not
/// `.`, without `..`, `/` or NUL, at most [`MAX_NAME`] bytes.
pub fn is_safe_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name != b"."
        && !name.contains(&b'/')
        && !name.contains(&0)
        && !name.windows(2).any(|pair| pair == b"..")
}

fn hex_value(byte: &u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// The raw (still encoded) name of a `/files/` request in a head that parsed as one: its
/// request line's target, without query, after [`PREFIX`].
pub(crate) fn raw_name(head: &[u8]) -> &[u8] {
    let line = &head[..memchr::memchr(b'\n', head).unwrap_or(head.len())];
    let mut parts = line.split(|b| *b == b' ');
    let target = parts.nth(1).unwrap_or_default();
    let target = std::str::from_utf8(target).unwrap_or_default();
    let path = crate::request::origin_path(target).unwrap_or_default();
    path.strip_prefix(PREFIX).unwrap_or_default().as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(raw: &str) -> Option<Vec<u8>> {
        let mut name = Vec::new();
        decode_name(raw.as_bytes(), &mut name).then_some(name)
    }

    #[test]
    fn plain_and_encoded_names() {
        assert_eq!(decoded("a.bin").as_deref(), Some(&b"a.bin"[..]));
        assert_eq!(decoded("64KiB-000001").as_deref(), Some(&b"64KiB-000001"[..]));
        assert_eq!(decoded("with%20space").as_deref(), Some(&b"with space"[..]));
        assert_eq!(decoded(".hidden").as_deref(), Some(&b".hidden"[..]));
    }

    #[test]
    fn traversal_and_nul_are_refused_however_spelled() {
        for raw in [
            "",
            ".",
            "..",
            "../etc/passwd",
            "a/b",
            "%2e%2e",
            "%2E%2e",
            "a%2Fb",
            "a%2fb",
            "x%00y",
            "%00",
            "a..b",
            "%",
            "%2",
            "%zz",
            "..%2f",
        ] {
            assert_eq!(decoded(raw), None, "{raw:?}");
        }
        assert_eq!(decoded(&"n".repeat(MAX_NAME)).map(|n| n.len()), Some(MAX_NAME));
        assert_eq!(decoded(&"n".repeat(MAX_NAME + 1)), None);
    }

    #[test]
    fn routes() {
        assert_eq!(route(Method::Get, "a"), Route::File);
        assert_eq!(route(Method::Head, "a"), Route::File);
        assert_eq!(route(Method::Get, ".."), Route::Refuse(Status::NotFound, None));
        assert_eq!(route(Method::Post, "a"), Route::Refuse(Status::MethodNotAllowed, Some("GET, HEAD")));
    }

    #[test]
    fn the_raw_name_comes_from_the_request_line() {
        assert_eq!(raw_name(b"GET /files/a%20b?x=1 HTTP/1.1\r\nHost: t\r\n\r\n"), b"a%20b");
        assert_eq!(raw_name(b"HEAD http://t/files/abc HTTP/1.1\r\nHost: t\r\n\r\n"), b"abc");
    }
}
