//! The report page (`report.html`): the verdict first, then the header facts; per scenario its
//! settings, the comparison matrices (their legend first), the variants with their colours
//! (command lines folded away), the plots, and each variant's tables (classic, percentiles,
//! and the open loop's and scale's where they apply) and notes; then problems. The same
//! verdict and tables as `report.md`, from the same functions, plus the plots.

use std::fmt::Write;

use super::document::{escape, inline, page};
use super::palette::Palette;
use super::plots::{self, Scenario};
use super::tables;
use crate::report::{self, matrices};
use crate::results::{Cell, Problem, ProblemKind, Results, VariantMeta, SCHEMA_VERSION};

/// The whole page.
pub fn report(results: &Results) -> String {
    let palette = Palette::of(results);
    let mut body = header(results);
    body.push_str(&verdict(results));
    body.push_str(&facts(results));
    let scenarios = results.scenario_names();
    if scenarios.len() > 1 {
        body.push_str("<nav><ul>");
        for (i, name) in scenarios.iter().enumerate() {
            let _ = write!(body, "<li><a href=\"#scenario-{i}\">Scenario: {}</a></li>", escape(name));
        }
        body.push_str("</ul></nav>\n");
    }
    if results.cells.is_empty() {
        body.push_str("<p class=\"note\">No cell has been measured yet.</p>\n");
    }
    for (i, name) in scenarios.iter().enumerate() {
        body.push_str(&scenario(results, &palette, i, name));
    }
    body.push_str(&problems(results));
    let _ = writeln!(
        body,
        "<footer>Drawn by harness {} from <code>results.json</code> (schema {SCHEMA_VERSION}); redraw it with \
         <code>harness report DIR</code>. This page loads nothing: it reads the same offline.</footer>",
        escape(env!("CARGO_PKG_VERSION"))
    );
    page("runtime-matrix report", &body)
}

/// The title and an interrupted sweep's warning.
fn header(results: &Results) -> String {
    let mut out = String::from("<header>\n<h1>runtime-matrix report</h1>\n");
    if let Some(interruption) = results.interruption() {
        let _ =
            writeln!(out, "<p class=\"alert\"><strong>Interrupted:</strong> {}.</p>", inline(&interruption));
    }
    out.push_str("</header>\n");
    out
}

/// The facts of where and how, after the verdict.
fn facts(results: &Results) -> String {
    let mut out = String::from("<dl class=\"facts\">\n");
    for (name, value) in report::facts(results) {
        let _ = writeln!(out, "<dt>{}</dt><dd>{}</dd>", escape(&name), inline(&value));
    }
    out.push_str("</dl>\n");
    out
}

