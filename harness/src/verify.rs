//! Verify before measuring: a server whose answer is wrong is refused, not timed.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use crate::load::parse_head;
use crate::matrix::Verify;

/// How long verification waits for the whole answer.
const VERIFY_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends `request` (the load generator's own request), half-closes, reads the whole answer,
/// and checks it: byte for byte against the spec, or for a 2xx status and a framed body.
pub fn verify(addr: SocketAddr, request: &[u8], how: Verify) -> anyhow::Result<()> {
    let mut stream = TcpStream::connect_timeout(&addr, VERIFY_TIMEOUT)?;
    stream.set_read_timeout(Some(VERIFY_TIMEOUT))?;
    stream.write_all(request)?;
    stream.shutdown(Shutdown::Write)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    match how {
        Verify::Spec => check_spec(request, &answer),
        Verify::Status => check_status(&answer),
    }
}

/// The answer must be the spec's answer to the same request, apart from `Date`.
pub fn check_spec(request: &[u8], answer: &[u8]) -> anyhow::Result<()> {
    let got = server_spec::reference::mask_date(answer);
    let want = server_spec::reference::answer(request);
    if got == want {
        return Ok(());
    }
    let at = got.iter().zip(&want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
    let window = |bytes: &[u8]| {
        String::from_utf8_lossy(&bytes[at.saturating_sub(20)..(at + 40).min(bytes.len())]).into_owned()
    };
    anyhow::bail!(
        "its answer differs from the spec at byte {at}: got {:?}, expected {:?}",
        window(&got),
        window(&want)
    )
}

/// The answer must be a 2xx response whose body matches its `Content-Length`.
pub fn check_status(answer: &[u8]) -> anyhow::Result<()> {
    let head = parse_head(answer)
        .map_err(|err| anyhow::anyhow!("its answer is not an HTTP response ({err})"))?
        .ok_or_else(|| anyhow::anyhow!("its answer ended inside the head ({} bytes)", answer.len()))?;
    anyhow::ensure!((200..300).contains(&head.status), "it answered status {}", head.status);
    let body = (answer.len() - head.len) as u64;
    if let Some(length) = head.content_length {
        anyhow::ensure!(body == length, "its body has {body} bytes but Content-Length says {length}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUEST: &[u8] = b"GET / HTTP/1.0\r\nHost: t\r\n\r\n";

    #[test]
    fn spec_answer_passes_and_wrong_bytes_fail() {
        let mut answer = server_spec::reference::answer(REQUEST);
        assert!(check_spec(REQUEST, &answer).is_ok());
        let at = answer.len() - 2;
        answer[at] = b'?';
        let err = check_spec(REQUEST, &answer).unwrap_err().to_string();
        assert!(err.contains("differs from the spec"), "{err}");
    }

    #[test]
    fn status_check() {
        assert!(check_status(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").is_ok());
        assert!(check_status(b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n").is_err());
        assert!(check_status(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nok").is_err());
        assert!(check_status(b"nonsense\r\n\r\n").is_err());
        assert!(check_status(b"HTTP/1.1 200 OK\r\n").is_err());
    }
}
