//! The machine's floor: a TCP ping-pong on loopback between two threads of the harness, one
//! pinned where the servers run and one where the load runs, under the same CPU sleep policy.
//! No runtime, no parsing, no allocation per request: what is left is the machine itself —
//! two system calls a side, the loopback, and waking the peer. A variant's latency above this
//! floor is what its runtime (and its share of the kernel) adds.
//!
//! Two floors, for the two ways the load talks: a request on a kept-alive connection, and a
//! connection per request (connect, request, answer, the server's close), each timed as the
//! load generator times a request.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::idle::CpuIdle;

/// What the client sends: the load generator's keep-alive request for `/`.
const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
/// What the server answers: the spec's size for `GET /` (155 bytes), a fixed text.
const ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\nServer: runtime-matrix\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Length: 14\r\n\r\nHello, world!\n";

/// Round trips not timed first, on each kind (caches, the first wake-ups).
const WARM_UP: usize = 200;

/// One floor: the round trips timed, and what they give.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RoundTrips {
    pub round_trips: u64,
    pub p50_us: f64,
    pub p99_us: f64,
    /// Round trips per second, one after another (c=1).
    pub per_second: f64,
}

/// The floor under one CPU sleep policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// The policy in force when measured.
    pub cpu_idle: CpuIdle,
    /// The CPUs of the two threads (the first server CPU, the first load CPU).
    pub server_cpu: Option<usize>,
    pub load_cpu: Option<usize>,
    /// A request on a kept-alive connection.
    pub keep_alive: RoundTrips,
    /// A connection per request: connect, request, answer, the server's close.
    pub connection_per_request: RoundTrips,
}

impl Calibration {
    /// The floor for a load with or without keep-alive.
    pub fn floor(&self, keep_alive: bool) -> &RoundTrips {
        if keep_alive {
            &self.keep_alive
        } else {
            &self.connection_per_request
        }
    }

    /// The floor in words, for the report's header.
    pub fn describe(&self) -> String {
        let one =
            |r: &RoundTrips| format!("p50 {:.1} µs, p99 {:.1} µs, {:.0}/s", r.p50_us, r.p99_us, r.per_second);
        let cpus = match (self.server_cpu, self.load_cpu) {
            (Some(s), Some(l)) => format!("CPU {s} ↔ CPU {l}, "),
            _ => String::new(),
        };
        format!(
            "a loopback ping-pong between two harness threads ({cpus}CPUs {}): keep-alive {}; a connection per request {}",
            self.cpu_idle.name(),
            one(&self.keep_alive),
            one(&self.connection_per_request)
        )
    }
}

/// Measures both floors, each for about `each`, the server thread on `server_cpu` and the
/// client on `load_cpu`; `cpu_idle` is recorded as the policy in force.
pub fn measure(
    server_cpu: Option<usize>,
    load_cpu: Option<usize>,
    cpu_idle: CpuIdle,
    each: Duration,
) -> std::io::Result<Calibration> {
    Ok(Calibration {
        cpu_idle,
        server_cpu,
        load_cpu,
        keep_alive: ping_pong(server_cpu, load_cpu, true, each)?,
        connection_per_request: ping_pong(server_cpu, load_cpu, false, each)?,
    })
}

/// One kind of round trip, repeated for `each` after a warm-up.
fn ping_pong(
    server_cpu: Option<usize>,
    load_cpu: Option<usize>,
    keep_alive: bool,
    each: Duration,
) -> std::io::Result<RoundTrips> {
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
    let addr = listener.local_addr()?;
    let server = std::thread::Builder::new().name("floor-server".into()).spawn(move || {
        let _ = crate::affinity::pin_this_thread(server_cpu);
        serve(&listener, keep_alive)
    })?;
    // The client on a thread of its own too: the caller's thread keeps its own placement.
    let measured = std::thread::Builder::new()
        .name("floor-client".into())
        .spawn(move || {
            let _ = crate::affinity::pin_this_thread(load_cpu);
            client(addr, keep_alive, each)
        })?
        .join()
        .map_err(|_| std::io::Error::other("the floor's client thread panicked"))?;
    // The server then waits for a next connection: this one tells it to stop.
    let _ = TcpStream::connect(addr).and_then(|mut s| s.write_all(b"STOP"));
    let served = server.join().map_err(|_| std::io::Error::other("the floor's server thread panicked"))?;
    served?;
    measured
}

