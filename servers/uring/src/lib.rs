//! The `tokio-uring` variant: tokio-uring's runtime is single-threaded, so `--workers N` means
//! N threads, each with its own io_uring runtime and its own `SO_REUSEPORT` listener (socket2
//! sets the option, because tokio-uring's `bind` does not). The kernel spreads connections
//! over the listeners.
//!
//! Accept, read and write are io_uring operations on owned buffers: a connection lends its
//! 4 KiB read buffer to the kernel while it waits, and gets it back with the data.
//!
//! Each ring is set up `SINGLE_ISSUER | COOP_TASKRUN`; see [`RING_SETUPS`] for why not
//! `DEFER_TASKRUN`.
//!
//! `/offload` runs on the blocking pool of the tokio runtime tokio-uring is built on
//! (`tokio::task::spawn_blocking`); the finished job wakes the runtime through tokio's own
//! waker, as any cross-thread wake-up does.

use std::io;
use std::net::Shutdown;
use std::pin::{pin, Pin};
use std::time::{Duration, Instant};

use server_common::timer::or_timer;
use server_common::{after_accept_error, uring, AfterAcceptError, Io, Listeners, Server, Variant};
use server_spec::limits::{recycle_output, DRAIN_BYTES, DRAIN_TIME, READ_BUFFER};
use server_spec::{work, Config, Connection, Step};
use tokio::time::Sleep;
use tokio_uring::buf::BoundedBuf;
use tokio_uring::net::{TcpListener, TcpStream};

mod files;

/// tokio-uring, one runtime per thread.
pub const VARIANT: Variant = Variant {
    name: "tokio-uring",
    runtime: "tokio-uring",
    io: Io::IoUring,
    threading: "N threads, each its own runtime and listener",
    workers: "threads, each with a runtime and a listener",
    uses_workers: true,
    listeners: Listeners::PerWorker,
    serve,
};

fn serve(server: Server) -> anyhow::Result<()> {
    let Server { listeners, config, ready, .. } = server;
    server_common::threads::run_each("tokio-uring", listeners, move |_, listener| {
        let runtime = build_runtime().map_err(|err| uring::unavailable("tokio-uring", &err))?;
        let config = config.clone();
        let ready = ready.clone();
        runtime.block_on(async move {
            let listener = TcpListener::from_std(listener);
            ready.arrive();
            accept_loop(listener, config).await;
        });
        Ok(())
    })
}

/// Ring setups, best first (see [`uring::with_first_accepted`]).
///
/// `SINGLE_ISSUER | COOP_TASKRUN` (Linux 6.0): the runtime's thread is the ring's only user,
/// and completion work (copying a recv's data, finishing a send) runs at that thread's next
/// kernel entry instead of interrupting it as soon as the data arrives, which also fights the
/// sender's softirq for the socket lock. Not `DEFER_TASKRUN`, which runs that work only inside
/// an `io_uring_enter` that asks for completions: tokio-uring waits in tokio's `epoll_wait` on
/// the ring's fd and enters the ring only to submit, so deferred work would never run.
/// `COOP_TASKRUN` alone needs Linux 5.19; an older kernel gets the default.
const RING_SETUPS: [uring::RingSetup; 3] = [
    ("SINGLE_ISSUER | COOP_TASKRUN", |ring| {
        ring.setup_single_issuer().setup_coop_taskrun();
    }),
    ("COOP_TASKRUN", |ring| {
        ring.setup_coop_taskrun();
    }),
    ("with no flags", |_| {}),
];

/// This thread's runtime, on the best ring the kernel accepts (see [`RING_SETUPS`]);
/// tokio-uring's default ring size (256 entries) is kept.
fn build_runtime() -> io::Result<tokio_uring::Runtime> {
    uring::with_first_accepted("tokio-uring", &RING_SETUPS, |ring| {
        tokio_uring::Runtime::new(tokio_uring::builder().uring_builder(&ring))
    })
}

async fn accept_loop(listener: TcpListener, config: Config) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio_uring::spawn(serve_connection(stream, config.clone(), Instant::now()));
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

async fn drive(stream: TcpStream, config: &Config, accepted: Instant) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut conn = Connection::new(config, accepted);
    let mut buf = Vec::with_capacity(READ_BUFFER);
    let mut out = Vec::new();
    // One timer per direction for the connection's whole life (see `server_common::timer`).
    let mut read_timer = pin!(tokio::time::sleep_until(accepted.into()));
    let mut write_timer = pin!(tokio::time::sleep_until(accepted.into()));
    // The file a `/files/` request opened, until its body is sent.
    let mut file = None;
    loop {
        match conn.poll(Instant::now(), &mut out) {
            Step::Write { timeout } => {
                out = write_all(&stream, out, timeout, write_timer.as_mut()).await?;
                recycle_output(&mut out);
            }
            Step::Read { deadline } => {
                buf.clear();
                read_timer.as_mut().reset(deadline.into());
                let Some((result, filled)) = or_timer(stream.read(buf), read_timer.as_mut()).await else {
                    // Dropping the read does not cancel it in the kernel, and the ring keeps
                    // the socket open while it is pending: shut the socket down, which ends
                    // the read and tells the client.
                    return stream.shutdown(Shutdown::Both);
                };
                buf = filled;
                match result? {
                    0 => conn.eof(),
                    n => conn.received(&buf[..n]),
                }
            }
            Step::Sleep(duration) => tokio::time::sleep(duration).await,
            Step::Offload { iterations } => {
                tokio::task::spawn_blocking(move || work::compute(iterations)).await?;
            }
            Step::OpenFile => file = files::open(&mut conn),
            Step::SendFile { len, timeout } => {
                out = files::send(&stream, file.take(), len, timeout, write_timer.as_mut(), out).await?;
            }
            Step::Close { drain } => {
                if drain {
                    drain_then_close(&stream, buf).await;
                }
                return Ok(());
            }
        }
    }
}

/// Writes all of `out` and gives it back, failing if a write makes no progress for `timeout`
/// (the client stopped reading), as `timer` measures.
async fn write_all(
    stream: &TcpStream,
    mut out: Vec<u8>,
    timeout: Duration,
    mut timer: Pin<&mut Sleep>,
) -> io::Result<Vec<u8>> {
    let mut written = 0;
    while written < out.len() {
        timer.as_mut().reset((Instant::now() + timeout).into());
        let write = stream.write(out.slice(written..)).submit();
        let Some((result, slice)) = or_timer(write, timer.as_mut()).await else {
            // As with a read: the pending write keeps the socket open, so shut it down.
            stream.shutdown(Shutdown::Both)?;
            return Err(io::ErrorKind::TimedOut.into());
        };
        out = slice.into_inner();
        match result? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            n => written += n,
        }
    }
    Ok(out)
}

/// Shuts down writing and reads what the client still sends, briefly, so it sees our
/// response instead of a reset.
async fn drain_then_close(stream: &TcpStream, mut buf: Vec<u8>) {
    if stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let drain = async {
        let mut drained = 0;
        while drained < DRAIN_BYTES {
            buf.clear();
            let (result, filled) = stream.read(buf).await;
            buf = filled;
            match result {
                Ok(0) | Err(_) => return,
                Ok(n) => drained += n,
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, drain).await;
}
