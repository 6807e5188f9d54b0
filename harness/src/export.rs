//! Writing results: every format is one small [`Exporter`] that turns results into bytes, and
//! [`ResultsDir`] writes them all (atomically) after every cell, so a crash keeps what was done.

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

/// `report.md`: the same Markdown the terminal shows.
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

/// `results.json`: `meta`, `cells` and `problems`.
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
pub const CSV_HEADER: &str = "variant,workers,concurrency,keep_alive,requests,complete,failed,non_2xx,\
total_transferred_bytes,time_taken_s,requests_per_second,time_per_request_ms,transfer_rate_kb_s,\
mean_us,p50_us,p90_us,p99_us,p999_us,max_us,repeats,rps_min,rps_max,noisy";

impl Exporter for Csv {
    fn file_name(&self) -> &'static str {
        "results.csv"
    }
    fn render(&self, results: &Results) -> anyhow::Result<Vec<u8>> {
        let mut out = format!("{CSV_HEADER}\n");
        for c in &results.cells {
            let p = &c.latency_us;
            let (min, max) = c
                .requests_per_second_spread
                .map_or((c.requests_per_second, c.requests_per_second), |s| (s.min, s.max));
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{:.6},{:.2},{:.3},{:.2},{:.1},{:.1},{:.1},{:.1},{:.1},{:.1},{},{:.2},{:.2},{}",
                csv_field(&c.variant),
                c.workers,
                c.concurrency,
                c.keep_alive,
                c.requests,
                c.complete,
                c.failed,
                c.non_2xx,
                c.total_transferred_bytes,
                c.time_taken_s,
                c.requests_per_second,
                c.time_per_request_ms,
                c.transfer_rate_kb_s,
                p.mean,
                p.p50,
                p.p90,
                p.p99,
                p.p999,
                p.max,
                c.runs.len(),
                min,
                max,
                c.noisy
            );
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

/// The file name of a cell's histogram.
pub fn hgrm_name(cell: &Cell) -> String {
    let safe: String =
        cell.variant.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    format!("{safe}-c{}{}.hgrm", cell.concurrency, if cell.keep_alive { "-k" } else { "" })
}

/// A results directory, written after every cell.
#[derive(Debug)]
pub struct ResultsDir {
    pub path: PathBuf,
}

impl ResultsDir {
    /// Creates `parent/<UTC stamp>/`.
    pub fn create(parent: &Path, stamp: &str) -> anyhow::Result<ResultsDir> {
        let path = parent.join(stamp);
        std::fs::create_dir_all(&path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(ResultsDir { path })
    }

    /// Writes every format for `results`, and the histogram of `cell` if given.
    pub fn write(&self, results: &Results, cell: Option<&Cell>) -> anyhow::Result<()> {
        let exporters: [&dyn Exporter; 3] = [&Markdown, &Csv, &Json];
        for exporter in exporters {
            self.write_file(exporter.file_name(), &exporter.render(results)?)?;
        }
        if let Some(cell) = cell {
            self.write_file(&hgrm_name(cell), hgrm(&cell.latencies.total).as_bytes())?;
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

#[cfg(test)]
mod tests {
    use super::*;

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
