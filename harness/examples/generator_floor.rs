//! The load generator's floor: does `harness load -k` spend its CPU in its own loop, or in the
//! kernel's TCP path that any client on loopback pays?
//!
//! Round after round, against one server on loopback, it runs three closed keep-alive loops of
//! the same requests on one thread (pin it with `taskset`), alternating A B C A B C:
//! - `epoll`: the harness's own load loop ([`harness::load::run`], one thread): mio, response
//!   framing, latency histograms, everything a sweep uses;
//! - `ring`: a bare io_uring loop: per request one send and one recv SQE, one `io_uring_enter`
//!   per turn that submits the turn's SQEs and waits, no parsing beyond counting a response's
//!   bytes, no histogram;
//! - `ring-multishot`: the same with one multishot recv per connection into floor-uring's
//!   provided-buffer ring, so a request costs one SQE (its send).
//!
//! It prints each loop's CPU per request and rate, the medians over the rounds, and with
//! `--server-pid` the server's CPU per request during each loop. If the bare rings cost what
//! the harness's loop costs, the generator's CPU is the kernel's, and no cheaper loop exists.
//!
//! Run (a server on CPU 0, this on CPU 1):
//! `taskset -c 0 target/release/harness serve floor-epoll --workers 1 --port 23000 &`
//! `taskset -c 1 cargo run --release -p harness --example generator_floor -- 127.0.0.1:23000 --server-pid $!`

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use clap::Parser;
use harness::cost::{sample_process, thread_cpu_time};
use harness::load::{self, parse_head, Job, Shape, Stop};
use io_uring::{cqueue, opcode, types, IoUring};
use server_floor_uring::buffers::BufferRing;

#[derive(Debug, Parser)]
struct Args {
    /// The server, `IP:PORT` on loopback.
    addr: SocketAddr,
    /// Connections.
    #[arg(short = 'c', default_value_t = 50)]
    connections: usize,
    /// Requests per loop per round.
    #[arg(short = 'n', default_value_t = 500_000)]
    requests: u64,
    /// Rounds (each runs every loop once).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// The server's process, to read its CPU per request during each loop.
    #[arg(long)]
    server_pid: Option<i32>,
}

/// One loop's run: CPU per request of this thread, requests per second, the server's CPU per
/// request if it was read.
struct Measured {
    cpu_us: f64,
    rate: f64,
    server_us: Option<f64>,
}

const LOOPS: [&str; 3] = ["epoll", "ring", "ring-multishot"];

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ensure!(args.addr.ip().is_loopback(), "{}: loopback only", args.addr);
    let request = load::request("/", args.addr, true);
    let response_len = response_len(args.addr, &request)?;
    let mut by_loop: Vec<Vec<Measured>> = LOOPS.iter().map(|_| Vec::new()).collect();
    for round in 1..=args.rounds {
        for (i, name) in LOOPS.iter().enumerate() {
            let server_before = args.server_pid.map(sample_process).transpose()?;
            let (cpu, wall) = match *name {
                "epoll" => epoll(&args)?,
                "ring" => ring(&args, &request, response_len, false)?,
                _ => ring(&args, &request, response_len, true)?,
            };
            let server_us = match (args.server_pid, server_before) {
                (Some(pid), Some(before)) => {
                    Some((sample_process(pid)?.cpu - before.cpu).as_secs_f64() * 1e6 / args.requests as f64)
                }
                _ => None,
            };
            let measured = Measured {
                cpu_us: cpu.as_secs_f64() * 1e6 / args.requests as f64,
                rate: args.requests as f64 / wall.as_secs_f64(),
                server_us,
            };
            println!(
                "round {round} {name:<15} {:>9.0} req/s  {:>6.2} µs/request{}",
                measured.rate,
                measured.cpu_us,
                measured.server_us.map_or(String::new(), |s| format!("  server {s:.2} µs/request")),
            );
            by_loop[i].push(measured);
        }
    }
    println!("\nmedians over {} rounds, {} connections:", args.rounds, args.connections);
    for (name, runs) in LOOPS.iter().zip(&by_loop) {
        let server = median(runs.iter().filter_map(|m| m.server_us).collect());
        // Each round's CPU over the harness loop's in the same round: the machine's drift
        // between rounds divides out.
        let ratio = median(runs.iter().zip(&by_loop[0]).map(|(m, epoll)| m.cpu_us / epoll.cpu_us).collect());
        println!(
            "{name:<15} {:>9.0} req/s  {:>6.2} µs/request  ×{:.2} of epoll's in its round{}",
            median(runs.iter().map(|m| m.rate).collect()).unwrap_or(f64::NAN),
            median(runs.iter().map(|m| m.cpu_us).collect()).unwrap_or(f64::NAN),
            ratio.unwrap_or(f64::NAN),
            server.map_or(String::new(), |s| format!("  server {s:.2} µs/request")),
        );
    }
    Ok(())
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    (n > 0).then(|| if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 })
}

/// The length of the server's whole response to `request` (head and body): the bare rings
/// count bytes up to it instead of parsing.
fn response_len(addr: SocketAddr, request: &[u8]) -> anyhow::Result<usize> {
    let mut stream = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(request)?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk)?;
        ensure!(n > 0, "{addr} closed before answering");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(head) = parse_head(&buf)? {
            let body = head.content_length.context("the response has no Content-Length")?;
            ensure!(!head.close, "the server closes keep-alive connections");
            return Ok(head.len + usize::try_from(body)?);
        }
    }
}

