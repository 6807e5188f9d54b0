//! `harness compare … --html FILE`: the comparison as the same kind of page as the report.
//! The benchstat tables (median old and new, delta or `~`, p-value) per metric; then per
//! scenario requests per second old against new (against workers, per load level, where
//! workers is an axis), and per cell (variant × level) the two latency spectra overlaid:
//! dashed old (or the baseline), solid new (or the variant), each in its variant's colour.

use std::fmt::Write;

use super::chart::{self, Frame, Line};
use super::document::{escape, inline, page};
use super::figure::{drawn, Figure, Swatch};
use super::palette::Palette;
use super::plots::{key, level_axis, spectrum_line, spectrum_plot, zero_to};
use super::tables;
use crate::compare::{Comparison, Metric};
use crate::report::compare::{headers, metric_rows, LEGEND};
use crate::report::gate::{breach_row, verdict_line, BREACH_HEADERS};
use crate::report::matrices;
use crate::results::{Cell, Results};

/// The page comparing `old` with `new`, or (`new` absent) `old`'s variants with its baseline.
pub fn page_of(title: &str, old: &Results, new: Option<&Results>, comparison: &Comparison) -> String {
    let palette = match new {
        Some(new) => Palette::of(new).with(old),
        None => Palette::of(old),
    };
    let mut body = format!("<header>\n<h1>Comparison: {}</h1>\n</header>\n", escape(title));
    body.push_str(&summary(comparison, new.is_none()));
    let shown = new.unwrap_or(old);
    for scenario in shown.scenario_names() {
        let pairs = pairs(old, new, scenario);
        if pairs.is_empty() {
            continue;
        }
        let _ = writeln!(
            body,
            "<section class=\"scenario\" data-scenario=\"{}\">\n<h2>Scenario: {}</h2>\n<div class=\"plots\">",
            escape(scenario),
            escape(scenario)
        );
        if let Some(new) = new {
            for figure in throughput(old, new, scenario, &palette) {
                body.push_str(&figure.html());
            }
        }
        for (before, after) in &pairs {
            body.push_str(&spectra(before, after, new.is_none(), &palette).html());
        }
        body.push_str("</div>\n</section>\n");
    }
    page(&format!("Comparison: {title}"), &body)
}

/// The gate's verdict and breaches, settings that differ, warnings, the metric tables and the
/// points only one side has.
fn summary(comparison: &Comparison, baseline: bool) -> String {
    let mut out = String::new();
    if let Some(gate) = &comparison.gate {
        let class = if gate.breached() { "alert" } else { "gate" };
        let _ = writeln!(out, "<p class=\"{class}\">{}</p>", inline(&verdict_line(gate)));
        if !gate.breaches.is_empty() {
            let rows: Vec<Vec<String>> = gate.breaches.iter().map(breach_row).collect();
            out.push_str(&tables::table("breaches", &BREACH_HEADERS, 4, &rows));
        }
    }
    if !comparison.settings_differ.is_empty() {
        out.push_str("<h2>Settings that differ</h2>\n<ul>\n");
        for d in &comparison.settings_differ {
            let _ = writeln!(
                out,
                "<li>{}: <code>{}</code> → <code>{}</code></li>",
                escape(&d.setting),
                escape(&d.old),
                escape(&d.new)
            );
        }
        out.push_str("</ul>\n");
    }
    if comparison.same_settings && !baseline {
        if let Some(same) = crate::report::compare::preamble(comparison, baseline).first() {
            let _ = writeln!(out, "<p class=\"alert\">{}</p>", inline(same));
        }
    }
    for warning in &comparison.warnings {
        let _ = writeln!(out, "<p class=\"alert\"><strong>Warning:</strong> {}</p>", escape(warning));
    }
    for metric in Metric::ALL {
        let Some(rows) = metric_rows(comparison, metric) else { continue };
        let _ = writeln!(out, "<h3>{}</h3>", escape(metric.title()));
        out.push_str(&tables::table("compare", &headers(baseline), 3, &rows));
        if comparison.correction != crate::compare::Correction::None {
            let _ = writeln!(
                out,
                "<p class=\"legend-text\">q: the p-value corrected over this table's rows ({}).</p>",
                escape(comparison.correction.name())
            );
        }
    }
    let _ = writeln!(out, "<p class=\"legend-text\">{}</p>", inline(LEGEND));
    if !comparison.unmatched.is_empty() {
        out.push_str("<h3>Not compared</h3>\n<ul>\n");
        for point in &comparison.unmatched {
            let _ = writeln!(out, "<li>{}</li>", escape(point));
        }
        out.push_str("</ul>\n");
    }
    out
}

