//! `harness compare` as Markdown. The gate's verdict first, when there is one; then, per
//! metric and scenario, a variant × level table like the run report's matrices (each entry
//! old → new and the change, or `~`), and under it the same points within rounds; with
//! `--long`, benchstat's long form: one row per point with both medians, the change and the
//! p-value, the change within rounds and its p-value, and a geometric-mean row. The HTML page
//! draws the same tables.

use std::fmt::Write;

use super::table::{render, Align};
use crate::compare::{Basis, Comparison, Metric, Row};

/// What the comparison says before its tables: settings that differ (or that none does, so
/// every difference is drift), then warnings. Markdown, one paragraph each.
pub fn preamble(comparison: &Comparison, baseline: bool) -> Vec<String> {
    let mut out = Vec::new();
    if !comparison.settings_differ.is_empty() {
        let listed: Vec<String> = comparison
            .settings_differ
            .iter()
            .map(|d| format!("- {}: `{}` → `{}`", d.setting, d.old, d.new))
            .collect();
        out.push(format!("Settings that differ:\n\n{}", listed.join("\n")));
    } else if comparison.same_settings && !baseline {
        let significant = comparison.rows.iter().filter(|r| r.significant).count();
        let chance = if comparison.correction == crate::compare::Correction::None {
            "about 5% would be by chance alone; more means the machine itself changed speed".to_owned()
        } else {
            format!(
                "{}-corrected: when nothing changed, the chance of even one is about 5%",
                comparison.correction.name()
            )
        };
        let within = comparison.rows.iter().filter(|r| r.decision.basis == Basis::WithinRounds).count();
        let within_significant = comparison
            .rows
            .iter()
            .filter(|r| r.decision.basis == Basis::WithinRounds && r.decision.significant)
            .count();
        let rounds = if within > 0 {
            format!(" Within rounds, where drift divides out: {within_significant} of {within}.")
        } else {
            String::new()
        };
        out.push(format!(
            "**Same commit, build, machine and settings on both sides:** every difference below is the machine \
             drifting between the two runs, not a change. {significant} of {} comparisons are marked significant \
             run against run ({chance}).{rounds}",
            comparison.rows.len()
        ));
    }
    if comparison.correction != crate::compare::Correction::None {
        out.push(format!(
            "p-values corrected for multiple comparisons over each metric's rows: **{}** (`q`).",
            comparison.correction.name()
        ));
    }
    out.extend(comparison.warnings.iter().map(|w| format!("**Warning:** {w}")));
    out
}

/// The comparison as Markdown: the variant × level tables, or with `long` one row per point.
pub fn markdown(title: &str, comparison: &Comparison, baseline: bool, long: bool) -> String {
    let mut out = format!("# Comparison: {title}\n\n");
    if let Some(gate) = &comparison.gate {
        out.push_str(&super::gate::section(gate));
    }
    for paragraph in preamble(comparison, baseline) {
        let _ = writeln!(out, "{paragraph}\n");
    }
    for metric in Metric::ALL {
        if long {
            let Some(table) = metric_rows(comparison, metric) else { continue };
            let _ = writeln!(out, "## {}\n", metric.title());
            let mut align = vec![Align::Right; HEADERS];
            align[..2].fill(Align::Left);
            align[6] = Align::Left;
            align[8] = Align::Left;
            out.push_str(&render(&headers(baseline), &align, &table));
            out.push('\n');
            continue;
        }
        let grids = grids(comparison, metric, baseline);
        if grids.is_empty() {
            continue;
        }
        let _ = writeln!(out, "## {}\n", metric.title());
        for grid in grids {
            if grids_named(comparison) {
                let _ = writeln!(out, "### {}\n", grid.scenario);
            }
            out.push_str(&grid.markdown());
            if let Some(within) = within_rounds_grid(comparison, metric, &grid.scenario, baseline) {
                let reference = comparison
                    .rows
                    .iter()
                    .find_map(|r| r.within_rounds.as_ref())
                    .map(|w| w.reference.as_str());
                let _ = writeln!(
                    out,
                    "Within rounds (each run over `{}`'s in the same round; {}):\n",
                    reference.unwrap_or_default(),
                    if baseline {
                        "the ratio's change from 1"
                    } else {
                        "the change of that ratio, old → new"
                    }
                );
                out.push_str(&within.markdown());
            }
        }
        if let Some(g) = comparison.geomean.iter().find(|g| g.metric == metric.key()) {
            if let Some(change) = g.delta_pct {
                let _ = writeln!(
                    out,
                    "Geometric mean over every point: {} → {} ({change:+.2}%).\n",
                    number(g.old),
                    number(g.new)
                );
            }
        }
    }
    if !comparison.unmatched.is_empty() {
        out.push_str("Not compared:\n\n");
        for point in &comparison.unmatched {
            let _ = writeln!(out, "- {point}");
        }
        out.push('\n');
    }
    out.push_str(LEGEND);
    out.push('\n');
    out
}

