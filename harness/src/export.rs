//! Writing results: every format (`report.md`, `report.html`, `results.csv`, `results.json`)
//! is one small [`Exporter`] that turns results into bytes; [`ResultsDir`] writes them all
//! (atomically) after every cell, so a crash keeps what was done, and [`Output`] makes sure a
//! failing disk never costs a measured figure.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use hdrhistogram::Histogram;

use crate::results::{Cell, Results};

/// One output format.
pub trait Exporter {
    /// The file it is written to, inside the results directory.
    fn file_name(&self) -> &'static str;
    fn render(&self, results: &Results) -> anyhow::Result<Vec<u8>>;
}

/// `report.md`: the report the terminal prints at the end.
#[derive(Debug)]
pub struct Markdown;

impl Exporter for Markdown {
    fn file_name(&self) -> &'static str {
        "report.md"
    }
    fn render(&self, results: &Results) -> anyhow::Result<Vec<u8>> {
        Ok(crate::report::full(results).into_bytes())
    }
}

/// `report.html`: the report with its plots, one self-contained page (see [`crate::html`]).
#[derive(Debug)]
pub struct Html;

impl Exporter for Html {
    fn file_name(&self) -> &'static str {
        "report.html"
    }
    fn render(&self, results: &Results) -> anyhow::Result<Vec<u8>> {
        // Drawing is the least tested code that runs after every cell: a bug in it (or in
        // plotters) must cost the page, never the sweep or its other files.
        let page = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| crate::html::report(results)));
        Ok(page
            .unwrap_or_else(|_| {
                crate::html::document::page(
                    "runtime-matrix report",
                    "<p class=\"error\">The report could not be drawn (the harness panicked drawing it); \
                     report.md and results.json hold every figure. <code>harness report DIR</code> redraws it.</p>\n",
                )
            })
            .into_bytes())
    }
}

/// `results.json`: the results model itself (see [`crate::results`]).
#[derive(Debug)]
pub struct Json;

impl Exporter for Json {
    fn file_name(&self) -> &'static str {
        "results.json"
    }
    fn render(&self, results: &Results) -> anyhow::Result<Vec<u8>> {
        let mut bytes = serde_json::to_vec_pretty(results)?;
        bytes.push(b'\n');
        Ok(bytes)
    }
}

/// `results.csv`: one row per cell.
#[derive(Debug)]
pub struct Csv;

/// The CSV columns, in order.
pub const CSV_HEADER: &str = "scenario,variant,workers,concurrency,rate,keep_alive,requests,complete,failed,non_2xx,\
total_transferred_bytes,time_taken_s,requests_per_second,time_per_request_ms,transfer_rate_kb_s,\
mean_us,p50_us,p90_us,p99_us,p999_us,max_us,repeats,rps_min,rps_max,noisy,\
server_cpu_us_per_request,server_cpu_utilization,server_rss_kib,server_threads,load_cpu_us_per_request,status";

impl Exporter for Csv {
    fn file_name(&self) -> &'static str {
        "results.csv"
    }
    fn render(&self, results: &Results) -> anyhow::Result<Vec<u8>> {
        let mut out = format!("{CSV_HEADER}\n");
        let opt = |v: Option<f64>, digits: usize| v.map_or_else(String::new, |v| format!("{v:.digits$}"));
        for c in &results.cells {
            let p = &c.latency_us;
            let (min, max) = c
                .requests_per_second_spread
                .map_or((c.requests_per_second, c.requests_per_second), |s| (Some(s.min), Some(s.max)));
            let server = c.server.as_ref();
            let fields: Vec<String> = [
                csv_field(&c.scenario),
                csv_field(&c.variant),
                c.workers.to_string(),
                c.concurrency.to_string(),
                opt(c.rate, 0),
                c.keep_alive.to_string(),
                c.requests.to_string(),
                c.complete.to_string(),
                c.failed.to_string(),
                c.non_2xx.to_string(),
                c.total_transferred_bytes.to_string(),
                format!("{:.6}", c.time_taken_s),
                opt(c.requests_per_second, 2),
                opt(c.time_per_request_ms, 3),
                opt(c.transfer_rate_kb_s, 2),
            ]
            .into_iter()
            .chain(p.columns())
            .chain([
                c.runs.len().to_string(),
                opt(min, 2),
                opt(max, 2),
                c.noisy.to_string(),
                opt(server.and_then(|s| s.cpu_us_per_request), 3),
                opt(server.and_then(|s| s.cpu_utilization), 3),
                server.map_or_else(String::new, |s| s.rss_kib.to_string()),
                server.map_or_else(String::new, |s| s.threads.to_string()),
                opt(c.meta.load_cpu_us_per_request, 3),
                c.status.name().to_owned(),
            ])
            .collect();
            let _ = writeln!(out, "{}", fields.join(","));
        }
        Ok(out.into_bytes())
    }
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// HdrHistogram's percentile-distribution text (as `outputPercentileDistribution` writes it,
/// loadable by its plotter), with values in milliseconds.
pub fn hgrm(histogram: &Histogram<u64>) -> String {
    const NS_PER_MS: f64 = 1_000_000.0;
    let mut out = String::from("       Value     Percentile TotalCount 1/(1-Percentile)\n\n");
    let mut total = 0u64;
    for step in histogram.iter_quantiles(5) {
        total += step.count_since_last_iteration();
        let value = step.value_iterated_to() as f64 / NS_PER_MS;
        let quantile = step.quantile_iterated_to();
        if quantile < 1.0 {
            let _ = writeln!(out, "{value:12.3} {quantile:2.12} {total:10} {:14.2}", 1.0 / (1.0 - quantile));
        } else {
            let _ = writeln!(out, "{value:12.3} {quantile:2.12} {total:10}");
        }
    }
    let _ = writeln!(
        out,
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]",
        histogram.mean() / NS_PER_MS,
        histogram.stdev() / NS_PER_MS
    );
    let _ = writeln!(
        out,
        "#[Max     = {:12.3}, Total count    = {:12}]",
        histogram.max() as f64 / NS_PER_MS,
        histogram.len()
    );
    // HdrHistogram's sub-bucket count: the power of two that resolves 2 × 10^digits values.
    let sub_buckets = (2 * 10u64.pow(u32::from(histogram.sigfig()))).next_power_of_two();
    let _ = writeln!(out, "#[Buckets = {:12}, SubBuckets     = {:12}]", histogram.buckets(), sub_buckets);
    out
}

