//! What every runtime-matrix server does around its I/O loop.
//!
//! A variant crate holds only its runtime's I/O loop and describes itself with a [`Variant`].
//! Everything else is here, so all variants start, announce and stop the same way:
//! parse the shared CLI → bind → calibrate `/work` → build the runtime → print `listening on …`
//! → serve, and on SIGINT/SIGTERM stop accepting, let requests in flight finish (at most 2 s),
//! exit 0.
//!
//! # Layout
//! - [`variant`]: the [`Variant`] descriptor and [`start`], the skeleton every server runs.
//! - [`accept`]: what an accept loop does when accept fails.
//! - [`deadlines`]: the deadline heap of the loops that keep their own timers (the floors).
//! - [`offload`]: `/offload` on a helper thread that wakes the loop through an eventfd, for the
//!   loops without a blocking facility of their own.
//! - [`files`]: the `--files` directory, and opening a name in it safely.
//! - [`net`]: binding listeners (one shared, or one per worker with `SO_REUSEPORT`).
//! - [`rlimit`]: raising the open-files and locked-memory limits.
//! - [`shutdown`]: signal handling and the graceful stop.
//! - [`uring`]: io_uring preflight (naming why it is unavailable, and the switch that makes it
//!   so) and ring setup with a said fallback.
//! - [`threads`]: running one runtime per thread and reporting the first failure.
//! - [`timer`]: racing a connection's I/O against its timer (the async variants).

pub mod accept;
pub mod deadlines;
pub mod files;
pub mod net;
pub mod offload;
pub mod rlimit;
pub mod shutdown;
pub mod threads;
pub mod timer;
pub mod uring;
pub mod variant;

pub use accept::{after_accept_error, AfterAcceptError};
pub use variant::{
    main, report, start, Io, Listeners, NotRunnable, Ready, Server, Variant, EXIT_NOT_RUNNABLE,
};
