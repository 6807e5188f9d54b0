//! What a sweep produced: the one results model every renderer reads (the terminal and
//! Markdown report, CSV, `.hgrm`, HTML, `harness compare`), written to `results.json` and read
//! back from it with the same types.
//!
//! A [`Cell`] is one variant at one level of one scenario: the figures of its median run,
//! percentiles from all runs' merged histograms, every run's own figures (for significance
//! tests), the server's cost, and the histograms themselves in HdrHistogram's interchange
//! encoding, so everything can be recomputed later without rerunning.

#[cfg(test)]
pub(crate) mod sample;
pub mod summarize;

use serde::{Deserialize, Serialize};

use crate::load::{Cut, Failures};
use crate::stats::{Percentiles, Spread};

pub use crate::histogram::Encoded;
pub use crate::machine::calibrate::Calibration;
pub use crate::machine::tcp::TcpCounters;
pub use crate::mechanics::Mechanics;
pub use crate::plan::{CpuIdle, Mode};
pub use crate::profile::Profile;
pub use summarize::{summarize, MeasuredRun, Reading};

/// The version of this file format. 1 was the first (no `schema_version` field, no runs'
/// latencies, no histograms); 2 added runs with their figures and cost, server cost,
/// scenarios, the variants' launch facts and encoded histograms.
pub const SCHEMA_VERSION: u32 = 2;

/// Everything a sweep produced so far.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    pub schema_version: u32,
    pub meta: Meta,
    pub cells: Vec<Cell>,
    pub problems: Vec<Problem>,
    /// Ctrl-C or SIGTERM ended the sweep before its plan was done.
    #[serde(default)]
    pub interrupted: bool,
    /// The machine's floor under each CPU sleep policy the scenarios used, measured before the
    /// variants (see [`crate::machine::calibrate`]).
    #[serde(default)]
    pub calibration: Vec<Calibration>,
}

/// The facts a reader needs to trust (or reproduce) the figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub started_utc: String,
    pub matrix: String,
    pub harness_version: String,
    pub git_commit: String,
    pub build_profile: String,
    pub kernel: String,
    pub cpu_model: String,
    /// CPUs online on the machine.
    pub cpus: usize,
    /// Placement as asked; what was in force is per variant and per cell.
    pub server_cpus: Vec<usize>,
    pub load_cpus: Vec<usize>,
    /// The host the servers ran on (`None`: this machine), and the hosts the load came from
    /// (empty: this machine).
    #[serde(default)]
    pub server_host: Option<String>,
    #[serde(default)]
    pub load_hosts: Vec<String>,
    /// The hosts the matrix declares.
    #[serde(default)]
    pub hosts: Vec<HostMeta>,
    /// `interleaved` or `grouped`.
    pub order: String,
    /// The variant the comparison matrices divide by.
    pub baseline: String,
    pub load_generator: String,
    pub scenarios: Vec<ScenarioMeta>,
    pub variants: Vec<VariantMeta>,
    /// Things the sweep said that do not stop it (placement not in force, overlaps).
    #[serde(default)]
    pub warnings: Vec<String>,
    /// How the CPUs were kept awake for scenarios with `cpu_idle = "awake"` (per host).
    #[serde(default)]
    pub cpu_awake: Vec<String>,
}

/// A host of the matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostMeta {
    pub name: String,
    pub address: String,
    pub launcher: Vec<String>,
}

