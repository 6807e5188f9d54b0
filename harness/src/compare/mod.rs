//! Comparing measurements, like benchstat: two cells (the same point in two sweeps, or a
//! variant and the baseline in one), metric by metric, with a Mann–Whitney U test on their
//! runs saying whether the difference is more than noise; beside it the same point compared
//! within interleaved rounds, which drift cannot fake ([`rounds`]); p-values corrected over
//! each metric's table ([`Correction`]); and a gate of thresholds on top ([`gate`]).
//!
//! Each row carries a *decision*: the comparison a gate trusts. Within rounds when the rounds
//! can be recovered and are enough to say anything, else run against run. The baseline's own
//! rows between two sweeps have no within-round comparison (they are what the others are
//! divided by); while other variants are judged against it, the baseline is the yardstick and
//! is not judged itself: run against run, its change would be whatever the machine drifted by
//! between the sweeps as much as any change to it. Alone in a sweep, it is judged run against
//! run.

pub mod gate;
pub mod rounds;

use serde::Serialize;

use crate::results::{Cell, Mechanics, Results, ScenarioMeta, Sides};
pub use crate::stats::Correction;
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

    /// Its short name on the command line (`--fail-on rps:-5%`).
    pub fn short(self) -> &'static str {
        match self {
            Metric::RequestsPerSecond => "rps",
            Metric::P50 => "p50",
            Metric::P99 => "p99",
            Metric::ServerCpu => "cpu",
            Metric::ServerSyscalls => "syscalls",
            Metric::ServerSwitches => "switches",
        }
    }

    /// The metric of a short name.
    pub fn from_short(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.short() == name)
    }

    /// The metric of a JSON key (a row's `metric`).
    pub fn from_key(key: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.key() == key)
    }

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
        cell.runs.iter().filter_map(|run| self.of_run(run)).collect()
    }

    /// One run's value: none when the server died (rate), nothing completed (latency) or its
    /// cost was not read.
    pub fn of_run(self, run: &crate::results::Run) -> Option<f64> {
        match self {
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
        }
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

/// The metrics to compare two cells on: all, but the mechanics only where either side counted
/// them (`mechanics = true`).
fn measured<'a>(old: &'a Cell, new: &'a Cell) -> impl Iterator<Item = Metric> + 'a {
    Metric::ALL.into_iter().filter(|m| {
        !matches!(m, Metric::ServerSyscalls | Metric::ServerSwitches)
            || m.figure(old).is_some()
            || m.figure(new).is_some()
    })
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
    /// Mann–Whitney U on the two cells' runs, uncorrected.
    pub p_value: Option<f64>,
    /// `p_value` corrected over this metric's rows (the comparison's correction; the same as
    /// `p_value` without one); none for a row with too few runs to be significant at all.
    pub corrected_p: Option<f64>,
    /// The corrected p < 0.05 with at least 4 runs a side.
    pub significant: bool,
    /// Runs on each side.
    pub runs: (usize, usize),
    /// The same point within rounds, when they can be recovered (see [`rounds`]).
    pub within_rounds: Option<rounds::WithinRounds>,
    /// The comparison a gate trusts.
    pub decision: Decision,
}

/// Which comparison a row's decision rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Each run over the baseline's in the same round: drift divides out.
    WithinRounds,
    /// Run against run: drift between the two sides counts as a difference.
    Runs,
    /// The baseline the others were judged against within rounds: not judged itself.
    Yardstick,
}

impl Basis {
    /// In a table cell.
    pub fn describe(self, reference: Option<&str>) -> String {
        match (self, reference) {
            (Basis::WithinRounds, Some(reference)) => format!("within rounds, over `{reference}`"),
            (Basis::WithinRounds, None) => "within rounds".into(),
            (Basis::Runs, _) => "runs".into(),
            (Basis::Yardstick, _) => "the yardstick, not judged".into(),
        }
    }
}

/// What a row says once it is judged: the change and p-value of its basis, corrected over the
/// metric's decisions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub basis: Basis,
    /// The change in percent: of the median (runs), of the median per-round ratio (within
    /// rounds).
    pub delta_pct: Option<f64>,
    pub p_value: Option<f64>,
    /// `p_value` corrected over the decisions of this metric's rows that can say anything.
    pub corrected_p: Option<f64>,
    /// Whether the sides have runs enough for a difference to be called real at all.
    pub enough: bool,
    /// The smallest p-value its test can give with these runs.
    pub smallest_p: f64,
    /// The corrected p < 0.05, with enough runs.
    pub significant: bool,
}

