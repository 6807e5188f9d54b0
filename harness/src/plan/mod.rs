//! A validated sweep: what [`crate::matrix`] makes of `matrix.toml`, in types that cannot hold
//! an invalid state. The sweep reads only this.

pub mod defaults;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use server_common::Variant;

pub use crate::machine::idle::CpuIdle;

/// Everything a sweep will do.
#[derive(Debug, Clone)]
pub struct Plan {
    /// What is measured, in order; a file without `[[scenario]]` has one, `classic`.
    pub scenarios: Vec<Scenario>,
    pub placement: Placement,
    /// Other machines (or network namespaces), reached through a launcher.
    pub hosts: Vec<Host>,
    pub variants: Vec<VariantPlan>,
    pub order: Order,
    /// The variant every other is compared with (a name from `variants`).
    pub baseline: String,
    /// When each server's (and load thread's) system calls, context switches and migrations
    /// are counted (see [`crate::mechanics`]).
    pub mechanics: Counting,
    /// Things worth saying that do not stop the sweep (e.g. overlapping CPUs).
    pub warnings: Vec<String>,
}

/// The name of the scenario a file without `[[scenario]]` tables describes.
pub const CLASSIC: &str = "classic";

/// One named set of measurement settings; its cells are (scenario, variant, level).
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    /// How load is applied, and what the levels are.
    pub load: Load,
    pub keep_alive: bool,
    /// Requests sent (and not recorded) before each measured run (closed loops).
    pub warmup: u64,
    /// Measured runs per cell; histograms merge across them.
    pub repeat: usize,
    pub path: String,
    /// A request not answered in this time fails as a timeout.
    pub timeout: Duration,
    /// Hard bound on one run; what is still open then fails as timeouts.
    pub max_run_time: Duration,
    /// Extra connections that trickle a request head one byte per second during every
    /// measured run (slowloris), to show each model under slow clients.
    pub slow_clients: usize,
    /// Whether the measured CPUs may sleep during its runs (its own, or `[placement]`'s).
    pub cpu_idle: CpuIdle,
    /// One extra run per cell under `perf record`: a flame graph and the top symbols.
    pub profile: bool,
    /// Requests each keep-alive connection writes at once (HTTP/1.1 pipelining); 1: one at a time.
    pub pipeline: usize,
    /// A request mix: (path, weight), each request drawing its path; empty: every request is
    /// `path`.
    pub mix: Vec<(String, u32)>,
    /// Seeds the draw of paths, so a mix's run is reproducible.
    pub seed: u64,
    /// Each run's figures are also kept per interval of this length, with the server read at
    /// every boundary (memory, descriptors, CPU): drift over a long run.
    pub interval: Duration,
    /// Workers as an axis (`workers = [1, 2, 4]`, ascending, each at most the server CPUs):
    /// every variant is measured at each, started with `--workers N` and pinned to the first N
    /// server CPUs. Empty: each variant runs with its own `workers` on all the server CPUs.
    pub workers: Vec<usize>,
    /// Files from disk: requests spread over a corpus's files of one size (drawn with
    /// `seed`), in or out of the page cache before every run.
    pub files: Option<Files>,
}

/// A scenario's files: the corpus files of one size it requests (see [`crate::corpus`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Files {
    /// The corpus directory, which every server is given (`--files DIR`, nginx's `{files}`).
    pub dir: std::path::PathBuf,
    /// The files' size in bytes.
    pub size: u64,
    /// The files' names, in order; each request draws one.
    pub names: Vec<String>,
    pub cache: Cache,
}

impl Files {
    /// The files' paths on disk.
    pub fn paths(&self) -> Vec<std::path::PathBuf> {
        self.names.iter().map(|name| self.dir.join(name)).collect()
    }
}

/// Where a scenario's files are when each measured run starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cache {
    /// Read once, whole, just before the run: served from the page cache.
    Warm,
    /// Dropped from the page cache just before the run: every file's first request reads
    /// the disk.
    Cold,
}

impl Cache {
    /// Its name in `matrix.toml` and the reports.
    pub fn name(self) -> &'static str {
        match self {
            Cache::Warm => "warm",
            Cache::Cold => "cold",
        }
    }
}

impl Scenario {
    /// The paths requests go to with their weights: the files' (one each), or the mix.
    pub fn request_mix(&self) -> Vec<(String, u32)> {
        match &self.files {
            Some(files) if files.names.len() > 1 => {
                files.names.iter().map(|name| (format!("{}{name}", server_spec::files::PREFIX), 1)).collect()
            }
            _ => self.mix.clone(),
        }
    }
}