/// How one scenario's cells were measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioMeta {
    pub name: String,
    /// `closed` (a fixed number of connections, ab-style) or `open` (a fixed offered rate).
    pub mode: Mode,
    pub requests: u64,
    /// The levels: concurrency (closed) or connections (open).
    pub concurrency: Vec<usize>,
    /// Offered rates, open loop only.
    #[serde(default)]
    pub rate: Vec<f64>,
    pub keep_alive: bool,
    pub warmup: u64,
    pub repeat: usize,
    pub path: String,
    pub timeout_s: f64,
    pub max_run_time_s: f64,
    /// Open loop: measured seconds per run, the schedule's seconds before them, the pool.
    #[serde(default)]
    pub duration_s: Option<f64>,
    #[serde(default)]
    pub warmup_time_s: Option<f64>,
    #[serde(default)]
    pub connections: Option<usize>,
    /// Scale: seconds the connections are held idle before the server's memory is read.
    #[serde(default)]
    pub idle_time_s: Option<f64>,
    /// Connections trickling a request head one byte per second during every measured run.
    #[serde(default)]
    pub slow_clients: usize,
    /// Whether the measured CPUs were kept out of their idle states during its runs (what was
    /// in force, which is `native` when `awake` was asked but could not be had).
    #[serde(default)]
    pub cpu_idle: CpuIdle,
    /// Seconds per interval of each run's figures over time (see [`Interval`]).
    #[serde(default)]
    pub interval_s: Option<f64>,
    /// Whether each cell got an extra run under `perf record` (a flame graph, top symbols).
    #[serde(default)]
    pub profile: bool,
    /// Workers as an axis: every variant was measured at each (`--workers N`, pinned to the
    /// first N server CPUs). Empty: each variant ran with its own workers (and older files).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workers: Vec<usize>,
    /// Requests each keep-alive connection wrote at once (1: one at a time).
    #[serde(default = "one")]
    pub pipeline: usize,
    /// A request mix: each path and its weight (empty: every request was `path`).
    #[serde(default)]
    pub mix: Vec<(String, u32)>,
    /// The seed of the draw of a mix's paths.
    #[serde(default)]
    pub seed: u64,
    /// Files from disk: the corpus files requests spread over, and their cache state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<FilesMeta>,
}

/// A files scenario's corpus, as `results.json` records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FilesMeta {
    pub dir: String,
    /// Each file's size in bytes.
    pub size: u64,
    /// How many files requests were spread over (drawn with the scenario's seed).
    pub count: usize,
    /// `warm` (read before each run) or `cold` (dropped from the page cache before each run).
    pub cache: crate::plan::Cache,
}

fn one() -> usize {
    1
}

impl ScenarioMeta {
    /// Its levels: rates for an open loop, connections otherwise.
    pub fn levels(&self) -> usize {
        match self.mode {
            Mode::Open => self.rate.len(),
            Mode::Closed => self.concurrency.len(),
        }
    }

    /// Its cells per variant: each level at each workers value where workers is an axis.
    pub fn cells_per_variant(&self) -> usize {
        self.levels() * self.workers.len().max(1)
    }
}

/// How a variant was run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantMeta {
    pub name: String,
    /// `builtin` or `command`.
    pub launch: String,
    /// The built-in variant run (`harness serve NAME`).
    #[serde(default)]
    pub builtin: Option<String>,
    pub workers: usize,
    /// The command line as started (built-ins: `harness serve …`).
    pub command: Vec<String>,
    /// The runtime crate and its version, for built-ins.
    #[serde(default)]
    pub runtime: Option<String>,
    #[serde(default)]
    pub runtime_version: Option<String>,
    /// The CPUs its process was allowed on, read back after pinning.
    #[serde(default)]
    pub cpus_in_force: Vec<usize>,
    /// What deviates from HTTP in its answers, or anything else worth knowing.
    #[serde(default)]
    pub notes: Vec<String>,
}

/// How a cell's measurement ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every run ran to its end.
    Complete,
    /// A run hit `max_run_time`: its rate is over the whole window.
    CutShort,
    /// Ctrl-C or SIGTERM stopped a run: its rate is over the whole window.
    Interrupted,
    /// The server died during a run: no rate is reported.
    ServerDied,
}

impl Status {
    /// How one run ended, from how its load ended and whether its server died: the one
    /// mapping from a load's cut to a status, wherever a run is measured.
    pub fn of_run(cut: Option<Cut>, server_died: bool) -> Status {
        match (server_died, cut) {
            (true, _) => Status::ServerDied,
            (false, Some(Cut::Deadline)) => Status::CutShort,
            (false, Some(Cut::Stopped)) => Status::Interrupted,
            (false, None) => Status::Complete,
        }
    }

    /// Its name, as in `results.json` and the CSV.
    pub fn name(self) -> &'static str {
        match self {
            Status::Complete => "complete",
            Status::CutShort => "cut_short",
            Status::Interrupted => "interrupted",
            Status::ServerDied => "server_died",
        }
    }
}

