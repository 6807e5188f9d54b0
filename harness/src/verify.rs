//! Verify before measuring: a server whose answer is wrong is refused, not timed.
//!
//! A built-in's answer must be the spec's, byte for byte apart from `Date`. Any other server
//! must answer 2xx with a body, read the way the load generator will read it: without
//! keep-alive up to the server's close (as ab does), so a server like the classic exercise's
//! (HTTP/1.0, bytes after its `Content-Length` body) is measured, and what deviates from HTTP
//! becomes a note on the variant; with keep-alive the answer must be framed.
//!
//! A `/files/` request's answer is checked against the corpus: the spec's answer with the
//! file's bytes as they are on disk (every byte, whatever the file's size).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::load::framing::{Fed, ResponseReader};
use crate::plan::Verify;

/// How long verification waits for the whole answer (a 16 MiB file read cold included).
const VERIFY_TIMEOUT: Duration = Duration::from_secs(10);

/// How often a wait checks for an interrupt.
const TICK: Duration = Duration::from_millis(100);

/// Tries at reaching the server before it is refused: on a lossy wire (the test bed's
/// `--reset`) one connection reset or refused is the network, not a wrong answer. A wrong
/// answer is never tried again.
const ATTEMPTS: u32 = 5;

/// Sends `request` (the load generator's own request), reads the whole answer and checks it.
/// Returns notes on what deviates from HTTP without being wrong.
pub fn verify(
    addr: SocketAddr,
    request: &[u8],
    keep_alive: bool,
    how: Verify,
    interrupt: &AtomicBool,
) -> anyhow::Result<Vec<String>> {
    verify_with_files(addr, request, keep_alive, how, None, interrupt)
}

/// [`verify`], for a server serving the corpus directory `files`.
pub fn verify_with_files(
    addr: SocketAddr,
    request: &[u8],
    keep_alive: bool,
    how: Verify,
    files: Option<&Path>,
    interrupt: &AtomicBool,
) -> anyhow::Result<Vec<String>> {
    let mut attempt = 1;
    let answer = loop {
        match exchange(addr, request, interrupt) {
            Ok(answer) => break answer,
            Err(err) if attempt < ATTEMPTS && transient(&err) && !interrupt.load(Ordering::Relaxed) => {
                attempt += 1;
                std::thread::sleep(TICK);
            }
            Err(err) => return Err(err),
        }
    };
    match how {
        Verify::Spec => check_spec_with_files(request, &answer, files).map(|()| Vec::new()),
        Verify::Status => check_status(&answer, keep_alive),
        Verify::Body => check_body_with_files(request, &answer, keep_alive, files),
    }
}

/// The spec's answer to `request` by a server serving `files` (none: no `--files`).
fn spec_answer(request: &[u8], files: Option<&Path>) -> Vec<u8> {
    match files {
        Some(dir) => {
            server_spec::reference::answer_with_files(request, &|name| crate::corpus::read(dir, name))
        }
        None => server_spec::reference::answer(request),
    }
}

/// Whether `err` is the connection failing before any answer (reset, refused, aborted, or
/// no longer connected when the request's end is sent),
/// which a lossy network does, rather than the server answering wrongly or not at all.
fn transient(err: &anyhow::Error) -> bool {
    use std::io::ErrorKind::{
        BrokenPipe, ConnectionAborted, ConnectionRefused, ConnectionReset, NotConnected,
    };
    err.downcast_ref::<std::io::Error>().is_some_and(|err| {
        matches!(
            err.kind(),
            ConnectionReset | ConnectionRefused | ConnectionAborted | BrokenPipe | NotConnected
        )
    })
}

