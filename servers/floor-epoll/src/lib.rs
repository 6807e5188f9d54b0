//! The `floor-epoll` variant: no runtime at all. `--workers N` means N threads, each with its
//! own `SO_REUSEPORT` listener and its own epoll instance, driving its connections straight
//! from the loop. It is the floor for the epoll variants: what serving the spec costs with
//! nothing between the loop and the system calls.
//!
//! Sockets are non-blocking and registered once, edge-triggered, for input, output and the
//! peer's half-close; each connection remembers the readiness epoll reported and clears it
//! when a read or write finds the socket drained or full, so switching between reading and
//! writing costs no `epoll_ctl`, and a keep-alive request costs one `epoll_wait` (shared with
//! the other ready connections), one `recv` and one `send`. Connections live in a slab, their
//! key the epoll token. Deadlines (header, idle, write, drain) and `/sleep` share one timer
//! heap per worker, whose earliest entry is the `epoll_wait` timeout; a keep-alive request
//! only stores its new deadline and touches the heap about once per timeout (see
//! [`server_common::deadlines`], shared with floor-uring). An idle connection holds no read
//! buffer: every read lands in the worker's one scratch buffer and the spec's
//! [`server_spec::Connection`] keeps what it needs. `/offload` goes to a helper thread per
//! worker ([`server_common::offload`]) whose eventfd sits in the worker's epoll.
//!
//! A connection per request costs `accept4`, `epoll_ctl`, `recv`, `send` and `close`, as
//! nginx's does: the listener is level-triggered and accepts one connection per report (no
//! `accept4` failing with `EAGAIN`), and `TCP_NODELAY` is set only before a connection's
//! second write (the first cannot be held by Nagle's algorithm).
//!
//! Run: `cargo run --release -p server-floor-epoll -- --port 45005 --workers 1`
//!
//! # Layout
//! - `epoll`: the raw calls (`epoll_create1`, `epoll_ctl`, `epoll_wait`, `accept4`) behind a
//!   safe interface.
//! - `slot`: one connection in the slab, and the code that drives the spec over its socket.
//! - `files`: `/files/{name}` sent with `sendfile(2)`.
//! - `worker`: one thread's loop: wait, accept, dispatch events, run again, expire.

mod epoll;
mod files;
mod slot;
mod worker;

use anyhow::Context;
use server_common::{Io, Listeners, Server, Variant};

use crate::worker::Worker;

/// No runtime: one raw epoll loop per thread.
pub const VARIANT: Variant = Variant {
    name: "floor-epoll",
    runtime: "none (raw epoll via libc)",
    io: Io::Epoll,
    threading: "N threads, each its own epoll loop and listener",
    workers: "threads, each with an epoll loop and a listener",
    uses_workers: true,
    listeners: Listeners::PerWorker,
    serve,
};

fn serve(server: Server) -> anyhow::Result<()> {
    let Server { listeners, config, ready, .. } = server;
    server_common::threads::run_each("floor-epoll", listeners, move |index, listener| {
        let worker = Worker::new(listener, config.clone())
            .with_context(|| format!("cannot set up the epoll loop of worker {index}"))?;
        ready.arrive();
        worker.run().with_context(|| format!("the epoll loop of worker {index} failed"))
    })
}
