//! `harness compare` as Markdown. By default, per metric and scenario, a variant × level table
//! like the run report's matrices (each entry old → new and the change, or `~`); with
//! `--long`, benchstat's long form: one row per point with both medians, the change and the
//! p-value, and a geometric-mean row. The HTML page draws the same tables.

use std::fmt::Write;

use super::table::{render, Align};
use crate::compare::{Comparison, Metric, Row};

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
        out.push(format!(
            "**Same commit, build, machine and settings on both sides:** every difference below is the machine \
             drifting between the two runs, not a change. {significant} of {} comparisons are marked significant \
             (about 5% would be by chance alone; more means the machine itself changed speed).",
            comparison.rows.len()
        ));
    }
    out.extend(comparison.warnings.iter().map(|w| format!("**Warning:** {w}")));
    out
}

/// The comparison as Markdown: the variant × level tables, or with `long` one row per point.
pub fn markdown(title: &str, comparison: &Comparison, baseline: bool, long: bool) -> String {
    let mut out = format!("# Comparison: {title}\n\n");
    for paragraph in preamble(comparison, baseline) {
        let _ = writeln!(out, "{paragraph}\n");
    }
    for metric in Metric::ALL {
        if long {
            let Some(table) = metric_rows(comparison, metric) else { continue };
            let _ = writeln!(out, "## {}\n", metric.title());
            let align = [
                Align::Left,
                Align::Left,
                Align::Right,
                Align::Right,
                Align::Right,
                Align::Right,
                Align::Left,
            ];
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
            let headers: Vec<&str> = grid.headers.iter().map(String::as_str).collect();
            let mut align = vec![Align::Right; headers.len()];
            align[0] = Align::Left;
            out.push_str(&render(&headers, &align, &grid.rows));
            out.push('\n');
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

/// Whether the comparison spans several scenarios (each grid then gets its name).
fn grids_named(comparison: &Comparison) -> bool {
    comparison.rows.first().is_some_and(|first| comparison.rows.iter().any(|r| r.scenario != first.scenario))
}

/// `metric`'s rows as one variant × level table per scenario, in the rows' (matrix) order.
/// An entry is `old → new` and the change, or `~` when it is not significant; against a
/// baseline, the variant's figure and its ratio.
pub fn grids(comparison: &Comparison, metric: Metric, baseline: bool) -> Vec<Grid> {
    let rows: Vec<&Row> = comparison.rows.iter().filter(|r| r.metric == metric.key()).collect();
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
        let entry = entry(row, baseline);
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

/// The columns of a metric's table; the two sides are `baseline` and `variant` when one
/// sweep's variants are compared with its baseline.
pub fn headers(baseline: bool) -> [&'static str; 7] {
    let (old, new) = if baseline { ("baseline", "variant") } else { ("old", "new") };
    ["scenario", "variant", "level", old, new, "delta", "p"]
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
                r.p_value.map_or_else(|| "—".to_owned(), |p| format!("p={p:.3} n={}+{}", r.runs.0, r.runs.1)),
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
        ]);
    }
    Some(table)
}

/// The legend under the tables.
pub const LEGEND: &str =
    "Medians over each cell's runs; the change is new against old (a variant against the baseline). `~`: not \
significant — a two-sided Mann–Whitney U test gives p ≥ 0.05, or a side has fewer than 4 runs. A higher rate is \
better; lower latency and CPU are better.";

fn number(value: Option<f64>) -> String {
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
