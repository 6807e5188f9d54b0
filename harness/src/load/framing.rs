//! Reading one response: its head, then its body framed by `Content-Length`, chunked coding
//! or the server's close. Pure: bytes in, progress out, so every framing rule is unit-tested.
//!
//! Without keep-alive a response ends when the server closes, as in ab: bytes after a
//! `Content-Length` body are read to the close and counted (the classic exercise's servers send
//! four), and a body with no length at all ends with the connection. With keep-alive the
//! connection must be reusable, so a response must be framed by `Content-Length` or chunked.

/// What the load generator needs from a response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Bytes of the head, including the blank line.
    pub len: usize,
    pub status: u16,
    /// `Content-Length`, if present and valid.
    pub content_length: Option<u64>,
    /// `Transfer-Encoding` ends with `chunked`.
    pub chunked: bool,
    /// The server will close the connection after this response.
    pub close: bool,
    /// The status line says `HTTP/1.0`.
    pub http10: bool,
}

/// Parses a response head at the start of `buf`. `Ok(None)`: not complete yet.
pub fn parse_head(buf: &[u8]) -> Result<Option<Head>, httparse::Error> {
    let mut fields = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut fields);
    let len = match response.parse(buf)? {
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial => return Ok(None),
    };
    let http10 = response.version == Some(0);
    let mut head = Head {
        len,
        status: response.code.unwrap_or(0),
        content_length: None,
        chunked: false,
        close: false,
        http10,
    };
    let (mut close, mut keep_alive) = (false, false);
    for field in response.headers.iter() {
        let value = field.value;
        if field.name.eq_ignore_ascii_case("content-length") {
            head.content_length = std::str::from_utf8(value).ok().and_then(|v| v.trim().parse().ok());
        } else if field.name.eq_ignore_ascii_case("transfer-encoding") {
            let last = value.rsplit(|b| *b == b',').next().unwrap_or_default();
            head.chunked = last.trim_ascii().eq_ignore_ascii_case(b"chunked");
        } else if field.name.eq_ignore_ascii_case("connection") {
            for option in value.split(|b| *b == b',').map(<[u8]>::trim_ascii) {
                close |= option.eq_ignore_ascii_case(b"close");
                keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }
    // RFC 9112 §9.3: HTTP/1.0 closes unless it says keep-alive; 1.1 stays open unless close.
    head.close = close || (http10 && !keep_alive);
    Ok(Some(head))
}

/// Why a response could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    #[error("the response is not HTTP ({0})")]
    Head(httparse::Error),
    #[error("the response head is over 64 KiB")]
    HeadTooLong,
    #[error("a response without Content-Length or chunked coding on a keep-alive connection (it cannot be reused)")]
    Unframed,
    #[error("bytes after the response on a keep-alive connection")]
    Trailing,
    #[error("malformed chunked coding")]
    Chunked,
}

/// Longest response head accepted.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;

/// How the body in progress ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    /// This many bytes are still expected.
    Length(u64),
    Chunked(Chunk),
    /// The body ends when the server closes.
    UntilClose,
    /// The framed body is complete; without keep-alive, anything more until the close is
    /// counted as extra bytes.
    Done,
}

/// Where a chunked body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// In a chunk-size line; `size` so far, `digits` seen, whether extensions began.
    Size { size: u64, digits: u8, extension: bool },
    /// Expecting the LF of the size line.
    SizeLf { size: u64 },
    /// `left` bytes of chunk data remain.
    Data { left: u64 },
    /// The CRLF after a chunk's data: `cr_seen`.
    DataEnd { cr_seen: bool },
    /// After the last (zero) chunk: trailer lines until an empty one. `line_len` of the
    /// current line, `cr_seen` before its LF.
    Trailer { line_len: usize, cr_seen: bool },
}

/// What feeding bytes did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fed {
    /// More bytes are needed.
    More,
    /// The framed body is complete (with keep-alive: the response is complete). Without
    /// keep-alive the reader keeps counting bytes until the close.
    BodyComplete,
}

/// Reads one response; see the module docs for the framing rules.
#[derive(Debug)]
pub struct ResponseReader {
    keep_alive: bool,
    /// Head bytes, only when the head spans reads (usually it arrives in one).
    head_buf: Vec<u8>,
    head: Option<Head>,
    body: Body,
    /// Body bytes received, as framed (chunked: the decoded data).
    body_bytes: u64,
    /// Bytes received after the head in all (chunked: with its framing), as ab's "Document
    /// Length" counts them, including bytes after a declared length.
    wire_body_bytes: u64,
    /// Bytes after a `Content-Length` (or chunked) body, until the close.
    extra_bytes: u64,
    /// [`ResponseReader::feed_one`]: stop at the end of the framed body and leave the rest.
    one: bool,
    /// Bytes of the last fed slice left after this response's end (for the next one).
    rest: usize,
}

