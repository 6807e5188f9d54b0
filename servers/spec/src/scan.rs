//! Finding the blank line that ends a request head, looking at each byte a bounded number of
//! times however the head is split across reads.
//!
//! Re-running a full parser on every read would cost quadratic time for a client that sends a
//! head one byte at a time; the scanner remembers how far it got instead.

/// Incremental search for the end of a head (`CRLF CRLF`, or a bare `LF LF` as RFC 9112 §2.2
/// lets a recipient accept).
#[derive(Debug, Default, Clone)]
pub struct HeadScanner {
    /// Offset from which the next search starts. Kept two bytes behind the end of what was
    /// searched, because a terminator may begin in the last bytes of one read.
    resume: usize,
}

impl HeadScanner {
    /// Looks for the end of the head in `buf`, which holds the head from its first byte.
    /// Returns the head's length including the terminator, or `None` if it is not complete.
    pub fn find_end(&mut self, buf: &[u8]) -> Option<usize> {
        let mut at = self.resume;
        while let Some(found) = memchr::memchr(b'\n', &buf[at.min(buf.len())..]) {
            let lf = at + found;
            match (buf.get(lf + 1), buf.get(lf + 2)) {
                (Some(b'\n'), _) => return Some(lf + 2),
                (Some(b'\r'), Some(b'\n')) => return Some(lf + 3),
                // Not enough bytes after this LF to decide: resume here next time.
                (None, _) | (Some(b'\r'), None) => {
                    self.resume = lf;
                    return None;
                }
                _ => at = lf + 1,
            }
        }
        self.resume = buf.len();
        None
    }

    /// Forgets progress, for the next head.
    pub fn reset(&mut self) {
        self.resume = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn byte_at_a_time(input: &[u8]) -> Option<usize> {
        let mut scanner = HeadScanner::default();
        (1..=input.len()).find_map(|n| scanner.find_end(&input[..n]))
    }

    #[test]
    fn finds_crlf_end_whole_and_split() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nrest";
        assert_eq!(HeadScanner::default().find_end(head), Some(27));
        assert_eq!(byte_at_a_time(head), Some(27));
    }

    #[test]
    fn finds_bare_lf_end() {
        let head = b"GET / HTTP/1.1\nHost: a\n\nrest";
        assert_eq!(HeadScanner::default().find_end(head), Some(24));
        assert_eq!(byte_at_a_time(head), Some(24));
    }

    #[test]
    fn incomplete_heads_are_none() {
        let mut scanner = HeadScanner::default();
        assert_eq!(scanner.find_end(b"GET / HTTP/1.1\r\nHost: a\r\n"), None);
        assert_eq!(scanner.find_end(b"GET / HTTP/1.1\r\nHost: a\r\n\r"), None);
        assert_eq!(scanner.find_end(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"), Some(27));
    }

    #[test]
    fn bare_cr_is_not_an_end() {
        assert_eq!(HeadScanner::default().find_end(b"GET / HTTP/1.1\r\r\r\r"), None);
    }
}
