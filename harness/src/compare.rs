//! Comparing measurements, like benchstat: two cells (the same point in two sweeps, or a
//! variant and the baseline in one), metric by metric, with a Mann–Whitney U test on their
//! runs saying whether the difference is more than noise.

use serde::Serialize;

use crate::results::{Cell, Mechanics, Results, ScenarioMeta, Sides};
use crate::stats::{mann_whitney, median};

/// A figure compared between cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    RequestsPerSecond,
    P50,
    P99,
    ServerCpu,
    /// The server's system calls per request (see [`crate::mechanics`]).
    ServerSyscalls,
    /// The server's context switches per request, voluntary and involuntary.
    ServerSwitches,
}

impl Metric {
    /// Every metric `harness compare` reports, in order.
    pub const ALL: [Metric; 6] = [
        Metric::RequestsPerSecond,
        Metric::P50,
        Metric::P99,
        Metric::ServerCpu,
        Metric::ServerSyscalls,
        Metric::ServerSwitches,
    ];

    /// Its name in JSON and headings.
    pub fn key(self) -> &'static str {
        match self {
            Metric::RequestsPerSecond => "requests_per_second",
            Metric::P50 => "p50_us",
            Metric::P99 => "p99_us",
            Metric::ServerCpu => "server_cpu_us_per_request",
            Metric::ServerSyscalls => "server_syscalls_per_request",
            Metric::ServerSwitches => "server_switches_per_request",
        }
    }

    /// Its title in reports, with which way is better.
    pub fn title(self) -> &'static str {
        match self {
            Metric::RequestsPerSecond => "Requests per second (higher is better)",
            Metric::P50 => "p50 latency, µs (lower is better)",
            Metric::P99 => "p99 latency, µs (lower is better)",
            Metric::ServerCpu => "Server CPU per request, µs (lower is better)",
            Metric::ServerSyscalls => "Server system calls per request (lower is better)",
            Metric::ServerSwitches => "Server context switches per request (lower is better)",
        }
    }

    /// Its name in a sentence.
    pub fn name(self) -> &'static str {
        match self {
            Metric::RequestsPerSecond => "requests per second",
            Metric::P50 => "p50 latency",
            Metric::P99 => "p99 latency",
            Metric::ServerCpu => "server CPU per request",
            Metric::ServerSyscalls => "server system calls per request",
            Metric::ServerSwitches => "server context switches per request",
        }
    }

    /// Whether more is better (requests per second) or less (latency, CPU).
    pub fn higher_is_better(self) -> bool {
        matches!(self, Metric::RequestsPerSecond)
    }

    /// A ratio new/old (or variant/baseline) in words: `better`, `worse` or `same`.
    pub fn judge(self, ratio: f64) -> &'static str {
        if (ratio - 1.0).abs() < 1e-9 {
            "same"
        } else if (ratio > 1.0) == self.higher_is_better() {
            "better"
        } else {
            "worse"
        }
    }

    /// Each run's value (the samples the test compares).
    pub fn runs(self, cell: &Cell) -> Vec<f64> {
        cell.runs
            .iter()
            .filter_map(|run| match self {
                Metric::RequestsPerSecond => run.requests_per_second,
                Metric::P50 => (run.complete > 0).then_some(run.latency_us.p50),
                Metric::P99 => (run.complete > 0).then_some(run.latency_us.p99),
                Metric::ServerCpu => run.server.and_then(|s| s.cpu_us_per_request),
                Metric::ServerSyscalls => {
                    server_mechanics(run.mechanics.as_ref()).map(|m| m.syscalls_per_request)
                }
                Metric::ServerSwitches => {
                    server_mechanics(run.mechanics.as_ref()).map(Mechanics::switches_per_request)
                }
            })
            .collect()
    }

    /// The cell's figure for this metric, as its tables show it: the median run's rate (none
    /// when the server died), the merged histograms' percentiles, the median of the runs' CPU.
    pub fn figure(self, cell: &Cell) -> Option<f64> {
        match self {
            Metric::RequestsPerSecond => cell.requests_per_second,
            Metric::P50 => (cell.complete > 0).then_some(cell.latency_us.p50),
            Metric::P99 => (cell.complete > 0).then_some(cell.latency_us.p99),
            Metric::ServerCpu => cell.server.and_then(|s| s.cpu_us_per_request),
            Metric::ServerSyscalls => {
                server_mechanics(cell.mechanics.as_ref()).map(|m| m.syscalls_per_request)
            }
            Metric::ServerSwitches => {
                server_mechanics(cell.mechanics.as_ref()).map(Mechanics::switches_per_request)
            }
        }
    }
}

