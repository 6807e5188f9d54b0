//! The comparison matrices of a scenario: variants × levels, for requests per second, p99
//! latency and server CPU per request. Each variant's figure carries its ratio to the baseline
//! variant's at the same level, and `~` when a Mann–Whitney U test on the two cells' runs
//! cannot tell them apart (p ≥ 0.05): that difference is noise. A client-bound cell's rate is
//! marked `‡`, a p99 that one run's outlier drives `◊`.
//!
//! With workers as an axis, a level is (workers, load) and its heading says both (`w=2 c=16`),
//! the columns ordered by workers: one matrix per metric still, not one per workers value, so
//! a variant's scaling reads along its row and the baseline ratio at each column compares the
//! two at the same workers and load.

use std::fmt::Write;

use super::table::{render, Align};
use crate::compare::{row, Metric};
use crate::results::{Cell, Results};
use crate::stats::mann_whitney::MIN_RUNS;

/// The matrices shown, in order (the mechanics ones where a cell has them).
const SHOWN: [Metric; 5] = [
    Metric::RequestsPerSecond,
    Metric::P99,
    Metric::ServerCpu,
    Metric::ServerSyscalls,
    Metric::ServerSwitches,
];

/// A scenario's matrices, ready for any renderer.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrices {
    /// `variant`, then each level's label.
    pub headers: Vec<String>,
    /// Each metric shown with its rows: the variant, then one entry per level.
    pub tables: Vec<(Metric, Vec<Vec<String>>)>,
    /// Some entry has no mark because a side has too few runs for the test.
    pub few_runs: bool,
    /// The scenario's planned runs per cell (fewer in a cell: the sweep was cut short).
    pub repeat: usize,
    /// Some rate is marked client-bound (`‡`).
    pub client_bound: bool,
    /// Some p99 is marked as one run's outlier (`◊`).
    pub outlier: bool,
    /// Some cell's mechanics come from one extra, counted run, not from its measured runs.
    pub counted_once: bool,
}

/// The matrices of `scenario`, or `None` when it has no cells.
pub fn matrices(results: &Results, scenario: &str) -> Option<Matrices> {
    let cells: Vec<&Cell> = results.scenario_cells(scenario).collect();
    if cells.is_empty() {
        return None;
    }
    let baseline = results.meta.baseline.as_str();
    let levels = levels(&cells);
    let variants = variants(results, &cells);
    let headers: Vec<String> =
        std::iter::once("variant".to_owned()).chain(levels.iter().map(|l| l.level_label())).collect();
    let mut few_runs = false;
    let client_bound = cells.iter().any(|c| c.client_bound());
    let outlier = cells.iter().any(|c| c.p99_from_one_run());
    let counted_once = cells
        .iter()
        .any(|c| Metric::ServerSyscalls.figure(c).is_some() && Metric::ServerSyscalls.runs(c).is_empty());
    let mut tables = Vec::new();
    for metric in SHOWN {
        if !cells.iter().any(|c| metric.figure(c).is_some())
            && matches!(metric, Metric::ServerSyscalls | Metric::ServerSwitches)
        {
            continue;
        }
        let rows: Vec<Vec<String>> = variants
            .iter()
            .map(|variant| {
                let name = if *variant == baseline {
                    format!("{variant} (baseline)")
                } else {
                    (*variant).to_owned()
                };
                std::iter::once(name)
                    .chain(levels.iter().map(|level| {
                        let find =
                            |name: &str| cells.iter().find(|c| c.variant == name && c.same_level(level));
                        match (find(variant), find(baseline)) {
                            (None, _) => "—".to_owned(),
                            (Some(cell), base) => {
                                entry(cell, base.filter(|b| b.variant != cell.variant), metric, &mut few_runs)
                            }
                        }
                    }))
                    .collect()
            })
            .collect();
        tables.push((metric, rows));
    }
    let repeat = results.scenario(scenario).map_or(0, |s| s.repeat);
    Some(Matrices { headers, tables, few_runs, repeat, client_bound, outlier, counted_once })
}

/// All of a scenario's matrices, with the legend.
pub fn comparison(results: &Results, scenario: &str) -> String {
    let Some(matrices) = matrices(results, scenario) else { return String::new() };
    let baseline = results.meta.baseline.as_str();
    let header_refs: Vec<&str> = matrices.headers.iter().map(String::as_str).collect();
    let mut align = vec![Align::Right; header_refs.len()];
    align[0] = Align::Left;
    let mut out = format!("### Comparison ({scenario}, baseline `{baseline}`)\n\n");
    out.push_str(&legend(baseline, &matrices));
    out.push('\n');
    for (metric, rows) in &matrices.tables {
        let _ = writeln!(out, "#### {}\n", metric.title());
        out.push_str(&render(&header_refs, &align, rows));
        out.push('\n');
    }
    out
}

