//! The `smol` variant: one `async-executor` driven by `--workers` threads, with `async-io`'s
//! epoll reactor; one shared listener, every connection a task. This is how smol composes
//! its parts; the executor's threads steal tasks from one another. `/offload` runs on smol's
//! blocking pool (`unblock`, the `blocking` crate).
//!
//! Idle connections hold no read buffer: a connection waits for readiness, then reads into a
//! buffer that lives only for that read.

use std::future::{poll_fn, Future};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use server_common::{after_accept_error, AfterAcceptError, Io, Listeners, Server, Variant};
use server_spec::limits::{recycle_output, DRAIN_BYTES, DRAIN_TIME, READ_BUFFER};
use server_spec::{work, Config, Connection, Step};
use smol::future::FutureExt;
use smol::{Async, Executor, Timer};

mod files;

/// smol: async-executor + async-io.
pub const VARIANT: Variant = Variant {
    name: "smol",
    runtime: "smol",
    io: Io::Epoll,
    threading: "one executor run by N threads, one listener",
    workers: "threads running the executor",
    uses_workers: true,
    listeners: Listeners::Shared,
    serve,
};

fn serve(server: Server) -> anyhow::Result<()> {
    let Server { listeners, workers, config, ready } = server;
    let listener = listeners.into_iter().next().ok_or_else(|| anyhow::anyhow!("no listener"))?;
    let listener = Async::new(listener)?;
    let executor = Arc::new(Executor::new());
    executor.spawn(accept_loop(executor.clone(), listener, config)).detach();
    ready.arrive();
    server_common::threads::run_each("smol", vec![(); workers], move |_, ()| {
        smol::block_on(executor.run(smol::future::pending::<()>()));
        Ok(())
    })
}

async fn accept_loop(executor: Arc<Executor<'static>>, listener: Async<TcpListener>, config: Config) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                executor.spawn(serve_connection(stream, config.clone(), Instant::now())).detach()
            }
            Err(err) => match after_accept_error(&err, &config.lifecycle) {
                AfterAcceptError::Stop => return,
                AfterAcceptError::Retry(pause) => {
                    Timer::after(pause).await;
                }
            },
        }
    }
}

/// Serves one connection, accepted at `accepted`, until it closes. Errors end only this
/// connection.
async fn serve_connection(stream: Async<TcpStream>, config: Config, accepted: Instant) {
    // A reset, a broken pipe or a stalled reader is the client's doing; there is nobody to
    // report it to.
    let _ = drive(stream, &config, accepted).await;
}

async fn drive(stream: Async<TcpStream>, config: &Config, accepted: Instant) -> io::Result<()> {
    stream.get_ref().set_nodelay(true)?;
    let mut conn = Connection::new(config, accepted);
    let mut out = Vec::new();
    // One read timer for the connection's whole life (see `ReadTimer`).
    let mut read_timer = ReadTimer::default();
    // The file a `/files/` request opened, until its body is sent.
    let mut file = None;
    loop {
        match conn.poll(Instant::now(), &mut out) {
            Step::Write { timeout } => {
                write_all(&stream, &out, timeout).await?;
                recycle_output(&mut out);
            }
            Step::Read { deadline } => match read_timer.until(deadline, read_ready(&stream, &mut conn)).await
            {
                Some(result) => result?,
                None => return Ok(()),
            },
            Step::Sleep(duration) => {
                Timer::after(duration).await;
            }
            Step::Offload { iterations } => {
                smol::unblock(move || work::compute(iterations)).await;
            }
            Step::OpenFile => file = files::open(&mut conn).await,
            Step::SendFile { len, timeout } => {
                files::send(&stream, file.take(), len, timeout, &mut out).await?
            }
            Step::Close { drain } => {
                if drain {
                    drain_then_close(&stream).await;
                }
                return Ok(());
            }
        }
    }
}

/// Writes all of `out`, failing if the socket takes nothing for `timeout` (the client stopped
/// reading). A timer is armed only when the socket's buffer is full.
async fn write_all(stream: &Async<TcpStream>, mut out: &[u8], timeout: Duration) -> io::Result<()> {
    while !out.is_empty() {
        match stream.get_ref().write(out) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => out = &out[n..],
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                let timed_out = async {
                    Timer::after(timeout).await;
                    Err(io::ErrorKind::TimedOut.into())
                };
                stream.writable().or(timed_out).await?;
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// A connection's read timer, kept for its whole life and moved lazily.
///
/// async-io hands every timer it registers to its reactor and wakes the reactor to file it (an
/// eventfd write, then a read and an epoll re-arm), so a timer per read costs several system
/// calls per request. Deadlines move later (each request pushes the idle deadline out), so
/// this timer is left where it is when the deadline moves later and, when it fires early,
/// moved to the deadline then; only a deadline earlier than it moves it at once.
#[derive(Debug)]
struct ReadTimer {
    timer: Timer,
    /// Where `timer` is set; `None` until the first read.
    at: Option<Instant>,
}

impl Default for ReadTimer {
    fn default() -> ReadTimer {
        ReadTimer { timer: Timer::never(), at: None }
    }
}

impl ReadTimer {
    /// Runs `read` unless `deadline` passes first (`None`).
    async fn until<F: Future>(&mut self, deadline: Instant, read: F) -> Option<F::Output> {
        if self.at.is_none_or(|at| deadline < at) {
            self.set(deadline);
        }
        let mut read = pin!(read);
        poll_fn(|cx| {
            if let Poll::Ready(output) = read.as_mut().poll(cx) {
                return Poll::Ready(Some(output));
            }
            while Pin::new(&mut self.timer).poll(cx).is_ready() {
                if self.at.is_some_and(|at| at >= deadline) {
                    return Poll::Ready(None);
                }
                self.set(deadline);
            }
            Poll::Pending
        })
        .await
    }

    fn set(&mut self, at: Instant) {
        self.timer.set_at(at);
        self.at = Some(at);
    }
}

/// Waits until the socket is readable, then reads once into a short-lived buffer.
async fn read_ready(stream: &Async<TcpStream>, conn: &mut Connection) -> io::Result<()> {
    loop {
        stream.readable().await?;
        let mut buf = [0; READ_BUFFER];
        match stream.get_ref().read(&mut buf) {
            Ok(0) => conn.eof(),
            Ok(n) => conn.received(&buf[..n]),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
            Err(err) => return Err(err),
        }
        return Ok(());
    }
}

/// Shuts down writing and reads what the client still sends, briefly, so it sees our
/// response instead of a reset.
async fn drain_then_close(stream: &Async<TcpStream>) {
    if stream.get_ref().shutdown(Shutdown::Write).is_err() {
        return;
    }
    let drain = async {
        let mut drained = 0;
        while drained < DRAIN_BYTES {
            if stream.readable().await.is_err() {
                return;
            }
            let mut buf = [0; READ_BUFFER];
            match stream.get_ref().read(&mut buf) {
                Ok(0) => return,
                Ok(n) => drained += n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
    };
    let timeout = async {
        Timer::after(DRAIN_TIME).await;
    };
    drain.or(timeout).await;
}
