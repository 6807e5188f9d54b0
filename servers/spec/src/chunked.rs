//! A strict decoder for `Transfer-Encoding: chunked` request bodies (RFC 9112 §7.1).
//!
//! Strict means: the size is hex digits only, every line ends in CRLF (a bare LF is an error),
//! each chunk's data is followed by exactly CRLF, and extensions and trailers are bounded.
//! `httparse::parse_chunk_size` is not used because it accepts more than this.

use crate::limits::{MAX_BODY, MAX_CHUNK_EXTENSIONS, MAX_CHUNK_LINE, MAX_HEADERS, MAX_TRAILERS};
use crate::response::Status;
use crate::scan::HeadScanner;

/// Where the decoder is in the body.
#[derive(Debug, Clone)]
enum Part {
    /// Expecting a chunk-size line.
    Size,
    /// Inside chunk data, with this many bytes left.
    Data(u64),
    /// Expecting the CRLF after chunk data.
    DataEnd,
    /// After the last chunk: trailer fields, then the final CRLF.
    Trailers,
    Done,
}

/// Incremental chunked-body decoder.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    part: Part,
    /// Decoded body bytes so far, checked against [`MAX_BODY`].
    total: u64,
    /// Extension bytes so far, checked against [`MAX_CHUNK_EXTENSIONS`].
    extension_bytes: usize,
    trailer_scanner: HeadScanner,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder {
            part: Part::Size,
            total: 0,
            extension_bytes: 0,
            trailer_scanner: HeadScanner::default(),
        }
    }
}

impl ChunkedDecoder {
    /// Decodes from `input`, passing body data to `sink`. Returns how many input bytes were
    /// consumed; call again with more input until [`ChunkedDecoder::is_done`].
    pub fn decode(&mut self, input: &[u8], sink: &mut dyn FnMut(&[u8])) -> Result<usize, Status> {
        let mut at = 0;
        loop {
            let rest = &input[at..];
            match self.part {
                Part::Done => return Ok(at),
                Part::Size => match self.size_line(rest)? {
                    Some(used) => at += used,
                    None => return Ok(at),
                },
                Part::Data(left) => {
                    if rest.is_empty() {
                        return Ok(at);
                    }
                    let take = rest.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    sink(&rest[..take]);
                    at += take;
                    let left = left - take as u64;
                    self.part = if left == 0 { Part::DataEnd } else { Part::Data(left) };
                }
                Part::DataEnd => match rest {
                    [b'\r', b'\n', ..] => {
                        at += 2;
                        self.part = Part::Size;
                    }
                    [] | [b'\r'] => return Ok(at),
                    _ => return Err(Status::BadRequest),
                },
                Part::Trailers => match self.trailers(rest)? {
                    Some(used) => {
                        at += used;
                        self.part = Part::Done;
                    }
                    None => return Ok(at),
                },
            }
        }
    }

    /// Whether the whole body, trailers included, has been decoded.
    pub fn is_done(&self) -> bool {
        matches!(self.part, Part::Done)
    }

    /// Parses one chunk-size line if it is complete; returns the bytes it used.
    fn size_line(&mut self, rest: &[u8]) -> Result<Option<usize>, Status> {
        let window = &rest[..rest.len().min(MAX_CHUNK_LINE)];
        let Some(lf) = memchr::memchr(b'\n', window) else {
            return if rest.len() >= MAX_CHUNK_LINE { Err(Status::BadRequest) } else { Ok(None) };
        };
        let line = match window[..lf].strip_suffix(b"\r") {
            Some(line) => line,
            None => return Err(Status::BadRequest),
        };
        let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
        if digits == 0 {
            return Err(Status::BadRequest);
        }
        let mut size: u64 = 0;
        for &digit in &line[..digits] {
            let value = (digit as char).to_digit(16).unwrap_or(0) as u64;
            size = size.checked_mul(16).and_then(|s| s.checked_add(value)).ok_or(Status::PayloadTooLarge)?;
        }
        self.extensions(&line[digits..])?;
        self.total = self.total.checked_add(size).ok_or(Status::PayloadTooLarge)?;
        if self.total > MAX_BODY {
            return Err(Status::PayloadTooLarge);
        }
        self.part = if size == 0 { Part::Trailers } else { Part::Data(size) };
        Ok(Some(lf + 1))
    }