/// What the entries and their marks mean: read before the tables.
pub fn legend(baseline: &str, matrices: &Matrices) -> String {
    let mut out = format!(
        "Each figure is followed by its ratio to `{baseline}` at the same level: above 1 is better for requests per \
         second, worse for latency and CPU. `~`: not significant — a two-sided Mann–Whitney U test on the runs of the \
         two cells gives p ≥ 0.05, so the difference may be noise. A ratio without `~` is a real difference \
         (p < 0.05). Requests per second is the median run's, CPU the median of the runs'; p99 comes from the merged \
         histograms.\n"
    );
    if matrices.client_bound {
        out.push_str(
            "`‡` client-bound: the load generator's CPU was ≥ 90% busy, so that rate measures the load generator, \
             not the server; compare server CPU per request there.\n",
        );
    }
    if matrices.outlier {
        out.push_str(&format!(
            "`◊` one run's outlier: the merged p99 is more than {:.0}× the median of the runs' p99s.\n",
            crate::results::OUTLIER_P99
        ));
    }
    if matrices.counted_once {
        out.push_str(
            "System calls and context switches are counted in one extra run per cell after its measured runs \
             (`mechanics = \"extra-run\"`, so the counters cost the measured runs nothing): each is that run's \
             exact count, and their ratios carry no significance mark (`mechanics = \"every-run\"` counts every run).\n",
        );
    }
    if matrices.few_runs {
        if matrices.repeat < MIN_RUNS {
            out.push_str(&format!(
                "Ratios have no mark: significance needs ≥ {MIN_RUNS} runs per side (set `repeat` ≥ {MIN_RUNS}).\n"
            ));
        } else {
            out.push_str(&format!(
                "Some ratios have no mark: their cells have fewer than {MIN_RUNS} runs because the sweep was cut short.\n"
            ));
        }
    }
    out
}

/// One cell of each level among `cells` (of each (workers, load) with workers as an axis), in
/// order of level.
pub fn levels<'a>(cells: &[&'a Cell]) -> Vec<&'a Cell> {
    let mut levels: Vec<&Cell> = Vec::new();
    for cell in cells {
        if !levels.iter().any(|l| l.same_level(cell)) {
            levels.push(cell);
        }
    }
    levels.sort_by(|a, b| a.level_order(b));
    levels
}

/// The variants that have cells among `cells`, in the matrix's order.
pub fn variants<'a>(results: &'a Results, cells: &[&Cell]) -> Vec<&'a str> {
    results.variant_names().into_iter().filter(|v| cells.iter().any(|c| &c.variant == v)).collect()
}

/// One entry: the figure, then `×ratio` against the baseline with its mark.
fn entry(cell: &Cell, baseline: Option<&&Cell>, metric: Metric, few_runs: &mut bool) -> String {
    let Some(value) = metric.figure(cell) else { return "—".to_owned() };
    let mark = match metric {
        Metric::RequestsPerSecond if cell.client_bound() => " ‡",
        Metric::P99 if cell.p99_from_one_run() => " ◊",
        _ => "",
    };
    let shown = match metric {
        Metric::RequestsPerSecond => format!("{value:.0}{mark}"),
        Metric::P50 | Metric::P99 => format!("{value:.1}{mark}"),
        Metric::ServerCpu | Metric::ServerSyscalls => format!("{value:.2}"),
        // An event loop blocks a few times per thousand requests: two decimals would show 0.00.
        Metric::ServerSwitches => format!("{value:.3}"),
    };
    let Some(base) = baseline else { return shown };
    let Some(base_value) = metric.figure(base).filter(|v| *v > 0.0) else { return shown };
    let ratio = value / base_value;
    // Counted in one extra run per cell (`mechanics = "extra-run"`): exact counts of one run
    // each, no runs to test; the legend says so.
    if metric.runs(cell).is_empty() && matches!(metric, Metric::ServerSyscalls | Metric::ServerSwitches) {
        return format!("{shown} ×{ratio:.2}");
    }
    let test = row(base, cell, metric);
    let enough = test.runs.0 >= MIN_RUNS && test.runs.1 >= MIN_RUNS;
    *few_runs |= !enough;
    let mark = if enough && !test.significant { " ~" } else { "" };
    format!("{shown} ×{ratio:.2}{mark}")
}