/// One measured run of a cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Unix time in milliseconds when the measured window began.
    pub started_at: u64,
    pub time_taken_s: f64,
    /// `None` when the server died during the run.
    pub requests_per_second: Option<f64>,
    pub complete: u64,
    pub failed: u64,
    pub non_2xx: u64,
    pub latency_us: Percentiles,
    #[serde(default)]
    pub server: Option<Cost>,
    /// The load generator's CPU time per complete request, µs.
    #[serde(default)]
    pub load_cpu_us_per_request: Option<f64>,
    pub status: Status,
    /// TCP's trouble during the run (listen overflows, SYN retransmits), when it was read.
    #[serde(default)]
    pub tcp: Option<TcpCounters>,
    /// System calls, context switches and migrations per request, where counted.
    #[serde(default)]
    pub mechanics: Option<Sides>,
    /// The run interval by interval (a scenario's `interval`, 10 s by default): none for a
    /// run shorter than one interval.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub intervals: Vec<Interval>,
}

/// One path of a request mix in a cell: its share of the requests and its own latency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathStats {
    pub path: String,
    pub weight: u32,
    /// Over all runs.
    pub complete: u64,
    pub failed: u64,
    pub non_2xx: u64,
    /// From its merged histogram, µs.
    pub latency_us: Percentiles,
    /// The merged histogram of its requests' latency (nanoseconds).
    pub histogram: Encoded,
}

/// The server's and the load generator's mechanics per request (see [`crate::mechanics`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sides {
    pub server: Option<Mechanics>,
    pub load: Option<Mechanics>,
}

/// One interval of a run's measured window: what the load generator saw in it, and the
/// server (and the harness) as it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Seconds from the start of the measured window to the end of this interval.
    pub end_s: f64,
    /// Its length (the last one also holds what ended after the last whole interval).
    pub seconds: f64,
    pub complete: u64,
    pub failed: u64,
    pub non_2xx: u64,
    /// Complete responses per second of the interval.
    pub requests_per_second: f64,
    /// Latency of the requests that ended in it (an open loop's from the intended send).
    pub latency_us: Percentiles,
    /// The server's resident memory (KiB), open descriptors and threads at the interval's end.
    #[serde(default)]
    pub server_rss_kib: Option<u64>,
    #[serde(default)]
    pub server_fds: Option<u64>,
    #[serde(default)]
    pub server_threads: Option<u64>,
    /// The server's CPU over the interval per complete request, µs.
    #[serde(default)]
    pub server_cpu_us_per_request: Option<f64>,
    /// The harness's own resident memory (KiB) and descriptors at the interval's end, when the
    /// load ran on this machine.
    #[serde(default)]
    pub harness_rss_kib: Option<u64>,
    #[serde(default)]
    pub harness_fds: Option<u64>,
}

/// How much a long run's last interval may exceed its first and still be flat: 10%.
pub const FLAT_GROWTH: f64 = 0.10;

/// Descriptors that may come and go without a leak: with a connection per request, the
/// server holds a socket or two for requests in flight at any instant.
pub const DESCRIPTOR_SLACK: u64 = 2;

/// How a run drifted from its first interval to its last.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Drift<'a> {
    pub first: &'a Interval,
    pub last: &'a Interval,
    /// Failed requests over every interval.
    pub failed: u64,
}

impl Drift<'_> {
    /// The server's RSS growth, last over first less one (0.05: 5% more).
    pub fn rss_growth(&self) -> Option<f64> {
        growth(self.first.server_rss_kib?, self.last.server_rss_kib?)
    }

    /// The server's descriptor growth, last over first less one.
    pub fn fds_growth(&self) -> Option<f64> {
        growth(self.first.server_fds?, self.last.server_fds?)
    }

    /// Whether the server stayed flat with no failure: its RSS and descriptors at the last
    /// interval at most [`FLAT_GROWTH`] over the first (descriptors: or at most
    /// [`DESCRIPTOR_SLACK`] more). `None` when the server was not read.
    pub fn flat(&self) -> Option<bool> {
        let (rss_first, rss_last) = (self.first.server_rss_kib?, self.last.server_rss_kib?);
        let (fds_first, fds_last) = (self.first.server_fds?, self.last.server_fds?);
        let rss_flat = rss_last as f64 <= rss_first as f64 * (1.0 + FLAT_GROWTH);
        let fds_flat = fds_last as f64 <= fds_first as f64 * (1.0 + FLAT_GROWTH)
            || fds_last <= fds_first + DESCRIPTOR_SLACK;
        Some(rss_flat && fds_flat && self.failed == 0)
    }
}

fn growth(first: u64, last: u64) -> Option<f64> {
    (first > 0).then(|| last as f64 / first as f64 - 1.0)
}

