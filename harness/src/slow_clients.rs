//! Slow clients (slowloris) during a measured run: connections that trickle a request head one
//! byte per second, never finishing it before the server's header timeout. An async server
//! hardly notices them; a thread pool gives each a worker until its header timeout closes it,
//! and the measured clients queue behind them. A connection the server closes is reopened, so
//! the pressure lasts the whole run.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The head they trickle; its end never arrives within any sane header timeout.
const HEAD: &[u8] = b"GET / HTTP/1.1\r\nHost: slow-client\r\nX-Slowloris: one byte per second\r\n\r\n";

/// Between two bytes of each connection.
const TRICKLE: Duration = Duration::from_secs(1);

/// How long opening one connection may take before it is counted as refused.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(200);

/// What the slow clients met.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Trickled {
    /// Connections opened (reopenings included).
    pub opened: u64,
    /// Connections the server closed (or reset) before their head was done.
    pub closed_by_server: u64,
    /// Connections that could not be opened.
    pub refused: u64,
}

/// Slow clients running on a thread of their own.
#[derive(Debug)]
pub struct SlowClients {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Trickled>>,
}

impl SlowClients {
    /// Opens `count` slow connections to `addr` (returns once they are open) and trickles on
    /// them until [`SlowClients::stop`].
    pub fn start(addr: SocketAddr, count: usize) -> SlowClients {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let (opened_tx, opened_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("slow-clients".into())
            .spawn(move || {
                let mut trickled = Trickled::default();
                let mut conns: Vec<Option<(TcpStream, usize)>> =
                    (0..count).map(|_| open(addr, &mut trickled)).collect();
                let _ = opened_tx.send(());
                let mut next = Instant::now() + TRICKLE;
                while !flag.load(Ordering::Relaxed) {
                    if Instant::now() < next {
                        std::thread::sleep(Duration::from_millis(20));
                        continue;
                    }
                    next += TRICKLE;
                    for conn in &mut conns {
                        // A reconnect can wait CONNECT_TIMEOUT (a full backlog drops SYNs):
                        // a stop is not held up by the rest of them.
                        if flag.load(Ordering::Relaxed) {
                            break;
                        }
                        if !trickle(conn) {
                            trickled.closed_by_server += u64::from(conn.is_some());
                            *conn = open(addr, &mut trickled);
                        }
                    }
                }
                trickled
            })
            .ok();
        if thread.is_some() {
            let _ = opened_rx.recv_timeout(CONNECT_TIMEOUT * count as u32 + Duration::from_secs(1));
        }
        SlowClients { stop, thread }
    }

    /// Stops trickling, closes the connections, and says what they met.
    pub fn stop(mut self) -> Trickled {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().and_then(|thread| thread.join().ok()).unwrap_or_default()
    }
}

impl Drop for SlowClients {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn open(addr: SocketAddr, trickled: &mut Trickled) -> Option<(TcpStream, usize)> {
    match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).and_then(|stream| {
        stream.set_nonblocking(true)?;
        Ok(stream)
    }) {
        Ok(stream) => {
            trickled.opened += 1;
            Some((stream, 0))
        }
        Err(_) => {
            trickled.refused += 1;
            None
        }
    }
}

/// Sends the next byte of the head; `false` if the connection is gone (closed by the server,
/// or never opened).
fn trickle(conn: &mut Option<(TcpStream, usize)>) -> bool {
    let Some((stream, at)) = conn.as_mut() else { return false };
    let mut probe = [0u8; 512];
    match stream.read(&mut probe) {
        // Closed, or answered (a refusal): either way this connection is done.
        Ok(_) => return false,
        Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
        Err(_) => return false,
    }
    // Stop one byte short of the end: the head is never complete.
    if *at + 1 >= HEAD.len() {
        return true;
    }
    match stream.write(&HEAD[*at..*at + 1]) {
        Ok(1) => {
            *at += 1;
            true
        }
        Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A listener that accepts and keeps every connection, reading what comes.
    #[test]
    fn trickles_one_byte_a_second_and_reopens_closed_ones() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut first, _) = listener.accept().unwrap();
            let (second, _) = listener.accept().unwrap();
            // Close the first after its first byte: it must be reopened.
            let mut byte = [0u8; 1];
            first.read_exact(&mut byte).unwrap();
            drop(first);
            let (mut third, _) = listener.accept().unwrap();
            third.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            third.read_exact(&mut byte).unwrap();
            (byte[0], second)
        });
        let clients = SlowClients::start(addr, 2);
        let (byte, _second) = server.join().unwrap();
        let trickled = clients.stop();
        assert_eq!(byte, b'G');
        assert_eq!(trickled.opened, 3, "{trickled:?}");
        assert_eq!(trickled.closed_by_server, 1, "{trickled:?}");
    }
}
