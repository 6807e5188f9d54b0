//! `matrix.toml` → a validated [`Plan`]. The document is parsed first and then every table is
//! checked by hand, so one pass reports every unknown key, wrong type and invalid value at
//! once, each as `matrix.toml:LINE:COL: message`, before anything starts.
//!
//! # The file
//! - `[sweep]`: measurement settings (the defaults of every scenario), plus `order` and
//!   `baseline`, which apply to the whole sweep. A closed loop (`concurrency`), an open loop
//!   (`mode = "open"`, `rate`, `duration`, `warmup_time`, `connections`) or many connections
//!   (`connections = [..]`, `idle_time`). `workers = [1, 2, 4]` makes workers an axis: every
//!   variant at each value, pinned to the first N server CPUs.
//! - `[[scenario]]`: a `name` and any `[sweep]` setting; none means one scenario, `classic`.
//! - `[placement]`: `server_cpus`, `load_cpus`, `server_host`, `load_hosts`, `cpu_idle` (a
//!   `[[scenario]]` may set its own `cpu_idle`).
//! - `[[host]]`: `name`, `launcher`, `address`, `harness` (see `hosts`).
//! - `[[variant]]`: `name`, `builtin` or `command`, `config`, `port`, `workers`, `verify`.
//! - A scenario's `files = { dir, size, count }` and `cache`: see `files`.

mod document;
mod files;
mod hosts;

use std::ops::Range;
use std::time::Duration;

use toml::de::DeTable;

use crate::machine::idle::CpuIdle;
use crate::plan::{
    defaults, Counting, Launch, Load, Order, Placement, Plan, Scenario, VariantPlan, Verify, CLASSIC,
};
use crate::registry;
pub use document::{line_column, Mistake};
use document::{At, Mistakes, OneOrMany};

/// Everything wrong with a matrix file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub mistakes: Vec<Mistake>,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, mistake) in self.mistakes.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}:{}:{}: {}", self.file, mistake.line, mistake.column, mistake.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Most requests per second an open loop may offer, and most slow clients.
const MAX_RATE: f64 = 10_000_000.0;
const MAX_SLOW_CLIENTS: i64 = 10_000;
/// Bounds that keep a sweep finite and the load generator sane.
const MAX_REQUESTS: i64 = 100_000_000;
const MAX_CONCURRENCY: i64 = 100_000;
const MAX_REPEAT: i64 = 100;
const MAX_WORKERS: i64 = 1024;
/// Deepest pipeline: TechEmpower's is 16; far more only fills socket buffers.
const MAX_PIPELINE: i64 = 1024;
/// Largest weight of a path in a mix.
const MAX_WEIGHT: i64 = 1_000_000;
/// The CPUs a list for another host may name (Linux's CPU_SETSIZE).
const ANY_HOST_CPUS: usize = 1024;

/// The keys a scenario (and `[sweep]`, as their defaults) may set.
const SETTING_KEYS: [&str; 23] = [
    "requests",
    "concurrency",
    "keep_alive",
    "warmup",
    "repeat",
    "path",
    "timeout",
    "max_run_time",
    "mode",
    "rate",
    "duration",
    "warmup_time",
    "connections",
    "idle_time",
    "slow_clients",
    "profile",
    "pipeline",
    "mix",
    "seed",
    "interval",
    "workers",
    "files",
    "cache",
];

/// Parses and validates `source` (named `file` in messages) for a machine with `cpus` CPUs.
pub fn parse(file: &str, source: &str, cpus: usize) -> Result<Plan, ConfigError> {
    let fail = |mistakes: Vec<Mistake>| ConfigError { file: file.to_owned(), mistakes };
    let (document, syntax) = DeTable::parse_recoverable(source);
    let mut mistakes = Mistakes::new(source);
    if !syntax.is_empty() {
        for err in syntax {
            mistakes.at(err.span().unwrap_or(0..0), err.message().trim().to_owned());
        }
        return Err(fail(mistakes.sorted()));
    }
    let root = document.get_ref();
    mistakes.unknown_keys(root, &["sweep", "scenario", "placement", "variant", "host"], "the file");
    let empty = DeTable::new();
    // The placement first: a workers axis is checked against the server CPUs it names.
    let hosts = hosts::hosts(root, &mut mistakes);
    let placement_table = mistakes.table(root, "placement").unwrap_or(&empty);
    let mut placement = placement(placement_table, cpus, &mut mistakes);
    (placement.server_host, placement.load_hosts) = hosts::placed(placement_table, &hosts, &mut mistakes);
    let sweep_table = mistakes.table(root, "sweep").unwrap_or(&empty);
    let sweep_keys: Vec<&str> =
        SETTING_KEYS.iter().copied().chain(["order", "baseline", "mechanics"]).collect();
    mistakes.unknown_keys(sweep_table, &sweep_keys, "[sweep]");
    let server_cpus = &placement.server_cpus;
    let defaults = settings(sweep_table, server_cpus, &mut mistakes);
    let order = order(sweep_table, &mut mistakes);
    let mut scenarios = scenarios(root, &defaults, server_cpus, &mut mistakes);
    let scenarios: Vec<(Scenario, Range<usize>)> = scenarios
        .drain(..)
        .map(|(mut scenario, span, own_idle)| {
            scenario.cpu_idle = own_idle.unwrap_or(placement.cpu_idle);
            (scenario, span)
        })
        .collect();
    let warnings = overlap_warnings(&placement, scenarios.iter().map(|(scenario, _)| scenario));
    let variants = variants(root, order, &mut mistakes);
    hosts::check_remote(
        &hosts,
        placement.server_host,
        &placement.load_hosts,
        &variants,
        &scenarios,
        &mut mistakes,
    );
    let mut variants: Vec<VariantPlan> = variants.into_iter().map(|(variant, _)| variant).collect();
    files::check(&scenarios, &placement, &mut variants, &mut mistakes);
    let scenarios: Vec<Scenario> = scenarios.into_iter().map(|(scenario, _)| scenario).collect();
    let baseline = baseline(sweep_table, &variants, &mut mistakes);
    let mechanics = mechanics(sweep_table, &mut mistakes);
    let mistakes = mistakes.sorted();
    if mistakes.is_empty() {
        Ok(Plan { scenarios, placement, hosts, variants, order, baseline, mechanics, warnings })
    } else {
        Err(fail(mistakes))
    }
}

/// A whole number in `range`, or a mistake at its position.
fn whole(value: &At<i64>, range: Range<i64>, what: &str, mistakes: &mut Mistakes<'_>) -> Option<u64> {
    if range.contains(&value.value) {
        u64::try_from(value.value).ok()
    } else {
        mistakes.at(
            value.span.clone(),
            format!("{what} must be from {} to {}, not {}", range.start, range.end - 1, value.value),
        );
        None
    }
}

/// A duration more than zero, or a mistake at its position.
fn duration(table: &DeTable<'_>, key: &str, mistakes: &mut Mistakes<'_>) -> Option<Duration> {
    let (duration, span) = parsed_duration(table, key, mistakes)?;
    if duration.is_zero() {
        mistakes.at(span, format!("{key} must be more than zero"));
        return None;
    }
    Some(duration)
}