/// How a scenario loads the server; each variant has one cell per level.
#[derive(Debug, Clone, PartialEq)]
pub enum Load {
    /// ab's closed loop: `requests` shared by `concurrency` connections, one level each.
    Closed { requests: u64, concurrency: Vec<usize> },
    /// A fixed offered rate (requests/s, one level each) spread over `connections`, each
    /// following its own schedule of intended send times (wrk2); latency counts from the
    /// intended time. `warmup_time` of that schedule comes first, not recorded; then
    /// `duration` is measured.
    Open { rates: Vec<f64>, connections: usize, duration: Duration, warmup_time: Duration },
    /// Many connections: each level opens that many keep-alive connections first (their
    /// connect times recorded), sends `requests` over them, then holds them idle for
    /// `idle_time` while the server's memory is sampled.
    Scale { connections: Vec<usize>, requests: u64, idle_time: Duration },
}

impl Load {
    /// How many levels (cells per variant).
    pub fn levels(&self) -> usize {
        match self {
            Load::Closed { concurrency, .. } => concurrency.len(),
            Load::Open { rates, .. } => rates.len(),
            Load::Scale { connections, .. } => connections.len(),
        }
    }

    /// The results' mode: a scale run is a closed loop.
    pub fn mode(&self) -> Mode {
        match self {
            Load::Closed { .. } | Load::Scale { .. } => Mode::Closed,
            Load::Open { .. } => Mode::Open,
        }
    }
}

/// Open loop or closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Closed,
    Open,
}

/// When a sweep counts system calls, context switches and migrations (`[sweep] mechanics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counting {
    /// Not at all.
    Off,
    /// In one more run of each closed-loop cell after its measured runs, on its server's
    /// processes as they are then: the measured runs never carry the counters' cost, and the
    /// figures are that run's exact counts (one sample, so no significance).
    ExtraRun,
    /// In every measured run, each server counted from its first instruction: per-run figures
    /// for significance and the CI gate, at a cost to every figure of those runs (the counters
    /// cost the servers 13–29% of their CPU per request here).
    EveryRun,
}

impl Counting {
    /// As `matrix.toml` names it.
    pub fn named(text: &str) -> Option<Counting> {
        match text {
            "off" => Some(Counting::Off),
            "extra-run" => Some(Counting::ExtraRun),
            "every-run" => Some(Counting::EveryRun),
            _ => None,
        }
    }
}

/// In which order cells are measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Every server runs at once; each repeat round measures every cell once, the variant
    /// order rotating between rounds, so drift on a shared machine hits every variant alike.
    Interleaved,
    /// One variant at a time, all its cells, then the next (variants may share a port).
    Grouped,
}

impl Order {
    pub fn name(self) -> &'static str {
        match self {
            Order::Interleaved => "interleaved",
            Order::Grouped => "grouped",
        }
    }
}

/// Which CPUs (and hosts) the servers and the load generator get.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    pub server_cpus: Vec<usize>,
    pub load_cpus: Vec<usize>,
    /// Where the servers run: `None` is this machine; otherwise an index into `Plan::hosts`.
    pub server_host: Option<usize>,
    /// Where the load comes from: empty is this machine; otherwise indices into `Plan::hosts`,
    /// the load split evenly between them.
    pub load_hosts: Vec<usize>,
    /// Whether the measured CPUs may sleep during the runs, unless a scenario says otherwise.
    pub cpu_idle: CpuIdle,
}

impl Placement {
    /// Whether the servers and the load run on one machine, where their CPUs can collide.
    pub fn shares_machine(&self) -> bool {
        match self.server_host {
            None => self.load_hosts.is_empty(),
            Some(host) => self.load_hosts.contains(&host),
        }
    }

    /// The CPUs a server is pinned to: the first `workers` of `server_cpus` where workers is
    /// an axis (the matrix refuses more than it names), all of them otherwise.
    pub fn server_cpus_for(&self, workers: Option<usize>) -> &[usize] {
        match workers {
            Some(n) => &self.server_cpus[..n.min(self.server_cpus.len())],
            None => &self.server_cpus,
        }
    }

    /// What to say when the servers' CPUs at `workers` (an axis value, or `None` for each
    /// variant's own) include some of the load's, on one machine; `None` when they are apart.
    pub fn overlap(&self, workers: Option<usize>) -> Option<String> {
        if !self.shares_machine() {
            return None;
        }
        let cpus = self.server_cpus_for(workers);
        let shared: Vec<usize> = cpus.iter().copied().filter(|cpu| self.load_cpus.contains(cpu)).collect();
        if shared.is_empty() {
            return None;
        }
        let shared = shared.iter().map(usize::to_string).collect::<Vec<_>>().join(", ");
        Some(match workers {
            None => format!(
                "server and load share CPU {shared}: the load generator competes with the server it measures"
            ),
            Some(n) => format!(
                "at workers = {n} the server is pinned to CPUs {}, which include the load generator's CPU {shared}: \
                 this placement cannot give {n} server CPUs apart from the load, so the load competes with the \
                 server it measures",
                crate::affinity::cpu_list(cpus)
            ),
        })
    }
}

