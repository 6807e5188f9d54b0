//! The `glommio` variant: `--workers` executors from glommio's pool builder, each on its own
//! thread with its own io_uring rings and its own `SO_REUSEPORT` listener.
//!
//! glommio registers its I/O buffers as locked memory, so it needs `RLIMIT_MEMLOCK`: the
//! server raises the limit where it may, and otherwise fails at start naming the limit and how
//! to raise it. It also builds one executor before the pool as a preflight, because the pool
//! builder panics inside its threads when io_uring is unavailable; the preflight turns that
//! into one clear line.
//!
//! `/offload` runs on the executor's blocking thread pool (`spawn_blocking`: one thread per
//! executor, glommio's default), which hands the result back over a channel and wakes a
//! sleeping executor through its eventfd.

mod files;
mod memlock;

use std::io;
use std::net::Shutdown;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt, FutureExt};
use glommio::net::{TcpListener, TcpStream};
use glommio::{GlommioError, LocalExecutorBuilder, LocalExecutorPoolBuilder, Placement, PoolPlacement};
use server_common::{after_accept_error, uring, AfterAcceptError, Io, Listeners, Server, Variant};
use server_spec::limits::{recycle_output, DRAIN_BYTES, DRAIN_TIME, READ_BUFFER};
use server_spec::{work, Config, Connection, Step};

/// glommio's executor pool, one listener per executor.
pub const VARIANT: Variant = Variant {
    name: "glommio",
    runtime: "glommio",
    io: Io::IoUring,
    threading: "N executors (pool builder), each its own listener",
    workers: "executors, each on a thread with a listener",
    uses_workers: true,
    listeners: Listeners::PerWorker,
    serve,
};

fn serve(server: Server) -> anyhow::Result<()> {
    let Server { listeners, workers, config, ready } = server;
    memlock::raise()?;
    preflight()?;
    let listeners = Arc::new(Mutex::new(listeners));
    let handles = LocalExecutorPoolBuilder::new(PoolPlacement::Unbound(workers))
        .name("glommio")
        .on_all_shards(move || async move {
            let listener = listeners.lock().ok().and_then(|mut listeners| listeners.pop());
            let Some(listener) = listener else { return };
            // SAFETY: `into_raw_fd` hands over the only owner of a bound, listening socket.
            let listener = unsafe { TcpListener::from_raw_fd(listener.into_raw_fd()) };
            ready.arrive();
            accept_loop(listener, config).await;
        })
        .map_err(|err| startup_error(&err))?;
    for result in handles.join_all() {
        result.map_err(|err| startup_error(&err))?;
    }
    Ok(())
}

/// Builds (and drops) one executor on a scratch thread, so a missing io_uring or memlock
/// shows up as an error here rather than as a panic inside the pool.
fn preflight() -> anyhow::Result<()> {
    let probe = std::thread::spawn(|| LocalExecutorBuilder::new(Placement::Unbound).make().map(drop));
    match probe.join() {
        Ok(result) => result.map_err(|err| startup_error(&err)),
        Err(_) => anyhow::bail!("glommio panicked while building an executor"),
    }
}

/// Names the cause of a glommio start-up error.
fn startup_error<T>(err: &GlommioError<T>) -> anyhow::Error {
    match err {
        GlommioError::IoError(io) | GlommioError::EnhancedIoError { source: io, .. } => {
            uring::unavailable("glommio", io)
        }
        GlommioError::ReactorError(kind) => memlock::error(&kind.to_string()),
        other => anyhow::anyhow!("glommio cannot start: {other}"),
    }
}

async fn accept_loop(listener: TcpListener, config: Config) {
    loop {
        match listener.accept().await {
            Ok(stream) => {
                glommio::spawn_local(serve_connection(stream, config.clone(), Instant::now())).detach();
            }
            Err(err) => {
                let err = io::Error::from(err);
                match after_accept_error(&err, &config.lifecycle) {
                    AfterAcceptError::Stop => std::future::pending::<()>().await,
                    AfterAcceptError::Retry(pause) => glommio::timer::sleep(pause).await,
                }
            }
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
    let mut buf = vec![0; READ_BUFFER];
    let mut out = Vec::new();
    // glommio's own write timeout bounds each write's wait for the socket (it tries a plain
    // send first and arms a timer only when that would block): the spec's rule. Set only when
    // it changes.
    let mut write_timeout = None;
    // The file a `/files/` request opened, until its body is sent.
    let mut file = None;
    loop {
        let now = Instant::now();
        match conn.poll(now, &mut out) {
            Step::Write { timeout } => {
                if write_timeout != Some(timeout) {
                    stream.set_write_timeout(Some(timeout))?;
                    write_timeout = Some(timeout);
                }
                stream.write_all(&out).await?;
                recycle_output(&mut out);
            }
            Step::Read { deadline } => {
                // glommio's own read timeout, like the write timeout: it tries a plain recv
                // first and arms a timer, for this long, only when that would block.
                let left = deadline.saturating_duration_since(now).max(SHORTEST_TIMEOUT);
                stream.set_read_timeout(Some(left))?;
                match stream.read(&mut buf).await {
                    Err(err) if err.kind() == io::ErrorKind::TimedOut => return Ok(()),
                    Err(err) => return Err(err),
                    Ok(0) => conn.eof(),
                    Ok(n) => conn.received(&buf[..n]),
                }
            }
            Step::Sleep(duration) => glommio::timer::sleep(duration).await,
            Step::Offload { iterations } => {
                glommio::executor().spawn_blocking(move || work::compute(iterations)).await;
            }
            Step::OpenFile => file = files::open(&mut conn),
            Step::SendFile { len, timeout } => {
                files::send(&mut stream, file.take(), len, timeout, &mut write_timeout).await?
            }
            Step::Close { drain } => {
                if drain {
                    // The drain has its own bound.
                    stream.set_read_timeout(None)?;
                    drain_then_close(&mut stream, &mut buf).await;
                }
                return Ok(());
            }
        }
    }
}

/// glommio refuses a zero timeout; a deadline already past gets this one, so a read that finds
/// data waiting still takes it, and one that would block closes at once.
const SHORTEST_TIMEOUT: Duration = Duration::from_nanos(1);

/// Shuts down writing and reads what the client still sends, briefly, so it sees our
/// response instead of a reset.
async fn drain_then_close(stream: &mut TcpStream, buf: &mut [u8]) {
    if stream.shutdown(Shutdown::Write).await.is_err() {
        return;
    }
    let drain = async {
        let mut drained = 0;
        while drained < DRAIN_BYTES {
            match stream.read(buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => drained += n,
            }
        }
    };
    let timeout = async {
        glommio::timer::sleep(DRAIN_TIME).await;
    };
    drain.or(timeout).await;
}
