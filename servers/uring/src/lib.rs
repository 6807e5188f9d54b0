//! The `tokio-uring` variant: tokio-uring's runtime is single-threaded, so `--workers N` means
//! N threads, each with its own io_uring runtime and its own `SO_REUSEPORT` listener (socket2
//! sets the option, because tokio-uring's `bind` does not). The kernel spreads connections
//! over the listeners.
//!
//! Accept, read and write are io_uring operations on owned buffers: a connection lends its
//! 4 KiB read buffer to the kernel while it waits, and gets it back with the data.

use std::io;
use std::net::Shutdown;
use std::time::Instant;

use server_common::{after_accept_error, uring, AfterAcceptError, Io, Listeners, Server, Variant};
use server_spec::limits::{DRAIN_BYTES, DRAIN_TIME, OUTPUT_WINDOW, READ_BUFFER};
use server_spec::{Config, Connection, Step};
use tokio_uring::net::{TcpListener, TcpStream};

/// tokio-uring, one runtime per thread.
pub const VARIANT: Variant = Variant {
    name: "tokio-uring",
    runtime: "tokio-uring",
    io: Io::IoUring,
    threading: "N threads, each its own runtime and listener",
    workers: "threads, each with a runtime and a listener",
    listeners: Listeners::PerWorker,
    serve,
};

fn serve(server: Server) -> anyhow::Result<()> {
    let Server { listeners, config, ready, .. } = server;
    server_common::threads::run_each("tokio-uring", listeners, move |_, listener| {
        let runtime = tokio_uring::Runtime::new(&tokio_uring::builder())
            .map_err(|err| uring::unavailable("tokio-uring", &err))?;
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

async fn accept_loop(listener: TcpListener, config: Config) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio_uring::spawn(serve_connection(stream, config.clone()));
            }
            Err(err) => match after_accept_error(&err, &config.lifecycle) {
                AfterAcceptError::Stop => std::future::pending::<()>().await,
                AfterAcceptError::Retry(pause) => tokio::time::sleep(pause).await,
            },
        }
    }
}

/// Serves one connection until it closes. Errors end only this connection.
async fn serve_connection(stream: TcpStream, config: Config) {
    // A reset or broken pipe is the client's choice; there is nobody to report it to.
    let _ = drive(stream, &config).await;
}

async fn drive(stream: TcpStream, config: &Config) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut conn = Connection::new(config, Instant::now());
    let mut buf = Vec::with_capacity(READ_BUFFER);
    let mut out = Vec::new();
    loop {
        match conn.poll(Instant::now(), &mut out) {
            Step::Write => {
                let (result, written) = stream.write_all(out).await;
                result?;
                out = written;
                out.clear();
                if out.capacity() > 2 * OUTPUT_WINDOW {
                    out = Vec::new();
                }
            }
            Step::Read { deadline } => {
                buf.clear();
                let Ok((result, filled)) = tokio::time::timeout_at(deadline.into(), stream.read(buf)).await
                else {
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
            Step::Close { drain } => {
                if drain {
                    drain_then_close(&stream, buf).await;
                }
                return Ok(());
            }
        }
    }
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
