//! Checking a request line as its bytes arrive, so input that cannot be a request is refused
//! at once instead of waiting for the end of a head that will never come.
//!
//! A binary blob or a stray protocol on an HTTP port would otherwise sit until the header
//! timeout (10 s). Only a head still incomplete is checked (a complete one is parsed, which
//! answers for it). The check follows RFC 9112 §3's shape — `method SP target SP HTTP/d.d`
//! then CRLF (or a bare LF) — and looks at each byte once, remembering where it stopped, so a
//! line delivered a byte at a time still costs linear time. It decides only "can this still
//! become a request line?"; the full parse of the finished head stays in [`crate::request`],
//! which gives the final answer (a well-shaped `HTTP/2.0` is 505 there, not 400 here).

/// Incremental shape check of the request line at the start of a head.
#[derive(Debug, Default, Clone)]
pub struct LineCheck {
    /// Bytes of the head already checked.
    checked: usize,
    state: State,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the method; empty lines may come first (RFC 9112 §2.2, as httparse allows).
    #[default]
    Start,
    /// A CR before the method: only its LF may follow.
    StartCr,
    Method,
    /// The space after the method was seen: the target's first byte is next.
    TargetStart,
    Target,
    /// `index` bytes of `HTTP/d.d` seen.
    Version {
        index: u8,
    },
    /// The whole version seen: the line must end now.
    VersionEnd,
    /// A CR after the version: only its LF may follow.
    VersionCr,
    /// The line is complete and well-shaped; the rest of the head is the parser's.
    Done,
}

/// What `HTTP/d.d` looks like; `#` stands for a digit.
const VERSION_SHAPE: &[u8; 8] = b"HTTP/#.#";

impl LineCheck {
    /// Checks the bytes of `head` (the head from its first byte) not yet checked. `false`:
    /// the head cannot be a request, whatever follows.
    pub fn still_valid(&mut self, head: &[u8]) -> bool {
        while self.state != State::Done {
            let Some(&byte) = head.get(self.checked) else { return true };
            match self.step(byte) {
                Some(next) => self.state = next,
                None => return false,
            }
            self.checked += 1;
        }
        true
    }

    /// Forgets progress, for the next head.
    pub fn reset(&mut self) {
        *self = LineCheck::default();
    }

    /// The state after `byte`, or `None` if the line cannot continue with it.
    fn step(&self, byte: u8) -> Option<State> {
        Some(match (self.state, byte) {
            (State::Start, b'\r') => State::StartCr,
            (State::Start | State::StartCr, b'\n') => State::Start,
            (State::Start | State::Method, b) if is_tchar(b) => State::Method,
            (State::Method, b' ') => State::TargetStart,
            (State::TargetStart | State::Target, b) if b.is_ascii_graphic() => State::Target,
            (State::Target, b' ') => State::Version { index: 0 },
            (State::Version { index }, b) => {
                let expected = VERSION_SHAPE[usize::from(index)];
                let fits = if expected == b'#' { b.is_ascii_digit() } else { b == expected };
                if !fits {
                    return None;
                }
                if usize::from(index) + 1 == VERSION_SHAPE.len() {
                    State::VersionEnd
                } else {
                    State::Version { index: index + 1 }
                }
            }
            (State::VersionEnd, b'\r') => State::VersionCr,
            (State::VersionEnd | State::VersionCr, b'\n') => State::Done,
            _ => return None,
        })
    }
}

/// A token character (RFC 9110 §5.6.2), what a method is made of.
fn is_tchar(byte: u8) -> bool {
    TCHAR[usize::from(byte)]
}

/// [`is_tchar`] as a table: it is asked once per method byte of every request.
const TCHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] = b.is_ascii_alphanumeric();
        byte += 1;
    }
    let symbols = b"!#$%&'*+-.^_`|~";
    let mut i = 0;
    while i < symbols.len() {
        table[symbols[i] as usize] = true;
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks `input` whole and a byte at a time; both must agree.
    fn valid(input: &[u8]) -> bool {
        let whole = LineCheck::default().still_valid(input);
        let mut check = LineCheck::default();
        let split = (1..=input.len()).all(|n| check.still_valid(&input[..n]));
        assert_eq!(whole, split, "{:?}", String::from_utf8_lossy(input));
        whole
    }

    #[test]
    fn requests_and_their_prefixes_pass() {
        for line in [
            &b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
            b"GET /",
            b"BREW /pot HTTP/1.1\r\n",
            b"\r\n\nGET / HTTP/1.0\n",
            b"GET http://a/b?c HTTP/1.1\r\n",
            b"GET / HTTP/2.0\r\n",
            b"",
            b"G",
        ] {
            assert!(valid(line), "{:?}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn garbage_fails_at_once() {
        for garbage in [
            &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"[..],
            b"\x00\x00\x00",
            b"G@T / HTTP/1.1",
            b" GET /",
            b"GET  /",
            b"GET /\xc3\xa9 ",
            b"GET /\r\n",
            b"GET / FOO/1.1",
            b"GET / HTTP/1.1 \r\n",
            b"GET / HTTP/1.10",
            b"GET / http/1.1",
            b"\rX",
            b"GET / HTTP/1.1\rX",
        ] {
            assert!(!valid(garbage), "{:?}", String::from_utf8_lossy(garbage));
        }
    }

    #[test]
    fn the_rest_of_the_head_is_not_checked() {
        assert!(valid(b"GET / HTTP/1.1\r\n\x00\x01 anything"));
    }

    /// The whole-line shortcut accepts only what the walk accepts, ending where it ends.
    #[test]
    fn each_byte_is_looked_at_once() {
        let mut check = LineCheck::default();
        let line = b"GET /abc HTTP/1.1\r\n";
        for n in 1..=line.len() {
            assert!(check.still_valid(&line[..n]));
            assert_eq!(check.checked, n);
        }
    }
}