/// The server's side of some mechanics.
fn server_mechanics(sides: Option<&Sides>) -> Option<&Mechanics> {
    sides.and_then(|s| s.server.as_ref())
}

/// One metric of one point, old against new.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub scenario: String,
    pub variant: String,
    /// The level: `c=5`, or `1000/s`; with workers as an axis `w=2 c=5`.
    pub level: String,
    /// The workers, where they are an axis of the scenario (part of the point).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workers: Option<usize>,
    pub metric: &'static str,
    pub old_median: Option<f64>,
    pub new_median: Option<f64>,
    /// (new − old) / old, in percent.
    pub delta_pct: Option<f64>,
    pub p_value: Option<f64>,
    /// p < 0.05 with at least 4 runs a side.
    pub significant: bool,
    /// Runs on each side.
    pub runs: (usize, usize),
}

/// The metrics to compare two cells on: all, but the mechanics only where either side counted
/// them (`mechanics = true`).
fn measured<'a>(old: &'a Cell, new: &'a Cell) -> impl Iterator<Item = Metric> + 'a {
    Metric::ALL.into_iter().filter(|m| {
        !matches!(m, Metric::ServerSyscalls | Metric::ServerSwitches)
            || m.figure(old).is_some()
            || m.figure(new).is_some()
    })
}

/// Compares `metric` of `old` and `new`; `variant` names the row (for a baseline comparison
/// it is the new cell's variant).
pub fn row(old: &Cell, new: &Cell, metric: Metric) -> Row {
    let (a, b) = (metric.runs(old), metric.runs(new));
    let (old_median, new_median) = (median(&a), median(&b));
    let delta_pct = old_median.zip(new_median).and_then(|(o, n)| (o != 0.0).then(|| (n - o) / o * 100.0));
    let outcome = mann_whitney::test(&a, &b);
    let enough = a.len() >= mann_whitney::MIN_RUNS && b.len() >= mann_whitney::MIN_RUNS;
    Row {
        scenario: new.scenario.clone(),
        variant: new.variant.clone(),
        level: new.level_label(),
        workers: new.workers_on_axis(),
        metric: metric.key(),
        old_median,
        new_median,
        delta_pct,
        p_value: outcome.map(|o| o.p_value),
        significant: enough && outcome.is_some_and(|o| o.significant()),
        runs: (a.len(), b.len()),
    }
}

/// A setting that differs between two sweeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    pub setting: String,
    pub old: String,
    pub new: String,
}

/// What `harness compare` found.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub settings_differ: Vec<Difference>,
    /// Two sweeps of the same commit, build, machine, placement and settings: whatever
    /// differs between them is the machine drifting (false for one sweep against its baseline).
    pub same_settings: bool,
    pub rows: Vec<Row>,
    /// Geometric means of the new/old ratios, per metric, over rows that have both sides.
    pub geomean: Vec<GeoMean>,
    pub warnings: Vec<String>,
    /// Points only one side has.
    pub unmatched: Vec<String>,
}

/// benchstat's summary row: how much a metric moved over all matched points.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GeoMean {
    pub metric: &'static str,
    pub old: Option<f64>,
    pub new: Option<f64>,
    pub delta_pct: Option<f64>,
}