impl ResponseReader {
    /// A reader for a response on a keep-alive connection (`keep_alive`) or one the server
    /// closes after answering.
    pub fn new(keep_alive: bool) -> ResponseReader {
        ResponseReader {
            keep_alive,
            head_buf: Vec::new(),
            head: None,
            body: Body::Length(0),
            body_bytes: 0,
            wire_body_bytes: 0,
            extra_bytes: 0,
            one: false,
            rest: 0,
        }
    }

    /// Starts over for the next response, keeping buffers.
    pub fn reset(&mut self, keep_alive: bool) {
        self.keep_alive = keep_alive;
        self.head_buf.clear();
        self.head = None;
        self.body = Body::Length(0);
        self.body_bytes = 0;
        self.wire_body_bytes = 0;
        self.extra_bytes = 0;
    }

    /// The head, once parsed.
    pub fn head(&self) -> Option<&Head> {
        self.head.as_ref()
    }

    /// Body bytes as framed (chunked: decoded).
    pub fn body_bytes(&self) -> u64 {
        self.body_bytes
    }

    /// Everything received after the head: what ab calls the document, whose length every
    /// response must share.
    pub fn document_bytes(&self) -> u64 {
        self.wire_body_bytes
    }

    /// Bytes after the declared body, read until the close.
    pub fn extra_bytes(&self) -> u64 {
        self.extra_bytes
    }

    /// Head plus document: what the response put on the wire.
    pub fn total_bytes(&self) -> u64 {
        self.head.map_or(0, |h| h.len as u64) + self.wire_body_bytes
    }

    /// Whether the framed body is complete.
    pub fn body_complete(&self) -> bool {
        self.head.is_some() && self.body == Body::Done
    }

    /// Whether the body's end is the server's close (no length, no chunking).
    pub fn ends_at_close(&self) -> bool {
        self.body == Body::UntilClose
    }

    /// Consumes `data` up to the end of this response, leaving what follows it for the next
    /// one (pipelined responses on a keep-alive connection); returns what feeding did and how
    /// many bytes of `data` this response took.
    pub fn feed_one(&mut self, data: &[u8]) -> Result<(Fed, usize), FramingError> {
        self.one = true;
        self.rest = 0;
        let fed = self.feed(data);
        self.one = false;
        let used = data.len() - std::mem::take(&mut self.rest);
        Ok((fed?, used))
    }

    /// Consumes `data` from the socket.
    pub fn feed(&mut self, mut data: &[u8]) -> Result<Fed, FramingError> {
        if self.head.is_none() {
            let buffered = !self.head_buf.is_empty();
            if buffered {
                self.head_buf.extend_from_slice(data);
            }
            let bytes = if buffered { &self.head_buf[..] } else { data };
            let head = match parse_head(bytes).map_err(FramingError::Head)? {
                Some(head) => head,
                None if bytes.len() > MAX_RESPONSE_HEAD => return Err(FramingError::HeadTooLong),
                None => {
                    if !buffered {
                        self.head_buf.extend_from_slice(data);
                    }
                    return Ok(Fed::More);
                }
            };
            // What follows the head in this read.
            let after = bytes.len() - head.len;
            data = &data[data.len() - after..];
            self.start_body(head)?;
            if self.body == Body::Done {
                return self.after_body(data);
            }
        }
        self.body_bytes_in(data)
    }

    /// The server closed the connection. `Ok(true)`: the response is complete (its body ended
    /// with the close, or was already complete); `Ok(false)`: it was cut off.
    pub fn eof(&mut self) -> bool {
        match self.body {
            Body::UntilClose => {
                self.body = Body::Done;
                true
            }
            Body::Done => true,
            _ => false,
        }
    }

    fn start_body(&mut self, head: Head) -> Result<(), FramingError> {
        self.head = Some(head);
        let no_body = (100..200).contains(&head.status) || head.status == 204 || head.status == 304;
        self.body = if no_body {
            Body::Done
        } else if head.chunked {
            Body::Chunked(Chunk::Size { size: 0, digits: 0, extension: false })
        } else if let Some(length) = head.content_length {
            if length == 0 {
                Body::Done
            } else {
                Body::Length(length)
            }
        } else if self.keep_alive {
            // Even with `Connection: close`: keep-alive measurements need framed responses.
            return Err(FramingError::Unframed);
        } else {
            Body::UntilClose
        };
        Ok(())
    }

