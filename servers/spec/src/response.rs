//! Response encoding: the exact bytes every variant sends.
//!
//! Field order and spelling are fixed here so two variants' answers to one request are
//! byte-identical apart from the `Date` value.

use crate::date;

/// The `Server` field value, the same for every variant so it cannot tell them apart.
pub const SERVER: &str = "runtime-matrix";

/// The body of `GET /`. With the fixed fields the whole response is 155 bytes, close to the
/// classic exercise's 122-byte answers.
pub const HELLO_BODY: &[u8] = b"Hello, world!\n";

/// The interim response to `Expect: 100-continue`.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Content type of text answers (`/`, `/sleep`, errors).
pub const TEXT_PLAIN: &str = "text/plain; charset=utf-8";

/// Content type of binary answers (`/bytes`, echo).
pub const OCTET_STREAM: &str = "application/octet-stream";

/// The status codes the spec uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    BadRequest,
    NotFound,
    MethodNotAllowed,
    PayloadTooLarge,
    UriTooLong,
    HeaderFieldsTooLarge,
    NotImplemented,
    VersionNotSupported,
}

impl Status {
    /// The numeric code.
    pub fn code(self) -> u16 {
        match self {
            Status::Ok => 200,
            Status::BadRequest => 400,
            Status::NotFound => 404,
            Status::MethodNotAllowed => 405,
            Status::PayloadTooLarge => 413,
            Status::UriTooLong => 414,
            Status::HeaderFieldsTooLarge => 431,
            Status::NotImplemented => 501,
            Status::VersionNotSupported => 505,
        }
    }

    /// The status line, including its CRLF.
    fn line(self) -> &'static str {
        match self {
            Status::Ok => "HTTP/1.1 200 OK\r\n",
            Status::BadRequest => "HTTP/1.1 400 Bad Request\r\n",
            Status::NotFound => "HTTP/1.1 404 Not Found\r\n",
            Status::MethodNotAllowed => "HTTP/1.1 405 Method Not Allowed\r\n",
            Status::PayloadTooLarge => "HTTP/1.1 413 Content Too Large\r\n",
            Status::UriTooLong => "HTTP/1.1 414 URI Too Long\r\n",
            Status::HeaderFieldsTooLarge => "HTTP/1.1 431 Request Header Fields Too Large\r\n",
            Status::NotImplemented => "HTTP/1.1 501 Not Implemented\r\n",
            Status::VersionNotSupported => "HTTP/1.1 505 HTTP Version Not Supported\r\n",
        }
    }

    /// The plain-text body of an error answer: the status line's code and reason.
    pub fn error_body(self) -> &'static [u8] {
        let line = self.line();
        &line.as_bytes()["HTTP/1.1 ".len()..]
    }
}

/// What the `Connection` field of a response says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionField {
    /// No field: an HTTP/1.1 connection that stays open.
    None,
    /// `Connection: keep-alive`: an HTTP/1.0 client asked to keep the connection.
    KeepAlive,
    /// `Connection: close`: the server closes after this response.
    Close,
}

/// Everything that varies in a response head.
#[derive(Debug, Clone, Copy)]
pub struct HeadFields {
    pub status: Status,
    pub content_type: &'static str,
    pub content_length: u64,
    /// Value of the `Allow` field, sent with 405.
    pub allow: Option<&'static str>,
    pub connection: ConnectionField,
}

/// Appends a response head to `out`.
pub fn encode_head(out: &mut Vec<u8>, head: &HeadFields) {
    out.extend_from_slice(head.status.line().as_bytes());
    out.extend_from_slice(b"Server: ");
    out.extend_from_slice(SERVER.as_bytes());
    out.extend_from_slice(b"\r\nDate: ");
    out.extend_from_slice(&date::now());
    out.extend_from_slice(b"\r\nContent-Type: ");
    out.extend_from_slice(head.content_type.as_bytes());
    out.extend_from_slice(b"\r\nContent-Length: ");
    out.extend_from_slice(itoa::Buffer::new().format(head.content_length).as_bytes());
    out.extend_from_slice(b"\r\n");
    if let Some(allow) = head.allow {
        out.extend_from_slice(b"Allow: ");
        out.extend_from_slice(allow.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    match head.connection {
        ConnectionField::None => {}
        ConnectionField::KeepAlive => out.extend_from_slice(b"Connection: keep-alive\r\n"),
        ConnectionField::Close => out.extend_from_slice(b"Connection: close\r\n"),
    }
    out.extend_from_slice(b"\r\n");
}

/// Period of the `/bytes/{n}` pattern. It divides [`crate::limits::OUTPUT_WINDOW`], so a body
/// is the same bytes however it is split into windows.
const PATTERN: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Byte `i` of every `/bytes/{n}` body.
pub fn pattern_byte(i: u64) -> u8 {
    PATTERN[(i % PATTERN.len() as u64) as usize]
}

/// Appends bytes `offset..offset + len` of the `/bytes/{n}` pattern to `out`.
pub fn extend_pattern(out: &mut Vec<u8>, offset: u64, len: usize) {
    let mut start = (offset % PATTERN.len() as u64) as usize;
    let mut left = len;
    while left > 0 {
        let take = left.min(PATTERN.len() - start);
        out.extend_from_slice(&PATTERN[start..start + take]);
        left -= take;
        start = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_response_is_classic_sized() {
        let mut out = Vec::new();
        encode_head(
            &mut out,
            &HeadFields {
                status: Status::Ok,
                content_type: TEXT_PLAIN,
                content_length: HELLO_BODY.len() as u64,
                allow: None,
                connection: ConnectionField::None,
            },
        );
        out.extend_from_slice(HELLO_BODY);
        assert!((120..=160).contains(&out.len()), "{}", out.len());
    }

    #[test]
    fn pattern_is_continuous_across_splits() {
        let mut whole = Vec::new();
        extend_pattern(&mut whole, 0, 200);
        let mut split = Vec::new();
        extend_pattern(&mut split, 0, 37);
        extend_pattern(&mut split, 37, 163);
        assert_eq!(whole, split);
        assert!(whole.iter().enumerate().all(|(i, b)| *b == pattern_byte(i as u64)));
    }

    #[test]
    fn error_body_names_the_status() {
        assert_eq!(Status::NotFound.error_body(), b"404 Not Found\r\n");
    }
}
