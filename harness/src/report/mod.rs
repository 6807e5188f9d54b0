//! The report: the header, ab's classic table and a percentile table per variant, and the
//! comparison matrices. Rendered once as Markdown, which is both what the terminal shows and
//! `report.md`.

pub mod table;

use std::fmt::Write;

use table::{render, Align};

use crate::results::{Cell, Results};

/// The classic table's columns, exactly as the exercise (and ab) name them.
pub const CLASSIC_COLUMNS: [&str; 9] = [
    "No Test",
    "Concurrency Level",
    "Time taken for test",
    "Complete requests",
    "Failed requests",
    "Total transferred",
    "Requests per second",
    "Time per request",
    "Transfer rate",
];

/// The header: where and how the figures were measured.
pub fn header(results: &Results) -> String {
    let m = &results.meta;
    let mut out = String::from("# runtime-matrix report\n\n");
    let mut fact = |name: &str, value: String| {
        let _ = writeln!(out, "- **{name}:** {value}");
    };
    fact("started", m.started_utc.clone());
    fact("matrix", m.matrix.clone());
    fact(
        "sweep",
        format!(
            "{} requests × concurrency {:?}, {}, path `{}`, warmup {}, repeat {}, timeout {} s",
            m.requests,
            m.concurrency,
            if m.keep_alive {
                "keep-alive (HTTP/1.1)"
            } else {
                "a connection per request (HTTP/1.0, like ab)"
            },
            m.path,
            m.warmup,
            m.repeat,
            m.timeout_s
        ),
    );
    fact(
        "placement",
        format!("servers on CPU {:?}, load on CPU {:?} (of {})", m.server_cpus, m.load_cpus, m.cpus),
    );
    fact("load generator", m.load_generator.clone());
    fact("build", format!("{} (harness {})", m.build_profile, m.harness_version));
    fact("git commit", m.git_commit.clone());
    fact("kernel", m.kernel.clone());
    fact("CPU", m.cpu_model.clone());
    out.push('\n');
    out
}

/// The section for one variant: ab's classic table, then latency percentiles.
pub fn variant_section(results: &Results, variant: &str) -> String {
    let cells: Vec<&Cell> = results.cells.iter().filter(|c| c.variant == variant).collect();
    let mut out = String::new();
    let workers = cells.first().map_or(String::new(), |c| format!(" (workers {})", c.workers));
    let _ = writeln!(out, "## {variant}{workers}\n");
    out.push_str(&classic_table(&cells));
    if cells.iter().any(|c| c.noisy) {
        out.push_str("\n`~` noisy: requests per second varied by more than 20% over the repeats.\n");
    }
    out.push('\n');
    out.push_str(&percentile_table(&cells));
    for cell in cells.iter().filter(|c| c.note.is_some()) {
        let _ = writeln!(out, "\n**c={}:** {}", cell.concurrency, cell.note.as_deref().unwrap_or_default());
    }
    out.push('\n');
    out
}

/// ab's table, one row per concurrency level.
pub fn classic_table(cells: &[&Cell]) -> String {
    let align = [Align::Right; 9];
    let rows: Vec<Vec<String>> = cells
        .iter()
        .enumerate()
        .map(|(i, c)| {
            vec![
                (i + 1).to_string(),
                c.concurrency.to_string(),
                format!("{:.3} seconds", c.time_taken_s),
                c.complete.to_string(),
                c.failed.to_string(),
                format!("{} bytes", c.total_transferred_bytes),
                format!("{:.2} [#/sec]{}", c.requests_per_second, if c.noisy { " ~" } else { "" }),
                format!("{:.3} ms", c.time_per_request_ms),
                format!("{:.2} Kbytes/sec", c.transfer_rate_kb_s),
            ]
        })
        .collect();
    render(&CLASSIC_COLUMNS, &align, &rows)
}

