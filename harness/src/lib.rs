//! The runtime-matrix harness: starts each server variant as its own process, drives it with
//! an ApacheBench-style sweep, and reports ab's table, HDR latency percentiles, what each
//! server spent per request, and which differences are real.
//!
//! # Layout
//! - [`cli`]: the command line; it only parses and dispatches to [`commands`].
//! - [`commands`]: each subcommand's job (`run`, `load`, `compare`, `report`, `list`, `serve`,
//!   and `sample`, `verify`, `watchdog` for the harness's own use).
//! - [`registry`]: the built-in variants, one line each.
//! - [`matrix`] → [`plan`]: `matrix.toml`, checked into a plan that cannot be invalid.
//! - [`sweep`]: the main job's loop: start, verify, measure in order, stop.
//! - [`server`], [`watchdog`], [`sockets`]: a server under test as a child process: proven
//!   to own its port, watched, never orphaned.
//! - [`remote`]: servers and load on other hosts, through each host's launcher.
//! - [`verify`]: checking a server's answer before it is measured.
//! - [`load`]: the load generator (closed and open loops, scale runs; mio, HDR histograms).
//! - [`cost`]: what a process group spends (CPU, memory, threads) from `/proc`.
//! - [`slow_clients`]: slowloris connections during measured runs.
//! - [`results`]: the one results model every renderer reads (and `results.json`).
//! - [`stats`]: ab's formulas, percentiles, spread, Mann–Whitney; [`compare`]: benchstat.
//! - [`report`], [`html`], [`export`]: the Markdown report, the HTML report (plots, no
//!   external resources) and the files of a results directory.
//! - [`affinity`], [`meta`], [`progress`]: CPU placement, header facts, the progress bar.

pub mod affinity;
pub mod cli;
pub mod commands;
pub mod compare;
pub mod cost;
pub mod export;
pub mod html;
pub mod load;
pub mod matrix;
pub mod meta;
pub mod plan;
pub mod progress;
pub mod registry;
pub mod remote;
pub mod report;
pub mod results;
pub mod server;
pub mod slow_clients;
pub mod sockets;
pub mod stats;
pub mod stderr_tail;
pub mod sweep;
pub mod tied;
pub mod verify;
pub mod watchdog;