/// The file name of a cell's histogram: `tokio-c5.hgrm`, with the scenario in front unless
/// it is the classic one, the workers where they are an axis, and `-k` for keep-alive.
pub fn hgrm_name(cell: &Cell) -> String {
    let stem = file_stem(
        &cell.scenario,
        &cell.variant,
        cell.workers_on_axis(),
        cell.rate,
        cell.concurrency,
        cell.keep_alive,
    );
    format!("{stem}.hgrm")
}

/// A cell's files' common name (`tokio-c5`, `SCENARIO-tokio-r1000-k`, and with workers as an
/// axis `SCENARIO-tokio-w2-c5`): names are data, so anything but letters, digits and `-`
/// becomes `_`.
pub fn file_stem(
    scenario: &str,
    variant: &str,
    workers: Option<usize>,
    rate: Option<f64>,
    concurrency: usize,
    keep_alive: bool,
) -> String {
    let safe = |text: &str| -> String {
        text.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect()
    };
    let scenario =
        if scenario == crate::plan::CLASSIC { String::new() } else { format!("{}-", safe(scenario)) };
    let level = match rate {
        Some(rate) => format!("r{rate:.0}"),
        None => format!("c{concurrency}"),
    };
    let workers = workers.map_or_else(String::new, |w| format!("-w{w}"));
    format!("{scenario}{}{workers}-{level}{}", safe(variant), if keep_alive { "-k" } else { "" })
}

/// The name of the link to the newest results directory, beside the stamped ones.
pub const LATEST: &str = "latest";

/// A results directory, written after every cell.
#[derive(Debug)]
pub struct ResultsDir {
    pub path: PathBuf,
}