/// `results`' cells in the matrix's order: scenario, then variant (as the matrix lists them),
/// then level (workers first, where they are an axis); not in the order they finished
/// (interleaved rounds rotate the variants).
pub fn in_matrix_order(results: &Results) -> Vec<&Cell> {
    let scenarios = results.scenario_names();
    let variants = results.variant_names();
    let place = |names: &[&str], name: &str| names.iter().position(|n| *n == name).unwrap_or(usize::MAX);
    let mut cells: Vec<&Cell> = results.cells.iter().collect();
    cells.sort_by(|a, b| {
        (place(&scenarios, &a.scenario), place(&variants, &a.variant))
            .cmp(&(place(&scenarios, &b.scenario), place(&variants, &b.variant)))
            .then(a.level_order(b))
    });
    cells
}

/// Compares every point of `old` with the same point (scenario, variant, workers, level) of
/// `new` (see [`Cell::same_point`]).
pub fn sweeps(old: &Results, new: &Results) -> Comparison {
    let mut rows = Vec::new();
    let mut unmatched = Vec::new();
    for new_cell in in_matrix_order(new) {
        match old.cells.iter().find(|old_cell| old_cell.same_point(new_cell)) {
            Some(old_cell) => rows.extend(measured(old_cell, new_cell).map(|m| row(old_cell, new_cell, m))),
            None => unmatched.push(format!(
                "{} {} {}: only in the new results",
                new_cell.scenario,
                new_cell.variant,
                new_cell.level_label()
            )),
        }
    }
    for old_cell in in_matrix_order(old) {
        if !new.cells.iter().any(|new_cell| new_cell.same_point(old_cell)) {
            unmatched.push(format!(
                "{} {} {}: only in the old results",
                old_cell.scenario,
                old_cell.variant,
                old_cell.level_label()
            ));
        }
    }
    let differ = settings_differ(old, new);
    let same_settings = differ.is_empty();
    let mut comparison = finish(differ, rows, unmatched);
    comparison.same_settings = same_settings;
    for (side, results) in [("old", old), ("new", new)] {
        if let Some(interruption) = results.interruption() {
            comparison.warnings.insert(0, format!("the {side} results were interrupted: {interruption}"));
        }
    }
    comparison
}

/// Compares every variant of one sweep with its baseline, point by point.
pub fn against_baseline(results: &Results) -> Comparison {
    let baseline = &results.meta.baseline;
    let mut rows = Vec::new();
    for cell in in_matrix_order(results).into_iter().filter(|c| &c.variant != baseline) {
        let base = results
            .cells
            .iter()
            .find(|b| &b.variant == baseline && b.scenario == cell.scenario && b.same_level(cell));
        if let Some(base) = base {
            rows.extend(measured(base, cell).map(|m| row(base, cell, m)));
        }
    }
    let mut comparison = finish(Vec::new(), rows, Vec::new());
    if let Some(interruption) = results.interruption() {
        comparison.warnings.insert(0, format!("these results were interrupted: {interruption}"));
    }
    comparison
}

fn finish(settings_differ: Vec<Difference>, rows: Vec<Row>, unmatched: Vec<String>) -> Comparison {
    let geomean = Metric::ALL
        .iter()
        .map(|metric| {
            let pairs: Vec<(f64, f64)> = rows
                .iter()
                .filter(|r| r.metric == metric.key())
                .filter_map(|r| r.old_median.zip(r.new_median))
                .filter(|(o, n)| *o > 0.0 && *n > 0.0)
                .collect();
            let old = crate::stats::geometric_mean(&pairs.iter().map(|p| p.0).collect::<Vec<_>>());
            let new = crate::stats::geometric_mean(&pairs.iter().map(|p| p.1).collect::<Vec<_>>());
            let delta_pct = old.zip(new).map(|(o, n)| (n - o) / o * 100.0);
            GeoMean { metric: metric.key(), old, new, delta_pct }
        })
        .collect();
    let mut warnings = Vec::new();
    let few = rows
        .iter()
        .filter(|r| r.runs.0 < mann_whitney::MIN_RUNS || r.runs.1 < mann_whitney::MIN_RUNS)
        .count();
    if few > 0 {
        warnings.push(format!(
            "{few} comparisons have fewer than {} runs on a side: no difference can be called significant with so few \
             (set repeat ≥ {}, or let an interrupted sweep finish)",
            mann_whitney::MIN_RUNS,
            mann_whitney::MIN_RUNS
        ));
    }
    Comparison { settings_differ, same_settings: false, rows, geomean, warnings, unmatched }
}