/// Sends `request`, half-closes (so even a keep-alive server closes after answering), and
/// reads until the server closes. A response framed by `Content-Length` is read whole before
/// the half-close: a server may abandon a large body it is still sending when the client's
/// end of input arrives (nginx does, from its sendfile loop), which would read as a short body.
fn exchange(addr: SocketAddr, request: &[u8], interrupt: &AtomicBool) -> anyhow::Result<Vec<u8>> {
    let mut stream = TcpStream::connect_timeout(&addr, VERIFY_TIMEOUT)?;
    stream.set_read_timeout(Some(TICK))?;
    stream.write_all(request)?;
    let mut shut = false;
    let deadline = Instant::now() + VERIFY_TIMEOUT;
    let mut answer = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if !shut && framed_answer_is_whole(&answer) {
            stream.shutdown(Shutdown::Write)?;
            shut = true;
        }
        match stream.read(&mut buf) {
            Ok(0) => return Ok(answer),
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(err)
                if matches!(err.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
            {
                anyhow::ensure!(!interrupt.load(Ordering::Relaxed), "interrupted");
                anyhow::ensure!(
                    Instant::now() < deadline,
                    "no complete answer within {VERIFY_TIMEOUT:?} ({} bytes arrived)",
                    answer.len()
                );
            }
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            // A reset after the answer still leaves the answer to check.
            Err(_) if !answer.is_empty() => return Ok(answer),
            Err(err) => return Err(err.into()),
        }
    }
}

/// Whether `answer` holds a whole response, or nothing worth waiting for before the
/// half-close: a head that cannot be parsed, or a body framed by anything but its length.
fn framed_answer_is_whole(answer: &[u8]) -> bool {
    match crate::load::parse_head(answer) {
        Ok(Some(head)) => match head.content_length {
            Some(length) if !head.chunked => answer.len() as u64 >= head.len as u64 + length,
            _ => true,
        },
        Ok(None) => false,
        Err(_) => true,
    }
}

/// The answer must be the spec's answer to the same request, apart from `Date`.
pub fn check_spec(request: &[u8], answer: &[u8]) -> anyhow::Result<()> {
    check_spec_with_files(request, answer, None)
}