/// The server side: answer every request; for a connection per request, close after each.
fn serve(listener: &TcpListener, keep_alive: bool) -> std::io::Result<()> {
    let mut head = [0u8; 256];
    loop {
        let (mut stream, _) = listener.accept()?;
        stream.set_nodelay(true)?;
        loop {
            let n = read_head(&mut stream, &mut head)?;
            if n == 0 {
                break;
            }
            if head[..n].starts_with(b"STOP") {
                return Ok(());
            }
            stream.write_all(ANSWER)?;
            if !keep_alive {
                break;
            }
        }
    }
}

/// Reads one request head (up to its blank line); 0 at the peer's close.
fn read_head(stream: &mut TcpStream, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    loop {
        let n = stream.read(&mut buffer[filled..])?;
        if n == 0 {
            return Ok(filled);
        }
        filled += n;
        if buffer[..filled].ends_with(b"\r\n\r\n")
            || buffer[..filled].starts_with(b"STOP")
            || filled == buffer.len()
        {
            return Ok(filled);
        }
    }
}

/// The client side: round trips one after another, each timed from its start (the connect,
/// without keep-alive) to the answer's last byte (without keep-alive, the server's close).
fn client(addr: SocketAddr, keep_alive: bool, each: Duration) -> std::io::Result<RoundTrips> {
    let mut histogram = crate::histogram::latency_histogram();
    let mut answer = [0u8; 512];
    let mut kept: Option<TcpStream> = None;
    let mut trip = |answer: &mut [u8]| -> std::io::Result<Duration> {
        let started = Instant::now();
        let mut stream = match kept.take() {
            Some(stream) => stream,
            None => {
                let stream = TcpStream::connect(addr)?;
                stream.set_nodelay(true)?;
                stream
            }
        };
        stream.write_all(REQUEST)?;
        let mut got = 0;
        while got < ANSWER.len() {
            let n = stream.read(&mut answer[got..])?;
            if n == 0 {
                return Err(std::io::Error::other("the floor's server closed early"));
            }
            got += n;
        }
        if keep_alive {
            kept = Some(stream);
        } else {
            // The answer ends at the server's close, as the load generator reads it.
            while stream.read(answer)? > 0 {}
        }
        Ok(started.elapsed())
    };
    for _ in 0..WARM_UP {
        trip(&mut answer)?;
    }
    let started = Instant::now();
    let mut count = 0u64;
    while started.elapsed() < each {
        let took = trip(&mut answer)?;
        let _ = histogram.record(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX).max(1));
        count += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let us = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    Ok(RoundTrips {
        round_trips: count,
        p50_us: us(0.5),
        p99_us: us(0.99),
        per_second: count as f64 / elapsed.max(1e-9),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both floors, for real, briefly: round trips happened and p50 ≤ p99.
    #[test]
    fn measures_both_floors() {
        let calibration = measure(None, None, CpuIdle::Native, Duration::from_millis(100)).expect("a floor");
        for floor in [calibration.keep_alive, calibration.connection_per_request] {
            assert!(floor.round_trips > 10, "{floor:?}");
            assert!(floor.p50_us > 0.0 && floor.p50_us <= floor.p99_us, "{floor:?}");
            assert!(floor.per_second > 0.0);
        }
        assert!(
            calibration.connection_per_request.p50_us > calibration.keep_alive.p50_us,
            "a connection costs more than a request on one: {calibration:?}"
        );
        assert!(calibration.describe().contains("keep-alive p50"), "{}", calibration.describe());
        assert_eq!(ANSWER.len(), 155, "the spec's size for GET /");
    }
}
