//! The `floor-uring` variant: no runtime at all, the `io-uring` crate driven by hand. It is the
//! floor for the io_uring variants: what serving the spec over io_uring costs with nothing but
//! the ring between the state machine and the kernel.
//!
//! `--workers N` means N threads, each with its own ring (`SINGLE_ISSUER | DEFER_TASKRUN`),
//! its own `SO_REUSEPORT` listener, a slab of connections, a provided-buffer ring and a timer
//! heap. Per thread:
//!
//! - one multishot accept on the listener;
//! - one multishot recv per connection, into the provided-buffer ring, armed once and kept
//!   across requests; each buffer goes back to the ring as soon as its bytes are copied into
//!   the connection, so idle connections hold none;
//! - one send at a time per connection, of the response bytes the connection owns;
//! - a file (`/files/{name}`) read a chunk at a time by `IORING_OP_READ` into those same bytes,
//!   then sent;
//! - no timeout SQEs: every deadline (header, idle, write progress, sleep, drain) lives in one
//!   heap, and the loop sleeps in `io_uring_enter` with the earliest as its timeout;
//! - one `io_uring_enter` per loop turn, which submits the turn's SQEs and waits.
//!
//! Run: `cargo run --release -p server-floor-uring -- --port 45006 --workers 1`
//!
//! # Layout
//! - [`worker`]: the loop, accept, and dispatching completions and deadlines.
//! - [`conn`]: one connection: the spec's state machine and its operations in the kernel.
//! - [`ring`]: ring setup (flags and their fallback) and submitting.
//! - [`buffers`]: the provided-buffer ring.
//! - [`files`]: a file's chunks read through the ring.
//! - [`server_common::deadlines`] (shared with floor-epoll): the deadline heap.
//! - [`token`]: what each SQE's `user_data` says.

pub mod buffers;
pub mod conn;
pub mod files;
pub mod ring;
pub mod token;
pub mod worker;

use server_common::{Io, Listeners, Server, Variant};

/// The io-uring crate by hand, one ring per thread.
pub const VARIANT: Variant = Variant {
    name: "floor-uring",
    runtime: "none (io-uring crate)",
    io: Io::IoUring,
    threading: "N threads, each its own ring and listener",
    workers: "threads, each with a ring and a listener",
    uses_workers: true,
    listeners: Listeners::PerWorker,
    serve,
};

fn serve(server: Server) -> anyhow::Result<()> {
    let Server { listeners, config, ready, .. } = server;
    server_common::threads::run_each("floor-uring", listeners, move |_, listener| {
        worker::run(listener, config.clone(), &ready)
    })
}
