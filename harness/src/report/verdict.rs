//! The answer first: per scenario, which variants cost the server least per request and which
//! are tied with them, the same for p99 latency, whether requests per second can tell the
//! variants apart here (how many cells were client-bound), and which variants measured
//! steadily. The terminal prints it last, `report.md` and `report.html` first.
//!
//! A variant is *tied* with the best when no level shows a significant difference: a
//! Mann–Whitney U test per level on the two cells' runs, the p-values of every comparison in
//! the scenario corrected together (Benjamini–Hochberg), so that among many comparisons a few
//! noise differences are not called real by chance alone.

use std::fmt::Write;

use crate::compare::Metric;
use crate::results::{Cell, Results};
use crate::stats::mann_whitney::{self, MIN_RUNS};
use crate::stats::{benjamini_hochberg, geometric_mean, median, CORRECTION};

/// One scenario's verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub scenario: String,
    /// Ranked by server CPU per request.
    pub cpu: Option<Ranking>,
    /// Ranked by p99 latency (the median of the runs' p99s, which one outlier cannot move).
    pub p99: Option<Ranking>,
    /// The variant with the highest requests per second (geometric mean over the levels).
    pub fastest: Option<(String, f64)>,
    /// Cells whose load generator was saturated, of all cells.
    pub client_bound: (usize, usize),
    /// Variants by the median over their cells of the runs' spread in requests per second,
    /// (max − min) / median; steadiest first.
    pub stability: Vec<(String, f64)>,
    /// Cells whose runs spread over 20% (`±`), of all cells with more than one run.
    pub noisy: (usize, usize),
    /// Cells whose merged p99 one run's outlier drives: `variant level`, merged, runs' median.
    pub outliers: Vec<(String, f64, f64)>,
}

/// Variants ranked by one metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranking {
    pub metric: Metric,
    /// Best first.
    pub ranked: Vec<Ranked>,
    /// The levels the figures are the geometric mean over.
    pub levels: Vec<String>,
    /// Tests made (every other variant against the best, at every level).
    pub comparisons: usize,
    /// Whether every cell had enough runs for the test to decide anything.
    pub decided: bool,
    /// Variants left out: no figure at some level.
    pub unranked: Vec<String>,
}

/// A variant's place in a [`Ranking`].
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    pub variant: String,
    /// Geometric mean of its figures over the levels.
    pub value: f64,
    /// `value` over the best's.
    pub ratio: f64,
    /// Not significantly different from the best at any level (the best: true).
    pub tied: bool,
}

/// Every scenario's verdict, in order.
pub fn verdicts(results: &Results) -> Vec<Verdict> {
    results.scenario_names().into_iter().map(|scenario| verdict(results, scenario)).collect()
}