    fn body_bytes_in(&mut self, data: &[u8]) -> Result<Fed, FramingError> {
        match self.body {
            Body::Length(left) => {
                let take = (data.len() as u64).min(left);
                self.body_bytes += take;
                self.wire_body_bytes += take;
                let left = left - take;
                if left > 0 {
                    self.body = Body::Length(left);
                    return Ok(Fed::More);
                }
                self.body = Body::Done;
                self.after_body(&data[take as usize..])
            }
            Body::UntilClose => {
                self.body_bytes += data.len() as u64;
                self.wire_body_bytes += data.len() as u64;
                Ok(Fed::More)
            }
            Body::Chunked(chunk) => {
                let used = self.dechunk(chunk, data)?;
                self.wire_body_bytes += used as u64;
                if self.body == Body::Done {
                    return self.after_body(&data[used..]);
                }
                Ok(Fed::More)
            }
            Body::Done => {
                self.extra(data)?;
                Ok(Fed::More)
            }
        }
    }

    /// The framed body just completed; `rest` followed it in the same read.
    fn after_body(&mut self, rest: &[u8]) -> Result<Fed, FramingError> {
        if self.one {
            // The next response's bytes: the caller feeds them to it.
            self.rest = rest.len();
        } else {
            self.extra(rest)?;
        }
        Ok(Fed::BodyComplete)
    }

    fn extra(&mut self, data: &[u8]) -> Result<(), FramingError> {
        if data.is_empty() {
            return Ok(());
        }
        if self.keep_alive {
            // One request at a time: nothing may follow the response on a reused connection.
            return Err(FramingError::Trailing);
        }
        self.extra_bytes += data.len() as u64;
        self.wire_body_bytes += data.len() as u64;
        Ok(())
    }

    /// Decodes chunked coding from `data`; returns how many bytes it used (all of them,
    /// unless the body ended inside `data`).
    fn dechunk(&mut self, mut chunk: Chunk, data: &[u8]) -> Result<usize, FramingError> {
        let mut at = 0;
        while at < data.len() {
            let byte = data[at];
            chunk = match chunk {
                Chunk::Size { size, digits, extension } => match byte {
                    b'\r' if digits > 0 => Chunk::SizeLf { size },
                    b'\n' if digits > 0 => self.chunk_data(size),
                    _ if extension => Chunk::Size { size, digits, extension },
                    b';' | b' ' | b'\t' if digits > 0 => Chunk::Size { size, digits, extension: true },
                    _ => {
                        let digit = (byte as char).to_digit(16).ok_or(FramingError::Chunked)?;
                        if digits >= 15 {
                            return Err(FramingError::Chunked);
                        }
                        Chunk::Size { size: size * 16 + u64::from(digit), digits: digits + 1, extension }
                    }
                },
                Chunk::SizeLf { size } if byte == b'\n' => self.chunk_data(size),
                Chunk::Data { left } => {
                    let take = ((data.len() - at) as u64).min(left);
                    self.body_bytes += take;
                    at += take as usize;
                    chunk = if take == left {
                        Chunk::DataEnd { cr_seen: false }
                    } else {
                        Chunk::Data { left: left - take }
                    };
                    continue;
                }
                Chunk::DataEnd { cr_seen: false } if byte == b'\r' => Chunk::DataEnd { cr_seen: true },
                Chunk::DataEnd { .. } if byte == b'\n' => {
                    Chunk::Size { size: 0, digits: 0, extension: false }
                }
                Chunk::Trailer { line_len, .. } if byte == b'\n' => {
                    if line_len == 0 {
                        self.body = Body::Done;
                        return Ok(at + 1);
                    }
                    Chunk::Trailer { line_len: 0, cr_seen: false }
                }
                Chunk::Trailer { line_len, cr_seen: false } if byte == b'\r' => {
                    Chunk::Trailer { line_len, cr_seen: true }
                }
                Chunk::Trailer { line_len, cr_seen: false } if line_len < MAX_RESPONSE_HEAD => {
                    Chunk::Trailer { line_len: line_len + 1, cr_seen: false }
                }
                _ => return Err(FramingError::Chunked),
            };
            at += 1;
        }
        self.body = Body::Chunked(chunk);
        Ok(at)
    }

