//! Bencher Metric Format (BMF): the JSON that `bencher run --adapter json` reads, so a
//! project can track the matrix in Bencher (<https://bencher.dev/docs/reference/bencher-metric-format>).
//! Its shape: an object of benchmarks by name, each an object of measures by slug, each
//! `{"value": N, "lower_value": N, "upper_value": N}` (`value` required, all numbers).
//!
//! One benchmark per point, named `scenario/variant/level` (`classic/tokio/c=5`). Its
//! measures, each `value` the median over the cell's runs and `lower_value`/`upper_value` the
//! lowest and highest run, so Bencher sees the spread the comparison sees:
//! - `throughput`: requests per second (Bencher's built-in Throughput, operations/second);
//! - `latency-p50`, `latency-p99`: the runs' own p50 and p99, in nanoseconds (the unit of
//!   Bencher's built-in Latency);
//! - `server-cpu-per-request`: the server's CPU time per request, in nanoseconds.
//!
//! A measure no run has (a server that died has no rate) is left out, and a point with none.

use serde_json::{json, Map, Value};

use crate::compare::{in_matrix_order, Metric};
use crate::results::{Cell, Results};
use crate::stats::Spread;

/// The measures, by slug, with the metric each comes from and what multiplies its unit into
/// Bencher's (µs → ns).
pub const MEASURES: [(&str, Metric, f64); 4] = [
    ("throughput", Metric::RequestsPerSecond, 1.0),
    ("latency-p50", Metric::P50, 1000.0),
    ("latency-p99", Metric::P99, 1000.0),
    ("server-cpu-per-request", Metric::ServerCpu, 1000.0),
];

/// The benchmark name of a point: `scenario/variant/level`.
pub fn benchmark_name(cell: &Cell) -> String {
    format!("{}/{}/{}", cell.scenario, cell.variant, cell.level_label())
}

/// `results` as a BMF object.
pub fn of(results: &Results) -> Value {
    let mut benchmarks = Map::new();
    for cell in in_matrix_order(results) {
        let mut measures = Map::new();
        for (slug, metric, scale) in MEASURES {
            let Some(spread) = Spread::of(&metric.runs(cell)) else { continue };
            measures.insert(
                slug.to_owned(),
                json!({
                    "value": spread.median * scale,
                    "lower_value": spread.min * scale,
                    "upper_value": spread.max * scale,
                }),
            );
        }
        if !measures.is_empty() {
            benchmarks.insert(benchmark_name(cell), Value::Object(measures));
        }
    }
    Value::Object(benchmarks)
}

/// `results` as BMF JSON text, pretty-printed.
pub fn render(results: &Results) -> String {
    serde_json::to_string_pretty(&of(results)).unwrap_or_else(|_| "{}".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::sample;

    #[test]
    fn one_benchmark_per_point_with_the_runs_spread() {
        let mut results = sample::results(&["tokio", "smol"], &[1, 5], 5, 100);
        results.cells[0].runs[2].requests_per_second = None;
        let bmf = of(&results);
        let benchmarks = bmf.as_object().unwrap();
        assert_eq!(benchmarks.len(), 4);
        let tokio = &bmf["classic/tokio/c=1"];
        // Rates 10000 × (1, 1.05, —, 1.15, 1.2): median of the four left, lowest and highest.
        assert_eq!(tokio["throughput"]["value"], 11_000.0);
        assert_eq!(tokio["throughput"]["lower_value"], 10_000.0);
        assert_eq!(tokio["throughput"]["upper_value"], 12_000.0);
        // p99 of the runs 100..104 µs, in ns.
        assert_eq!(tokio["latency-p99"]["value"], 102_000.0);
        assert_eq!(tokio["latency-p99"]["lower_value"], 100_000.0);
        assert_eq!(tokio["server-cpu-per-request"]["upper_value"].as_f64().unwrap().round(), 8_400.0);
        assert_eq!(tokio.as_object().unwrap().len(), 4);
    }

    #[test]
    fn a_point_with_nothing_measured_is_left_out() {
        let mut results = sample::results(&["tokio"], &[1], 3, 10);
        for run in &mut results.cells[0].runs {
            run.requests_per_second = None;
            run.complete = 0;
            run.server = None;
        }
        assert_eq!(of(&results), json!({}));
    }
}