/// Latency percentiles in microseconds, from the merged histograms.
pub fn percentile_table(cells: &[&Cell]) -> String {
    let headers = ["Concurrency", "mean µs", "p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "max µs", "non-2xx"];
    let rows: Vec<Vec<String>> = cells
        .iter()
        .map(|c| {
            let p = &c.latency_us;
            vec![
                c.concurrency.to_string(),
                format!("{:.1}", p.mean),
                format!("{:.1}", p.p50),
                format!("{:.1}", p.p90),
                format!("{:.1}", p.p99),
                format!("{:.1}", p.p999),
                format!("{:.1}", p.max),
                c.non_2xx.to_string(),
            ]
        })
        .collect();
    render(&headers, &[Align::Right; 8], &rows)
}

/// Variants × concurrency for requests per second and for p99.
pub fn comparison(results: &Results) -> String {
    let mut levels: Vec<usize> = results.cells.iter().map(|c| c.concurrency).collect();
    levels.sort_unstable();
    levels.dedup();
    let variants = results.variant_names();
    let headers: Vec<String> =
        std::iter::once("variant".to_owned()).chain(levels.iter().map(|c| format!("c={c}"))).collect();
    let header_refs: Vec<&str> = headers.iter().map(String::as_str).collect();
    let mut align = vec![Align::Right; headers.len()];
    align[0] = Align::Left;
    let matrix = |figure: &dyn Fn(&Cell) -> String| -> String {
        let rows: Vec<Vec<String>> = variants
            .iter()
            .map(|variant| {
                std::iter::once(variant.to_string())
                    .chain(levels.iter().map(|level| {
                        results
                            .cells
                            .iter()
                            .find(|c| c.variant == *variant && c.concurrency == *level)
                            .map_or("—".to_owned(), figure)
                    }))
                    .collect()
            })
            .collect();
        render(&header_refs, &align, &rows)
    };
    let mut out = String::from("## Comparison\n\n### Requests per second\n\n");
    out.push_str(&matrix(&|c: &Cell| match c.requests_per_second_spread {
        Some(s) => format!("{:.0} ({:.0}–{:.0}){}", s.median, s.min, s.max, if c.noisy { " ~" } else { "" }),
        None => format!("{:.0}", c.requests_per_second),
    }));
    out.push_str("\n### p99 latency (µs)\n\n");
    out.push_str(&matrix(&|c: &Cell| format!("{:.1}", c.latency_us.p99)));
    if results.cells.iter().any(|c| c.noisy) {
        out.push_str("\n`~` noisy: min–max spread over 20% of the median.\n");
    }
    out.push('\n');
    out
}

/// What went wrong, if anything.
pub fn problems(results: &Results) -> String {
    let mut out = String::new();
    let failing: Vec<&Cell> = results.cells.iter().filter(|c| c.failed_all_runs > 0).collect();
    if results.problems.is_empty() && failing.is_empty() {
        return out;
    }
    out.push_str("## Problems\n\n");
    for problem in &results.problems {
        let _ = writeln!(out, "- **{}:** {}", problem.variant, problem.problem);
    }
    for cell in failing {
        let f = &cell.failures;
        let _ = writeln!(
            out,
            "- **{} c={}:** {} failed requests over all runs (connect {}, receive {}, send {}, timeout {}, length {}, protocol {})",
            cell.variant, cell.concurrency, cell.failed_all_runs, f.connect, f.receive, f.send, f.timeout, f.length, f.protocol
        );
    }
    out.push('\n');
    out
}

/// The whole report.
pub fn full(results: &Results) -> String {
    let mut out = header(results);
    for variant in results.variant_names() {
        out.push_str(&variant_section(results, variant));
    }
    if !results.cells.is_empty() {
        out.push_str(&comparison(results));
    }
    out.push_str(&problems(results));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{Failures, Latencies};
    use crate::stats::Percentiles;

    fn cell(concurrency: usize, seconds: f64) -> Cell {
        let throughput = crate::stats::Throughput::of(
            std::time::Duration::from_secs_f64(seconds),
            1000,
            122_000,
            concurrency,
        );
        let p = Percentiles { mean: 61.25, p50: 58.0, p90: 70.5, p99: 120.0, p999: 450.5, max: 900.0 };
        Cell {
            variant: "tokio".into(),
            workers: 1,
            concurrency,
            keep_alive: false,
            requests: 1000,
            complete: 1000,
            failed: 0,
            failures: Failures::default(),
            non_2xx: 0,
            total_transferred_bytes: 122_000,
            html_transferred_bytes: 14_000,
            time_taken_s: throughput.time_taken_s,
            requests_per_second: throughput.requests_per_second,
            time_per_request_ms: throughput.time_per_request_ms,
            transfer_rate_kb_s: throughput.transfer_rate_kb_s,
            latency_us: p,
            connect_us: p,
            ttfb_us: p,
            runs: Vec::new(),
            requests_per_second_spread: None,
            noisy: false,
            failed_all_runs: 0,
            note: None,
            latencies: Latencies::new(),
        }
    }

    /// The seed exercise's first and last rows, rendered.
    #[test]
    fn classic_table_snapshot() {
        let cells = [cell(1, 4.367), cell(5, 1.235)];
        let refs: Vec<&Cell> = cells.iter().collect();
        let expected = "\
| No Test | Concurrency Level | Time taken for test | Complete requests | Failed requests | Total transferred | Requests per second | Time per request |    Transfer rate |
|--------:|------------------:|--------------------:|------------------:|----------------:|------------------:|--------------------:|-----------------:|-----------------:|
|       1 |                 1 |       4.367 seconds |              1000 |               0 |      122000 bytes |      228.99 [#/sec] |         4.367 ms | 27.28 Kbytes/sec |
|       2 |                 5 |       1.235 seconds |              1000 |               0 |      122000 bytes |      809.72 [#/sec] |         6.175 ms | 96.47 Kbytes/sec |
";
        assert_eq!(classic_table(&refs), expected);
    }

    #[test]
    fn percentile_table_snapshot() {
        let cells = [cell(1, 4.367)];
        let refs: Vec<&Cell> = cells.iter().collect();
        let expected = "\
| Concurrency | mean µs | p50 µs | p90 µs | p99 µs | p99.9 µs | max µs | non-2xx |
|------------:|--------:|-------:|-------:|-------:|---------:|-------:|--------:|
|           1 |    61.2 |   58.0 |   70.5 |  120.0 |    450.5 |  900.0 |       0 |
";
        assert_eq!(percentile_table(&refs), expected);
    }
}
