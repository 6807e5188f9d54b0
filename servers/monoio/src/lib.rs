//! The `monoio` variant: monoio's io_uring driver (never its epoll "legacy" driver), N
//! threads, each with its own thread-per-core runtime and its own `SO_REUSEPORT` listener.
//!
//! Accept, read and write are io_uring operations on owned buffers: a connection lends its
//! 4 KiB read buffer to the kernel while it waits, and gets it back with the data.
//!
//! Each ring is set up `SINGLE_ISSUER | DEFER_TASKRUN`, as io_uring's authors advise for a ring
//! only one thread uses, and as `floor-uring` does: see [`RING_SETUPS`].
//!
//! `/offload` runs on a helper thread per runtime, woken through an eventfd read on the ring
//! (see [`offload`] for why not monoio's own `spawn_blocking`).

mod offload;

use std::io;
use std::pin::{pin, Pin};
use std::time::{Duration, Instant};

use monoio::buf::IoBuf;
use monoio::io::{AsyncReadRent, AsyncWriteRent};
use monoio::net::{TcpListener, TcpStream};
use monoio::time::{Sleep, TimeDriver};
use monoio::{IoUringDriver, Runtime, RuntimeBuilder};
use server_common::timer::or_timer;
use server_common::{after_accept_error, uring, AfterAcceptError, Io, Listeners, Server, Variant};
use server_spec::limits::{recycle_output, DRAIN_BYTES, DRAIN_TIME, READ_BUFFER};
use server_spec::{Config, Connection, Step};

mod files;

/// monoio with the io_uring driver, one runtime per thread.
pub const VARIANT: Variant = Variant {
    name: "monoio",
    runtime: "monoio",
    io: Io::IoUring,
    threading: "N threads, each its own runtime and listener",
    workers: "threads, each with a runtime and a listener",
    uses_workers: true,
    listeners: Listeners::PerWorker,
    serve,
};

fn serve(server: Server) -> anyhow::Result<()> {
    let Server { listeners, config, ready, .. } = server;
    server_common::threads::run_each("monoio", listeners, move |_, listener| {
        let mut runtime = build_runtime().map_err(|err| uring::unavailable("monoio", &err))?;
        let config = config.clone();
        let ready = ready.clone();
        runtime.block_on(async move {
            let listener = TcpListener::from_std(listener)?;
            ready.arrive();
            accept_loop(listener, config).await;
            Ok(())
        })
    })
}

/// Ring setups, best first (see [`uring::with_first_accepted`]).
///
/// `SINGLE_ISSUER | DEFER_TASKRUN` (Linux 6.1): the runtime's thread is the ring's only user, and
/// completion work (copying a recv's data, finishing a send) runs only when that thread asks for
/// completions, inside its own `io_uring_enter`, instead of interrupting it as soon as the data
/// arrives, which also fights the sender's softirq for the socket lock. monoio enters the ring
/// itself to wait (`submit_and_wait`), so it reaps deferred work. `COOP_TASKRUN` (Linux 5.19)
/// avoids the interrupt but runs that work at any kernel entry; an older kernel gets the default.
const RING_SETUPS: [uring::RingSetup; 3] = [
    ("SINGLE_ISSUER | DEFER_TASKRUN", |ring| {
        ring.setup_single_issuer().setup_defer_taskrun();
    }),
    ("COOP_TASKRUN", |ring| {
        ring.setup_coop_taskrun();
    }),
    ("with no flags", |_| {}),
];

/// This thread's runtime, on the best ring the kernel accepts (see [`RING_SETUPS`]); monoio's
/// default ring size (1024 entries) is kept.
fn build_runtime() -> io::Result<Runtime<TimeDriver<IoUringDriver>>> {
    uring::with_first_accepted("monoio", &RING_SETUPS, |ring| {
        RuntimeBuilder::<IoUringDriver>::new().uring_builder(ring).enable_timer().build()
    })
}

async fn accept_loop(listener: TcpListener, config: Config) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                monoio::spawn(serve_connection(stream, config.clone(), Instant::now()));
            }
            Err(err) => match after_accept_error(&err, &config.lifecycle) {
                AfterAcceptError::Stop => std::future::pending::<()>().await,
                AfterAcceptError::Retry(pause) => monoio::time::sleep(pause).await,
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
    let mut buf = Vec::with_capacity(READ_BUFFER);
    let mut out = Vec::new();
    // One timer per direction for the connection's whole life (see `server_common::timer`).
    let mut read_timer = pin!(monoio::time::sleep_until(accepted.into()));
    let mut write_timer = pin!(monoio::time::sleep_until(accepted.into()));
    // The file a `/files/` request opened, until its body is sent.
    let mut file = None;
    loop {
        match conn.poll(Instant::now(), &mut out) {
            Step::Write { timeout } => {
                out = write_all(&mut stream, out, timeout, write_timer.as_mut()).await?;
                recycle_output(&mut out);
            }
            Step::Read { deadline } => {
                buf.clear();
                read_timer.as_mut().reset(deadline.into());
                // On timeout the read is cancelled (monoio's async-cancel) and the
                // connection closes.
                let Some((result, filled)) = or_timer(stream.read(buf), read_timer.as_mut()).await else {
                    return Ok(());
                };
                buf = filled;
                match result? {
                    0 => conn.eof(),
                    n => conn.received(&buf[..n]),
                }
            }
            Step::Sleep(duration) => monoio::time::sleep(duration).await,
            Step::Offload { iterations } => offload::run(iterations).await?,
            Step::OpenFile => file = files::open(&mut conn),
            Step::SendFile { len, timeout } => {
                out = files::send(&mut stream, file.take(), len, timeout, write_timer.as_mut(), out).await?;
            }
            Step::Close { drain } => {
                if drain {
                    drain_then_close(&mut stream, buf).await;
                }
                return Ok(());
            }
        }
    }
}

/// Writes all of `out` and gives it back, failing if a write makes no progress for `timeout`
/// (the client stopped reading), as `timer` measures; the timed-out write is cancelled
/// (monoio's async-cancel).
async fn write_all(
    stream: &mut TcpStream,
    mut out: Vec<u8>,
    timeout: Duration,
    mut timer: Pin<&mut Sleep>,
) -> io::Result<Vec<u8>> {
    let mut written = 0;
    while written < out.len() {
        timer.as_mut().reset((Instant::now() + timeout).into());
        let Some((result, slice)) = or_timer(stream.write(out.slice(written..)), timer.as_mut()).await else {
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
async fn drain_then_close(stream: &mut TcpStream, mut buf: Vec<u8>) {
    if stream.shutdown().await.is_err() {
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
    let _ = monoio::time::timeout(DRAIN_TIME, drain).await;
}
