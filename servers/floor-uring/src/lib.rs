//! The `floor-uring` variant: no runtime at all, the `io-uring` crate driven by hand.
//!
//! # Layout
//! - [`timers`]: the deadline heap.
//! - [`token`]: what each SQE's `user_data` says.

pub mod timers;
pub mod token;