impl Run {
    /// Its first and last intervals, when it has two or more.
    pub fn drift(&self) -> Option<Drift<'_>> {
        let (first, last) = (self.intervals.first()?, self.intervals.last()?);
        (self.intervals.len() >= 2).then(|| Drift {
            first,
            last,
            failed: self.intervals.iter().map(|i| i.failed).sum(),
        })
    }
}

/// What the server spent: over one run, or for a cell (CPU figures: the median of its runs';
/// memory and threads: the most over its runs).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    /// Server CPU time (user + system, every process of its group) per complete request.
    pub cpu_us_per_request: Option<f64>,
    /// Server CPU seconds per wall second per server CPU (1.0: its CPUs were saturated).
    pub cpu_utilization: Option<f64>,
    /// Resident memory of the server's processes at the end of the window, KiB.
    pub rss_kib: u64,
    /// Threads of the server's processes at the end of the window.
    pub threads: u64,
    /// Scale: the server's resident memory with the connections open and idle, less before
    /// they were opened, per connection, KiB.
    #[serde(default)]
    pub rss_per_connection_kib: Option<f64>,
    /// Scale: the kernel's memory for the server's end of the idle connections (its sockets,
    /// their inodes, files, epoll entries and buffers), KiB; RSS does not show it.
    #[serde(default)]
    pub kernel_kib: Option<f64>,
    /// Scale: `kernel_kib` per connection.
    #[serde(default)]
    pub kernel_kib_per_connection: Option<f64>,
}

/// A merged p99 more than this many times the median of the runs' p99s is flagged as one run's
/// outlier.
pub const OUTLIER_P99: f64 = 2.0;

/// An open-loop run that achieves less than this share of its offered rate is flagged.
pub const RATE_MET: f64 = 0.99;

/// Facts about the load generator during a cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellMeta {
    /// Load-generator CPU per complete request (median of the runs), µs.
    pub load_cpu_us_per_request: Option<f64>,
    /// Load-generator CPU seconds per wall second per load CPU (median of the runs).
    pub load_cpu_utilization: Option<f64>,
    /// The load generator's CPUs were saturated (≥ 90%): the client may be the bottleneck.
    pub client_bound: bool,
    /// The CPUs the load threads were allowed on, read back after pinning.
    pub load_cpus_in_force: Vec<usize>,
    /// The machine's floor p50 for this cell's kind of request (keep-alive or not) under its
    /// CPU sleep policy, µs: the calibration's (see [`Results::calibration`]).
    #[serde(default)]
    pub floor_p50_us: Option<f64>,
    /// The CPUs the server was pinned to for this cell (with workers as an axis, the first N
    /// server CPUs), as asked.
    #[serde(default)]
    pub server_cpus: Vec<usize>,
    /// The CPUs the server's process was allowed on, read back after pinning (empty: a server
    /// on another host, pinned there).
    #[serde(default)]
    pub server_cpus_in_force: Vec<usize>,
}

/// The merged histograms of a cell's runs (nanoseconds).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Histograms {
    /// Request latency; in an open loop, from the intended send (corrected).
    pub latency: Encoded,
    pub connect: Encoded,
    pub ttfb: Encoded,
    /// Open loop: latency from the actual send (uncorrected).
    #[serde(default)]
    pub uncorrected: Option<Encoded>,
    /// Open loop: the generator's own lateness in sending.
    #[serde(default)]
    pub send_lag: Option<Encoded>,
}