/// The matched cells of `scenario`, (old, new) or (baseline, variant), by level then
/// variant.
fn pairs<'a>(old: &'a Results, new: Option<&'a Results>, scenario: &'a str) -> Vec<(&'a Cell, &'a Cell)> {
    let shown = new.unwrap_or(old);
    let cells: Vec<&Cell> = shown.scenario_cells(scenario).collect();
    let mut pairs = Vec::new();
    for level in matrices::levels(&cells) {
        for variant in matrices::variants(shown, &cells) {
            let Some(cell) = cells.iter().find(|c| c.variant == variant && c.same_level(level)) else {
                continue;
            };
            let before = match new {
                Some(_) => old.cells.iter().find(|c| c.same_point(cell)),
                None if variant == old.meta.baseline => None,
                None => old
                    .scenario_cells(scenario)
                    .find(|b| b.variant == old.meta.baseline && b.same_level(cell)),
            };
            if let Some(before) = before {
                pairs.push((before, *cell));
            }
        }
    }
    pairs
}

/// Requests per second old against new: against the load level, or where the new sweep has
/// workers as an axis, against workers at each load level.
fn throughput(old: &Results, new: &Results, scenario: &str, palette: &Palette) -> Vec<Figure> {
    let new_cells: Vec<&Cell> = new.scenario_cells(scenario).collect();
    if !new_cells.iter().any(|c| c.workers_axis) {
        return vec![rate_lines(old, new, scenario, palette, None)];
    }
    let mut loads: Vec<f64> = new_cells.iter().map(|c| c.level()).collect();
    loads.sort_by(f64::total_cmp);
    loads.dedup();
    loads.into_iter().map(|load| rate_lines(old, new, scenario, palette, Some(load))).collect()
}

/// Requests per second, old dashed and new solid with its min–max band: against the level, or
/// (`at_load`) against workers at that load level.
fn rate_lines(
    old: &Results,
    new: &Results,
    scenario: &str,
    palette: &Palette,
    at_load: Option<f64>,
) -> Figure {
    let in_view = |c: &&Cell| at_load.is_none_or(|load| c.level() == load);
    let x_of = |c: &Cell| if at_load.is_some() { c.workers as f64 } else { c.level() };
    let new_cells: Vec<&Cell> = new.scenario_cells(scenario).filter(in_view).collect();
    let mut all: Vec<&Cell> = new_cells.clone();
    all.extend(old.scenario_cells(scenario).filter(in_view));
    let variants = matrices::variants(new, &new_cells);
    let mut lines = Vec::new();
    let mut legend = Vec::new();
    let mut top = 0.0f64;
    for variant in &variants {
        for (results, dashed) in [(new, false), (old, true)] {
            let mut cells: Vec<&Cell> =
                results.scenario_cells(scenario).filter(|c| c.variant == *variant).filter(in_view).collect();
            cells.sort_by(|a, b| x_of(a).total_cmp(&x_of(b)));
            let mut line = Line::measured(palette.colour(variant), dashed);
            for cell in cells {
                let Some(median) = Metric::RequestsPerSecond.figure(cell) else { continue };
                line.points.push((x_of(cell), median));
                top = top.max(median);
                if let (false, Some(spread)) = (dashed, cell.requests_per_second_spread) {
                    line.band.push((x_of(cell), spread.min, spread.max));
                    top = top.max(spread.max);
                }
            }
            // A variant only one side measured gets no key for the side that has no line.
            if line.points.is_empty() {
                continue;
            }
            let side = if dashed { "old" } else { "new" };
            legend.push(key(
                palette,
                variant,
                format!("{variant} {side}"),
                if dashed { Swatch::Dashed } else { Swatch::Solid },
            ));
            lines.push(line);
        }
    }
    let mut xs: Vec<f64> = all.iter().map(|c| x_of(c)).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    let open = all.iter().any(|c| c.mode == crate::results::Mode::Open);
    let x_desc = match at_load {
        Some(_) => "workers (--workers N on the first N server CPUs)",
        None if open => "offered rate (requests/s)",
        None => "concurrency (connections)",
    };
    let frame = Frame {
        x: level_axis(&xs),
        y: zero_to(top),
        x_desc: x_desc.into(),
        y_desc: "requests per second".into(),
    };
    let mut data = vec![("scenario", scenario.to_owned())];
    let mut title = "Requests per second, old and new".to_owned();
    if let Some(cell) = all.first().filter(|_| at_load.is_some()) {
        let label = cell.load_label();
        title = format!("Requests per second against workers at {label}, old and new");
        data.push(("level", label));
        data.push(("axis", "workers".into()));
    }
    Figure {
        kind: "compare-throughput",
        title,
        how: "Solid: new, with the band between its slowest and fastest run; dashed, lighter: old.".into(),
        data,
        legend,
        svg: drawn(chart::lines(frame, &lines)),
    }
}

