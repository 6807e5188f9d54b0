//! Parsing a complete request head into what the connection needs to know.
//!
//! `httparse` checks the syntax; this module adds what it leaves to the caller: the target's
//! form and characters, the version answer (505), `Host` rules, body framing and the
//! connection rules of RFC 9112 §9.

use std::mem::MaybeUninit;

use crate::limits::{MAX_BODY, MAX_HEADERS, MAX_REQUEST_LINE};
use crate::response::Status;
use crate::routes::{route, Method, Route};

/// The protocol version of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

/// How the request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// `Content-Length` bytes (never zero: a zero length is [`Framing::None`]).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// What a parsed head asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    pub route: Route,
    pub version: Version,
    /// Whether the connection stays open after the response.
    pub keep_alive: bool,
    pub framing: Framing,
    /// `Expect: 100-continue` on HTTP/1.1.
    pub expect_continue: bool,
}

/// Parses a complete head (`head` ends with its blank line). An error is the status to answer
/// with before closing the connection.
pub fn parse_head(head: &[u8]) -> Result<Request, Status> {
    // Left uninitialised: httparse writes only the fields it finds, so a typical head does
    // not pay for filling all MAX_HEADERS slots (3.2 KB) first.
    let mut fields = [const { MaybeUninit::uninit() }; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut []);
    match parsed.parse_with_uninit_headers(head, &mut fields) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(Status::BadRequest),
        Err(httparse::Error::TooManyHeaders) => return Err(Status::HeaderFieldsTooLarge),
        Err(httparse::Error::Version) => return Err(version_error(head)),
        Err(_) => return Err(Status::BadRequest),
    }
    let (Some(method), Some(target), Some(minor)) = (parsed.method, parsed.path, parsed.version) else {
        return Err(Status::BadRequest);
    };
    if request_line_len(head) > MAX_REQUEST_LINE {
        return Err(Status::UriTooLong);
    }
    let version = if minor == 0 { Version::Http10 } else { Version::Http11 };
    let path = origin_path(target)?;

    let mut fields_seen = FieldsSeen::default();
    for field in parsed.headers.iter() {
        fields_seen.add(field)?;
    }
    if version == Version::Http11 && fields_seen.host != 1 || fields_seen.host > 1 {
        return Err(Status::BadRequest);
    }
    let framing = fields_seen.framing(version)?;
    let keep_alive = match version {
        Version::Http11 => !fields_seen.close,
        Version::Http10 => fields_seen.keep_alive && !fields_seen.close,
    };
    let method = Method::from_token(method);
    Ok(Request {
        method,
        route: route(method, path),
        version,
        keep_alive,
        framing,
        expect_continue: version == Version::Http11 && fields_seen.expect_continue,
    })
}

/// A version httparse refused: a well-formed `HTTP/d.d` other than 1.0 or 1.1 is 505, anything
/// else (missing, malformed) is 400.
fn version_error(head: &[u8]) -> Status {
    let line_end = memchr::memchr(b'\n', head).unwrap_or(head.len());
    let line = head[..line_end].strip_suffix(b"\r").unwrap_or(&head[..line_end]);
    let version = line.rsplit(|b| *b == b' ').next().unwrap_or_default();
    match version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() && line.len() > version.len() =>
        {
            Status::VersionNotSupported
        }
        _ => Status::BadRequest,
    }
}

fn request_line_len(head: &[u8]) -> usize {
    memchr::memchr(b'\n', head).unwrap_or(head.len())
}

/// The path of an origin-form (`/p?q`) or absolute-form (`http://host/p?q`) target, without
/// its query. Other forms, and targets with bytes outside visible ASCII, are 400.
pub(crate) fn origin_path(target: &str) -> Result<&str, Status> {
    if !target.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Status::BadRequest);
    }
    let path = if target.starts_with('/') {
        target
    } else {
        let rest = strip_prefix_ignore_case(target, "http://")
            .or_else(|| strip_prefix_ignore_case(target, "https://"))
            .ok_or(Status::BadRequest)?;
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        if authority_end == 0 {
            return Err(Status::BadRequest);
        }
        match &rest[authority_end..] {
            "" => "/",
            p if p.starts_with('/') => p,
            // `http://host?q`: the path is empty, which means `/`.
            _ => "/",
        }
    };
    Ok(path.split(['?', '#']).next().unwrap_or("/"))
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