/// One variant at one level of one scenario. The ab figures come from the median run (by
/// requests per second); the percentiles from all runs' merged histograms.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cell {
    pub scenario: String,
    pub variant: String,
    pub workers: usize,
    /// Workers is one of the scenario's axes (`workers = [..]`): the cell is keyed by
    /// (scenario, variant, workers, level) and its labels name the workers (`w=2 c=5`).
    /// Otherwise `workers` is the variant's own, the same in all its cells.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub workers_axis: bool,
    pub mode: Mode,
    /// Connections at once: the level of a closed-loop cell.
    pub concurrency: usize,
    /// Offered requests per second: the level of an open-loop cell.
    #[serde(default)]
    pub rate: Option<f64>,
    pub keep_alive: bool,
    pub requests: u64,
    pub complete: u64,
    pub failed: u64,
    pub failures: Failures,
    pub non_2xx: u64,
    pub total_transferred_bytes: u64,
    pub html_transferred_bytes: u64,
    pub time_taken_s: f64,
    /// `None` when the server died during the cell: a rate would be meaningless.
    pub requests_per_second: Option<f64>,
    pub time_per_request_ms: Option<f64>,
    pub transfer_rate_kb_s: Option<f64>,
    /// In an open loop, from the intended send time (corrected for coordinated omission).
    pub latency_us: Percentiles,
    pub connect_us: Percentiles,
    pub ttfb_us: Percentiles,
    /// Open loop: the rate achieved (complete responses per second of the window).
    #[serde(default)]
    pub achieved_rate: Option<f64>,
    /// Open loop: latency from the actual send, what a closed loop would have reported.
    #[serde(default)]
    pub uncorrected_latency_us: Option<Percentiles>,
    /// Open loop: how late the generator sent (actual minus due time).
    #[serde(default)]
    pub send_lag_us: Option<Percentiles>,
    pub server: Option<Cost>,
    pub meta: CellMeta,
    /// TCP's trouble over all runs (listen overflows, SYN retransmits), when it was read.
    #[serde(default)]
    pub tcp: Option<TcpCounters>,
    /// Mechanics per request, each side's from its run with the median system calls.
    #[serde(default)]
    pub mechanics: Option<Sides>,
    /// Where the server's time went in one extra, profiled run (`profile = true`).
    #[serde(default)]
    pub profile: Option<Profile>,
    /// With a request mix, each path's own figures over all runs (the cell's are of them all).
    #[serde(default)]
    pub paths: Vec<PathStats>,
    pub runs: Vec<Run>,
    /// Requests per second over the runs, with more than one.
    pub requests_per_second_spread: Option<Spread>,
    /// The spread exceeds 20% of the median.
    pub noisy: bool,
    /// Failed requests over all runs (the exit status depends on it).
    pub failed_all_runs: u64,
    pub status: Status,
    /// Anything worth knowing about how the cell was measured, in words.
    pub notes: Vec<String>,
    pub histograms: Histograms,
}

impl Cell {
    /// The level as a column heading: `c=5`, or `1000/s` for an open-loop cell; with workers
    /// as an axis, the workers first: `w=2 c=5`.
    pub fn level_label(&self) -> String {
        match self.workers_on_axis() {
            Some(workers) => format!("w={workers} {}", self.load_label()),
            None => self.load_label(),
        }
    }

    /// The load alone as a heading (`c=5`, `1000/s`), whatever the workers.
    pub fn load_label(&self) -> String {
        level_label(self.rate, self.concurrency)
    }

    /// The load level as a number, for plotting: concurrency or rate.
    pub fn level(&self) -> f64 {
        self.rate.unwrap_or(self.concurrency as f64)
    }

    /// Its workers, where workers is one of its scenario's axes.
    pub fn workers_on_axis(&self) -> Option<usize> {
        self.workers_axis.then_some(self.workers)
    }

    /// Whether this cell sits at the same level of its scenario as `other`: the same load and,
    /// where workers is an axis, the same workers. (Without the axis, each variant's own
    /// workers are how it is run, not where the cell sits: variants with different workers
    /// still compare at a level.)
    pub fn same_level(&self, other: &Cell) -> bool {
        self.level() == other.level() && self.workers_on_axis() == other.workers_on_axis()
    }

    /// The order of levels in tables and matrices: by workers (on the axis), then by load.
    pub fn level_order(&self, other: &Cell) -> std::cmp::Ordering {
        self.workers_on_axis().cmp(&other.workers_on_axis()).then(self.level().total_cmp(&other.level()))
    }

    /// Whether this cell and `other` are the same measurement point: (scenario, variant,
    /// workers, level). A variant whose own workers changed between two sweeps without the
    /// axis is still the same point, measured differently (`compare` lists the change among
    /// the settings that differ); on the axis the workers are part of where a cell sits.
    pub fn same_point(&self, other: &Cell) -> bool {
        let workers = self.workers == other.workers || !(self.workers_axis || other.workers_axis);
        self.scenario == other.scenario
            && self.variant == other.variant
            && self.level() == other.level()
            && workers
    }

    /// An open loop that achieved under [`RATE_MET`] of its offered rate (the median over runs).
    pub fn under_offered_rate(&self) -> bool {
        matches!((self.rate, self.achieved_rate), (Some(rate), Some(got)) if got < rate * RATE_MET)
    }

