//! The runtime-matrix harness: starts each server variant as its own process, drives it with
//! an ApacheBench-style sweep, and reports ab's table plus HDR latency percentiles.
//!
//! # Layout
//! - [`cli`]: the command line (`run`, `serve`, `list`, `load`).
//! - [`registry`]: the built-in variants, one line each.
//! - [`matrix`]: `matrix.toml`, parsed and validated into a plan.
//! - [`load`]: the load generator (closed loop, mio, HDR histograms).
//! - [`stats`]: ab's formulas, percentiles, repeat spread.
//! - [`affinity`]: pinning servers and load to CPUs.
//! - [`sweep`]: the main job: start, verify, measure and stop each variant.
//! - [`server`]: a server under test as a child process, never orphaned.
//! - [`verify`]: checking a server's answer before it is measured.
//! - [`results`], [`report`], [`export`]: what a sweep produced, its tables, its files.
//! - [`meta`], [`progress`]: the report header's facts; the progress bar.

pub mod affinity;
pub mod cli;
pub mod export;
pub mod load;
pub mod matrix;
pub mod meta;
pub mod progress;
pub mod registry;
pub mod report;
pub mod results;
pub mod server;
pub mod stats;
pub mod sweep;
pub mod verify;
