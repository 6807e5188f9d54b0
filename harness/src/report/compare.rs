//! `harness compare` as Markdown: per metric, each point's old and new medians, the change
//! (or `~`) and the p-value, and a geometric-mean row; the HTML page draws the same rows.

use std::fmt::Write;

use super::table::{render, Align};
use crate::compare::{Comparison, Metric, Row};

/// The comparison as Markdown tables, one per metric.
pub fn markdown(title: &str, comparison: &Comparison, baseline: bool) -> String {
    let mut out = format!("# Comparison: {title}\n\n");
    if !comparison.settings_differ.is_empty() {
        out.push_str("Settings that differ:\n\n");
        for d in &comparison.settings_differ {
            let _ = writeln!(out, "- {}: `{}` → `{}`", d.setting, d.old, d.new);
        }
        out.push('\n');
    }
    for warning in &comparison.warnings {
        let _ = writeln!(out, "**Warning:** {warning}\n");
    }
    for metric in Metric::ALL {
        let Some(table) = metric_rows(comparison, metric) else { continue };
        let _ = writeln!(out, "## {}\n", metric.title());
        let align =
            [Align::Left, Align::Left, Align::Right, Align::Right, Align::Right, Align::Right, Align::Left];
        out.push_str(&render(&headers(baseline), &align, &table));
        out.push('\n');
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
    "Medians over each cell's runs. delta: `~` when a two-sided Mann–Whitney U test gives p ≥ \
0.05 (not significant) or either side has fewer than 4 runs; otherwise the change of the median.";

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