    /// The median of the runs' own p99s (µs): unlike the merged histogram's, one run's outlier
    /// cannot move it.
    pub fn p99_of_runs(&self) -> Option<f64> {
        let p99s: Vec<f64> = self.runs.iter().filter(|r| r.complete > 0).map(|r| r.latency_us.p99).collect();
        crate::stats::median(&p99s)
    }

    /// Whether the merged p99 is more than [`OUTLIER_P99`] times the median of the runs' p99s:
    /// it then says more about one run than about the variant.
    pub fn p99_from_one_run(&self) -> bool {
        self.runs.len() > 1
            && self.complete > 0
            && self
                .p99_of_runs()
                .is_some_and(|median| median > 0.0 && self.latency_us.p99 > OUTLIER_P99 * median)
    }

    /// Whether the load generator's CPUs were saturated: requests per second then measure it.
    pub fn client_bound(&self) -> bool {
        self.meta.client_bound
    }

    /// Whether the cell is a clean measurement: every run complete, nothing failed.
    pub fn is_clean(&self) -> bool {
        self.failed_all_runs == 0 && self.status == Status::Complete
    }
}

/// A level as a column heading: `c=5`, or `1000/s` for an offered rate.
pub fn level_label(rate: Option<f64>, concurrency: usize) -> String {
    match rate {
        Some(rate) => format!("{rate:.0}/s"),
        None => format!("c={concurrency}"),
    }
}

/// Why a variant could not be (fully) measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// It cannot run on this machine at all (io_uring denied, a program not installed): one
    /// line says why, and the sweep's verdict does not depend on it.
    NotRunnable,
    /// Its answer was wrong, or it did not start or stop as it should.
    Failed,
}

/// A variant that could not be (fully) measured, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub variant: String,
    pub kind: ProblemKind,
    pub problem: String,
}

impl Results {
    /// Whether every cell ran cleanly and no runnable variant had a problem. Variants that
    /// cannot run here do not count (see [`ProblemKind::NotRunnable`]).
    pub fn all_clean(&self) -> bool {
        self.problems.iter().all(|p| p.kind == ProblemKind::NotRunnable)
            && self.cells.iter().all(Cell::is_clean)
    }

    /// Makes the first variant (in the matrix's order) that has cells the baseline when the
    /// baseline itself has none (it failed to start, or cannot run here), so every ratio has
    /// something to divide by; returns what to say about it.
    pub fn replace_missing_baseline(&mut self) -> Option<String> {
        let baseline = self.meta.baseline.clone();
        if self.cells.is_empty() || self.cells.iter().any(|c| c.variant == baseline) {
            return None;
        }
        let instead = self.variant_names().first()?.to_string();
        let said = format!(
            "the baseline `{baseline}` has no measured cell (see Problems); `{instead}`, the next variant measured, is the baseline instead"
        );
        self.meta.baseline = instead;
        self.meta.warnings.push(said.clone());
        Some(said)
    }

    /// Measured runs kept, and runs the plan held (every scenario's levels × repeats × every
    /// variant): what an interrupted sweep still has.
    pub fn runs_kept(&self) -> (usize, usize) {
        let kept = self.cells.iter().map(|c| c.runs.len()).sum();
        let planned = self
            .meta
            .scenarios
            .iter()
            .map(|s| s.cells_per_variant() * s.repeat * self.meta.variants.len())
            .sum::<usize>();
        (kept, planned.max(kept))
    }

    /// The cells one of whose runs was stopped midway (`†`).
    pub fn cut_cells(&self) -> Vec<&Cell> {
        self.cells.iter().filter(|c| matches!(c.status, Status::CutShort | Status::Interrupted)).collect()
    }

    /// A sentence on what an interrupted sweep kept, for reports and `compare`.
    pub fn interruption(&self) -> Option<String> {
        if !self.interrupted {
            return None;
        }
        let (kept, planned) = self.runs_kept();
        let cut: Vec<String> = self
            .cut_cells()
            .iter()
            .map(|c| format!("{} {} {}", c.scenario, c.variant, c.level_label()))
            .collect();
        let cut = if cut.is_empty() {
            "no run was cut midway".to_owned()
        } else {
            format!("cut midway (`†`): {}", cut.join(", "))
        };
        Some(format!(
            "the sweep was stopped (Ctrl-C or SIGTERM) before its plan was done: it kept {kept} of {planned} planned runs; {cut}"
        ))
    }

