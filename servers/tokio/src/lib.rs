//! The `tokio` variant: tokio's multi-thread runtime (epoll) with `--workers` worker threads
//! sharing one listener; every connection is a task.
//!
//! `/offload` runs on tokio's blocking pool (`spawn_blocking`).
//!
//! Idle connections hold no read buffer: a connection waits for readiness, then reads into a
//! buffer that lives only for that read.

use std::io::{self, Read};
use std::pin::pin;
use std::time::{Duration, Instant};

use server_common::timer::or_timer;
use server_common::{after_accept_error, AfterAcceptError, Io, Listeners, Server, Variant};
use server_spec::limits::{recycle_output, DRAIN_BYTES, DRAIN_TIME, READ_BUFFER};
use server_spec::{work, Config, Connection, Step};
use socket2::SockRef;
use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::{TcpListener, TcpStream};

mod files;

/// tokio's multi-thread runtime.
pub const VARIANT: Variant = Variant {
    name: "tokio",
    runtime: "tokio",
    io: Io::Epoll,
    threading: "work-stealing pool of N threads, one listener",
    workers: "runtime worker threads",
    uses_workers: true,
    listeners: Listeners::Shared,
    serve,
};

fn serve(server: Server) -> anyhow::Result<()> {
    let Server { listeners, workers, config, ready } = server;
    let listener = listeners.into_iter().next().ok_or_else(|| anyhow::anyhow!("no listener"))?;
    listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build()?;
    // The accept loop runs as a task on the workers, not in `block_on` on the main thread: a
    // connection accepted there would cost a wake-up of that thread, and its task would go
    // through the runtime's shared queue rather than straight to the accepting worker.
    runtime.block_on(async move {
        let listener = TcpListener::from_std(listener)?;
        ready.arrive();
        tokio::spawn(accept_loop(listener, config)).await?;
        Ok(())
    })
}

async fn accept_loop(listener: TcpListener, config: Config) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve_connection(stream, config.clone(), Instant::now()));
            }
            Err(err) => match after_accept_error(&err, &config.lifecycle) {
                AfterAcceptError::Stop => std::future::pending::<()>().await,
                AfterAcceptError::Retry(pause) => tokio::time::sleep(pause).await,
            },
        }
    }
}

/// Serves one connection, accepted at `accepted`, until it closes. Errors end only this
/// connection.
async fn serve_connection(stream: TcpStream, config: Config, accepted: Instant) {
    // A reset, a broken pipe or a stalled reader is the client's doing; there is nobody to
    // report it to.
    let _ = drive(stream, &config, accepted).await;
}

async fn drive(mut stream: TcpStream, config: &Config, accepted: Instant) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut conn = Connection::new(config, accepted);
    let mut out = Vec::new();
    // One read timer for the connection's whole life (see `server_common::timer`).
    let mut read_timer = pin!(tokio::time::sleep_until(accepted.into()));
    // The file a `/files/` request opened, until its body is sent.
    let mut file = None;
    loop {
        match conn.poll(Instant::now(), &mut out) {
            Step::Write { timeout } => {
                write_all(&stream, &out, timeout).await?;
                recycle_output(&mut out);
            }
            Step::Read { deadline } => {
                read_timer.as_mut().reset(deadline.into());
                match or_timer(read_ready(&stream, &mut conn), read_timer.as_mut()).await {
                    Some(result) => result?,
                    None => return Ok(()),
                }
            }
            Step::Sleep(duration) => tokio::time::sleep(duration).await,
            Step::Offload { iterations } => {
                tokio::task::spawn_blocking(move || work::compute(iterations)).await?;
            }
            Step::OpenFile => file = files::open(&mut conn).await,
            Step::SendFile { len, timeout } => {
                files::send(&stream, file.take(), len, timeout, &mut out).await?
            }
            Step::Close { drain } => {
                if drain {
                    drain_then_close(&mut stream).await;
                }
                return Ok(());
            }
        }
    }
}

/// Writes all of `out`, failing if the socket takes nothing for `timeout` (the client stopped
/// reading). A timer is armed only when the socket's buffer is full.
async fn write_all(stream: &TcpStream, mut out: &[u8], timeout: Duration) -> io::Result<()> {
    while !out.is_empty() {
        match stream.try_write(out) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => out = &out[n..],
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                match tokio::time::timeout(timeout, stream.writable()).await {
                    Ok(ready) => ready?,
                    Err(_elapsed) => return Err(io::ErrorKind::TimedOut.into()),
                }
            }
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// Waits until the socket is readable, then reads once into a short-lived buffer.
///
/// A short read (fewer bytes than the buffer holds) emptied the receive queue, and input that
/// arrives after it raises a new edge, so the socket is marked not readable at once, as
/// `floor-epoll` does: the next read waits for that edge instead of first failing with
/// `EAGAIN`, one system call per request saved. tokio clears readiness only when an operation
/// inside `try_io` reports `WouldBlock`, and only if no new event arrived since the operation
/// began, so the read runs inside `try_io` and reports a short read as `WouldBlock`.
async fn read_ready(stream: &TcpStream, conn: &mut Connection) -> io::Result<()> {
    loop {
        stream.readable().await?;
        let mut buf = [0; READ_BUFFER];
        let mut read = None;
        let result = stream.try_io(Interest::READABLE, || {
            let n = (&*SockRef::from(stream)).read(&mut buf)?;
            read = Some(n);
            if 0 < n && n < buf.len() {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok(())
        });
        match (read, result) {
            (Some(0), _) => conn.eof(),
            (Some(n), _) => conn.received(&buf[..n]),
            (None, Err(err)) if err.kind() == io::ErrorKind::WouldBlock => continue,
            (None, Err(err)) => return Err(err),
            (None, Ok(())) => unreachable!("a read that succeeds sets `read`"),
        }
        return Ok(());
    }
}

/// Shuts down writing and reads what the client still sends, briefly, so it sees our
/// response instead of a reset.
async fn drain_then_close(stream: &mut TcpStream) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let drain = async {
        let mut drained = 0;
        while drained < DRAIN_BYTES {
            if stream.readable().await.is_err() {
                return;
            }
            let mut buf = [0; READ_BUFFER];
            match stream.try_read(&mut buf) {
                Ok(0) => return,
                Ok(n) => drained += n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, drain).await;
}
