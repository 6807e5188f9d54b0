//! The two thread-based variants, over blocking `std::net` sockets.
//!
//! - `thread-per-connection`: every accepted connection gets its own OS thread. `--workers` is
//!   not used: the number of threads follows the number of open connections.
//! - `thread-pool`: a fixed pool of `--workers` threads (the `threadpool` crate); each
//!   connection is one job that holds its thread until the connection closes. With
//!   keep-alive and more connections than workers, the extra clients wait in the queue until
//!   a worker frees up, which happens when a client closes or when the header or idle
//!   timeout closes a silent one. That waiting is the model's nature, and what the matrix
//!   shows about it.
//!
//! Run one by hand: `cargo run --release -p server-threaded --bin thread-pool -- --port 46001`
//! (or `harness serve thread-pool --port 46001`).

mod connection;
mod files;

use std::time::Instant;

use server_common::{after_accept_error, AfterAcceptError, Io, Listeners, Server, Variant};

pub use connection::serve_connection;

/// Stack size of a connection thread. The loop needs a few KiB; the default 2 MiB would make
/// thousands of connections cost gigabytes of address space for nothing.
const CONNECTION_STACK: usize = 256 * 1024;

/// One OS thread per connection.
pub const THREAD_PER_CONNECTION: Variant = Variant {
    name: "thread-per-connection",
    runtime: "std::thread",
    io: Io::Blocking,
    threading: "one OS thread per connection",
    workers: "not used (threads follow connections)",
    uses_workers: false,
    listeners: Listeners::Shared,
    serve: serve_per_connection,
};

/// A fixed pool of threads, one connection per job.
pub const THREAD_POOL: Variant = Variant {
    name: "thread-pool",
    runtime: "threadpool",
    io: Io::Blocking,
    threading: "N pool threads; a connection holds one until it closes",
    workers: "pool threads",
    uses_workers: true,
    listeners: Listeners::Shared,
    serve: serve_pool,
};

fn serve_per_connection(server: Server) -> anyhow::Result<()> {
    accept_loop(server, |stream, config, accepted| {
        let spawned = std::thread::Builder::new()
            .stack_size(CONNECTION_STACK)
            .spawn(move || serve_connection(stream, &config, accepted));
        if let Err(err) = spawned {
            eprintln!("cannot start a connection thread: {err}");
        }
    })
}

fn serve_pool(server: Server) -> anyhow::Result<()> {
    let pool = threadpool::Builder::new()
        .num_threads(server.workers)
        .thread_name("pool".into())
        .thread_stack_size(CONNECTION_STACK)
        .build();
    // The connection's deadlines count from accept, not from when a worker picks it up: one
    // that waited in the queue past its header timeout is closed at once, without holding
    // the worker for another timeout.
    accept_loop(server, move |stream, config, accepted| {
        pool.execute(move || serve_connection(stream, &config, accepted))
    })
}

/// Accepts connections and hands each to `dispatch`, until the server stops.
fn accept_loop(
    server: Server,
    dispatch: impl Fn(std::net::TcpStream, server_spec::Config, Instant),
) -> anyhow::Result<()> {
    let Server { listeners, config, ready, .. } = server;
    let listener = listeners.into_iter().next().ok_or_else(|| anyhow::anyhow!("no listener"))?;
    ready.arrive();
    loop {
        match listener.accept() {
            Ok((stream, _)) => dispatch(stream, config.clone(), Instant::now()),
            Err(err) => match after_accept_error(&err, &config.lifecycle) {
                AfterAcceptError::Stop => return Ok(()),
                AfterAcceptError::Retry(pause) => std::thread::sleep(pause),
            },
        }
    }
}