/// One scenario's variant × level table of one metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    pub scenario: String,
    /// `variant`, then each level.
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Grid {
    /// As a padded Markdown table.
    pub fn markdown(&self) -> String {
        let headers: Vec<&str> = self.headers.iter().map(String::as_str).collect();
        let mut align = vec![Align::Right; headers.len()];
        align[0] = Align::Left;
        format!("{}\n", render(&headers, &align, &self.rows))
    }
}

/// Whether the comparison spans several scenarios (each grid then gets its name).
pub fn grids_named(comparison: &Comparison) -> bool {
    comparison.rows.first().is_some_and(|first| comparison.rows.iter().any(|r| r.scenario != first.scenario))
}

/// `metric`'s rows as one variant × level table per scenario, in the rows' (matrix) order.
/// An entry is `old → new` and the change, or `~` when it is not significant; against a
/// baseline, the variant's figure and its ratio.
pub fn grids(comparison: &Comparison, metric: Metric, baseline: bool) -> Vec<Grid> {
    grids_of(comparison, metric, |row| Some(entry(row, baseline)))
}

/// `metric`'s within-round changes in `scenario` as a variant × level table (`~`: the decision
/// is not significant), when some row there decides within rounds.
pub fn within_rounds_grid(
    comparison: &Comparison,
    metric: Metric,
    scenario: &str,
    baseline: bool,
) -> Option<Grid> {
    let decides = |r: &Row| r.scenario == scenario && r.decision.basis == Basis::WithinRounds;
    if !comparison.rows.iter().any(|r| r.metric == metric.key() && decides(r)) {
        return None;
    }
    let entry = |row: &Row| {
        let within = row.within_rounds.as_ref()?;
        let ratios = match (baseline, within.old_ratio, within.new_ratio) {
            (true, _, Some(new)) => format!("×{new:.3}"),
            (false, Some(old), Some(new)) => format!("×{old:.3} → ×{new:.3}"),
            _ => "—".to_owned(),
        };
        let significant = row.decision.basis == Basis::WithinRounds && row.decision.significant;
        Some(match within.delta_pct {
            Some(d) if significant => format!("{ratios} {d:+.1}%"),
            Some(d) => format!("{ratios} {d:+.1}% ~"),
            None => ratios,
        })
    };
    grids_of(comparison, metric, entry).into_iter().find(|g| g.scenario == scenario)
}

/// `metric`'s rows as one variant × level table per scenario, each entry made by `entry`
/// (rows it gives nothing for stay out).
pub fn grids_of(
    comparison: &Comparison,
    metric: Metric,
    entry: impl Fn(&Row) -> Option<String>,
) -> Vec<Grid> {
    let rows: Vec<&Row> =
        comparison.rows.iter().filter(|r| r.metric == metric.key() && entry(r).is_some()).collect();
    let mut grids: Vec<Grid> = Vec::new();
    for row in &rows {
        if !grids.iter().any(|g| g.scenario == row.scenario) {
            let mut levels: Vec<&str> = Vec::new();
            for r in rows.iter().filter(|r| r.scenario == row.scenario) {
                if !levels.contains(&r.level.as_str()) {
                    levels.push(&r.level);
                }
            }
            let headers =
                std::iter::once("variant".to_owned()).chain(levels.iter().map(|l| (*l).to_owned())).collect();
            grids.push(Grid { scenario: row.scenario.clone(), headers, rows: Vec::new() });
        }
        let Some(grid) = grids.iter_mut().find(|g| g.scenario == row.scenario) else { continue };
        let column = grid.headers.iter().position(|h| *h == row.level).unwrap_or(0);
        let Some(entry) = entry(row) else { continue };
        match grid.rows.iter_mut().find(|r| r[0] == row.variant) {
            Some(existing) => existing[column] = entry,
            None => {
                let mut new = vec!["—".to_owned(); grid.headers.len()];
                new[0] = row.variant.clone();
                new[column] = entry;
                grid.rows.push(new);
            }
        }
    }
    grids
}

