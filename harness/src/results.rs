//! What a sweep produced: the header facts and one [`Cell`] per variant × concurrency level.

use serde::Serialize;

use crate::load::{Failures, Latencies};
use crate::stats::{Percentiles, Spread};

/// The facts a reader needs to trust (or reproduce) the figures.
#[derive(Debug, Clone, Serialize)]
pub struct Meta {
    pub started_utc: String,
    pub matrix: String,
    pub harness_version: String,
    pub git_commit: String,
    pub build_profile: String,
    pub kernel: String,
    pub cpu_model: String,
    pub cpus: usize,
    pub server_cpus: Vec<usize>,
    pub load_cpus: Vec<usize>,
    pub requests: u64,
    pub concurrency: Vec<usize>,
    pub keep_alive: bool,
    pub warmup: u64,
    pub repeat: usize,
    pub path: String,
    pub timeout_s: f64,
    pub load_generator: String,
}

/// One measured run of a cell (a cell has `repeat` of them).
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub time_taken_s: f64,
    pub complete: u64,
    pub failed: u64,
    pub non_2xx: u64,
    pub requests_per_second: f64,
}

/// One variant at one concurrency level. The ab figures come from the median run (by
/// requests per second); the percentiles from all runs' merged histograms.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub variant: String,
    pub workers: usize,
    pub concurrency: usize,
    pub keep_alive: bool,
    pub requests: u64,
    pub complete: u64,
    pub failed: u64,
    pub failures: Failures,
    pub non_2xx: u64,
    pub total_transferred_bytes: u64,
    pub html_transferred_bytes: u64,
    pub time_taken_s: f64,
    pub requests_per_second: f64,
    pub time_per_request_ms: f64,
    pub transfer_rate_kb_s: f64,
    pub latency_us: Percentiles,
    pub connect_us: Percentiles,
    pub ttfb_us: Percentiles,
    pub runs: Vec<Run>,
    /// Requests per second over the runs, with `repeat > 1`.
    pub requests_per_second_spread: Option<Spread>,
    /// The spread exceeds 20% of the median.
    pub noisy: bool,
    /// Failed requests over all runs (the exit status depends on it).
    pub failed_all_runs: u64,
    /// Something went wrong around the measurement (the server died, a run was cut short).
    pub note: Option<String>,
    #[serde(skip)]
    pub latencies: Latencies,
}

/// A variant that could not be (fully) measured, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub variant: String,
    pub problem: String,
}

/// Everything a sweep produced so far.
#[derive(Debug, Clone, Serialize)]
pub struct Results {
    pub meta: Meta,
    pub cells: Vec<Cell>,
    pub problems: Vec<Problem>,
}

impl Results {
    /// Whether every cell ran with no failed request and no variant had a problem.
    pub fn all_clean(&self) -> bool {
        self.problems.is_empty()
            && self.cells.iter().all(|cell| cell.failed_all_runs == 0 && cell.note.is_none())
    }

    /// The variants in order of first appearance.
    pub fn variant_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for cell in &self.cells {
            if !names.contains(&cell.variant.as_str()) {
                names.push(&cell.variant);
            }
        }
        names
    }
}