/// The settings that differ between two sweeps, in words.
pub fn settings_differ(old: &Results, new: &Results) -> Vec<Difference> {
    let mut differences = Vec::new();
    let mut differ = |setting: String, old: String, new: String| {
        if old != new {
            differences.push(Difference { setting, old, new });
        }
    };
    let (o, n) = (&old.meta, &new.meta);
    differ("commit".into(), o.git_commit.clone(), n.git_commit.clone());
    differ("build".into(), o.build_profile.clone(), n.build_profile.clone());
    differ("kernel".into(), o.kernel.clone(), n.kernel.clone());
    differ("CPU".into(), o.cpu_model.clone(), n.cpu_model.clone());
    differ("server_cpus".into(), format!("{:?}", o.server_cpus), format!("{:?}", n.server_cpus));
    differ("load_cpus".into(), format!("{:?}", o.load_cpus), format!("{:?}", n.load_cpus));
    differ("order".into(), o.order.clone(), n.order.clone());
    differ(
        "server_host".into(),
        o.server_host.clone().unwrap_or_default(),
        n.server_host.clone().unwrap_or_default(),
    );
    differ("load_hosts".into(), o.load_hosts.join(", "), n.load_hosts.join(", "));
    for new_scenario in &n.scenarios {
        let Some(old_scenario) = o.scenarios.iter().find(|s| s.name == new_scenario.name) else { continue };
        // Every setting of the scenario, as results.json spells it, so a new one cannot be missed.
        let (before, after) = (settings_of(old_scenario), settings_of(new_scenario));
        for (key, value) in &after {
            let old_value = before.get(key).map_or_else(|| "—".to_owned(), setting_text);
            differ(format!("{}: {key}", new_scenario.name), old_value, setting_text(value));
        }
    }
    for variant in &n.variants {
        let Some(before) = o.variants.iter().find(|v| v.name == variant.name) else { continue };
        differ(format!("{}: workers", variant.name), before.workers.to_string(), variant.workers.to_string());
        differ(
            format!("{}: runtime", variant.name),
            before.runtime_version.clone().unwrap_or_default(),
            variant.runtime_version.clone().unwrap_or_default(),
        );
    }
    differences
}

/// A scenario's settings by their results.json names (the name itself left out).
fn settings_of(scenario: &ScenarioMeta) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::to_value(scenario) {
        Ok(serde_json::Value::Object(mut settings)) => {
            settings.remove("name");
            settings
        }
        _ => serde_json::Map::new(),
    }
}