/// The harness's own loop, one thread on this thread's CPUs: its CPU and the run's time.
fn epoll(args: &Args) -> anyhow::Result<(Duration, Duration)> {
    let job = Job {
        addr: args.addr,
        path: "/".into(),
        mix: Vec::new(),
        pipeline: 1,
        seed: 1,
        shape: Shape::Closed { requests: args.requests, concurrency: args.connections },
        keep_alive: true,
        timeout: Duration::from_secs(10),
        max_duration: Duration::from_secs(300),
        cpus: Vec::new(),
        allowed: Vec::new(),
        mechanics: false,
        interval: None,
    };
    let never = Arc::new(AtomicBool::new(false));
    let result = load::run(&job, &Stop::any(&[&never]), &mut || {})?;
    ensure!(result.failures.total() == 0, "the epoll loop's requests failed: {:?}", result.failures);
    Ok((result.cpu, result.elapsed))
}

/// What a completion's `user_data` says: the connection, and whether it is its recv.
fn user_data(conn: usize, recv: bool) -> u64 {
    (conn as u64) << 1 | u64::from(recv)
}

/// The bare ring: `requests` over `connections`, each answered when `response_len` bytes came
/// back. Its thread's CPU and the run's time.
fn ring(
    args: &Args,
    request: &[u8],
    response_len: usize,
    multishot: bool,
) -> anyhow::Result<(Duration, Duration)> {
    const BUFFER: usize = 4096;
    const GROUP: u16 = 7;
    let streams = (0..args.connections)
        .map(|_| {
            let stream = TcpStream::connect(args.addr)?;
            stream.set_nodelay(true)?;
            Ok(stream)
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    let mut ring: IoUring = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_cqsize(8 * 1024)
        .build(1024)
        .context("an io_uring with SINGLE_ISSUER | DEFER_TASKRUN (Linux 6.1)")?;
    let mut buffers = if multishot {
        Some(BufferRing::register(&ring.submitter(), GROUP, 512, BUFFER as u32)?)
    } else {
        None
    };
    // Leaked, as floor-uring's buffer ring is: after an error the ring may be torn down with a
    // recv still pointing here, and the kernel finishes that asynchronously.
    let own: &mut [[u8; BUFFER]] = Vec::leak(vec![[0u8; BUFFER]; if multishot { 0 } else { streams.len() }]);
    let mut received = vec![0usize; streams.len()];
    let (mut issued, mut done) = (0u64, 0u64);
    let started = Instant::now();
    let cpu_before = thread_cpu_time();
    let mut queue = Vec::new();
    for (conn, stream) in streams.iter().enumerate().take(args.requests as usize) {
        let fd = types::Fd(stream.as_raw_fd());
        issued += 1;
        queue.push(
            opcode::Send::new(fd, request.as_ptr(), request.len() as u32)
                .build()
                .user_data(user_data(conn, false)),
        );
        queue.push(
            match own.get_mut(conn) {
                Some(buf) => opcode::Recv::new(fd, buf.as_mut_ptr(), BUFFER as u32).build(),
                None => opcode::RecvMulti::new(fd, GROUP).build(),
            }
            .user_data(user_data(conn, true)),
        );
    }
    while done < args.requests {
        for entry in queue.drain(..) {
            // SAFETY: every SQE points at the request (borrowed for this whole function and
            // sent before it returns), at a connection's own buffer (leaked, so it outlives the
            // ring), or names the provided-buffer group (leaked by `BufferRing`).
            while unsafe { ring.submission().push(&entry) }.is_err() {
                ring.submit()?;
            }
        }
        ring.submit_and_wait(1)?;
        let completions: Vec<(u64, i32, u32)> =
            ring.completion().map(|cqe| (cqe.user_data(), cqe.result(), cqe.flags())).collect();
        for (data, result, flags) in completions {
            let conn = (data >> 1) as usize;
            let fd = types::Fd(streams[conn].as_raw_fd());
            if data & 1 == 0 {
                ensure!(result == request.len() as i32, "send: {result}");
                continue;
            }
            if result <= 0 {
                bail!("recv on connection {conn}: {}", std::io::Error::from_raw_os_error(-result));
            }
            received[conn] += result as usize;
            if let Some(buffers) = buffers.as_mut() {
                let Some(bid) = cqueue::buffer_select(flags) else {
                    bail!("a multishot recv without a buffer")
                };
                buffers.give_back(bid);
                ensure!(cqueue::more(flags), "the multishot recv ended");
            }
            if received[conn] >= response_len {
                received[conn] -= response_len;
                done += 1;
                if issued < args.requests {
                    issued += 1;
                    queue.push(
                        opcode::Send::new(fd, request.as_ptr(), request.len() as u32)
                            .build()
                            .user_data(user_data(conn, false)),
                    );
                } else {
                    continue;
                }
            }
            if let Some(buf) = own.get_mut(conn) {
                queue.push(
                    opcode::Recv::new(fd, buf.as_mut_ptr(), BUFFER as u32)
                        .build()
                        .user_data(user_data(conn, true)),
                );
            }
        }
    }
    let cpu = thread_cpu_time() - cpu_before;
    Ok((cpu, started.elapsed()))
}