/// A scenario's settings as written (each checked on its own); unset keys inherit.
#[derive(Debug, Clone, Default)]
struct Settings {
    requests: Option<At<u64>>,
    concurrency: Option<At<Vec<At<usize>>>>,
    keep_alive: Option<bool>,
    warmup: Option<u64>,
    repeat: Option<usize>,
    path: Option<String>,
    timeout: Option<Duration>,
    max_run_time: Option<Duration>,
    /// `Some(true)` for `mode = "open"`.
    open: Option<At<bool>>,
    rates: Option<At<Vec<At<f64>>>>,
    duration: Option<Duration>,
    warmup_time: Option<Duration>,
    connections: Option<At<OneOrMany>>,
    idle_time: Option<Duration>,
    slow_clients: Option<usize>,
    profile: Option<bool>,
    pipeline: Option<At<usize>>,
    mix: Option<At<Vec<(String, u32)>>>,
    seed: Option<u64>,
    interval: Option<Duration>,
    /// Workers as an axis, each checked (from 1, none twice, at most the server CPUs).
    workers: Option<Vec<usize>>,
    files: Option<At<files::FilesSetting>>,
    cache: Option<At<crate::plan::Cache>>,
}

fn settings(table: &DeTable<'_>, server_cpus: &[usize], mistakes: &mut Mistakes<'_>) -> Settings {
    let requests = mistakes.integer(table, "requests").and_then(|n| {
        let value = whole(&n, 1..MAX_REQUESTS + 1, "requests", mistakes)?;
        Some(At { value, span: n.span })
    });
    let concurrency = mistakes.integers(table, "concurrency").and_then(|list| {
        if list.value.is_empty() {
            mistakes.at(list.span.clone(), "concurrency needs at least one level");
            return None;
        }
        let levels = list
            .value
            .iter()
            .filter_map(|level| {
                let c = whole(level, 1..MAX_CONCURRENCY + 1, "a concurrency level", mistakes)?;
                Some(At { value: usize::try_from(c).ok()?, span: level.span.clone() })
            })
            .collect();
        Some(At { value: levels, span: list.span })
    });
    let warmup =
        mistakes.integer(table, "warmup").and_then(|w| whole(&w, 0..MAX_REQUESTS + 1, "warmup", mistakes));
    let repeat = mistakes
        .integer(table, "repeat")
        .and_then(|r| whole(&r, 1..MAX_REPEAT + 1, "repeat", mistakes))
        .and_then(|r| usize::try_from(r).ok());
    let path = mistakes.string(table, "path").and_then(|path| {
        let valid = path.value.starts_with('/') && path.value.bytes().all(|b| b.is_ascii_graphic());
        if !valid {
            mistakes
                .at(path.span, format!("path must start with / and be visible ASCII, not {:?}", path.value));
            return None;
        }
        Some(path.value)
    });
    let open = mistakes.string(table, "mode").and_then(|mode| match mode.value.as_str() {
        "closed" => Some(At { value: false, span: mode.span }),
        "open" => Some(At { value: true, span: mode.span }),
        other => {
            mistakes.at(mode.span, format!("mode must be \"closed\" or \"open\", not {other:?}"));
            None
        }
    });
    let rates = mistakes.numbers(table, "rate").and_then(|list| {
        if list.value.is_empty() {
            mistakes.at(list.span.clone(), "rate needs at least one level");
            return None;
        }
        let valid: Vec<At<f64>> = list
            .value
            .into_iter()
            .filter(|rate| {
                let ok = rate.value > 0.0 && rate.value <= MAX_RATE;
                if !ok {
                    mistakes.at(
                        rate.span.clone(),
                        format!(
                            "a rate must be more than 0 and at most {MAX_RATE} requests/s, not {}",
                            rate.value
                        ),
                    );
                }
                ok
            })
            .collect();
        Some(At { value: valid, span: list.span })
    });
    let slow_clients = mistakes
        .integer(table, "slow_clients")
        .and_then(|n| whole(&n, 0..MAX_SLOW_CLIENTS + 1, "slow_clients", mistakes))
        .and_then(|n| usize::try_from(n).ok());
    Settings {
        requests,
        concurrency,
        keep_alive: mistakes.boolean(table, "keep_alive").map(|b| b.value),
        warmup,
        repeat,
        path,
        timeout: duration(table, "timeout", mistakes),
        max_run_time: duration(table, "max_run_time", mistakes),
        open,
        rates,
        duration: duration(table, "duration", mistakes),
        warmup_time: duration_or_zero(table, "warmup_time", mistakes),
        connections: mistakes.integer_or_integers(table, "connections"),
        idle_time: duration(table, "idle_time", mistakes),
        slow_clients,
        profile: mistakes.boolean(table, "profile").map(|b| b.value),
        pipeline: mistakes.integer(table, "pipeline").and_then(|n| {
            let depth = whole(&n, 1..MAX_PIPELINE + 1, "pipeline", mistakes)?;
            Some(At { value: usize::try_from(depth).ok()?, span: n.span })
        }),
        mix: mix(table, mistakes),
        seed: mistakes.integer(table, "seed").and_then(|n| whole(&n, 0..i64::MAX, "seed", mistakes)),
        interval: interval(table, mistakes),
        workers: workers_axis(table, server_cpus, mistakes),
        files: files::files(table, mistakes),
        cache: files::cache(table, mistakes),
    }
}

/// Shortest `interval`: the server is read at every boundary, which takes a moment (on
/// another host, a round trip through its launcher).
const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// `interval`, at least [`MIN_INTERVAL`].
fn interval(table: &DeTable<'_>, mistakes: &mut Mistakes<'_>) -> Option<Duration> {
    let (interval, span) = parsed_duration(table, "interval", mistakes)?;
    if interval < MIN_INTERVAL {
        mistakes.at(
            span,
            format!(
                "interval must be at least {} ms (the server is read at every one)",
                MIN_INTERVAL.as_millis()
            ),
        );
        return None;
    }
    Some(interval)
}

/// `mix = { "/" = 99, "/work/1000" = 1 }`: paths (each like `path`) with whole weights.
fn mix(table: &DeTable<'_>, mistakes: &mut Mistakes<'_>) -> Option<At<Vec<(String, u32)>>> {
    let weights = mistakes.weights(table, "mix")?;
    if weights.value.is_empty() {
        mistakes
            .at(weights.span.clone(), "mix needs at least one path, e.g. { \"/\" = 99, \"/work/1000\" = 1 }");
        return None;
    }
    let mut mix = Vec::new();
    for (path, weight) in weights.value {
        let valid_path = path.value.starts_with('/') && path.value.bytes().all(|b| b.is_ascii_graphic());
        if !valid_path {
            mistakes.at(
                path.span.clone(),
                format!("a path in mix must start with / and be visible ASCII, not {:?}", path.value),
            );
        }
        let weight = whole(&weight, 1..MAX_WEIGHT + 1, &format!("the weight of {:?}", path.value), mistakes);
        if let (true, Some(weight)) = (valid_path, weight.and_then(|w| u32::try_from(w).ok())) {
            mix.push((path.value, weight));
        }
    }
    Some(At { value: mix, span: weights.span })
}