/// The verdict of `scenario`.
pub fn verdict(results: &Results, scenario: &str) -> Verdict {
    let cells: Vec<&Cell> = results.scenario_cells(scenario).collect();
    let variants = super::matrices::variants(results, &cells);
    let levels = super::matrices::levels(&cells);
    let find = |variant: &str, level: &Cell| {
        cells.iter().copied().find(|c| c.variant == variant && c.same_level(level))
    };
    let grid: Vec<(&str, Vec<Option<&Cell>>)> =
        variants.iter().map(|v| (*v, levels.iter().map(|l| find(v, l)).collect())).collect();
    let labels: Vec<String> = levels.iter().map(|l| l.level_label()).collect();
    let fastest = grid
        .iter()
        .filter_map(|(variant, row)| {
            let rates: Option<Vec<f64>> = row.iter().map(|c| c.and_then(|c| c.requests_per_second)).collect();
            Some((variant.to_string(), geometric_mean(&rates?)?))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let mut stability: Vec<(String, f64)> = grid
        .iter()
        .filter_map(|(variant, row)| {
            let spreads: Vec<f64> = row
                .iter()
                .flatten()
                .filter_map(|c| c.requests_per_second_spread)
                .map(|s| s.relative())
                .collect();
            Some((variant.to_string(), median(&spreads)?))
        })
        .collect();
    stability.sort_by(|a, b| a.1.total_cmp(&b.1));
    let outliers = cells
        .iter()
        .filter(|c| c.p99_from_one_run())
        .map(|c| {
            (format!("{} {}", c.variant, c.level_label()), c.latency_us.p99, c.p99_of_runs().unwrap_or(0.0))
        })
        .collect();
    Verdict {
        scenario: scenario.to_owned(),
        cpu: ranking(&grid, &labels, Metric::ServerCpu),
        p99: ranking(&grid, &labels, Metric::P99),
        fastest,
        client_bound: (cells.iter().filter(|c| c.client_bound()).count(), cells.len()),
        stability,
        noisy: (
            cells.iter().filter(|c| c.noisy).count(),
            cells.iter().filter(|c| c.requests_per_second_spread.is_some()).count(),
        ),
        outliers,
    }
}

/// The figure a ranking compares: the cell's, but for p99 the median of the runs' (robust to
/// one run's outlier, and what the test compares).
fn figure(metric: Metric, cell: &Cell) -> Option<f64> {
    match metric {
        Metric::P99 => cell.p99_of_runs().or_else(|| metric.figure(cell)),
        _ => metric.figure(cell),
    }
    .filter(|v| *v > 0.0)
}

/// Variants (lower is better) ranked by the geometric mean of their figures over the levels.
fn ranking(grid: &[(&str, Vec<Option<&Cell>>)], labels: &[String], metric: Metric) -> Option<Ranking> {
    let mut scored: Vec<(&str, f64, &Vec<Option<&Cell>>)> = Vec::new();
    let mut unranked = Vec::new();
    for (variant, row) in grid {
        let figures: Option<Vec<f64>> = row.iter().map(|c| c.and_then(|c| figure(metric, c))).collect();
        match figures.as_deref().and_then(geometric_mean) {
            Some(value) => scored.push((variant, value, row)),
            None => unranked.push(variant.to_string()),
        }
    }
    scored.sort_by(|a, b| a.1.total_cmp(&b.1));
    let (best, best_value, best_row) = *scored.first()?;
    // Every other variant against the best, level by level, corrected together.
    let mut tests: Vec<(usize, f64)> = Vec::new();
    let mut decided = true;
    for (index, (_, _, row)) in scored.iter().enumerate().skip(1) {
        for (mine, theirs) in row.iter().zip(best_row) {
            let (Some(mine), Some(theirs)) = (mine, theirs) else { continue };
            let (a, b) = (metric.runs(theirs), metric.runs(mine));
            decided &= a.len() >= MIN_RUNS && b.len() >= MIN_RUNS;
            if let Some(outcome) = mann_whitney::test(&a, &b) {
                tests.push((index, outcome.p_value));
            }
        }
    }
    let q = benjamini_hochberg(&tests.iter().map(|t| t.1).collect::<Vec<_>>());
    let ranked = scored
        .iter()
        .enumerate()
        .map(|(index, (variant, value, _))| Ranked {
            variant: variant.to_string(),
            value: *value,
            ratio: value / best_value,
            tied: index == 0
                || (decided
                    && !tests.iter().zip(&q).any(|((i, _), q)| *i == index && *q < mann_whitney::ALPHA)),
        })
        .collect();
    let _ = best;
    Some(Ranking { metric, ranked, levels: labels.to_vec(), comparisons: tests.len(), decided, unranked })
}

/// A figure of `metric` as the verdict writes it.
fn shown(metric: Metric, value: f64) -> String {
    match metric {
        Metric::RequestsPerSecond => format!("{value:.0}/s"),
        Metric::ServerCpu => format!("{value:.2} µs"),
        Metric::ServerSyscalls | Metric::ServerSwitches => format!("{value:.2}"),
        Metric::P50 | Metric::P99 => {
            if value >= 1000.0 {
                format!("{:.2} ms", value / 1000.0)
            } else {
                format!("{value:.1} µs")
            }
        }
    }
}

impl Ranking {
    /// The ranking in one bullet: the best, those tied with it, then the rest with ratios.
    fn line(&self, what: &str, best_word: &str) -> String {
        let best = &self.ranked[0];
        let over = if self.levels.len() > 1 {
            format!(", geometric mean over {}", self.levels.join(", "))
        } else {
            String::new()
        };
        let mut line = format!(
            "**{}** ({}): {best_word} `{}`, {}{over}",
            what,
            if self.metric.higher_is_better() { "higher is better" } else { "lower is better" },
            best.variant,
            shown(self.metric, best.value)
        );
        let others = |tied: bool| -> Vec<String> {
            self.ranked[1..]
                .iter()
                .filter(|r| r.tied == tied)
                .map(|r| format!("`{}` ×{:.2}", r.variant, r.ratio))
                .collect()
        };
        if !self.decided {
            let rest = others(false);
            if !rest.is_empty() {
                let _ = write!(line, "; then {}", rest.join(", "));
            }
            let _ = write!(
                line,
                ". Which are tied cannot be told: some cells have fewer than {MIN_RUNS} runs (see the legend)."
            );
            return line;
        }
        let tied = others(true);
        if tied.is_empty() {
            let _ = write!(line, "; none tied with it");
        } else {
            let _ = write!(line, "; tied with it: {}", tied.join(", "));
        }
        let rest = others(false);
        if !rest.is_empty() {
            let _ = write!(line, "; then {}", rest.join(", "));
        }
        if !self.unranked.is_empty() {
            let names: Vec<String> = self.unranked.iter().map(|v| format!("`{v}`")).collect();
            let _ = write!(line, "; not ranked (a level without a figure): {}", names.join(", "));
        }
        let _ = write!(
            line,
            ". (Tied: at no level significantly different; Mann–Whitney per level, {CORRECTION}-corrected over {} comparisons.)",
            self.comparisons
        );
        line
    }
}

impl Verdict {
    /// The verdict as Markdown bullets, one per finding.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(cpu) = &self.cpu {
            lines.push(cpu.line("Server CPU per request", "cheapest"));
        }
        if let Some(p99) = &self.p99 {
            lines.push(p99.line("p99 latency", "lowest"));
        }
        let (bound, cells) = self.client_bound;
        let fastest = self
            .fastest
            .as_ref()
            .map_or_else(String::new, |(v, rate)| format!("; highest: `{v}`, {rate:.0}/s (geometric mean)"));
        lines.push(if bound == 0 {
            format!(
                "**Requests per second** (higher is better): no cell was client-bound, so the rate can separate the \
                 variants here{fastest}."
            )
        } else if bound == cells {
            format!(
                "**Requests per second** (higher is better): all {cells} cells were client-bound (`‡`: the load \
                 generator's CPU ≥ 90%), so the rate measures the load generator, not the servers: read server CPU per \
                 request instead."
            )
        } else {
            format!(
                "**Requests per second** (higher is better): {bound} of {cells} cells were client-bound (`‡`: the load \
                 generator's CPU ≥ 90%); there the rate measures the load generator, not the servers — read server CPU \
                 per request{fastest}."
            )
        });
        if let (Some(steady), Some(unsteady)) = (self.stability.first(), self.stability.last()) {
            if self.stability.len() > 1 {
                lines.push(format!(
                    "**Stability**: steadiest `{}` (its runs' requests per second spread {:.0}% of their median, the \
                     median over its cells), least steady `{}` ({:.0}%); {} of {} cells spread over 20% (`±`).",
                    steady.0,
                    steady.1 * 100.0,
                    unsteady.0,
                    unsteady.1 * 100.0,
                    self.noisy.0,
                    self.noisy.1
                ));
            }
        }
        if !self.outliers.is_empty() {
            let named: Vec<String> = self
                .outliers
                .iter()
                .map(|(cell, merged, runs)| {
                    format!("`{cell}` {merged:.1} µs merged, {runs:.1} µs the runs' median")
                })
                .collect();
            lines.push(format!(
                "**One run's outlier** (`◊`) drives the merged p99 of {} cell(s): {} — the ranking above uses the \
                 runs' median.",
                self.outliers.len(),
                named.join("; ")
            ));
        }
        lines
    }
}