    /// The variants that have cells, in the matrix's order (then any others, as they appear).
    pub fn variant_names(&self) -> Vec<&str> {
        let declared = self.meta.variants.iter().map(|v| v.name.as_str());
        let measured = self.cells.iter().map(|cell| cell.variant.as_str());
        first_seen(declared.chain(measured))
            .into_iter()
            .filter(|name| self.cells.iter().any(|c| c.variant == *name))
            .collect()
    }

    /// The scenarios that have cells, in the matrix's order (then any others, as they
    /// appear): the sweep may measure them in another order (grouped by workers).
    pub fn scenario_names(&self) -> Vec<&str> {
        let declared = self.meta.scenarios.iter().map(|s| s.name.as_str());
        let measured = self.cells.iter().map(|cell| cell.scenario.as_str());
        first_seen(declared.chain(measured))
            .into_iter()
            .filter(|name| self.cells.iter().any(|c| c.scenario == *name))
            .collect()
    }

    /// The cells of one scenario.
    pub fn scenario_cells<'a>(&'a self, scenario: &'a str) -> impl Iterator<Item = &'a Cell> + 'a {
        self.cells.iter().filter(move |cell| cell.scenario == scenario)
    }

    /// The scenario's settings.
    pub fn scenario(&self, name: &str) -> Option<&ScenarioMeta> {
        self.meta.scenarios.iter().find(|s| s.name == name)
    }

    /// Reads `results.json` (or a results directory holding one), saying clearly what is
    /// wrong with it: unreadable, not JSON, or written by an older harness.
    pub fn read(path: &std::path::Path) -> Result<Results, ReadError> {
        let file = if path.is_dir() { path.join("results.json") } else { path.to_path_buf() };
        let shown = file.display().to_string();
        let text = std::fs::read_to_string(&file).map_err(|err| ReadError::Io(shown.clone(), err))?;
        Results::parse(&text, &shown)
    }

    /// Reads the text of a results file named `file` (for messages): what [`Results::read`]
    /// does once it has the text. Whatever the text holds, the answer is results every
    /// renderer can draw, or an error naming `file`, never a panic (`fuzz/`'s `results`
    /// target holds it to that).
    pub fn parse(text: &str, file: &str) -> Result<Results, ReadError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|err| ReadError::Json(file.to_owned(), err))?;
        let version = value.get("schema_version").and_then(serde_json::Value::as_u64);
        if version != Some(u64::from(SCHEMA_VERSION)) {
            return Err(ReadError::Schema { file: file.to_owned(), found: version });
        }
        serde_json::from_value(value).map_err(|err| ReadError::Json(file.to_owned(), err))
    }
}

/// Why a results file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}: cannot read: {1}")]
    Io(String, #[source] std::io::Error),
    #[error("{0}: not a results file: {1}")]
    Json(String, #[source] serde_json::Error),
    #[error(
        "{file}: written with results schema {}, this harness reads schema {SCHEMA_VERSION} (rerun the sweep, or use the harness that wrote it)",
        found.map_or_else(|| "1 (no schema_version field)".to_owned(), |v| v.to_string())
    )]
    Schema { file: String, found: Option<u64> },
}