/// `workers = [1, 2, 4]`: each value from 1, none twice, and none more than the server CPUs
/// (at workers = N the server is pinned to the first N of them). Ascending, as plotted.
fn workers_axis(
    table: &DeTable<'_>,
    server_cpus: &[usize],
    mistakes: &mut Mistakes<'_>,
) -> Option<Vec<usize>> {
    let list = match mistakes.integer_or_integers(table, "workers")? {
        At { value: OneOrMany::Many(values), span } => At { value: values, span },
        At { span, .. } => {
            mistakes.at(
                span,
                "workers here is an axis, a list of values (`workers = [1, 2, 4]`, or `[2]` for one); a variant's \
                 own workers go in its [[variant]]",
            );
            return None;
        }
    };
    if list.value.is_empty() {
        mistakes.at(list.span.clone(), "workers needs at least one value (e.g. [1, 2, 4])");
        return None;
    }
    let mut seen: Vec<usize> = Vec::new();
    for value in &list.value {
        let Some(n) = whole(value, 1..MAX_WORKERS + 1, "a workers value", mistakes) else { continue };
        let n = n as usize;
        if seen.contains(&n) {
            mistakes.at(value.span.clone(), format!("workers {n} is listed twice"));
            continue;
        }
        if n > server_cpus.len() {
            mistakes.at(
                value.span.clone(),
                format!(
                    "workers {n} needs {n} server CPUs, but server_cpus = {server_cpus:?} names {}: at workers = N \
                     the server is pinned to the first N of them (name more in [placement] server_cpus)",
                    server_cpus.len()
                ),
            );
            continue;
        }
        seen.push(n);
    }
    seen.sort_unstable();
    Some(seen)
}

/// What the placement says before anything starts: server CPUs shared with the load, on one
/// machine. Scenarios with workers as an axis pin the servers to fewer CPUs at each value; the
/// sweep says so for those in their cells, when it measures them.
fn overlap_warnings<'a>(
    placement: &Placement,
    mut scenarios: impl Iterator<Item = &'a Scenario>,
) -> Vec<String> {
    let own_workers = scenarios.any(|scenario| scenario.workers.is_empty());
    own_workers.then(|| placement.overlap(None)).flatten().into_iter().collect()
}

/// A duration that may be zero.
fn duration_or_zero(table: &DeTable<'_>, key: &str, mistakes: &mut Mistakes<'_>) -> Option<Duration> {
    parsed_duration(table, key, mistakes).map(|(duration, _)| duration)
}

/// `key`'s duration (at most a year; see [`server_spec::cli::parse_duration`]) and where it
/// is written.
fn parsed_duration(
    table: &DeTable<'_>,
    key: &str,
    mistakes: &mut Mistakes<'_>,
) -> Option<(Duration, std::ops::Range<usize>)> {
    let text = mistakes.string(table, key)?;
    match server_spec::cli::parse_duration(&text.value) {
        Ok(duration) => Some((duration, text.span)),
        Err(err) => {
            mistakes.at(text.span, format!("{key}: {err}"));
            None
        }
    }
}

impl Settings {
    /// These settings over `base`: a key set here wins.
    fn over(&self, base: &Settings) -> Settings {
        Settings {
            requests: self.requests.clone().or_else(|| base.requests.clone()),
            concurrency: self.concurrency.clone().or_else(|| base.concurrency.clone()),
            keep_alive: self.keep_alive.or(base.keep_alive),
            warmup: self.warmup.or(base.warmup),
            repeat: self.repeat.or(base.repeat),
            path: self.path.clone().or_else(|| base.path.clone()),
            timeout: self.timeout.or(base.timeout),
            max_run_time: self.max_run_time.or(base.max_run_time),
            open: self.open.clone().or_else(|| base.open.clone()),
            rates: self.rates.clone().or_else(|| base.rates.clone()),
            duration: self.duration.or(base.duration),
            warmup_time: self.warmup_time.or(base.warmup_time),
            connections: self.connections.clone().or_else(|| base.connections.clone()),
            idle_time: self.idle_time.or(base.idle_time),
            slow_clients: self.slow_clients.or(base.slow_clients),
            profile: self.profile.or(base.profile),
            pipeline: self.pipeline.clone().or_else(|| base.pipeline.clone()),
            mix: self.mix.clone().or_else(|| base.mix.clone()),
            seed: self.seed.or(base.seed),
            interval: self.interval.or(base.interval),
            workers: self.workers.clone().or_else(|| base.workers.clone()),
            files: self.files.clone().or_else(|| base.files.clone()),
            cache: self.cache.clone().or_else(|| base.cache.clone()),
        }
    }

    /// The scenario these settings describe, with defaults for what is unset. `own` are the
    /// keys the scenario set itself (not inherited), for rules about what goes together.
    fn scenario(&self, name: String, own: &Settings, mistakes: &mut Mistakes<'_>) -> Scenario {
        let load = if self.open.as_ref().is_some_and(|o| o.value) {
            self.open_loop(own, mistakes)
        } else {
            self.closed_loop(own, mistakes)
        };
        // Many idle connections are persistent ones: a scale run is keep-alive whatever is set.
        let scale = matches!(load, Load::Scale { .. });
        let keep_alive = scale || self.keep_alive.unwrap_or(false);
        if let Some(pipeline) = self.pipeline.as_ref().filter(|p| p.value > 1) {
            let closed = matches!(load, Load::Closed { .. });
            if !closed || !keep_alive {
                mistakes.at(
                    pipeline.span.clone(),
                    "pipeline applies to a closed loop with keep_alive = true (requests written at once on a kept-alive connection)",
                );
            }
        }
        if let (Some(mix), Some(path)) = (&own.mix, &own.path) {
            mistakes.at(
                mix.span.clone(),
                format!("give path ({path:?}) or mix, not both: a mix names every path"),
            );
        }
        let mix: Vec<(String, u32)> = self.mix.as_ref().map(|m| m.value.clone()).unwrap_or_default();
        let max_run_time = match (&load, self.max_run_time) {
            // An open loop runs for its schedule: unless bounded by hand, the bound makes room
            // for it (and for its last requests' timeout).
            (Load::Open { duration, warmup_time, .. }, None) => defaults::MAX_RUN_TIME
                .max(*duration + *warmup_time + self.timeout.unwrap_or(defaults::TIMEOUT)),
            (_, given) => given.unwrap_or(defaults::MAX_RUN_TIME),
        };
        let files = self.scenario_files(own, mistakes);
        Scenario {
            name,
            load,
            keep_alive,
            warmup: self.warmup.unwrap_or(0),
            repeat: self.repeat.unwrap_or(defaults::REPEAT),
            path: mix
                .first()
                .map(|(path, _)| path.clone())
                .or_else(|| files.as_ref().map(|f| format!("{}{}", server_spec::files::PREFIX, f.names[0])))
                .or_else(|| self.path.clone())
                .unwrap_or_else(|| defaults::PATH.to_owned()),
            timeout: self.timeout.unwrap_or(defaults::TIMEOUT),
            max_run_time,
            slow_clients: self.slow_clients.unwrap_or(0),
            // Set from the scenario's own `cpu_idle` or [placement]'s once both are read.
            cpu_idle: CpuIdle::Native,
            profile: self.profile.unwrap_or(false),
            pipeline: self.pipeline.as_ref().map_or(defaults::PIPELINE, |p| p.value),
            mix,
            seed: self.seed.unwrap_or(defaults::SEED),
            interval: self.interval.unwrap_or(defaults::INTERVAL),
            workers: self.workers.clone().unwrap_or_default(),
            files,
        }
    }

