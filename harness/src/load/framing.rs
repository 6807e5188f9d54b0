//! Finding and parsing a response head, and framing its body by `Content-Length`.

/// What the load generator needs from a response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Bytes of the head, including the blank line.
    pub len: usize,
    pub status: u16,
    /// `Content-Length`, if present and valid.
    pub content_length: Option<u64>,
    /// The server will close the connection after this response.
    pub close: bool,
}

/// Parses a response head at the start of `buf`. `Ok(None)`: not complete yet.
pub fn parse_head(buf: &[u8]) -> Result<Option<Head>, httparse::Error> {
    let mut fields = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut fields);
    let len = match response.parse(buf)? {
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial => return Ok(None),
    };
    let mut content_length = None;
    let mut close = response.version == Some(0);
    for field in response.headers.iter() {
        if field.name.eq_ignore_ascii_case("content-length") {
            content_length = std::str::from_utf8(field.value).ok().and_then(|v| v.trim().parse().ok());
        } else if field.name.eq_ignore_ascii_case("connection") {
            let value = field.value;
            if value.eq_ignore_ascii_case(b"close") {
                close = true;
            } else if value.eq_ignore_ascii_case(b"keep-alive") {
                close = false;
            }
        }
    }
    Ok(Some(Head { len, status: response.code.unwrap_or(0), content_length, close }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_heads() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\nHello";
        assert_eq!(
            parse_head(head).unwrap(),
            Some(Head { len: 39, status: 200, content_length: Some(14), close: false })
        );
        let head = b"HTTP/1.0 404 Not Found\r\nConnection: keep-alive\r\n\r\n";
        assert!(!parse_head(head).unwrap().unwrap().close);
        let head = b"HTTP/1.0 200 OK\r\n\r\n";
        assert!(parse_head(head).unwrap().unwrap().close);
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\nConn").unwrap(), None);
        assert!(parse_head(b"garbage\r\n\r\n").is_err());
    }
}