fn first_seen<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen: Vec<&str> = Vec::new();
    for item in items {
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    seen
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// With workers as an axis a cell's point is (scenario, variant, workers, level), and its
    /// labels say the workers; without it, a variant's own workers are how it ran, not where.
    #[test]
    fn workers_on_the_axis_are_part_of_the_point() {
        let at = |workers: usize, axis: bool| Cell {
            workers,
            workers_axis: axis,
            ..cell_with_runs("tokio", 16, &[])
        };
        let (one, two) = (at(1, true), at(2, true));
        assert_eq!((one.level_label(), two.level_label()), ("w=1 c=16".to_owned(), "w=2 c=16".to_owned()));
        assert_eq!(two.load_label(), "c=16");
        assert!(!one.same_level(&two) && !one.same_point(&two));
        assert_eq!(one.level_order(&two), std::cmp::Ordering::Less);
        assert!(one.same_point(&at(1, true)));
        // No axis: the variant's own workers changed between two sweeps, still the same point.
        let (own_one, own_four) = (at(1, false), at(4, false));
        assert_eq!(own_four.level_label(), "c=16");
        assert!(own_one.same_level(&own_four) && own_one.same_point(&own_four));
        // A sweep without the axis against one with it: only the same workers match.
        assert!(own_one.same_point(&one) && !own_one.same_point(&two));
        assert!(!own_one.same_level(&one), "within one sweep a level is either on the axis or not");
    }

    /// `workers_axis` is written only where it is true, and a file without it (older, or no
    /// axis) reads as no axis: schema 2 stays readable both ways.
    #[test]
    fn the_workers_axis_round_trips_and_older_cells_read() {
        let mut cell = cell_with_runs("tokio", 16, &[1000.0]);
        let plain = serde_json::to_value(&cell).expect("json");
        assert!(plain.get("workers_axis").is_none(), "{plain}");
        cell.workers = 2;
        cell.workers_axis = true;
        cell.meta.server_cpus = vec![0, 1];
        let json = serde_json::to_string(&cell).expect("json");
        let back: Cell = serde_json::from_str(&json).expect("read back");
        assert_eq!((back.workers, back.workers_axis, back.meta.server_cpus), (2, true, vec![0, 1]));
        let mut older = plain;
        let meta = older["meta"].as_object_mut().expect("meta");
        meta.remove("server_cpus");
        meta.remove("server_cpus_in_force");
        let read: Cell = serde_json::from_value(older).expect("an older cell reads");
        assert!(!read.workers_axis && read.meta.server_cpus.is_empty());
    }

    /// The (upper) median of `rates`: the median run's, as `summarize` picks it.
    fn upper_median(rates: &[f64]) -> Option<f64> {
        let mut sorted = rates.to_vec();
        sorted.sort_by(f64::total_cmp);
        sorted.get(sorted.len() / 2).copied()
    }

    /// A cell of `variant` at `concurrency` whose runs had these requests per second (and a
    /// fixed latency and cost), for tests of renderers and comparisons.
    pub(crate) fn cell_with_runs(variant: &str, concurrency: usize, rates: &[f64]) -> Cell {
        let p = Percentiles { mean: 61.25, p50: 58.0, p90: 70.5, p99: 120.0, p999: 450.5, max: 900.0 };
        let cost = Cost {
            cpu_us_per_request: Some(8.5),
            cpu_utilization: Some(0.9),
            rss_kib: 4096,
            threads: 2,
            rss_per_connection_kib: None,
            kernel_kib: None,
            kernel_kib_per_connection: None,
        };
        let runs: Vec<Run> = rates
            .iter()
            .enumerate()
            .map(|(i, rate)| Run {
                started_at: 1_700_000_000_000 + i as u64,
                time_taken_s: 1000.0 / rate,
                requests_per_second: Some(*rate),
                complete: 1000,
                failed: 0,
                non_2xx: 0,
                latency_us: Percentiles { p99: 100.0 + i as f64, ..p },
                server: Some(Cost { cpu_us_per_request: Some(8.0 + i as f64 / 10.0), ..cost }),
                load_cpu_us_per_request: Some(5.0),
                status: Status::Complete,
                tcp: None,
                mechanics: None,
                intervals: Vec::new(),
            })
            .collect();
        Cell {
            scenario: crate::plan::CLASSIC.into(),
            variant: variant.into(),
            workers: 1,
            workers_axis: false,
            mode: Mode::Closed,
            concurrency,
            rate: None,
            keep_alive: false,
            requests: 1000,
            complete: 1000,
            failed: 0,
            failures: Failures::default(),
            non_2xx: 0,
            total_transferred_bytes: 122_000,
            html_transferred_bytes: 14_000,
            time_taken_s: 1.0,
            requests_per_second: upper_median(rates),
            time_per_request_ms: Some(1.0),
            transfer_rate_kb_s: Some(119.14),
            latency_us: p,
            connect_us: p,
            ttfb_us: p,
            achieved_rate: None,
            uncorrected_latency_us: None,
            send_lag_us: None,
            server: Some(cost),
            meta: CellMeta {
                load_cpu_us_per_request: Some(5.0),
                load_cpu_utilization: Some(0.5),
                client_bound: false,
                load_cpus_in_force: vec![1],
                floor_p50_us: None,
                server_cpus: vec![0],
                server_cpus_in_force: vec![0],
            },
            tcp: None,
            mechanics: None,
            profile: None,
            paths: Vec::new(),
            requests_per_second_spread: Spread::of(rates),
            noisy: false,
            failed_all_runs: 0,
            status: Status::Complete,
            notes: Vec::new(),
            histograms: Histograms::default(),
            runs,
        }
    }
}
