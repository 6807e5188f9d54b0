//! The blocking I/O loop for one connection, shared by both thread variants. A connection holds
//! its thread, so `/offload` computes on it, just as `/work` does.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use server_spec::limits::{recycle_output, DRAIN_BYTES, DRAIN_TIME, READ_BUFFER};
use server_spec::{work, Config, Connection, Step};

/// Serves one connection, accepted at `accepted`, until it closes. Errors end only this
/// connection.
pub fn serve_connection(stream: TcpStream, config: &Config, accepted: Instant) {
    // A reset, a broken pipe or a stalled reader is the client's doing; there is nobody to
    // report it to.
    let _ = drive(stream, config, accepted);
}

fn drive(mut stream: TcpStream, config: &Config, accepted: Instant) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut conn = Connection::new(config, accepted);
    let mut buf = vec![0; READ_BUFFER];
    let mut out = Vec::new();
    // The send timeout in force (SO_SNDTIMEO), set only when it changes: a syscall saved.
    let mut write_timeout = None;
    // The receive timeout in force (SO_RCVTIMEO), set only when it could let a read wait past
    // its deadline or would end it more than READ_SLACK early (see `read_timeout_for`): a
    // system call per kept-alive request saved.
    let mut read_timeout = None;
    // The file a `/files/` request opened, until its body is sent.
    let mut file = None;
    loop {
        let now = Instant::now();
        match conn.poll(now, &mut out) {
            Step::Write { timeout } => {
                // SO_SNDTIMEO bounds each send, so a send that makes no progress for `timeout`
                // fails (a stalled reader) and the error closes the connection: exactly the
                // spec's rule.
                if write_timeout != Some(timeout) {
                    stream.set_write_timeout(Some(timeout))?;
                    write_timeout = Some(timeout);
                }
                stream.write_all(&out)?;
                recycle_output(&mut out);
            }
            Step::Read { deadline } => {
                let Some(left) = deadline.checked_duration_since(now).filter(|left| !left.is_zero()) else {
                    return Ok(());
                };
                if let Some(timeout) = read_timeout_for(left, read_timeout) {
                    stream.set_read_timeout(Some(timeout))?;
                    read_timeout = Some(timeout);
                }
                match stream.read(&mut buf) {
                    Ok(0) => conn.eof(),
                    Ok(n) => conn.received(&buf[..n]),
                    // Timed out: at the deadline the next poll closes; a little before it (the
                    // timeout in force was up to READ_SLACK shorter) the read is made again.
                    Err(err)
                        if matches!(
                            err.kind(),
                            io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) => {}
                    Err(err) => return Err(err),
                }
            }
            Step::Sleep(duration) => std::thread::sleep(duration),
            // The connection has a thread of its own: it is the blocking facility.
            Step::Offload { iterations } => {
                work::compute(iterations);
            }
            Step::OpenFile => file = server_common::files::open_for(&mut conn),
            Step::SendFile { len, timeout } => {
                crate::files::send(&mut stream, file.take(), len, timeout, &mut write_timeout, &mut out)?
            }
            Step::Close { drain } => {
                if drain {
                    drain_then_close(&mut stream, &mut buf);
                }
                return Ok(());
            }
        }
    }
}

/// How much earlier than its deadline a read may time out (and be made again) so that the
/// receive timeout need not be set anew for every request.
const READ_SLACK: Duration = Duration::from_millis(10);

/// The receive timeout to set for a read with `left` until its deadline, or `None` when the
/// one in force (`current`) will do: it never lets the read wait past the deadline and ends it
/// at most [`READ_SLACK`] early. A new one is set half the slack short, so the deadlines of the
/// next requests (each a few microseconds later than this one's) still find it in range.
fn read_timeout_for(left: Duration, current: Option<Duration>) -> Option<Duration> {
    if current.is_some_and(|t| t <= left && left - t <= READ_SLACK) {
        return None;
    }
    Some(if left > READ_SLACK { left - READ_SLACK / 2 } else { left })
}

/// Shuts down writing and reads what the client still sends, briefly, so it sees our
/// response instead of a reset.
fn drain_then_close(stream: &mut TcpStream, buf: &mut [u8]) {
    if stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let deadline = Instant::now() + DRAIN_TIME;
    let mut drained = 0;
    while drained < DRAIN_BYTES {
        let Some(left) = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) else {
            return;
        };
        if stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => drained += n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_timeout_is_kept_while_it_stays_within_the_slack() {
        let idle = Duration::from_secs(5);
        let first = read_timeout_for(idle, None).expect("none in force yet");
        assert_eq!(first, idle - READ_SLACK / 2);
        // The next requests' deadlines, microseconds either side: the same timeout does.
        for drift in [0, 3, 40, 900] {
            assert_eq!(read_timeout_for(idle - Duration::from_micros(drift), Some(first)), None);
            assert_eq!(read_timeout_for(first + Duration::from_micros(drift), Some(first)), None);
        }
        // Never past the deadline: less left than the timeout in force sets a new one.
        assert_eq!(
            read_timeout_for(first - Duration::from_micros(1), Some(first)),
            Some(first - Duration::from_micros(1) - READ_SLACK / 2)
        );
        // Nor far short of it: the header timeout (10 s) after the idle one sets it again.
        let header = Duration::from_secs(10);
        assert_eq!(read_timeout_for(header, Some(first)), Some(header - READ_SLACK / 2));
        // Close to the deadline, exactly what is left.
        let close = Duration::from_millis(3);
        assert_eq!(read_timeout_for(close, Some(first)), Some(close));
    }
}
