//! The runtime-matrix harness: starts each server variant as its own process, drives it with
//! an ApacheBench-style sweep, and reports ab's table plus HDR latency percentiles.
//!
//! # Layout
//! - [`cli`]: the command line (`run`, `serve`, `list`).
//! - [`registry`]: the built-in variants, one line each.

pub mod cli;
pub mod registry;