    /// The scenario's files with their cache state; `files` goes with neither `path` nor
    /// `mix` (its files are every path), `cache` only with `files`.
    fn scenario_files(&self, own: &Settings, mistakes: &mut Mistakes<'_>) -> Option<crate::plan::Files> {
        let Some(files) = &self.files else {
            if let Some(cache) = &own.cache {
                mistakes
                    .at(cache.span.clone(), "cache applies to a scenario with files (files = { dir, size })");
            }
            return None;
        };
        if let (Some(files), Some(path)) = (&own.files, &own.path) {
            mistakes.at(
                files.span.clone(),
                format!("give path ({path:?}) or files, not both: the files are every path"),
            );
        }
        if let (Some(files), Some(_)) = (&own.files, &own.mix) {
            mistakes.at(files.span.clone(), "give mix or files, not both: requests spread over the files");
        }
        Some(crate::plan::Files {
            dir: files.value.dir.clone(),
            size: files.value.size,
            names: files.value.names.clone(),
            cache: self.cache.as_ref().map_or(defaults::CACHE, |c| c.value),
        })
    }

    /// A closed loop: ab's (`concurrency` levels) or many connections (`connections` levels).
    fn closed_loop(&self, own: &Settings, mistakes: &mut Mistakes<'_>) -> Load {
        let requests = self.requests.as_ref().map_or(defaults::REQUESTS, |r| r.value);
        if let Some(rates) = &own.rates {
            mistakes.at(rates.span.clone(), "rate applies to an open loop: add mode = \"open\"");
        }
        let levels = |list: &[At<i64>], what: &str, mistakes: &mut Mistakes<'_>| -> Vec<usize> {
            list.iter()
                .filter_map(|level| {
                    let n = whole(level, 1..MAX_CONCURRENCY + 1, what, mistakes)?;
                    if n > requests {
                        mistakes.at(
                            level.span.clone(),
                            format!("{what} {n} is more than the {requests} requests"),
                        );
                        return None;
                    }
                    usize::try_from(n).ok()
                })
                .collect()
        };
        match (&self.connections, &own.concurrency) {
            (Some(connections), own_concurrency) => {
                let OneOrMany::Many(list) = &connections.value else {
                    mistakes.at(
                        connections.span.clone(),
                        "in a closed loop, connections is a list of levels (many idle connections, e.g. [1000, 10000]); an open loop's pool is a single number",
                    );
                    return Load::Closed { requests, concurrency: Vec::new() };
                };
                if let Some(concurrency) = own_concurrency {
                    mistakes.at(
                        concurrency.span.clone(),
                        "give concurrency (ab's levels) or connections (many connections), not both",
                    );
                }
                if list.is_empty() {
                    mistakes.at(connections.span.clone(), "connections needs at least one level");
                }
                Load::Scale {
                    connections: levels(list, "a connections level", mistakes),
                    requests,
                    idle_time: self.idle_time.unwrap_or(defaults::IDLE_TIME),
                }
            }
            (None, _) => {
                let concurrency = match &self.concurrency {
                    None => defaults::CONCURRENCY.to_vec(),
                    Some(list) => {
                        let raw: Vec<At<i64>> = list
                            .value
                            .iter()
                            .map(|l| At { value: l.value as i64, span: l.span.clone() })
                            .collect();
                        levels(&raw, "concurrency", mistakes)
                    }
                };
                Load::Closed { requests, concurrency }
            }
        }
    }

    /// An open loop at the `rate` levels.
    fn open_loop(&self, own: &Settings, mistakes: &mut Mistakes<'_>) -> Load {
        let open_span = self.open.as_ref().map_or(0..0, |o| o.span.clone());
        for (set, key) in [
            (own.concurrency.as_ref().map(|c| c.span.clone()), "concurrency"),
            (own.requests.as_ref().map(|r| r.span.clone()), "requests"),
        ] {
            if let Some(span) = set {
                mistakes.at(
                    span,
                    format!("{key} does not apply to mode = \"open\" (it sends at `rate` for `duration`)"),
                );
            }
        }
        let rates = match &self.rates {
            Some(rates) => rates.value.iter().map(|r| r.value).collect(),
            None => {
                mistakes.at(
                    open_span.clone(),
                    "mode = \"open\" needs `rate = [..]`: the offered requests per second, one level each",
                );
                Vec::new()
            }
        };
        let connections = match &self.connections {
            None => defaults::OPEN_CONNECTIONS,
            Some(At { value: OneOrMany::One(n), .. }) => {
                whole(n, 1..MAX_CONCURRENCY + 1, "connections", mistakes)
                    .and_then(|n| usize::try_from(n).ok())
                    .unwrap_or(1)
            }
            Some(At { span, .. }) => {
                mistakes.at(
                    span.clone(),
                    "in an open loop, connections is one number: the pool the rate is spread over",
                );
                1
            }
        };
        let duration = self.duration.unwrap_or(defaults::DURATION);
        let warmup_time = self.warmup_time.unwrap_or(defaults::WARMUP_TIME);
        if let Some(bound) = self.max_run_time.filter(|bound| *bound < duration + warmup_time) {
            mistakes.at(
                open_span,
                format!(
                    "an open loop runs for warmup_time + duration ({:?}), longer than max_run_time ({bound:?}): \
                     every run would be cut short; raise max_run_time or leave it out",
                    duration + warmup_time
                ),
            );
        }
        Load::Open { rates, connections, duration, warmup_time }
    }
}

fn scenarios(
    root: &DeTable<'_>,
    defaults: &Settings,
    server_cpus: &[usize],
    mistakes: &mut Mistakes<'_>,
) -> Vec<(Scenario, Range<usize>, Option<CpuIdle>)> {
    let tables = mistakes.tables(root, "scenario");
    if tables.is_empty() {
        return vec![(defaults.scenario(CLASSIC.to_owned(), defaults, mistakes), 0..0, None)];
    }
    // A scenario may also keep its CPUs awake (or not) whatever [placement] says.
    let keys: Vec<&str> = ["name", "cpu_idle"].into_iter().chain(SETTING_KEYS).collect();
    let mut scenarios: Vec<(Scenario, Range<usize>, Option<CpuIdle>)> = Vec::new();
    for (table, span) in tables {
        mistakes.unknown_keys(table, &keys, "[[scenario]]");
        let name = match mistakes.string(table, "name") {
            Some(name) if name.value.trim().is_empty() => {
                mistakes.at(name.span, "a scenario needs a name");
                continue;
            }
            Some(name) => name,
            None => {
                if document::get(table, "name").is_none() {
                    mistakes.at(span, "a [[scenario]] needs a `name`");
                }
                continue;
            }
        };
        if scenarios.iter().any(|(s, _, _)| s.name == name.value) {
            mistakes.at(name.span.clone(), format!("scenario `{}` is listed twice", name.value));
        }
        let own = settings(table, server_cpus, mistakes);
        let idle = cpu_idle(table, mistakes);
        scenarios.push((own.over(defaults).scenario(name.value, &own, mistakes), span, idle));
    }
    scenarios
}