    fn chunk_data(&mut self, size: u64) -> Chunk {
        if size == 0 {
            Chunk::Trailer { line_len: 0, cr_seen: false }
        } else {
            Chunk::Data { left: size }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pipelined responses in one read: each takes its own bytes and leaves the rest.
    #[test]
    fn one_response_at_a_time() {
        let two =
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nyo!";
        let mut reader = ResponseReader::new(true);
        let (fed, used) = reader.feed_one(two).unwrap();
        assert_eq!((fed, used), (Fed::BodyComplete, 40));
        assert_eq!(reader.document_bytes(), 2);
        reader.reset(true);
        let (fed, used) = reader.feed_one(&two[used..]).unwrap();
        assert_eq!((fed, used, reader.document_bytes()), (Fed::BodyComplete, 41, 3));
        // A response split across reads still takes only its own bytes.
        reader.reset(true);
        assert_eq!(reader.feed_one(&two[..30]).unwrap(), (Fed::More, 30));
        assert_eq!(reader.feed_one(&two[30..45]).unwrap(), (Fed::BodyComplete, 10));
        // Without feed_one, keep-alive still refuses trailing bytes.
        let mut strict = ResponseReader::new(true);
        assert_eq!(strict.feed(two), Err(FramingError::Trailing));
    }

    /// Feeds `input` whole and a byte at a time; both must end the same.
    fn read(keep_alive: bool, input: &[u8], eof: bool) -> (Result<bool, FramingError>, u64, u64, u64) {
        let mut outcomes = Vec::new();
        for split in [input.len().max(1), 1] {
            let mut reader = ResponseReader::new(keep_alive);
            let mut complete = Ok(false);
            for part in input.chunks(split) {
                match reader.feed(part) {
                    Ok(Fed::BodyComplete) => complete = Ok(true),
                    Ok(Fed::More) => {}
                    Err(err) => {
                        complete = Err(err);
                        break;
                    }
                }
            }
            if eof && complete.is_ok() {
                complete = Ok(reader.eof());
            }
            outcomes.push((complete, reader.body_bytes(), reader.document_bytes(), reader.extra_bytes()));
        }
        assert_eq!(outcomes[0], outcomes[1], "whole and byte-at-a-time differ");
        outcomes.remove(0)
    }

    #[test]
    fn parses_heads() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\nHello";
        let parsed = parse_head(head).unwrap().unwrap();
        assert_eq!(
            (parsed.len, parsed.status, parsed.content_length, parsed.close),
            (39, 200, Some(14), false)
        );
        assert!(
            !parse_head(b"HTTP/1.0 404 Not Found\r\nConnection: keep-alive\r\n\r\n").unwrap().unwrap().close
        );
        let http10 = parse_head(b"HTTP/1.0 200 OK\r\n\r\n").unwrap().unwrap();
        assert!(http10.close && http10.http10);
        assert!(
            parse_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")
                .unwrap()
                .unwrap()
                .chunked
        );
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\nConn").unwrap(), None);
        assert!(parse_head(b"garbage\r\n\r\n").is_err());
    }

    #[test]
    fn content_length_bodies() {
        let response = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        assert_eq!(read(true, response, false), (Ok(true), 5, 5, 0));
        assert_eq!(
            read(true, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", false),
            (Ok(false), 3, 3, 0)
        );
    }

    /// The classic exercise's servers: HTTP/1.0, a 31-byte body, four more bytes, close. ab
    /// counts a 35-byte document.
    #[test]
    fn bytes_after_the_body_count_until_the_close() {
        let mut response = b"HTTP/1.0 200 OK\r\nContent-Length: 31\r\nConnection: close\r\n\r\n".to_vec();
        response.extend_from_slice(&[b'x'; 31]);
        response.extend_from_slice(b"\r\n\r\n");
        assert_eq!(read(false, &response, true), (Ok(true), 31, 35, 4));
        // With keep-alive those bytes break the connection.
        assert_eq!(read(true, &response, false).0, Err(FramingError::Trailing));
    }

    #[test]
    fn no_length_ends_at_the_close() {
        let response = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nno length here";
        assert_eq!(read(false, response, true), (Ok(true), 14, 14, 0));
        assert_eq!(read(false, response, false), (Ok(false), 14, 14, 0));
        let unframed = b"HTTP/1.1 200 OK\r\n\r\nno length";
        assert_eq!(read(true, unframed, false).0, Err(FramingError::Unframed));
        assert_eq!(read(true, response, false).0, Err(FramingError::Unframed), "even when it says it closes");
    }

    #[test]
    fn chunked_bodies() {
        let response = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nT: v\r\n\r\n";
        let head = parse_head(response).unwrap().unwrap().len;
        let body_and_framing = (response.len() - head) as u64;
        assert_eq!(read(true, response, false), (Ok(true), 15, body_and_framing, 0));
        let bad = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        assert_eq!(read(true, bad, false).0, Err(FramingError::Chunked));
    }

    #[test]
    fn no_body_statuses() {
        assert_eq!(read(true, b"HTTP/1.1 204 No Content\r\n\r\n", false), (Ok(true), 0, 0, 0));
        assert_eq!(read(true, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false), (Ok(true), 0, 0, 0));
    }
}