/// The verdict of every scenario, before anything else: what to pick, and how sure.
fn verdict(results: &Results) -> String {
    let verdicts = report::verdict::verdicts(results);
    if verdicts.is_empty() {
        return String::new();
    }
    let mut out = String::from("<section class=\"verdict\">\n<h2>Verdict</h2>\n");
    for verdict in &verdicts {
        if verdicts.len() > 1 {
            let _ = writeln!(out, "<h3>Scenario: {}</h3>", escape(&verdict.scenario));
        }
        out.push_str("<ul>\n");
        for line in verdict.lines() {
            let _ = writeln!(out, "<li>{}</li>", inline(&line));
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</section>\n");
    out
}

/// One scenario's section.
fn scenario(results: &Results, palette: &Palette, index: usize, name: &str) -> String {
    let scenario = Scenario::of(results, name, palette);
    let mut out = format!(
        "<section class=\"scenario\" id=\"scenario-{index}\" data-scenario=\"{}\">\n<h2>Scenario: {}</h2>\n",
        escape(name),
        escape(name)
    );
    if let Some(settings) = results.scenario(name).map(report::scenario_description) {
        let _ = writeln!(out, "<p>{}</p>", inline(&settings));
    }
    if let Some(matrices) = matrices::matrices(results, name) {
        let _ =
            writeln!(out, "<h3>Comparison (baseline <code>{}</code>)</h3>", escape(&results.meta.baseline));
        out.push_str(&tables::matrices(&matrices, &results.meta.baseline));
    }
    if let Some(table) = report::scaling::efficiency_table(results, name) {
        out.push_str("<h3>Scaling efficiency</h3>\n");
        out.push_str(&tables::table(table.kind, &table.header_names(), 2, &table.rows));
        if let Some(legend) = &table.legend {
            let _ = writeln!(out, "<p class=\"note\">{}</p>", inline(legend));
        }
    }
    out.push_str(&variants_table(results, &scenario));
    out.push_str("<div class=\"plots\">\n");
    for figure in plots::all(&scenario) {
        out.push_str(&figure.html());
    }
    out.push_str("</div>\n");
    if let Some(table) = report::time_goes(results, name) {
        out.push_str("<h3>Where the time goes</h3>\n");
        out.push_str(&time_goes(&table));
    }
    for variant in &scenario.variants {
        for section in report::variant_sections(results, scenario.name, variant) {
            out.push_str(&variant_tables(&scenario, variant, &section));
        }
    }
    out.push_str("</section>\n");
    out
}

/// The variants of a scenario with their colours and how each was run: the legend of every
/// plot, and the "workers" header fact. With workers as an axis, every value it ran at and the
/// CPUs in force at each.
fn variants_table(results: &Results, scenario: &Scenario<'_>) -> String {
    let mut out = String::from(
        "<div class=\"wide\"><table class=\"variants\">\n<thead><tr><th>colour</th><th>variant</th><th>workers</th><th>runtime</th>\
         <th>launch</th><th>server CPUs in force</th><th>command</th></tr></thead>\n<tbody>\n",
    );
    for variant in &scenario.variants {
        let meta: Option<&VariantMeta> = results.meta.variants.iter().find(|v| v.name == *variant);
        let cells: Vec<&Cell> = scenario.cells.iter().copied().filter(|c| c.variant == *variant).collect();
        let mut workers: Vec<usize> = cells.iter().map(|c| c.workers).collect();
        workers.sort_unstable();
        workers.dedup();
        let workers = workers.iter().map(usize::to_string).collect::<Vec<_>>().join(", ");
        let runtime = meta.and_then(|m| m.runtime_version.clone().or_else(|| m.runtime.clone()));
        let cpus = if scenario.workers.is_empty() {
            meta.map_or_else(String::new, |m| crate::affinity::cpu_list(&m.cpus_in_force))
        } else {
            // Per workers value, as the cells read them back.
            let mut at: Vec<(usize, String)> = cells
                .iter()
                .map(|c| (c.workers, crate::affinity::cpu_list(&c.meta.server_cpus_in_force)))
                .collect();
            at.sort();
            at.dedup();
            at.iter().map(|(n, cpus)| format!("w={n}: {cpus}")).collect::<Vec<_>>().join("; ")
        };
        let _ = writeln!(
            out,
            "<tr><td><span class=\"swatch box\" style=\"background:{}\"></span></td><td>{}</td>\
             <td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            palette_css(scenario, variant),
            escape(variant),
            escape(&workers),
            escape(&runtime.unwrap_or_default()),
            escape(meta.map_or("", |m| m.launch.as_str())),
            escape(&cpus),
            command(meta.map_or(&[][..], |m| m.command.as_slice())),
        );
    }
    out.push_str("</tbody>\n</table></div>\n");
    out
}

/// The profiles' table, each flame graph a link to its file beside the page (an SVG that opens
/// on its own: it is interactive, with scripts this page does not allow).
fn time_goes(table: &report::Table) -> String {
    let mut out = String::from("<div class=\"wide\"><table class=\"profile\">\n<thead><tr>");
    for header in &table.headers {
        let _ = write!(out, "<th>{}</th>", escape(header));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in &table.rows {
        out.push_str("<tr>");
        for (i, entry) in row.iter().enumerate() {
            if i + 1 == row.len() {
                let file = entry.trim_matches('`');
                let _ = write!(out, "<td><a href=\"{}\">flame graph</a></td>", escape(file));
            } else {
                let _ = write!(out, "<td>{}</td>", escape(entry));
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table></div>\n");
    if let Some(legend) = &table.legend {
        let _ = writeln!(out, "<p class=\"note\">{}</p>", inline(legend));
    }
    out
}

/// A command line, folded away behind its program's name (they are long: absolute paths).
fn command(argv: &[String]) -> String {
    let Some(program) = argv.first() else { return String::new() };
    let short = std::path::Path::new(program)
        .file_name()
        .map_or_else(|| program.clone(), |n| n.to_string_lossy().into_owned());
    let summary = match argv.get(1) {
        Some(first) => format!("{short} {first} …"),
        None => short,
    };
    format!(
        "<details><summary><code>{}</code></summary><code>{}</code></details>",
        escape(&summary),
        escape(&argv.join(" "))
    )
}

fn palette_css(scenario: &Scenario<'_>, variant: &str) -> String {
    escape(&scenario.palette.css(variant))
}

/// A variant's tables and notes: the same section as in `report.md`
/// ([`report::variant_sections`]).
fn variant_tables(scenario: &Scenario<'_>, variant: &str, section: &report::VariantSection) -> String {
    let mut out = format!(
        "<h3><span class=\"swatch box\" style=\"background:{}\"></span>{}</h3>\n",
        palette_css(scenario, variant),
        escape(&section.heading)
    );
    for table in &section.tables {
        out.push_str(&tables::table(table.kind, &table.header_names(), 0, &table.rows));
        if let Some(legend) = &table.legend {
            let _ = writeln!(out, "<p class=\"note\">{}</p>", inline(legend));
        }
    }
    for (label, note) in &section.notes {
        let _ = writeln!(out, "<p class=\"note\"><strong>{}:</strong> {}</p>", escape(label), inline(note));
    }
    out
}

/// One list item per problem: the variant, then what went wrong.
fn problem_items(out: &mut String, problems: &[&Problem]) {
    for problem in problems {
        let _ = writeln!(
            out,
            "<li><strong>{}:</strong> {}</li>",
            escape(&problem.variant),
            inline(&problem.problem)
        );
    }
}

/// What could not be measured, and failed requests, as in `report.md`.
fn problems(results: &Results) -> String {
    let mut out = String::new();
    let (not_runnable, failed): (Vec<_>, Vec<_>) =
        results.problems.iter().partition(|p| p.kind == ProblemKind::NotRunnable);
    if !not_runnable.is_empty() {
        out.push_str("<h2>Not runnable here</h2>\n<ul>\n");
        problem_items(&mut out, &not_runnable);
        out.push_str("</ul>\n");
    }
    let failing: Vec<&Cell> = results.cells.iter().filter(|c| c.failed_all_runs > 0).collect();
    if failed.is_empty() && failing.is_empty() {
        return out;
    }
    out.push_str("<h2>Problems</h2>\n<ul class=\"error\">\n");
    problem_items(&mut out, &failed);
    for cell in failing {
        let _ = writeln!(
            out,
            "<li><strong>{} {} {}:</strong> {} failed requests over all runs ({})</li>",
            escape(&cell.scenario),
            escape(&cell.variant),
            escape(&cell.level_label()),
            cell.failed_all_runs,
            escape(&cell.failures.in_words())
        );
    }
    out.push_str("</ul>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::sample;

    fn count(html: &str, plot: &str) -> usize {
        html.matches(&format!("data-plot=\"{plot}\"")).count()
    }

    /// The page shows every table `report.md` shows: an open loop's and a scale run's too.
    #[test]
    fn the_same_tables_as_the_markdown_report() {
        let mut results = sample::results(&["tokio"], &[1, 5], 5, 1000);
        let open = &mut results.cells[0];
        open.mode = crate::results::Mode::Open;
        open.rate = Some(1000.0);
        open.achieved_rate = Some(900.0);
        open.uncorrected_latency_us = Some(open.latency_us);
        open.send_lag_us = Some(open.latency_us);
        if let Some(server) = results.cells[1].server.as_mut() {
            server.rss_per_connection_kib = Some(2.5);
        }
        let html = report(&results);
        let markdown = crate::report::full(&results);
        for header in ["Offered /s", "send lag p99 µs", "RSS per idle connection KiB"] {
            assert!(markdown.contains(header), "{header} in report.md");
            assert!(html.contains(&format!(">{header}</th>")), "{header} in report.html");
        }
        assert!(html.contains(">Rate</th>"), "an open loop's percentiles are by rate");
        assert!(html.contains("achieved under 99% of the offered rate"), "the `!` legend");
    }

    #[test]
    fn a_plot_per_kind_and_level_and_every_name_escaped() {
        let evil = "<script>alert(1)</script>";
        let mut results = sample::results(&["tokio", evil], &[1, 5], 5, 1000);
        results.meta.variants[1].command = vec!["sh".into(), "-c".into(), "</code><img src=x>".into()];
        results.cells[0].notes.push("a <b>note</b> with `code`".into());
        let html = report(&results);
        assert_eq!(count(&html, "throughput"), 1);
        assert_eq!(count(&html, "spectrum"), 2);
        assert_eq!(count(&html, "cpu"), 1);
        assert_eq!(count(&html, "rss"), 1);
        assert_eq!(html.matches("<svg ").count(), 5, "one SVG per plot");
        assert!(!html.contains("<script") && !html.contains("<img"), "names are escaped");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("a &lt;b&gt;note&lt;/b&gt; with <code>code</code>"));
        assert!(!html.contains("http://") && !html.contains("https://"));
        // The variant keeps its colour everywhere: the legend, the table, the lines.
        let palette = Palette::of(&results);
        assert_eq!(palette.css(evil), "#ff7f0e");
        assert!(html.matches("#ff7f0e").count() >= 7, "legends and variant tables");
        assert!(html.to_lowercase().matches("stroke=\"#ff7f0e\"").count() >= 3, "lines and markers");
        // The tables: classic and percentiles per variant, three matrices.
        assert_eq!(html.matches("<table class=\"classic\">").count(), 2);
        assert_eq!(html.matches("<table class=\"percentiles\">").count(), 2);
        assert_eq!(html.matches("<table class=\"matrix\">").count(), 3);
    }

    #[test]
    fn no_cells_yet_and_interrupted() {
        let mut results = sample::results(&["tokio"], &[1], 1, 10);
        results.cells.clear();
        results.interrupted = true;
        let html = report(&results);
        assert!(html.contains("No cell has been measured yet") && html.contains("Interrupted:"), "{html}");
        assert_eq!(html.matches("<figure").count(), 0);
    }

    /// `report.html` is rewritten after every cell, so a big sweep's page must stay small and
    /// cheap: 9 variants × 5 levels × 5 repeats of 10,000 requests draws one plot per kind (not
    /// per repeat) and stays within a few hundred KiB. (Its time is printed, not asserted:
    /// timings belong in benchmarks, and this machine is shared.)
    #[test]
    fn a_big_report_stays_small() {
        let variants = [
            "tokio",
            "smol",
            "monoio",
            "glommio",
            "uring",
            "thread-pool",
            "threaded",
            "floor-epoll",
            "nginx",
        ];
        let results = sample::results(&variants, &[1, 2, 3, 4, 5], 5, 10_000);
        let started = std::time::Instant::now();
        let html = report(&results);
        let took = started.elapsed();
        eprintln!("9 variants × 5 levels × 5 repeats: {} KiB of HTML in {took:?}", html.len() / 1024);
        assert_eq!(html.matches("<svg ").count(), 1 + 5 + 2);
        assert!(html.len() < 1024 * 1024, "{} KiB", html.len() / 1024);
    }
}