/// `mechanics = "extra-run" | "every-run" | "off"`; `true` is every run, `false` off.
fn mechanics(sweep: &DeTable<'_>, mistakes: &mut Mistakes<'_>) -> Counting {
    let Some(value) = document::get(sweep, "mechanics") else { return defaults::MECHANICS };
    if let toml::de::DeValue::Boolean(every) = value.get_ref() {
        return if *every { Counting::EveryRun } else { Counting::Off };
    }
    let Some(text) = mistakes.string(sweep, "mechanics") else { return defaults::MECHANICS };
    Counting::named(&text.value).unwrap_or_else(|| {
        mistakes.at(
            text.span,
            format!(
                "mechanics must be \"extra-run\", \"every-run\" or \"off\" (or true, false), not {:?}",
                text.value
            ),
        );
        defaults::MECHANICS
    })
}

/// `cpu_idle = "native" | "awake"`, if given.
fn cpu_idle(table: &DeTable<'_>, mistakes: &mut Mistakes<'_>) -> Option<CpuIdle> {
    let text = mistakes.string(table, "cpu_idle")?;
    let idle = CpuIdle::named(&text.value);
    if idle.is_none() {
        mistakes.at(text.span, format!("cpu_idle must be \"native\" or \"awake\", not {:?}", text.value));
    }
    idle
}

fn order(sweep: &DeTable<'_>, mistakes: &mut Mistakes<'_>) -> Order {
    match mistakes.string(sweep, "order") {
        None => Order::Interleaved,
        Some(order) => match order.value.as_str() {
            "interleaved" => Order::Interleaved,
            "grouped" => Order::Grouped,
            other => {
                mistakes
                    .at(order.span, format!("order must be \"interleaved\" or \"grouped\", not {other:?}"));
                Order::Interleaved
            }
        },
    }
}

fn baseline(sweep: &DeTable<'_>, variants: &[VariantPlan], mistakes: &mut Mistakes<'_>) -> String {
    let first = variants.first().map(|v| v.name.clone()).unwrap_or_default();
    let Some(baseline) = mistakes.string(sweep, "baseline") else { return first };
    if !variants.is_empty() && !variants.iter().any(|v| v.name == baseline.value) {
        mistakes.at(
            baseline.span,
            format!(
                "baseline `{}` is not a variant of this matrix (it has: {})",
                baseline.value,
                variants.iter().map(|v| v.name.as_str()).collect::<Vec<_>>().join(", ")
            ),
        );
        return first;
    }
    baseline.value
}

fn cpu_list(
    table: &DeTable<'_>,
    key: &str,
    default: usize,
    cpus: usize,
    mistakes: &mut Mistakes<'_>,
) -> Vec<usize> {
    let Some(list) = mistakes.integers(table, key) else { return vec![default] };
    if list.value.is_empty() && document::get(table, key).is_some() {
        mistakes.at(list.span.clone(), format!("{key} needs at least one CPU"));
    }
    let mut seen = Vec::new();
    for cpu in &list.value {
        let what = format!("a CPU in {key} (this machine has {cpus})");
        let Some(n) = whole(cpu, 0..cpus as i64, &what, mistakes) else { continue };
        let n = n as usize;
        if seen.contains(&n) {
            mistakes.at(cpu.span.clone(), format!("CPU {n} is listed twice in {key}"));
        }
        seen.push(n);
    }
    seen
}

fn placement(table: &DeTable<'_>, cpus: usize, mistakes: &mut Mistakes<'_>) -> Placement {
    mistakes.unknown_keys(
        table,
        &["server_cpus", "load_cpus", "server_host", "load_hosts", "cpu_idle"],
        "[placement]",
    );
    // Default on two or more CPUs: the server on CPU 0, the load on CPU 1.
    let load_default = usize::from(cpus > 1);
    // CPUs on another host are that host's: they cannot be checked against this machine's.
    let remote_server = document::get(table, "server_host").is_some();
    let remote_load = document::get(table, "load_hosts").is_some();
    let server_cpus =
        cpu_list(table, "server_cpus", 0, if remote_server { ANY_HOST_CPUS } else { cpus }, mistakes);
    let load_cpus =
        cpu_list(table, "load_cpus", load_default, if remote_load { ANY_HOST_CPUS } else { cpus }, mistakes);
    let cpu_idle = cpu_idle(table, mistakes).unwrap_or_default();
    Placement { server_cpus, load_cpus, server_host: None, load_hosts: Vec::new(), cpu_idle }
}

const VARIANT_KEYS: [&str; 7] = ["name", "builtin", "command", "port", "workers", "verify", "config"];

fn variants(
    root: &DeTable<'_>,
    order: Order,
    mistakes: &mut Mistakes<'_>,
) -> Vec<(VariantPlan, Range<usize>)> {
    let tables = mistakes.tables(root, "variant");
    if tables.is_empty() && document::get(root, "variant").is_none() {
        mistakes.at(0..0, format!("no [[variant]] to measure; built-in variants: {}", registry::names()));
    }
    let mut plans: Vec<(VariantPlan, Range<usize>)> = Vec::new();
    for (table, span) in tables {
        mistakes.unknown_keys(table, &VARIANT_KEYS, "[[variant]]");
        let before = plans.iter().map(|(plan, _)| plan);
        if let Some(plan) = variant(table, span.clone(), order, before, mistakes) {
            plans.push((plan, span));
        }
    }
    plans
}