/// One grid entry: both medians and the change, marked `~` when not significant.
fn entry(row: &Row, baseline: bool) -> String {
    let change = match (row.delta_pct, row.significant) {
        (Some(d), true) => format!(" {d:+.1}%"),
        (Some(d), false) => format!(" {d:+.1}% ~"),
        (None, _) => String::new(),
    };
    if baseline {
        return format!("{}{change}", number(row.new_median));
    }
    format!("{} → {}{change}", number(row.old_median), number(row.new_median))
}

/// How many columns a metric's long table has.
const HEADERS: usize = 9;

/// The columns of a metric's long table; the two sides are `baseline` and `variant` when one
/// sweep's variants are compared with its baseline.
pub fn headers(baseline: bool) -> [&'static str; HEADERS] {
    let (old, new) = if baseline { ("baseline", "variant") } else { ("old", "new") };
    ["scenario", "variant", "level", old, new, "delta", "p", "within rounds", "p (rounds)"]
}

/// One metric's rows, as every renderer shows them (the last is the geometric mean), or
/// `None` when no point has that metric.
pub fn metric_rows(comparison: &Comparison, metric: Metric) -> Option<Vec<Vec<String>>> {
    let rows: Vec<&Row> = comparison.rows.iter().filter(|r| r.metric == metric.key()).collect();
    if rows.is_empty() {
        return None;
    }
    let mut table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.scenario.clone(),
                r.variant.clone(),
                r.level.clone(),
                number(r.old_median),
                number(r.new_median),
                delta(r),
                r.p_value.map_or_else(|| "—".to_owned(), |p| p_text(p, r.corrected_p, r.runs)),
                within_delta(r),
                r.within_rounds
                    .as_ref()
                    .and_then(|w| {
                        let corrected =
                            (r.decision.basis == Basis::WithinRounds).then_some(r.decision.corrected_p)?;
                        Some(p_text(w.p_value?, corrected, w.rounds))
                    })
                    .unwrap_or_else(|| "—".to_owned()),
            ]
        })
        .collect();
    if let Some(g) = comparison.geomean.iter().find(|g| g.metric == metric.key()) {
        let change = g.delta_pct.map_or_else(|| "—".to_owned(), |d| format!("{d:+.2}%"));
        table.push(vec![
            "geomean".into(),
            String::new(),
            String::new(),
            number(g.old),
            number(g.new),
            change,
            String::new(),
            String::new(),
            String::new(),
        ]);
    }
    Some(table)
}

/// A p-value with its corrected value (when a correction changed it) and the sample sizes.
fn p_text(p: f64, corrected: Option<f64>, sizes: (usize, usize)) -> String {
    match corrected {
        Some(q) if (q - p).abs() > 1e-12 => format!("p={p:.3} q={q:.3} n={}+{}", sizes.0, sizes.1),
        _ => format!("p={p:.3} n={}+{}", sizes.0, sizes.1),
    }
}

/// The change within rounds, or `~` when the decision on it is not significant.
fn within_delta(row: &Row) -> String {
    if row.decision.basis == Basis::Yardstick {
        return "yardstick".to_owned();
    }
    let Some(within) = &row.within_rounds else { return "—".to_owned() };
    match within.delta_pct {
        Some(d) if row.decision.basis == Basis::WithinRounds && row.decision.significant => {
            format!("{d:+.2}%")
        }
        Some(d) => format!("{d:+.2}% ~"),
        None => "—".to_owned(),
    }
}

/// The legend under the tables.
pub const LEGEND: &str =
    "Medians over each cell's runs; the change is new against old (a variant against the baseline). `~`: not \
significant — a two-sided Mann–Whitney U test on the runs gives p ≥ 0.05 (after the correction, if any: q), or a side \
has fewer than 4 runs. Within rounds: each run divided by the baseline's run of the same interleaved round, so drift \
that slows both divides out; two sweeps' ratios are compared with Mann–Whitney, one sweep's with the Wilcoxon \
signed-rank test (paired by round, 6 rounds or more). A higher rate is better; lower latency and CPU are better.";

/// A figure as the tables print it: whole numbers from 1000 up, else two decimals.
pub fn number(value: Option<f64>) -> String {
    match value {
        None => "—".to_owned(),
        Some(v) if v.abs() >= 1000.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.2}"),
    }
}

fn delta(row: &Row) -> String {
    match row.delta_pct {
        Some(d) if row.significant => format!("{d:+.2}%"),
        Some(_) => "~".to_owned(),
        None => "—".to_owned(),
    }
}