/// Every scenario's verdict as Markdown, under one heading.
pub fn markdown(results: &Results) -> String {
    let verdicts = verdicts(results);
    if verdicts.is_empty() {
        return String::new();
    }
    let mut out = String::from("## Verdict\n\n");
    for verdict in &verdicts {
        if verdicts.len() > 1 {
            let _ = writeln!(out, "**Scenario `{}`**\n", verdict.scenario);
        }
        for line in verdict.lines() {
            let _ = writeln!(out, "- {line}");
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::tests::cell_with_runs;

    /// Three variants at two levels, five runs each: `a` and `b` cost the same, `c` clearly more.
    fn three() -> Results {
        let mut results = crate::results::sample::results(&["a", "b", "c"], &[1, 5], 5, 100);
        for cell in &mut results.cells {
            let base = match cell.variant.as_str() {
                "a" => 10.0,
                "b" => 10.1,
                _ => 20.0,
            };
            let p99 = cell.latency_us.p99;
            for (i, run) in cell.runs.iter_mut().enumerate() {
                // The runs agree with the merged histogram: no outlier unless a test makes one.
                run.latency_us.p99 = p99 * (1.0 + i as f64 / 100.0);
                let cost = base + [0.3, -0.2, 0.1, -0.1, 0.0][i];
                if let Some(server) = run.server.as_mut() {
                    server.cpu_us_per_request = Some(cost);
                }
            }
            let costs: Vec<f64> =
                cell.runs.iter().filter_map(|r| r.server.and_then(|s| s.cpu_us_per_request)).collect();
            if let Some(server) = cell.server.as_mut() {
                server.cpu_us_per_request = median(&costs);
            }
        }
        results
    }

    #[test]
    fn the_cheapest_and_those_tied_with_it() {
        let verdict = verdict(&three(), crate::plan::CLASSIC);
        let cpu = verdict.cpu.as_ref().expect("a ranking");
        let names: Vec<(&str, bool)> = cpu.ranked.iter().map(|r| (r.variant.as_str(), r.tied)).collect();
        assert_eq!(names, [("a", true), ("b", true), ("c", false)]);
        assert_eq!(cpu.comparisons, 4, "b and c against a at two levels");
        assert!(cpu.decided);
        let line = &verdict.lines()[0];
        assert!(
            line.contains("cheapest `a`, 10.00 µs") && line.contains("tied with it: `b` ×1.01"),
            "{line}"
        );
        assert!(
            line.contains("Benjamini–Hochberg-corrected over 4 comparisons")
                && line.contains("; then `c` ×2.00"),
            "{line}"
        );
        assert!(line.contains("lower is better"), "{line}");
    }

    #[test]
    fn too_few_runs_say_so_instead_of_ties() {
        let mut results = crate::results::sample::results(&["a", "b"], &[1], 2, 10);
        results.cells[1].server.as_mut().unwrap().cpu_us_per_request = Some(99.0);
        let cpu = verdict(&results, crate::plan::CLASSIC).cpu.expect("a ranking");
        assert!(!cpu.decided);
        let line = cpu.line("Server CPU per request", "cheapest");
        assert!(line.contains("cannot be told"), "{line}");
    }

    #[test]
    fn client_bound_cells_and_outliers_are_counted() {
        let mut results = three();
        results.cells[0].meta.client_bound = true;
        let cell = &mut results.cells[1];
        cell.latency_us.p99 = 10.0 * cell.p99_of_runs().unwrap();
        let verdict = verdict(&results, crate::plan::CLASSIC);
        assert_eq!(verdict.client_bound, (1, 6));
        assert_eq!(verdict.outliers.len(), 1);
        let text = verdict.lines().join("\n");
        assert!(text.contains("1 of 6 cells were client-bound"), "{text}");
        assert!(text.contains("One run's outlier"), "{text}");
        let one = cell_with_runs("x", 1, &[1.0]);
        assert!(!one.p99_from_one_run(), "one run is never its own outlier");
    }
}