/// One `[[variant]]`, checked against the ones before it.
fn variant<'a>(
    table: &DeTable<'_>,
    span: Range<usize>,
    order: Order,
    before: impl Iterator<Item = &'a VariantPlan> + Clone,
    mistakes: &mut Mistakes<'_>,
) -> Option<VariantPlan> {
    let name = mistakes.string(table, "name");
    let name = match name {
        Some(name) if name.value.trim().is_empty() => {
            mistakes.at(name.span.clone(), "a variant needs a name");
            name
        }
        Some(name) => name,
        None => {
            if document::get(table, "name").is_none() {
                mistakes.at(span.clone(), "a [[variant]] needs a `name`");
            }
            At { value: String::new(), span: span.clone() }
        }
    };
    if !name.value.is_empty() && before.clone().any(|plan| plan.name == name.value) {
        mistakes.at(name.span.clone(), format!("variant `{}` is listed twice", name.value));
    }
    let command = mistakes.strings(table, "command");
    let builtin = mistakes.string(table, "builtin");
    let launch = match (command, builtin) {
        (Some(_), Some(builtin)) => {
            mistakes.at(builtin.span, "give either `builtin` or `command`, not both");
            None
        }
        (Some(command), None) if command.value.is_empty() => {
            mistakes.at(command.span, "command needs at least the program");
            None
        }
        (Some(command), None) => {
            Some(Launch::Command(command.value.into_iter().map(|arg| arg.value).collect()))
        }
        (None, builtin) => {
            let wanted = builtin.unwrap_or_else(|| name.clone());
            match registry::find(&wanted.value) {
                Some(found) => Some(Launch::Builtin(found)),
                None if wanted.value.is_empty() => None,
                None => {
                    mistakes.at(
                        wanted.span,
                        format!(
                            "no built-in variant `{}` (built-ins: {}); give `command` to run another server",
                            wanted.value,
                            registry::names()
                        ),
                    );
                    None
                }
            }
        }
    };
    let external = matches!(launch, Some(Launch::Command(_)));
    let port_value = mistakes.integer(table, "port");
    let port = port_value.as_ref().and_then(|p| whole(p, 0..65536, "port", mistakes)).unwrap_or(0) as u16;
    if let Some(zero) = port_value.as_ref().filter(|p| external && p.value == 0) {
        // `port = 0` would hand the command `{port}` = 0: nothing could be waited for.
        mistakes.at(
            zero.span.clone(),
            format!(
                "variant `{}` runs a command, which cannot be given port 0 (it could not say which port it took): \
                 leave `port` out and the harness picks a free one below the ephemeral range",
                name.value
            ),
        );
    }
    if port != 0 && order == Order::Interleaved && before.clone().any(|plan| plan.port == port) {
        let at = port_value.map_or(span, |p| p.span);
        mistakes.at(
            at,
            format!(
                "port {port} is used by another variant; in interleaved order every server runs at once \
                 (give each its own port, or set [sweep] order = \"grouped\")"
            ),
        );
    }
    let workers = mistakes
        .integer(table, "workers")
        .and_then(|w| whole(&w, 1..MAX_WORKERS + 1, "workers", mistakes))
        .unwrap_or(1) as usize;
    let verify = match mistakes.string(table, "verify") {
        None if external => Verify::Status,
        None => Verify::Spec,
        Some(v) => Verify::named(&v.value).unwrap_or_else(|| {
            mistakes
                .at(v.span, format!("verify must be \"spec\", \"status\" or \"body\", not {:?}", v.value));
            Verify::Spec
        }),
    };
    let config = mistakes.string(table, "config").and_then(|config| {
        if !external {
            mistakes.at(
                config.span,
                "config is a template for a `command`'s configuration file; a built-in takes none",
            );
            return None;
        }
        if let Err(err) = std::fs::metadata(&config.value) {
            mistakes.at(
                config.span,
                format!(
                    "config: cannot read {:?} ({err}); paths are relative to where the harness runs",
                    config.value
                ),
            );
            return None;
        }
        Some(std::path::PathBuf::from(config.value))
    });
    Some(VariantPlan { name: name.value, launch: launch?, port, workers, verify, config, files: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mistakes(source: &str) -> Vec<String> {
        match parse("m.toml", source, 2) {
            Ok(plan) => panic!("expected mistakes, got {plan:?}"),
            Err(err) => err.to_string().lines().map(str::to_owned).collect(),
        }
    }

    #[test]
    fn a_command_needs_a_real_port_and_durations_stay_within_a_year() {
        let source = "[sweep]\ntimeout = \"300000000000y\"\n\n[[variant]]\nname = \"x\"\ncommand = [\"x\", \"{port}\"]\nport = 0\n";
        assert_eq!(
            mistakes(source),
            [
                "m.toml:2:11: timeout: `300000000000y`: at most a year",
                "m.toml:7:8: variant `x` runs a command, which cannot be given port 0 (it could not say which port it took): leave `port` out and the harness picks a free one below the ephemeral range",
            ]
        );
    }

    #[test]
    fn mechanics_are_counted_in_an_extra_run_unless_asked_otherwise() {
        let with = |value: &str| {
            let source = format!("[sweep]\n{value}\n[[variant]]\nname = \"tokio\"\n");
            parse("m.toml", &source, 2).map(|plan| plan.mechanics)
        };
        assert_eq!(with("").unwrap(), Counting::ExtraRun);
        assert_eq!(with("mechanics = \"extra-run\"").unwrap(), Counting::ExtraRun);
        assert_eq!(with("mechanics = \"every-run\"").unwrap(), Counting::EveryRun);
        assert_eq!(with("mechanics = true").unwrap(), Counting::EveryRun);
        assert_eq!(with("mechanics = \"off\"").unwrap(), Counting::Off);
        assert_eq!(with("mechanics = false").unwrap(), Counting::Off);
        assert_eq!(
            mistakes("[sweep]\nmechanics = \"sometimes\"\n[[variant]]\nname = \"tokio\"\n"),
            ["m.toml:2:13: mechanics must be \"extra-run\", \"every-run\" or \"off\" (or true, false), not \"sometimes\""]
        );
        assert_eq!(
            mistakes("[sweep]\nmechanics = 3\n[[variant]]\nname = \"tokio\"\n"),
            ["m.toml:2:13: `mechanics` must be a string, not a whole number"]
        );
    }

    #[test]
    fn defaults_reproduce_the_classic_sweep() {
        let plan = parse("m.toml", "[[variant]]\nname = \"tokio\"\n", 2).unwrap();
        assert_eq!(plan.scenarios.len(), 1);
        let classic = &plan.scenarios[0];
        assert_eq!(classic.name, "classic");
        assert_eq!(classic.load, Load::Closed { requests: 1000, concurrency: vec![1, 2, 3, 4, 5] });
        assert_eq!(classic.slow_clients, 0);
        assert!(!classic.keep_alive);
        assert_eq!((classic.repeat, classic.warmup), (1, 0));
        assert_eq!(classic.path, "/");
        assert_eq!(
            plan.placement,
            Placement {
                server_cpus: vec![0],
                load_cpus: vec![1],
                server_host: None,
                load_hosts: vec![],
                cpu_idle: CpuIdle::Native
            }
        );
        assert_eq!(plan.order, Order::Interleaved);
        assert_eq!(plan.baseline, "tokio");
        assert!(plan.warnings.is_empty());
        let variant = &plan.variants[0];
        assert_eq!((variant.port, variant.workers, variant.verify), (0, 1, Verify::Spec));
        assert!(matches!(variant.launch, Launch::Builtin(v) if v.name == "tokio"));
    }

    #[test]
    fn one_cpu_shares_and_warns() {
        let plan = parse("m.toml", "[[variant]]\nname = \"tokio\"\n", 1).unwrap();
        assert_eq!(
            plan.placement,
            Placement {
                server_cpus: vec![0],
                load_cpus: vec![0],
                server_host: None,
                load_hosts: vec![],
                cpu_idle: CpuIdle::Native
            }
        );
        assert_eq!(plan.warnings.len(), 1);
    }

    #[test]
    fn external_command() {
        let source =
            "[[variant]]\nname = \"nginx\"\ncommand = [\"nginx\", \"-p\", \"{port}\"]\nport = 8080\n";
        let plan = parse("m.toml", source, 2).unwrap();
        assert!(matches!(&plan.variants[0].launch, Launch::Command(c) if c.len() == 3));
        assert_eq!(plan.variants[0].verify, Verify::Status);
        // Without `port`, the harness picks one when it starts the command (0 here).
        let picked = parse("m.toml", &source.replace("port = 8080\n", ""), 2).unwrap();
        assert_eq!(picked.variants[0].port, 0);
    }

    #[test]
    fn scenarios_inherit_from_sweep() {
        let source = r#"[sweep]
requests = 200
keep_alive = true
repeat = 5
order = "grouped"
baseline = "smol"

[[scenario]]
name = "short"
concurrency = [1]

[[scenario]]
name = "long"
requests = 5000
keep_alive = false

[[variant]]
name = "tokio"
[[variant]]
name = "smol"
"#;
        let plan = parse("m.toml", source, 2).unwrap();
        let names: Vec<&str> = plan.scenarios.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["short", "long"]);
        let (short, long) = (&plan.scenarios[0], &plan.scenarios[1]);
        assert_eq!(short.load, Load::Closed { requests: 200, concurrency: vec![1] });
        assert_eq!((short.keep_alive, short.repeat), (true, 5));
        assert_eq!(long.load, Load::Closed { requests: 5000, concurrency: vec![1, 2, 3, 4, 5] });
        assert_eq!((long.keep_alive, long.repeat), (false, 5));
        assert_eq!(plan.order, Order::Grouped);
        assert_eq!(plan.baseline, "smol");
    }

    #[test]
    fn open_loop_and_scale_scenarios() {
        let source = r#"[sweep]
keep_alive = true
slow_clients = 3

[[scenario]]
name = "rate"
mode = "open"
rate = [1000, 2500.5]
duration = "3s"
connections = 20

[[scenario]]
name = "scale"
connections = [1000, 10000]
requests = 20000
idle_time = "1s"

[[scenario]]
name = "open-defaults"
mode = "open"
rate = [10]

[[variant]]
name = "tokio"
"#;
        let plan = parse("m.toml", source, 2).unwrap();
        assert_eq!(
            plan.scenarios[0].load,
            Load::Open {
                rates: vec![1000.0, 2500.5],
                connections: 20,
                duration: Duration::from_secs(3),
                warmup_time: defaults::WARMUP_TIME
            }
        );
        assert_eq!(plan.scenarios[0].slow_clients, 3, "inherited from [sweep]");
        assert_eq!(
            plan.scenarios[1].load,
            Load::Scale {
                connections: vec![1000, 10000],
                requests: 20000,
                idle_time: Duration::from_secs(1)
            }
        );
        assert_eq!(
            plan.scenarios[2].load,
            Load::Open {
                rates: vec![10.0],
                connections: defaults::OPEN_CONNECTIONS,
                duration: defaults::DURATION,
                warmup_time: defaults::WARMUP_TIME
            }
        );
    }

    /// A long open loop's bound makes room for it; one set by hand too short is a mistake.
    #[test]
    fn an_open_loop_fits_its_bound_and_keeps_intervals() {
        let source = "[sweep]\nmode = \"open\"\nrate = [5000]\nduration = \"10m\"\nwarmup_time = \"5s\"\ninterval = \"30s\"\n\n[[variant]]\nname = \"tokio\"\n";
        let plan = parse("m.toml", source, 2).unwrap();
        let scenario = &plan.scenarios[0];
        assert_eq!(scenario.max_run_time, Duration::from_secs(600 + 5 + 10));
        assert_eq!(scenario.interval, Duration::from_secs(30));
        let defaults = parse("m.toml", "[[variant]]\nname = \"tokio\"\n", 2).unwrap();
        assert_eq!(defaults.scenarios[0].interval, defaults::INTERVAL);
        let bounded = source.replace("interval = \"30s\"", "max_run_time = \"1m\"\ninterval = \"50ms\"");
        let found = mistakes(&bounded);
        assert!(found[0].starts_with("m.toml:2:8: an open loop runs for warmup_time + duration (605s), longer than max_run_time (60s)"), "{found:?}");
        assert!(found[1].starts_with("m.toml:7:12: interval must be at least 100 ms"), "{found:?}");
    }

    #[test]
    fn open_loop_problems() {
        let source = r#"[[scenario]]
name = "a"
mode = "open"

[[scenario]]
name = "b"
mode = "open"
rate = [0, "fast"]
concurrency = [5]
connections = [1, 2]

[[scenario]]
name = "c"
rate = [100]
connections = 5
mode = "sideways"

[[variant]]
name = "tokio"
"#;
        let found = mistakes(source);
        let expect = [
            "m.toml:3:8: mode = \"open\" needs `rate = [..]`",
            "m.toml:8:9: a rate must be more than 0",
            "m.toml:8:12: each of `rate` must be a number, not a string",
            "m.toml:9:15: concurrency does not apply to mode = \"open\"",
            "m.toml:10:15: in an open loop, connections is one number",
            "m.toml:14:8: rate applies to an open loop",
            "m.toml:15:15: in a closed loop, connections is a list of levels",
            "m.toml:16:8: mode must be \"closed\" or \"open\", not \"sideways\"",
        ];
        assert_eq!(found.len(), expect.len(), "{found:#?}");
        for (got, want) in found.iter().zip(expect) {
            assert!(got.starts_with(want), "want {want:?}\nall: {found:#?}");
        }
    }

    #[test]
    fn scenario_problems_have_positions() {
        let source = "[sweep]\nrequests = 3\n\n[[scenario]]\nconcurrency = [1]\n\n[[scenario]]\nname = \"a\"\nconcurrency = [4]\nbogus = 1\n\n[[scenario]]\nname = \"a\"\n\n[[variant]]\nname = \"tokio\"\n";
        let found = mistakes(source);
        let expect = [
            "m.toml:4:1: a [[scenario]] needs a `name`",
            "m.toml:9:16: concurrency 4 is more than the 3 requests",
            "m.toml:10:1: unknown key `bogus` in [[scenario]]",
            "m.toml:13:8: scenario `a` is listed twice",
        ];
        assert_eq!(found.len(), expect.len(), "{found:#?}");
        for (got, want) in found.iter().zip(expect) {
            assert!(got.starts_with(want), "want {want:?}\nall: {found:#?}");
        }
    }

    #[test]
    fn syntax_errors_have_line_and_column() {
        let found = mistakes("[sweep]\nrequests = = 3\n");
        assert!(found[0].starts_with("m.toml:2:"), "{found:?}");
        let unknown = mistakes("[sweep]\nrequest = 3\n[[variant]]\nname = \"tokio\"\n");
        assert!(unknown[0].starts_with("m.toml:2:1: unknown key `request` in [sweep]"), "{unknown:?}");
        let wrong_type = mistakes("[sweep]\nrequests = \"many\"\n[[variant]]\nname = \"tokio\"\n");
        assert!(
            wrong_type[0].starts_with("m.toml:2:12: `requests` must be a whole number, not a string"),
            "{wrong_type:?}"
        );
    }

    /// Unknown keys, wrong types and invalid values, all in one pass.
    #[test]
    fn every_problem_is_reported_at_once() {
        let source = r#"[sweep]
requests = 0
concurrency = [0, 2000000]
repeat = "5"
path = "nope"
timeout = "soon"
keep_alive = 1
order = "random"
colour = "blue"

[placement]
server_cpus = [7]
load_cpus = []
cpu = 1

[[variant]]
name = "tokio"
workers = 0
verify = "maybe"

[[variant]]
name = "tokio"

[[variant]]
name = "mystery"

[[variant]]
name = "ext"
command = []

[[variant]]
name = "ext2"
command = ["x"]

[[variant]]
name = "both"
builtin = "tokio"
command = ["x", 3]
port = 99999
wrokers = 2
"#;
        let found = mistakes(source);
        let expect = [
            "m.toml:2:12: requests must be from 1 to 100000000, not 0",
            "m.toml:3:16: a concurrency level must be from 1 to 100000, not 0",
            "m.toml:3:19: a concurrency level must be from 1 to 100000, not 2000000",
            "m.toml:4:10: `repeat` must be a whole number, not a string",
            "m.toml:5:8: path must start with / and be visible ASCII",
            "m.toml:6:11: timeout: `soon`",
            "m.toml:7:14: `keep_alive` must be true or false, not a whole number",
            "m.toml:8:9: order must be \"interleaved\" or \"grouped\", not \"random\"",
            "m.toml:9:1: unknown key `colour` in [sweep]",
            "m.toml:12:16: a CPU in server_cpus (this machine has 2) must be from 0 to 1, not 7",
            "m.toml:13:13: load_cpus needs at least one CPU",
            "m.toml:14:1: unknown key `cpu` in [placement]",
            "m.toml:18:11: workers must be from 1 to 1024, not 0",
            "m.toml:19:10: verify must be \"spec\", \"status\" or \"body\", not \"maybe\"",
            "m.toml:22:8: variant `tokio` is listed twice",
            "m.toml:25:8: no built-in variant `mystery`",
            "m.toml:29:11: command needs at least the program",
            "m.toml:37:11: give either `builtin` or `command`, not both",
            "m.toml:38:17: each of `command` must be a string, not a whole number",
            "m.toml:39:8: port must be from 0 to 65535, not 99999",
            "m.toml:40:1: unknown key `wrokers` in [[variant]]",
        ];
        for (i, want) in expect.iter().enumerate() {
            assert!(
                found.get(i).is_some_and(|got| got.starts_with(want)),
                "mistake {i}: want {want:?}\nall: {found:#?}"
            );
        }
        assert_eq!(found.len(), expect.len(), "{found:#?}");
    }

    #[test]
    fn ports_and_baseline() {
        let source = "[sweep]\nrequests = 3\nbaseline = \"nope\"\n[[variant]]\nname = \"tokio\"\nport = 5\n[[variant]]\nname = \"smol\"\nport = 5\n";
        let found = mistakes(source);
        assert!(found[0].starts_with("m.toml:3:12: baseline `nope` is not a variant"), "{found:?}");
        assert!(found[1].starts_with("m.toml:9:8: port 5 is used by another variant"), "{found:?}");
        // Grouped order runs one server at a time: sharing a port is fine.
        let grouped = source.replace("baseline = \"nope\"", "order = \"grouped\"");
        assert!(parse("m.toml", &grouped, 2).is_ok());
    }

    /// `workers = [..]` on [sweep] or a scenario: an axis, ascending, inherited like any setting;
    /// a plan warns up front only of overlaps at the variants' own workers.
    #[test]
    fn workers_as_an_axis() {
        let source = r#"[sweep]
workers = [2, 1]

[[scenario]]
name = "scaling"

[[scenario]]
name = "one"
workers = [1]

[placement]
server_cpus = [0, 1]
load_cpus = [1]

[[variant]]
name = "tokio"
"#;
        let plan = parse("m.toml", source, 2).unwrap();
        assert_eq!(plan.scenarios[0].workers, [1, 2], "inherited, ascending");
        assert_eq!(plan.scenarios[1].workers, [1]);
        assert!(plan.warnings.is_empty(), "no scenario runs on every server CPU: {:?}", plan.warnings);
        assert_eq!(plan.server_setup(0, Some(1)), crate::plan::ServerSetup { workers: 1, cpus: vec![0] });
        assert_eq!(plan.server_setup(0, None), crate::plan::ServerSetup { workers: 1, cpus: vec![0, 1] });
        assert_eq!(plan.placement.overlap(Some(1)), None);
        let overlap = plan.placement.overlap(Some(2)).expect("CPU 1 is the load's");
        assert!(
            overlap.starts_with("at workers = 2 the server is pinned to CPUs 0-1, which include"),
            "{overlap}"
        );
        // Without an axis the whole server_cpus is used: the overlap is said before anything runs.
        let own = source.replace("workers = [2, 1]\n", "").replace("workers = [1]\n", "");
        let plan = parse("m.toml", &own, 2).unwrap();
        assert!(plan.scenarios.iter().all(|s| s.workers.is_empty()));
        assert_eq!(plan.warnings.len(), 1, "{:?}", plan.warnings);
    }

    /// 0, a value twice, more than server_cpus names, an empty list, a wrong type: every one at
    /// once, each where it is written.
    #[test]
    fn workers_axis_mistakes() {
        let source = r#"[sweep]
workers = [0, 1, 1, 4]

[[scenario]]
name = "a"
workers = []

[[scenario]]
name = "b"
workers = [2, "x", 3]

[[scenario]]
name = "c"
workers = 2

[placement]
server_cpus = [0, 1]

[[variant]]
name = "tokio"
"#;
        let found = mistakes(source);
        let expect = [
            "m.toml:2:12: a workers value must be from 1 to 1024, not 0",
            "m.toml:2:18: workers 1 is listed twice",
            "m.toml:2:21: workers 4 needs 4 server CPUs, but server_cpus = [0, 1] names 2",
            "m.toml:6:11: workers needs at least one value",
            "m.toml:10:15: each of `workers` must be a whole number, not a string",
            "m.toml:10:20: workers 3 needs 3 server CPUs",
            "m.toml:14:11: workers here is an axis, a list of values",
        ];
        assert_eq!(found.len(), expect.len(), "{found:#?}");
        for (got, want) in found.iter().zip(expect) {
            assert!(got.starts_with(want), "want {want:?}\nall: {found:#?}");
        }
    }

    #[test]
    fn no_variants() {
        assert!(mistakes("[sweep]\nrequests = 5\n")[0].starts_with("m.toml:1:1: no [[variant]] to measure"));
    }

    #[test]
    fn only_filters_and_refuses_unknown_names() {
        let source = "[[variant]]\nname = \"tokio\"\n[[variant]]\nname = \"smol\"\n";
        let mut plan = parse("m.toml", source, 2).unwrap();
        assert!(plan.keep_only(&["nope".into()]).is_err());
        plan.keep_only(&["smol".into()]).unwrap();
        assert_eq!(plan.variants.len(), 1);
        assert_eq!(plan.variants[0].name, "smol");
        assert_eq!(plan.baseline, "smol", "the baseline follows --only");
    }
}