    /// Checks `*( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )` loosely but safely: it must
    /// start with `;` (after optional blanks) and hold no control bytes.
    fn extensions(&mut self, ext: &[u8]) -> Result<(), Status> {
        if ext.is_empty() {
            return Ok(());
        }
        let start = ext.iter().position(|b| !matches!(b, b' ' | b'\t')).unwrap_or(ext.len());
        if ext.get(start) != Some(&b';') {
            return Err(Status::BadRequest);
        }
        if ext.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(Status::BadRequest);
        }
        self.extension_bytes += ext.len();
        if self.extension_bytes > MAX_CHUNK_EXTENSIONS {
            return Err(Status::BadRequest);
        }
        Ok(())
    }

    /// Parses the trailer section if it is complete; returns the bytes it used.
    fn trailers(&mut self, rest: &[u8]) -> Result<Option<usize>, Status> {
        match rest {
            [] | [b'\r'] => return Ok(None),
            [b'\r', b'\n', ..] => return Ok(Some(2)),
            [b'\r', ..] | [b'\n', ..] => return Err(Status::BadRequest),
            _ => {}
        }
        let Some(end) = self.trailer_scanner.find_end(rest) else {
            return if rest.len() > MAX_TRAILERS { Err(Status::HeaderFieldsTooLarge) } else { Ok(None) };
        };
        if end > MAX_TRAILERS {
            return Err(Status::HeaderFieldsTooLarge);
        }
        let section = &rest[..end];
        // Strict line endings: every LF in the section must follow a CR.
        if section.iter().enumerate().any(|(i, &b)| b == b'\n' && (i == 0 || section[i - 1] != b'\r')) {
            return Err(Status::BadRequest);
        }
        let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
        match httparse::parse_headers(section, &mut fields) {
            Ok(httparse::Status::Complete((used, _))) if used == end => Ok(Some(end)),
            Err(httparse::Error::TooManyHeaders) => Err(Status::HeaderFieldsTooLarge),
            _ => Err(Status::BadRequest),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8]) -> Result<(Vec<u8>, usize), Status> {
        let mut decoder = ChunkedDecoder::default();
        let mut body = Vec::new();
        let used = decoder.decode(input, &mut |data| body.extend_from_slice(data))?;
        assert!(decoder.is_done(), "not done after {used} bytes");
        Ok((body, used))
    }

    fn decode_bytewise(input: &[u8]) -> Result<Vec<u8>, Status> {
        let mut decoder = ChunkedDecoder::default();
        let mut body = Vec::new();
        let mut buffer = Vec::new();
        for &byte in input {
            buffer.push(byte);
            let used = decoder.decode(&buffer, &mut |data| body.extend_from_slice(data))?;
            buffer.drain(..used);
        }
        assert!(decoder.is_done());
        Ok(body)
    }

    #[test]
    fn decodes_chunks_extensions_and_trailers() {
        let input = b"5\r\nhello\r\n6;name=\"v\"\r\n world\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        let (body, used) = decode_all(input).unwrap();
        assert_eq!(body, b"hello world");
        assert_eq!(&input[used..], b"NEXT");
        assert_eq!(decode_bytewise(&input[..used]).unwrap(), b"hello world");
    }

    #[test]
    fn empty_body() {
        assert_eq!(decode_all(b"0\r\n\r\n").unwrap(), (Vec::new(), 5));
        assert_eq!(decode_all(b"000\r\n\r\n").unwrap().0, Vec::<u8>::new());
    }

    #[test]
    fn rejects_lenient_forms() {
        for input in [
            &b"x\r\n"[..],
            b"5\nhello\r\n0\r\n\r\n",
            b"5\r\nhelloXX0\r\n\r\n",
            b"5\r\nhello\n0\r\n\r\n",
            b"-5\r\nhello\r\n0\r\n\r\n",
            b"5 x\r\nhello\r\n0\r\n\r\n",
            b"5;a\x01\r\nhello\r\n0\r\n\r\n",
            b"0\r\nX-T: 1\n\r\n",
            b"0\r\n\n",
            b"0\r\nbad field\r\n\r\n",
            b" 5\r\nhello\r\n0\r\n\r\n",
        ] {
            let mut decoder = ChunkedDecoder::default();
            let result = decoder.decode(input, &mut |_| {});
            assert_eq!(result, Err(Status::BadRequest), "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn body_limit_is_413_without_reading_data() {
        let mut decoder = ChunkedDecoder::default();
        assert_eq!(decoder.decode(b"100001\r\n", &mut |_| {}), Err(Status::PayloadTooLarge));
        let mut decoder = ChunkedDecoder::default();
        assert_eq!(decoder.decode(b"ffffffffffffffffffff\r\n", &mut |_| {}), Err(Status::PayloadTooLarge));
    }

    #[test]
    fn long_size_line_is_refused() {
        let mut decoder = ChunkedDecoder::default();
        let line = vec![b'0'; MAX_CHUNK_LINE + 1];
        assert_eq!(decoder.decode(&line, &mut |_| {}), Err(Status::BadRequest));
    }
}