impl Row {
    /// Whether both sides have runs enough for a run-against-run difference to be real.
    fn runs_enough(&self) -> bool {
        self.runs.0 >= mann_whitney::MIN_RUNS && self.runs.1 >= mann_whitney::MIN_RUNS
    }

    /// The baseline the decision divides by, if it is within rounds.
    pub fn reference(&self) -> Option<&str> {
        match self.decision.basis {
            Basis::WithinRounds => self.within_rounds.as_ref().map(|w| w.reference.as_str()),
            Basis::Runs | Basis::Yardstick => None,
        }
    }

    /// Takes the comparison within rounds and, when it can say anything, decides on it.
    fn with_rounds(mut self, within: Option<rounds::WithinRounds>) -> Row {
        if let Some(w) = within.as_ref().filter(|w| w.enough || !self.decision.enough) {
            self.decision = Decision {
                basis: Basis::WithinRounds,
                delta_pct: w.delta_pct,
                p_value: w.p_value,
                corrected_p: w.p_value,
                enough: w.enough,
                smallest_p: w.smallest_p,
                significant: w.enough && w.p_value.is_some_and(|p| p < mann_whitney::ALPHA),
            };
        }
        self.within_rounds = within;
        self
    }
}

/// Compares `metric` of `old` and `new`; `variant` names the row (for a baseline comparison
/// it is the new cell's variant). Run against run, uncorrected.
pub fn row(old: &Cell, new: &Cell, metric: Metric) -> Row {
    let (a, b) = (metric.runs(old), metric.runs(new));
    // Counted once per cell (`mechanics = "extra-run"`): the cell's count stands for its runs,
    // shown, never tested.
    let (old_median, new_median) =
        (median(&a).or_else(|| metric.figure(old)), median(&b).or_else(|| metric.figure(new)));
    let delta_pct = old_median.zip(new_median).and_then(|(o, n)| (o != 0.0).then(|| (n - o) / o * 100.0));
    let outcome = mann_whitney::test(&a, &b);
    let enough = a.len() >= mann_whitney::MIN_RUNS && b.len() >= mann_whitney::MIN_RUNS;
    let p_value = outcome.map(|o| o.p_value);
    let significant = enough && outcome.is_some_and(|o| o.significant());
    Row {
        scenario: new.scenario.clone(),
        variant: new.variant.clone(),
        level: new.level_label(),
        workers: new.workers_on_axis(),
        metric: metric.key(),
        old_median,
        new_median,
        delta_pct,
        p_value,
        corrected_p: p_value,
        significant,
        runs: (a.len(), b.len()),
        within_rounds: None,
        decision: Decision {
            basis: Basis::Runs,
            delta_pct,
            p_value,
            corrected_p: p_value,
            enough,
            smallest_p: mann_whitney::smallest_p(a.len(), b.len()),
            significant,
        },
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
    /// The correction applied over each metric's rows (`Holm`, `Benjamini–Hochberg` or `none`
    /// in JSON).
    pub correction: Correction,
    /// The gate's verdict, when thresholds were given (`--fail-on`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate: Option<gate::Gate>,
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

/// Compares every point of `old` with the same point (scenario, variant, workers, level) of `new`:
/// run against run, and within rounds where both sweeps' rounds can be recovered and divide by
/// the same baseline; p-values corrected over each metric's rows by `correction`.
pub fn sweeps(old: &Results, new: &Results, correction: Correction) -> Comparison {
    let mut rows = Vec::new();
    let mut unmatched = Vec::new();
    let same_reference = old.meta.baseline == new.meta.baseline;
    let mut unpaired: Vec<(rounds::Unpaired, String)> = Vec::new();
    for new_cell in in_matrix_order(new) {
        let Some(old_cell) = old.cells.iter().find(|old_cell| old_cell.same_point(new_cell)) else {
            unmatched.push(format!(
                "{} {} {}: only in the new results",
                new_cell.scenario,
                new_cell.variant,
                new_cell.level_label()
            ));
            continue;
        };
        for metric in measured(old_cell, new_cell) {
            let within = if same_reference {
                rounds::between_sweeps(old, old_cell, new, new_cell, metric)
                    .map_err(|why| note_unpaired(&mut unpaired, why, new_cell))
                    .ok()
            } else {
                None
            };
            rows.push(row(old_cell, new_cell, metric).with_rounds(within));
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
    mark_yardstick(&mut rows, &new.meta.baseline);
    let differ = settings_differ(old, new);
    let same_settings = differ.is_empty();
    let mut comparison = finish(differ, rows, unmatched, correction);
    comparison.same_settings = same_settings;
    if !same_reference {
        comparison.warnings.push(format!(
            "the two sweeps have different baselines (`{}` → `{}`), so nothing is compared within rounds: every row is \
             run against run, and drift between the sweeps counts as a difference.",
            old.meta.baseline, new.meta.baseline
        ));
    }
    comparison.warnings.extend(rounds_warnings(&unpaired, &new.meta.baseline));
    comparison.warnings.extend(reference_moved(&comparison, &new.meta.baseline));
    for (side, results) in [("old", old), ("new", new)] {
        if let Some(interruption) = results.interruption() {
            comparison.warnings.insert(0, format!("the {side} results were interrupted: {interruption}"));
        }
    }
    comparison
}

/// Compares every variant of one sweep with its baseline, point by point: run against run,
/// and paired within rounds (the signed-rank test, which decides from 6 rounds on).
pub fn against_baseline(results: &Results, correction: Correction) -> Comparison {
    let mut rows = Vec::new();
    let mut unpaired: Vec<(rounds::Unpaired, String)> = Vec::new();
    for cell in in_matrix_order(results).into_iter().filter(|c| c.variant != results.meta.baseline) {
        let Some(base) = rounds::reference_of(results, cell) else { continue };
        for metric in measured(base, cell) {
            let within = rounds::against_reference(results, cell, metric)
                .map_err(|why| note_unpaired(&mut unpaired, why, cell))
                .ok();
            rows.push(row(base, cell, metric).with_rounds(within));
        }
    }
    let short =
        rows.iter().filter_map(|r| r.within_rounds.as_ref()).filter(|w| !w.enough).map(|w| w.rounds.0).max();
    let mut comparison = finish(Vec::new(), rows, Vec::new(), correction);
    if let Some(rounds) = short {
        comparison.warnings.push(format!(
            "the paired test within rounds (Wilcoxon signed-rank) needs {} rounds to call anything real, and these have \
             {rounds}: those rows are decided run against run (Mann–Whitney); set repeat ≥ {} for the paired test",
            crate::stats::wilcoxon::MIN_PAIRS,
            crate::stats::wilcoxon::MIN_PAIRS
        ));
    }
    comparison.warnings.extend(rounds_warnings(&unpaired, &results.meta.baseline));
    if let Some(interruption) = results.interruption() {
        comparison.warnings.insert(0, format!("these results were interrupted: {interruption}"));
    }
    comparison
}

/// Makes the baseline's rows the yardstick wherever another variant at the same point and
/// metric is judged within rounds against it: they stay in the tables, out of the decisions.
fn mark_yardstick(rows: &mut [Row], reference: &str) {
    let judged_against: Vec<(String, String, &'static str)> = rows
        .iter()
        .filter(|r| r.decision.basis == Basis::WithinRounds)
        .map(|r| (r.scenario.clone(), r.level.clone(), r.metric))
        .collect();
    for row in rows.iter_mut().filter(|r| r.variant == reference) {
        let point = (row.scenario.clone(), row.level.clone(), row.metric);
        if judged_against.contains(&point) {
            row.decision.basis = Basis::Yardstick;
            row.decision.enough = false;
        }
    }
}

/// Remembers, once per point, why `cell`'s runs could not be paired by round.
fn note_unpaired(unpaired: &mut Vec<(rounds::Unpaired, String)>, why: rounds::Unpaired, cell: &Cell) {
    let point = format!("{} {} {}", cell.scenario, cell.variant, cell.level_label());
    if !unpaired.iter().any(|(w, p)| *w == why && *p == point) {
        unpaired.push((why, point));
    }
}

/// What could not be compared within rounds, and what that means, one sentence per reason.
fn rounds_warnings(unpaired: &[(rounds::Unpaired, String)], reference: &str) -> Vec<String> {
    let mut reasons: Vec<&rounds::Unpaired> = Vec::new();
    for (why, _) in unpaired {
        if !reasons.contains(&why) {
            reasons.push(why);
        }
    }
    reasons
        .into_iter()
        .map(|why| {
            let points: Vec<&str> =
                unpaired.iter().filter(|(w, _)| w == why).map(|(_, point)| point.as_str()).collect();
            match why {
                rounds::Unpaired::IsReference => format!(
                    "`{reference}` is the baseline every within-round ratio divides by: the yardstick, compared only run against \
                     run ({}), where drift between the sweeps counts as a difference, so a gate does not judge it; put first a \
                     variant the change does not touch (a reference server, or the base build's).",
                    points.join(", ")
                ),
                other => format!(
                    "not compared within rounds ({}): {}; those rows are run against run, where drift counts as a difference.",
                    other.reason(),
                    points.join(", ")
                ),
            }
        })
        .collect()
}

/// A warning when the baseline itself changed significantly between the sweeps: every
/// within-round change of the others is relative to it.
fn reference_moved(comparison: &Comparison, reference: &str) -> Option<String> {
    let moved: Vec<String> = comparison
        .rows
        .iter()
        .filter(|r| r.variant == reference && r.significant)
        .filter_map(|r| {
            let metric = Metric::from_key(r.metric)?;
            Some(format!("{} {} {:+.1}%", metric.short(), r.level, r.delta_pct?))
        })
        .collect();
    (!moved.is_empty()).then(|| {
        format!(
            "the baseline `{reference}` itself changed between the sweeps ({}): the machine drifted or the change touched \
             it; the other variants' within-round changes are relative to it.",
            moved.join(", ")
        )
    })
}

fn finish(
    settings_differ: Vec<Difference>,
    mut rows: Vec<Row>,
    unmatched: Vec<String>,
    correction: Correction,
) -> Comparison {
    correct(&mut rows, correction);
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
    Comparison {
        settings_differ,
        correction,
        gate: None,
        same_settings: false,
        rows,
        geomean,
        warnings,
        unmatched,
    }
}

/// Corrects, metric by metric, the p-values of the rows that can say anything: once run
/// against run (`corrected_p`, `significant`), once for the decisions. A row with too few runs
/// stays out of the family (it could not be significant anyway) and is never significant.
fn correct(rows: &mut [Row], correction: Correction) {
    for metric in Metric::ALL {
        let of_metric = |row: &Row| row.metric == metric.key();
        let runs: Vec<usize> = (0..rows.len())
            .filter(|i| of_metric(&rows[*i]) && rows[*i].runs_enough() && rows[*i].p_value.is_some())
            .collect();
        let adjusted = correction.adjust(&runs.iter().filter_map(|i| rows[*i].p_value).collect::<Vec<_>>());
        for row in rows.iter_mut().filter(|r| of_metric(r)) {
            row.corrected_p = None;
            row.significant = false;
        }
        for (i, q) in runs.into_iter().zip(adjusted) {
            rows[i].corrected_p = Some(q);
            rows[i].significant = q < mann_whitney::ALPHA;
        }
        let decided: Vec<usize> = (0..rows.len())
            .filter(|i| {
                of_metric(&rows[*i]) && rows[*i].decision.enough && rows[*i].decision.p_value.is_some()
            })
            .collect();
        let adjusted =
            correction.adjust(&decided.iter().filter_map(|i| rows[*i].decision.p_value).collect::<Vec<_>>());
        for row in rows.iter_mut().filter(|r| of_metric(r)) {
            row.decision.corrected_p = None;
            row.decision.significant = false;
        }
        for (i, q) in decided.into_iter().zip(adjusted) {
            rows[i].decision.corrected_p = Some(q);
            rows[i].decision.significant = q < mann_whitney::ALPHA;
        }
    }
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
        let comparison = sweeps(&old, &new, Correction::None);
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
        let across = sweeps(&classic, &old, Correction::None);
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
        let baseline = against_baseline(&old, Correction::None);
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
