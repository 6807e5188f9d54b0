//! The runtime-matrix harness: starts each server variant as its own process, drives it with
//! an ApacheBench-style sweep, and reports ab's table, HDR latency percentiles, what each
//! server spent per request, and which differences are real.
//!
//! # Layout
//! From the command line down; a module uses only modules below it (`tests/layers.rs`).
//! - [`cli`]: which subcommand; [`commands`]: each subcommand's arguments and job (`run`,
//!   `load`, `compare`, `report`, `list`, `serve`, and `sample`, `verify`, `watchdog` for the
//!   harness's own use), and every exit status.
//! - [`sweep`]: the main job's loop: start, verify, measure in order, stop.
//! - [`export`], [`report`], [`html`]: the files of a results directory, the Markdown report
//!   (and `compare`'s tables), the HTML report.
//! - [`target`]: where a server under test runs (here, or on another host), proven to own its
//!   port, watched, sampled.
//! - [`hosts`]: other hosts through their launchers: the protocol both ends speak, and load
//!   split over load hosts and merged exactly.
//! - [`process`]: the children the harness starts, tied to it and never orphaned.
//! - [`verify`]: checking a server's answer before it is measured; [`slow_clients`]: slowloris
//!   connections during measured runs; [`profile`]: flame graphs of a server on request.
//! - [`compare`]: benchstat for results, within interleaved rounds too, and the `--fail-on`
//!   gate; [`baselines`]: results kept under a name to compare with later; [`results`]: the
//!   one results model every renderer reads (and `results.json`); [`stats`]: ab's formulas,
//!   percentiles, spread, Mann–Whitney, Wilcoxon's signed-rank test, Holm and
//!   Benjamini–Hochberg.
//! - [`matrix`] → [`plan`]: `matrix.toml`, checked into a plan that cannot be invalid, and
//!   every default; [`registry`]: the built-in variants, one line each.
//! - [`load`]: the load generator (closed and open loops, scale runs; mio, HDR histograms).
//! - [`cost`]: what a process group spends (CPU, memory, threads) from `/proc`.
//! - [`corpus`]: the files `/files/` serves: made, found, and put in or out of the page cache.
//! - [`mechanics`]: system calls, context switches and migrations, counted with perf events.
//! - [`machine`]: the machine's own floor: CPU sleep, a loopback ping-pong, TCP's counters.
//! - [`histogram`]: latency histograms' bounds and their interchange encoding.
//! - [`affinity`], [`meta`], [`progress`]: CPU placement, header facts, the progress bar.

pub mod affinity;
pub mod baselines;
pub mod cli;
pub mod commands;
pub mod compare;
pub mod corpus;
pub mod cost;
pub mod export;
pub mod histogram;
pub mod hosts;
pub mod html;
pub mod load;
pub mod machine;
pub mod matrix;
pub mod mechanics;
pub mod meta;
pub mod plan;
pub mod process;
pub mod profile;
pub mod progress;
pub mod registry;
pub mod report;
pub mod results;
pub mod slow_clients;
pub mod stats;
pub mod sweep;
pub mod target;
pub mod verify;