/// A setting's value as the comparison prints it: strings bare, the rest as JSON.
fn setting_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Null => "—".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::tests::cell_with_runs;

    #[test]
    fn same_runs_are_not_significant() {
        let cell = cell_with_runs("tokio", 5, &[100.0, 110.0, 105.0, 95.0, 102.0]);
        let row = row(&cell, &cell, Metric::RequestsPerSecond);
        assert_eq!(row.delta_pct, Some(0.0));
        assert_eq!(row.p_value, Some(1.0));
        assert!(!row.significant);
    }

    #[test]
    fn a_clear_drop_is_significant() {
        let old = cell_with_runs("tokio", 5, &[100.0, 110.0, 105.0, 95.0, 102.0]);
        let new = cell_with_runs("tokio", 5, &[50.0, 55.0, 52.0, 48.0, 51.0]);
        let row = row(&old, &new, Metric::RequestsPerSecond);
        assert!(row.significant, "{row:?}");
        assert!((row.delta_pct.unwrap() - (51.0 - 102.0) / 102.0 * 100.0).abs() < 1e-9);
    }

    #[test]
    fn every_scenario_setting_that_differs_is_listed() {
        let old = crate::results::sample::results(&["tokio"], &[1], 5, 100);
        let mut new = old.clone();
        assert_eq!(settings_differ(&old, &new), Vec::new());
        new.meta.scenarios[0].slow_clients = 3;
        new.meta.scenarios[0].connections = Some(50);
        new.meta.load_hosts = vec!["cli".into()];
        let listed: Vec<String> = settings_differ(&old, &new).into_iter().map(|d| d.setting).collect();
        assert_eq!(listed, ["load_hosts", "classic: connections", "classic: slow_clients"]);
    }

    /// Two scaling sweeps match cell for cell on (scenario, variant, workers, level); a sweep
    /// without the axis matches only the cells at its variants' own workers.
    #[test]
    fn scaling_sweeps_match_on_workers() {
        let old = crate::results::sample::scaling(&["tokio", "monoio"], &[1, 2], &[16], 5);
        let mut new = old.clone();
        for cell in new.cells.iter_mut().filter(|c| c.variant == "monoio" && c.workers == 2) {
            for run in &mut cell.runs {
                run.requests_per_second = run.requests_per_second.map(|r| r * 2.0);
            }
        }
        let comparison = sweeps(&old, &new);
        assert!(comparison.unmatched.is_empty(), "{:?}", comparison.unmatched);
        let rates: Vec<(&str, &str, Option<usize>, bool)> = comparison
            .rows
            .iter()
            .filter(|r| r.metric == Metric::RequestsPerSecond.key())
            .map(|r| (r.variant.as_str(), r.level.as_str(), r.workers, r.significant))
            .collect();
        assert_eq!(
            rates,
            [
                ("tokio", "w=1 c=16", Some(1), false),
                ("tokio", "w=2 c=16", Some(2), false),
                ("monoio", "w=1 c=16", Some(1), false),
                ("monoio", "w=2 c=16", Some(2), true),
            ]
        );
        let json = serde_json::to_value(&comparison).expect("json");
        let row =
            json["rows"].as_array().expect("rows").iter().find(|r| r["level"] == "w=2 c=16").expect("w=2");
        assert_eq!(row["workers"], 2);
        let classic = crate::results::sample::results(&["tokio", "monoio"], &[16], 5, 100);
        let across = sweeps(&classic, &old);
        let matched = across.rows.iter().filter(|r| r.metric == Metric::RequestsPerSecond.key()).count();
        assert_eq!(matched, 2, "workers 1 only");
        assert_eq!(
            across.unmatched,
            [
                "classic tokio w=2 c=16: only in the new results",
                "classic monoio w=2 c=16: only in the new results"
            ]
        );
        assert!(
            settings_differ(&classic, &old)
                .iter()
                .any(|d| d.setting == "classic: workers" && d.new == "[1,2]"),
            "the axis is a setting that differs"
        );
        // Against the baseline: each variant at the same workers and load.
        let baseline = against_baseline(&old);
        let levels: Vec<&str> = baseline
            .rows
            .iter()
            .filter(|r| r.metric == Metric::RequestsPerSecond.key())
            .map(|r| r.level.as_str())
            .collect();
        assert_eq!(levels, ["w=1 c=16", "w=2 c=16"]);
    }

    #[test]
    fn too_few_runs_are_never_significant() {
        let old = cell_with_runs("tokio", 5, &[100.0, 101.0, 102.0]);
        let new = cell_with_runs("tokio", 5, &[10.0, 11.0, 12.0]);
        assert!(!row(&old, &new, Metric::RequestsPerSecond).significant);
    }
}