impl ResultsDir {
    /// Creates `parent/<stamp>/`.
    pub fn create(parent: &Path, stamp: &str) -> anyhow::Result<ResultsDir> {
        let path = parent.join(stamp);
        std::fs::create_dir_all(&path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(ResultsDir { path })
    }

    /// Points `parent/latest` at this directory (a relative symlink, replaced atomically), so
    /// `results/latest/report.html` is always the newest run. Best effort: a file system
    /// without symlinks costs only the shortcut.
    pub fn mark_latest(&self) -> std::io::Result<()> {
        let (Some(parent), Some(name)) = (self.path.parent(), self.path.file_name()) else { return Ok(()) };
        let temporary = parent.join(format!(".latest.{}", std::process::id()));
        let _ = std::fs::remove_file(&temporary);
        std::os::unix::fs::symlink(name, &temporary)?;
        std::fs::rename(&temporary, parent.join(LATEST))
    }

    /// Writes every format for `results`, and the histogram of `cell` if given.
    pub fn write(&self, results: &Results, cell: Option<&Cell>) -> anyhow::Result<()> {
        let exporters: [&dyn Exporter; 4] = [&Markdown, &Csv, &Json, &Html];
        for exporter in exporters {
            self.write_file(exporter.file_name(), &exporter.render(results)?)?;
        }
        if let Some(cell) = cell {
            self.write_file(&hgrm_name(cell), hgrm(&cell.histograms.latency.0).as_bytes())?;
        }
        Ok(())
    }

    /// Rewrites only the reports (`report.md`, `report.html`) from `results`: `harness report`.
    pub fn write_reports(&self, results: &Results) -> anyhow::Result<Vec<PathBuf>> {
        let exporters: [&dyn Exporter; 2] = [&Markdown, &Html];
        let mut written = Vec::new();
        for exporter in exporters {
            self.write_file(exporter.file_name(), &exporter.render(results)?)?;
            written.push(self.path.join(exporter.file_name()));
        }
        Ok(written)
    }

    /// Writes every cell's histogram (after a failure, or to a fallback directory).
    pub fn write_all(&self, results: &Results) -> anyhow::Result<()> {
        self.write(results, None)?;
        for cell in &results.cells {
            self.write_file(&hgrm_name(cell), hgrm(&cell.histograms.latency.0).as_bytes())?;
        }
        Ok(())
    }

    /// Writes through a temporary file and a rename, so a crash never leaves half a file.
    fn write_file(&self, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
        let path = self.path.join(name);
        let temporary = self.path.join(format!(".{name}.tmp"));
        std::fs::write(&temporary, bytes).with_context(|| format!("cannot write {}", temporary.display()))?;
        std::fs::rename(&temporary, &path).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    }
}

/// Where results go during a sweep. A write that fails (the directory removed, a full disk)
/// is reported once; the sweep goes on with everything kept in memory, and at the end it is
/// all written to a fallback directory, or printed with the reason it could not be.
#[derive(Debug)]
pub struct Output {
    pub dir: ResultsDir,
    /// Why writing to `dir` stopped, once it has.
    pub failure: Option<String>,
}

impl Output {
    pub fn new(dir: ResultsDir) -> Output {
        Output { dir, failure: None }
    }

    /// Writes after a change; on the first failure, `say`s so once and stops trying.
    pub fn save(&mut self, results: &Results, cell: Option<&Cell>, say: &dyn Fn(&str)) {
        if self.failure.is_some() {
            return;
        }
        if let Err(err) = self.dir.write(results, cell) {
            let failure = format!("{err:#}");
            say(&format!(
                "error: cannot write results to {} ({failure}); the sweep goes on and keeps them in memory",
                self.dir.path.display()
            ));
            self.failure = Some(failure);
        }
    }

    /// At the end: everything again (after a failure, to `fallback`). Returns where the
    /// results are, or why they could not be written anywhere.
    pub fn finish(&mut self, results: &Results, fallback: &Path) -> Result<PathBuf, String> {
        if self.failure.is_none() {
            match self.dir.write(results, None) {
                Ok(()) => return Ok(self.dir.path.clone()),
                Err(err) => self.failure = Some(format!("{err:#}")),
            }
        }
        let stamp =
            self.dir.path.file_name().map_or_else(|| "results".into(), |n| n.to_string_lossy().into_owned());
        match ResultsDir::create(fallback, &stamp).and_then(|dir| dir.write_all(results).map(|()| dir.path)) {
            Ok(path) => Err(format!(
                "could not write to {} ({}); everything was written to {} instead",
                self.dir.path.display(),
                self.failure.as_deref().unwrap_or_default(),
                path.display()
            )),
            Err(err) => Err(format!(
                "could not write to {} ({}) nor to {} ({err:#}); the report above is all there is",
                self.dir.path.display(),
                self.failure.as_deref().unwrap_or_default(),
                fallback.display()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_carry_the_workers_of_an_axis() {
        assert_eq!(file_stem("classic", "tokio", None, None, 5, false), "tokio-c5");
        assert_eq!(file_stem("scaling", "tokio", Some(2), None, 32, true), "scaling-tokio-w2-c32-k");
        assert_eq!(file_stem("s", "a/b", Some(16), Some(1000.0), 50, false), "s-a_b-w16-r1000");
    }

    #[test]
    fn hgrm_has_hdrhistogram_layout() {
        let mut histogram = Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3).unwrap();
        for ms in 1..=100u64 {
            histogram.record(ms * 1_000_000).unwrap();
        }
        let text = hgrm(&histogram);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "       Value     Percentile TotalCount 1/(1-Percentile)");
        assert_eq!(lines[1], "");
        assert_eq!(lines[2].split_whitespace().collect::<Vec<_>>(), ["1.000", "0.000000000000", "1", "1.00"]);
        let last = lines.iter().rev().find(|l| !l.starts_with('#')).unwrap();
        let fields: Vec<&str> = last.split_whitespace().collect();
        assert_eq!(fields.len(), 3, "the 100th percentile has no 1/(1-p): {last}");
        assert_eq!(fields[2], "100");
        assert!(text.contains("#[Mean    =       50.5") || text.contains("#[Mean    =       50.4"), "{text}");
        assert!(text.contains("Total count    =          100]"), "{text}");
        assert!(text.contains("SubBuckets     =         2048]"), "{text}");
    }
}