/// [`check_spec`], for a server serving the corpus directory `files`.
pub fn check_spec_with_files(request: &[u8], answer: &[u8], files: Option<&Path>) -> anyhow::Result<()> {
    let got = server_spec::reference::mask_date(answer);
    let want = spec_answer(request, files);
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

/// The answer must be a 2xx response with a body, read as the load generator reads it.
/// Returns what deviates from HTTP without being wrong, as notes.
pub fn check_status(answer: &[u8], keep_alive: bool) -> anyhow::Result<Vec<String>> {
    let mut reader = ResponseReader::new(keep_alive);
    let fed = reader.feed(answer).map_err(|err| anyhow::anyhow!("its answer cannot be measured: {err}"))?;
    let Some(head) = reader.head().copied() else {
        anyhow::bail!("its answer ended inside the head ({} bytes)", answer.len());
    };
    anyhow::ensure!((200..300).contains(&head.status), "it answered status {}", head.status);
    let complete = fed == Fed::BodyComplete || reader.body_complete() || reader.eof();
    anyhow::ensure!(
        complete,
        "its body ended early: {} bytes of {}",
        reader.body_bytes(),
        head.content_length.map_or_else(|| "a chunked body".to_owned(), |n| n.to_string())
    );
    anyhow::ensure!(reader.document_bytes() > 0, "its answer has no body");
    let mut notes = Vec::new();
    if head.http10 {
        notes.push("answers with an HTTP/1.0 status line".to_owned());
    }
    if reader.extra_bytes() > 0 {
        notes.push(format!(
            "sends {} bytes after its {}-byte Content-Length body, before closing (counted in Total transferred, as ab does)",
            reader.extra_bytes(),
            reader.body_bytes()
        ));
    }
    if head.content_length.is_none() && !head.chunked {
        notes.push("sends no Content-Length: its body ends when it closes the connection".to_owned());
    }
    Ok(notes)
}

/// The answer must be status 200 with the spec's exact body (its head's fields are free).
pub fn check_body(request: &[u8], answer: &[u8], keep_alive: bool) -> anyhow::Result<Vec<String>> {
    check_body_with_files(request, answer, keep_alive, None)
}

/// [`check_body`], for a server serving the corpus directory `files`.
pub fn check_body_with_files(
    request: &[u8],
    answer: &[u8],
    keep_alive: bool,
    files: Option<&Path>,
) -> anyhow::Result<Vec<String>> {
    let notes = check_status(answer, keep_alive)?;
    let head = crate::load::parse_head(answer)
        .ok()
        .flatten()
        .ok_or_else(|| anyhow::anyhow!("its answer is not an HTTP response"))?;
    anyhow::ensure!(head.status == 200, "it answered status {}, not 200", head.status);
    anyhow::ensure!(
        !head.chunked,
        "verify = \"body\" needs a body framed by Content-Length or the close, not chunked"
    );
    let body = &answer[head.len..];
    let body = head.content_length.and_then(|n| body.get(..usize::try_from(n).ok()?)).unwrap_or(body);
    let want = spec_body(request, files);
    if body != want.as_slice() {
        let at = body.iter().zip(&want).position(|(a, b)| a != b).unwrap_or(body.len().min(want.len()));
        anyhow::bail!(
            "its body ({} bytes) differs from the spec's ({} bytes) at byte {at}: {:?}, the spec's {:?}",
            body.len(),
            want.len(),
            String::from_utf8_lossy(&body[at.min(body.len())..(at + 40).min(body.len())]),
            String::from_utf8_lossy(&want[at.min(want.len())..(at + 40).min(want.len())])
        );
    }
    Ok(notes)
}

/// The body of the spec's answer to `request`.
fn spec_body(request: &[u8], files: Option<&Path>) -> Vec<u8> {
    let answer = spec_answer(request, files);
    match crate::load::parse_head(&answer) {
        Ok(Some(head)) => answer[head.len..].to_vec(),
        _ => Vec::new(),
    }
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
        assert_eq!(
            check_status(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", true).unwrap(),
            Vec::<String>::new()
        );
        assert!(check_status(b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n", false).is_err());
        assert!(check_status(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nok", false).is_err());
        assert!(check_status(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false).is_err(), "no body");
        assert!(check_status(b"nonsense\r\n\r\n", false).is_err());
        assert!(check_status(b"HTTP/1.1 200 OK\r\n", false).is_err());
    }

    #[test]
    fn body_check_ignores_fields_but_not_the_body() {
        let nginx = b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/plain\r\nContent-Length: 14\r\nConnection: close\r\n\r\nHello, world!\n";
        assert!(check_body(REQUEST, nginx, false).is_ok());
        let wrong = b"HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\nHello, World!\n";
        assert!(check_body(REQUEST, wrong, false)
            .unwrap_err()
            .to_string()
            .contains("differs from the spec's"));
        let created = b"HTTP/1.1 201 Created\r\nContent-Length: 14\r\n\r\nHello, world!\n";
        assert!(check_body(REQUEST, created, false).is_err());
    }

    /// The classic exercise's server: measured (not refused), with its deviations noted.
    #[test]
    fn exercise_style_answers_pass_with_notes() {
        let answer = b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello\r\n\r\n";
        let notes = check_status(answer, false).unwrap();
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[0].contains("HTTP/1.0"));
        assert!(notes[1].contains("4 bytes after its 5-byte Content-Length body"));
        let unframed = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello";
        let notes = check_status(unframed, false).unwrap();
        assert!(notes.iter().any(|n| n.contains("no Content-Length")), "{notes:?}");
        // With keep-alive the same answers cannot be measured.
        let err = check_status(b"HTTP/1.1 200 OK\r\n\r\nhello", true).unwrap_err().to_string();
        assert!(err.contains("keep-alive"), "{err}");
    }

    #[test]
    fn files_are_checked_against_the_corpus() {
        let dir = std::env::temp_dir().join(format!("rm-verify-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        crate::corpus::make(&dir, &[100_000], 1).unwrap();
        let request = b"GET /files/100000B-0000 HTTP/1.1\r\nHost: t\r\n\r\n";
        let good = spec_answer(request, Some(&dir));
        assert!(good.len() > 100_000, "the file's bytes are in the answer");
        assert!(check_spec_with_files(request, &good, Some(&dir)).is_ok());
        let mut bad = good.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        let err = check_spec_with_files(request, &bad, Some(&dir)).unwrap_err().to_string();
        assert!(err.contains(&format!("at byte {last}")), "{err}");
        let head_end = good.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let nginx =
            [&b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 100000\r\n\r\n"[..], &good[head_end..]]
                .concat();
        assert!(check_body_with_files(request, &nginx, true, Some(&dir)).is_ok());
        let short =
            [&b"HTTP/1.1 200 OK\r\nContent-Length: 99999\r\n\r\n"[..], &good[head_end..head_end + 99_999]]
                .concat();
        assert!(check_body_with_files(request, &short, true, Some(&dir)).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