/// One cell's latency spectrum, old (or baseline) dashed and new (or variant) solid.
fn spectra(before: &Cell, after: &Cell, baseline: bool, palette: &Palette) -> Figure {
    let (before_label, after_label) = if baseline {
        (format!("{} (baseline)", before.variant), after.variant.clone())
    } else {
        (format!("{} old", before.variant), format!("{} new", after.variant))
    };
    let mut lines = Vec::new();
    let mut legend = Vec::new();
    for (cell, label, dashed) in [(after, after_label, false), (before, before_label, true)] {
        if let Some(line) = spectrum_line(&cell.histograms.latency.0, palette.colour(&cell.variant), dashed) {
            lines.push(line);
            legend.push(key(
                palette,
                &cell.variant,
                label,
                if dashed { Swatch::Dashed } else { Swatch::Solid },
            ));
        }
    }
    let svg = spectrum_plot(&lines, "No latency was recorded in either cell.");
    let level = after.level_label();
    let sides = if baseline { "solid: the variant, dashed: the baseline" } else { "solid: new, dashed: old" };
    Figure {
        kind: "compare-spectrum",
        title: format!("{} at {level}: latency percentile spectrum", after.variant),
        how: format!(
            "x: percentile on HdrHistogram's scale (each step right is one more nine); y: latency, log scale; {sides}."
        ),
        data: vec![
            ("scenario", after.scenario.clone()),
            ("variant", after.variant.clone()),
            ("level", level),
        ],
        legend,
        svg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::sample;

    #[test]
    fn old_and_new_overlaid_per_cell() {
        let old = sample::results(&["tokio", "smol"], &[1, 5], 5, 1000);
        let new = sample::results(&["tokio", "smol", "monoio"], &[1, 5], 5, 1000);
        let comparison = crate::compare::sweeps(&old, &new, crate::compare::Correction::None);
        let html = page_of("old → new", &old, Some(&new), &comparison);
        assert_eq!(html.matches("data-plot=\"compare-spectrum\"").count(), 4, "matched cells only");
        assert_eq!(html.matches("data-plot=\"compare-throughput\"").count(), 1);
        assert_eq!(html.matches("<svg ").count(), 5);
        assert!(
            html.contains("<h3>Requests per second (higher is better)</h3>")
                && html.contains("<td>geomean</td>"),
            "{html}"
        );
        assert!(html.contains("only in the new results"), "monoio is unmatched");
        assert!(html.contains("tokio old") && html.contains("tokio new"));
        assert!(!html.contains("http://") && !html.contains("<script"));
    }

    #[test]
    fn one_sweep_against_its_baseline() {
        let results = sample::results(&["tokio", "smol", "monoio"], &[1, 5], 5, 1000);
        let comparison = crate::compare::against_baseline(&results, crate::compare::Correction::None);
        let html = page_of("against tokio", &results, None, &comparison);
        assert_eq!(
            html.matches("data-plot=\"compare-spectrum\"").count(),
            4,
            "every variant but the baseline"
        );
        assert_eq!(html.matches("data-plot=\"compare-throughput\"").count(), 0);
        assert!(html.contains("tokio (baseline)") && html.contains(">baseline</th>"), "{html}");
    }
}
