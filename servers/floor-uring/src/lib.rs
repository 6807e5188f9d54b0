//! The `floor-uring` variant: no runtime at all, the `io-uring` crate driven by hand.
//!
//! # Layout
//! - [`ring`]: ring setup (flags and their fallback) and submitting.
//! - [`buffers`]: the provided-buffer ring.
//! - [`timers`]: the deadline heap.
//! - [`token`]: what each SQE's `user_data` says.

pub mod buffers;
pub mod ring;
pub mod timers;
pub mod token;
