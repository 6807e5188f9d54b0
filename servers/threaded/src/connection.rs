//! The blocking I/O loop for one connection, shared by both thread variants. A connection holds
//! its thread, so `/offload` computes on it, just as `/work` does.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Instant;

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
                stream.set_read_timeout(Some(left))?;
                match stream.read(&mut buf) {
                    Ok(0) => conn.eof(),
                    Ok(n) => conn.received(&buf[..n]),
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    // WouldBlock/TimedOut: the deadline passed.
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