/// The fields that matter to the spec, gathered across repeated fields.
#[derive(Debug, Default)]
struct FieldsSeen {
    host: usize,
    content_length: Option<u64>,
    /// Transfer codings in order, across all `Transfer-Encoding` fields.
    chunked_count: usize,
    codings: usize,
    last_is_chunked: bool,
    unknown_coding: bool,
    close: bool,
    keep_alive: bool,
    expect_continue: bool,
}

impl FieldsSeen {
    fn add(&mut self, field: &httparse::Header<'_>) -> Result<(), Status> {
        let name = field.name;
        let value = field.value;
        if name.eq_ignore_ascii_case("host") {
            self.host += 1;
        } else if name.eq_ignore_ascii_case("content-length") {
            // `Content-Length: 5, 5` and repeated equal fields are one length (RFC 9110 §8.6);
            // anything else that is not one decimal is invalid or conflicting.
            for item in list_items(value) {
                let length = parse_length(item?)?;
                match self.content_length {
                    Some(seen) if seen != length => return Err(Status::BadRequest),
                    _ => self.content_length = Some(length),
                }
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            for item in list_items(value) {
                let coding = item?;
                self.codings += 1;
                self.last_is_chunked = coding.eq_ignore_ascii_case(b"chunked");
                if self.last_is_chunked {
                    self.chunked_count += 1;
                } else {
                    self.unknown_coding = true;
                }
            }
        } else if name.eq_ignore_ascii_case("connection") {
            for item in list_items(value) {
                let option = item?;
                self.close |= option.eq_ignore_ascii_case(b"close");
                self.keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case("expect") {
            self.expect_continue |= trim(value).eq_ignore_ascii_case(b"100-continue");
        }
        Ok(())
    }

    fn framing(&self, version: Version) -> Result<Framing, Status> {
        if self.codings > 0 {
            if self.content_length.is_some() || version == Version::Http10 {
                return Err(Status::BadRequest);
            }
            if self.unknown_coding {
                return Err(Status::NotImplemented);
            }
            if self.chunked_count != 1 || !self.last_is_chunked {
                return Err(Status::BadRequest);
            }
            return Ok(Framing::Chunked);
        }
        match self.content_length {
            None | Some(0) => Ok(Framing::None),
            Some(n) if n > MAX_BODY => Err(Status::PayloadTooLarge),
            Some(n) => Ok(Framing::Length(n)),
        }
    }
}

/// A `Content-Length` value: 1*DIGIT. Overflow is a length no body can have, so 413.
fn parse_length(item: &[u8]) -> Result<u64, Status> {
    if item.is_empty() || !item.iter().all(u8::is_ascii_digit) {
        return Err(Status::BadRequest);
    }
    std::str::from_utf8(item).ok().and_then(|text| text.parse().ok()).ok_or(Status::PayloadTooLarge)
}

/// The elements of a comma-separated field value, trimmed. Empty elements are allowed by the
/// list syntax (RFC 9110 §5.6.1) and skipped; a value with none at all is an error.
fn list_items(value: &[u8]) -> impl Iterator<Item = Result<&[u8], Status>> {
    let mut any = false;
    let mut items = value.split(|b| *b == b',').map(trim).filter(|item| !item.is_empty());
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        match items.next() {
            Some(item) => {
                any = true;
                Some(Ok(item))
            }
            None => {
                done = true;
                (!any).then_some(Err(Status::BadRequest))
            }
        }
    })
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| !matches!(b, b' ' | b'\t')).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !matches!(b, b' ' | b'\t')).map_or(start, |e| e + 1);
    &bytes[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn parse(head: &str) -> Result<Request, Status> {
        parse_head(head.as_bytes())
    }

    #[test]
    fn simple_get() {
        let req = parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        assert_eq!(req.route, Route::Hello);
        assert_eq!(req.version, Version::Http11);
        assert!(req.keep_alive);
        assert_eq!(req.framing, Framing::None);
    }

    #[test]
    fn query_and_absolute_form() {
        assert_eq!(parse("GET /?x=1 HTTP/1.1\r\nHost: a\r\n\r\n").unwrap().route, Route::Hello);
        assert_eq!(
            parse("GET http://a:80/sleep/1?q HTTP/1.1\r\nHost: a\r\n\r\n").unwrap().route,
            Route::Sleep(Duration::from_millis(1))
        );
        assert_eq!(parse("GET HTTP://a HTTP/1.1\r\nHost: a\r\n\r\n").unwrap().route, Route::Hello);
        assert_eq!(parse("GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n"), Err(Status::BadRequest));
        assert_eq!(parse("GET * HTTP/1.1\r\nHost: a\r\n\r\n"), Err(Status::BadRequest));
    }

    #[test]
    fn connection_rules() {
        assert!(!parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").unwrap().keep_alive);
        assert!(!parse("GET / HTTP/1.0\r\n\r\n").unwrap().keep_alive);
        assert!(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").unwrap().keep_alive);
        assert!(!parse("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n").unwrap().keep_alive);
        assert!(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade, , foo\r\n\r\n").unwrap().keep_alive);
    }

    #[test]
    fn host_rules() {
        assert_eq!(parse("GET / HTTP/1.1\r\n\r\n"), Err(Status::BadRequest));
        assert_eq!(parse("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), Err(Status::BadRequest));
        assert_eq!(parse("GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n"), Err(Status::BadRequest));
        assert!(parse("GET / HTTP/1.0\r\n\r\n").is_ok());
    }

    #[test]
    fn malformed_syntax_is_400() {
        for head in [
            "G@T / HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
            "GET /\u{e9} HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET /\r\nHost: a\r\n\r\n",
            "GET / \r\nHost: a\r\n\r\n",
            "GET / HTTP/1.1 \r\nHost: a\r\n\r\n",
            "GET / FOO/1.1\r\nHost: a\r\n\r\n",
            "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
        ] {
            assert_eq!(parse(head), Err(Status::BadRequest), "{head:?}");
        }
    }

    #[test]
    fn other_versions_are_505() {
        assert_eq!(parse("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), Err(Status::VersionNotSupported));
        assert_eq!(parse("GET / HTTP/0.9\r\nHost: a\r\n\r\n"), Err(Status::VersionNotSupported));
    }

    #[test]
    fn too_many_fields_is_431() {
        let mut head = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
        for i in 0..100 {
            head.push_str(&format!("X-{i}: v\r\n"));
        }
        head.push_str("\r\n");
        assert_eq!(parse(&head), Err(Status::HeaderFieldsTooLarge));
    }

    #[test]
    fn content_length_rules() {
        let post = |fields: &str| parse(&format!("POST / HTTP/1.1\r\nHost: a\r\n{fields}\r\n"));
        assert_eq!(post("Content-Length: 5\r\n").unwrap().framing, Framing::Length(5));
        assert_eq!(post("Content-Length: 0\r\n").unwrap().framing, Framing::None);
        assert_eq!(
            post("Content-Length: 5, 5\r\nContent-Length: 5\r\n").unwrap().framing,
            Framing::Length(5)
        );
        assert_eq!(post("Content-Length: 5\r\nContent-Length: 6\r\n"), Err(Status::BadRequest));
        assert_eq!(post("Content-Length: +5\r\n"), Err(Status::BadRequest));
        assert_eq!(post("Content-Length: 5x\r\n"), Err(Status::BadRequest));
        assert_eq!(post("Content-Length: \r\n"), Err(Status::BadRequest));
        assert_eq!(post("Content-Length: 1048577\r\n"), Err(Status::PayloadTooLarge));
        assert_eq!(post("Content-Length: 99999999999999999999999\r\n"), Err(Status::PayloadTooLarge));
    }

    #[test]
    fn transfer_encoding_rules() {
        let post = |fields: &str| parse(&format!("POST / HTTP/1.1\r\nHost: a\r\n{fields}\r\n"));
        assert_eq!(post("Transfer-Encoding: chunked\r\n").unwrap().framing, Framing::Chunked);
        assert_eq!(post("Transfer-Encoding: Chunked\r\n").unwrap().framing, Framing::Chunked);
        assert_eq!(post("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"), Err(Status::BadRequest));
        assert_eq!(post("Transfer-Encoding: gzip, chunked\r\n"), Err(Status::NotImplemented));
        assert_eq!(post("Transfer-Encoding: gzip\r\n"), Err(Status::NotImplemented));
        assert_eq!(post("Transfer-Encoding: chunked, chunked\r\n"), Err(Status::BadRequest));
        assert_eq!(post("Transfer-Encoding: \r\n"), Err(Status::BadRequest));
        assert_eq!(parse("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), Err(Status::BadRequest));
    }

    #[test]
    fn expect_continue_only_on_http11() {
        let head = "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n";
        assert!(parse(head).unwrap().expect_continue);
        let head = "POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n";
        assert!(!parse(head).unwrap().expect_continue);
    }
}