/// How one variant's server is started for some of its cells: the workers it is given and the
/// CPUs it is pinned to. A server already running with another setup is restarted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSetup {
    /// `--workers` for a built-in, `{workers}` for a command.
    pub workers: usize,
    pub cpus: Vec<usize>,
}

/// Another machine, reached by prefixing commands with its launcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub name: String,
    /// A command prefix that runs a program there: `["ssh", "-o", "BatchMode=yes",
    /// "bench@10.0.0.2"]`, or `["ip", "netns", "exec", "srv"]` for a network namespace.
    pub launcher: Vec<String>,
    /// The address clients connect to.
    pub address: std::net::IpAddr,
    /// The harness binary there.
    pub harness: String,
    /// Whether the launcher hands the command to a shell as one line, as `ssh` does (it joins
    /// its arguments with spaces for the remote user's shell): every argument is then quoted
    /// for that shell, so a name with spaces, quotes, `;` or `$(…)` arrives as one argument,
    /// never as shell. `ip netns exec` runs the program directly: nothing is quoted.
    pub shell: bool,
}

/// One server to measure.
#[derive(Debug, Clone)]
pub struct VariantPlan {
    pub name: String,
    pub launch: Launch,
    /// 0: a built-in picks a free port and announces it; a `command` gets one the harness picks
    /// below the ephemeral range when it starts it (see [`crate::matrix`]'s port rule).
    pub port: u16,
    pub workers: usize,
    pub verify: Verify,
    /// A configuration template for a `command`: `{port}` and `{workers}` are filled into a
    /// temporary copy, which the command names as `{config}`.
    pub config: Option<std::path::PathBuf>,
    /// The corpus directory the scenarios' files come from: a built-in gets `--files DIR`,
    /// a command's arguments and config their `{files}`.
    pub files: Option<std::path::PathBuf>,
}

/// How a server is started.
#[derive(Debug, Clone)]
pub enum Launch {
    /// `harness serve NAME` in a child process.
    Builtin(&'static Variant),
    /// Any program; `{port}` and `{workers}` in its arguments are replaced.
    Command(Vec<String>),
}

/// How a server's answer is checked before it is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Byte for byte against the spec (apart from `Date`).
    Spec,
    /// A 2xx status and a body (framed by its length, or by the close without keep-alive).
    Status,
    /// Status 200 and the spec's exact body; the head's fields are free (a reference server
    /// such as nginx, whose fields differ from the spec's).
    Body,
}

impl Verify {
    /// Every mode, as `verify = "…"` and `--how` name them.
    pub const ALL: [Verify; 3] = [Verify::Spec, Verify::Status, Verify::Body];

    /// Its name in `matrix.toml` and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Verify::Spec => "spec",
            Verify::Status => "status",
            Verify::Body => "body",
        }
    }

    /// The mode named `name`.
    pub fn named(name: &str) -> Option<Verify> {
        Verify::ALL.into_iter().find(|v| v.name() == name)
    }
}

impl Plan {
    /// How `variant`'s server runs at `workers` (an axis value; `None`: its own workers).
    pub fn server_setup(&self, variant: usize, workers: Option<usize>) -> ServerSetup {
        ServerSetup {
            workers: workers.unwrap_or(self.variants[variant].workers),
            cpus: self.placement.server_cpus_for(workers).to_vec(),
        }
    }

    /// Profiles every scenario (the `--profile` option).
    pub fn profile_all(&mut self) {
        for scenario in &mut self.scenarios {
            scenario.profile = true;
        }
    }

    /// Keeps only the variants named in `only` (the `--only` option).
    pub fn keep_only(&mut self, only: &[String]) -> anyhow::Result<()> {
        if only.is_empty() {
            return Ok(());
        }
        for name in only {
            anyhow::ensure!(
                self.variants.iter().any(|v| &v.name == name),
                "--only: no variant `{name}` in the matrix (it has: {})",
                self.variants.iter().map(|v| v.name.as_str()).collect::<Vec<_>>().join(", ")
            );
        }
        self.variants.retain(|variant| only.contains(&variant.name));
        if !self.variants.iter().any(|v| v.name == self.baseline) {
            let instead = self.variants[0].name.clone();
            self.warnings.push(format!(
                "--only leaves out the baseline `{}`; `{instead}` (the first variant kept) is the baseline instead",
                self.baseline
            ));
            self.baseline = instead;
        }
        Ok(())
    }
}
