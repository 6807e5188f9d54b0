//! The figures of one cell, computed with ab's definitions.
//!
//! - time per request = C × T / n, in ms (ab's "mean" line), n = complete requests;
//! - requests per second = n / T;
//! - transfer rate = bytes / 1024 / T, in KB/s, where bytes counts heads and bodies.
//!
//! [`mann_whitney`] says whether two sets of runs differ by more than noise; [`wilcoxon`]
//! whether paired runs (the same interleaved round) do; [`Correction`] keeps many such tests
//! at once from calling noise real.

pub mod mann_whitney;
pub mod wilcoxon;

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Latency summary in microseconds, from a merged histogram (nanoseconds).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Percentiles {
    /// mean, p50, p90, p99, p99.9 and max as the tables and the CSV print them (0.1 µs).
    pub fn columns(&self) -> [String; 6] {
        [self.mean, self.p50, self.p90, self.p99, self.p999, self.max].map(|us| format!("{us:.1}"))
    }

    pub fn of(histogram: &Histogram<u64>) -> Percentiles {
        let us = |ns: u64| ns as f64 / 1000.0;
        if histogram.is_empty() {
            return Percentiles { mean: 0.0, p50: 0.0, p90: 0.0, p99: 0.0, p999: 0.0, max: 0.0 };
        }
        Percentiles {
            mean: histogram.mean() / 1000.0,
            p50: us(histogram.value_at_quantile(0.50)),
            p90: us(histogram.value_at_quantile(0.90)),
            p99: us(histogram.value_at_quantile(0.99)),
            p999: us(histogram.value_at_quantile(0.999)),
            max: us(histogram.max()),
        }
    }
}

/// ab's throughput figures for one run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Throughput {
    pub time_taken_s: f64,
    pub requests_per_second: f64,
    pub time_per_request_ms: f64,
    pub transfer_rate_kb_s: f64,
}

impl Throughput {
    /// `complete` requests and `bytes` received in `elapsed` with `concurrency` clients.
    pub fn of(elapsed: Duration, complete: u64, bytes: u64, concurrency: usize) -> Throughput {
        let seconds = elapsed.as_secs_f64();
        let per_second = |x: f64| if seconds > 0.0 { x / seconds } else { 0.0 };
        Throughput {
            time_taken_s: seconds,
            requests_per_second: per_second(complete as f64),
            time_per_request_ms: if complete > 0 {
                concurrency as f64 * seconds * 1000.0 / complete as f64
            } else {
                0.0
            },
            transfer_rate_kb_s: per_second(bytes as f64 / 1024.0),
        }
    }
}

/// The median of `values` (the mean of the middle two for an even count); `None` for none.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => Some(sorted[middle]),
        _ => Some((sorted[middle - 1] + sorted[middle]) / 2.0),
    }
}

/// The geometric mean of positive `values` (benchstat's summary of ratios); `None` if any is
/// not positive or there are none.
pub fn geometric_mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() || values.iter().any(|v| *v <= 0.0 || !v.is_finite()) {
        return None;
    }
    Some((values.iter().map(|v| v.ln()).sum::<f64>() / values.len() as f64).exp())
}

/// Benjamini–Hochberg adjusted p-values (q-values), in the order given: a difference is a
/// discovery at false-discovery rate α when its q < α. Many comparisons at once (every variant
/// at every level) would otherwise call a few noise differences real by chance alone; unlike
/// Holm's family-wise correction it keeps the power to see real differences among many
/// comparisons of five runs a side (whose smallest exact p-value is 0.008).
pub fn benjamini_hochberg(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|a, b| p_values[*a].total_cmp(&p_values[*b]));
    let mut adjusted = vec![1.0; m];
    let mut running = 1.0_f64;
    for (rank, &index) in order.iter().enumerate().rev() {
        let q = p_values[index] * m as f64 / (rank + 1) as f64;
        running = running.min(q).min(1.0);
        adjusted[index] = running;
    }
    adjusted
}

/// The name of the correction [`benjamini_hochberg`] applies, as reports say it.
pub const CORRECTION: &str = "Benjamini–Hochberg";

/// Holm's step-down adjusted p-values, in the order given: a difference is real at
/// family-wise error rate α when its adjusted p < α, i.e. the chance that *any* of the
/// comparisons is called real when none is stays under α, whatever the others are. Stricter
/// than [`benjamini_hochberg`]: the smallest p must beat α/m.
pub fn holm(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|a, b| p_values[*a].total_cmp(&p_values[*b]));
    let mut adjusted = vec![1.0; m];
    let mut running = 0.0_f64;
    for (rank, &index) in order.iter().enumerate() {
        let scaled = (p_values[index] * (m - rank) as f64).min(1.0);
        running = running.max(scaled);
        adjusted[index] = running;
    }
    adjusted
}

/// How the p-values of a table's rows are corrected for being tested together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Correction {
    /// [`holm`]: controls the chance of any false alarm.
    Holm,
    /// [`benjamini_hochberg`]: controls the share of false alarms among the differences called
    /// real; when nothing changed at all, that is the chance of any false alarm too.
    BenjaminiHochberg,
    /// Each p-value on its own (a cell-by-cell reading).
    None,
}

/// Written as its name (`Holm`, `Benjamini–Hochberg`, `none`), as reports say it.
impl Serialize for Correction {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl Correction {
    /// The adjusted p-values of `p_values`, in their order.
    pub fn adjust(self, p_values: &[f64]) -> Vec<f64> {
        match self {
            Correction::Holm => holm(p_values),
            Correction::BenjaminiHochberg => benjamini_hochberg(p_values),
            Correction::None => p_values.to_vec(),
        }
    }

    /// Its name, as reports say it.
    pub fn name(self) -> &'static str {
        match self {
            Correction::Holm => "Holm",
            Correction::BenjaminiHochberg => CORRECTION,
            Correction::None => "none",
        }
    }

    /// Its name in JSON and on the command line.
    pub fn key(self) -> &'static str {
        match self {
            Correction::Holm => "holm",
            Correction::BenjaminiHochberg => "bh",
            Correction::None => "none",
        }
    }

    /// The smallest adjusted p-value a family of `m` comparisons can give when the smallest
    /// raw p-value any of them can reach is `smallest`: whether a verdict is possible at all.
    pub fn smallest_adjusted(self, smallest: f64, m: usize) -> f64 {
        match self {
            // Every comparison at its smallest: BH leaves it as it is.
            Correction::BenjaminiHochberg | Correction::None => smallest,
            Correction::Holm => (smallest * m as f64).min(1.0),
        }
    }
}

/// Median and spread of a figure over repeats.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

/// Spread above which a cell is marked noisy: (max − min) / median.
pub const NOISY_SPREAD: f64 = 0.20;

impl Spread {
    /// `None` for no values.
    pub fn of(values: &[f64]) -> Option<Spread> {
        let median = median(values)?;
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Some(Spread { median, min, max })
    }

    /// (max − min) / median.
    pub fn relative(&self) -> f64 {
        if self.median > 0.0 {
            (self.max - self.min) / self.median
        } else {
            0.0
        }
    }

    pub fn is_noisy(&self) -> bool {
        self.relative() > NOISY_SPREAD
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Worked by hand: sorted 0.005, 0.01, 0.03, 0.04 give 0.02, 0.02, 0.04, 0.04.
    #[test]
    fn benjamini_hochberg_adjusts_as_published() {
        let q = benjamini_hochberg(&[0.01, 0.04, 0.03, 0.005]);
        let expected = [0.02, 0.04, 0.04, 0.02];
        for (got, want) in q.iter().zip(expected) {
            assert!((got - want).abs() < 1e-12, "{q:?}");
        }
        assert_eq!(benjamini_hochberg(&[]), Vec::<f64>::new());
        assert_eq!(benjamini_hochberg(&[0.9, 0.8]), [0.9, 0.9]);
    }

    /// The seed exercise's first row: ab -n 1000 -c 1 took 4.367 s for 122000 bytes and
    /// reported 228.98 req/s, 4.367 ms per request and 27.28 KB/s.
    #[test]
    fn matches_ab_on_the_classic_row() {
        let t = Throughput::of(Duration::from_secs_f64(4.367), 1000, 122_000, 1);
        assert!((t.requests_per_second - 228.99).abs() < 0.01, "{t:?}");
        assert!((t.time_per_request_ms - 4.367).abs() < 1e-9, "{t:?}");
        assert!((t.transfer_rate_kb_s - 27.28).abs() < 0.01, "{t:?}");
    }

    /// The exercise's c=5 row: 1.235 s → 809.87 req/s, 6.174 ms per request, 96.49 KB/s.
    #[test]
    fn time_per_request_scales_with_concurrency() {
        let t = Throughput::of(Duration::from_secs_f64(1.235), 1000, 122_000, 5);
        assert!((t.requests_per_second - 809.72).abs() < 0.01, "{t:?}");
        assert!((t.time_per_request_ms - 6.175).abs() < 1e-9, "{t:?}");
        assert!((t.transfer_rate_kb_s - 96.47).abs() < 0.01, "{t:?}");
    }

    #[test]
    fn nothing_measured_is_zero_not_nan() {
        let t = Throughput::of(Duration::ZERO, 0, 0, 5);
        assert_eq!(t.requests_per_second, 0.0);
        assert_eq!(t.time_per_request_ms, 0.0);
    }

    #[test]
    fn percentiles_from_a_histogram() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3).unwrap();
        for us in 1..=1000u64 {
            h.record(us * 1000).unwrap();
        }
        let p = Percentiles::of(&h);
        assert!((p.p50 - 500.0).abs() <= 0.5, "{p:?}");
        assert!((p.p99 - 990.0).abs() <= 1.0, "{p:?}");
        assert!((p.max - 1000.0).abs() <= 1.0, "{p:?}");
        assert!((p.mean - 500.5).abs() <= 0.5, "{p:?}");
    }

    #[test]
    fn spread_and_noise() {
        let s = Spread::of(&[100.0, 90.0, 130.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (100.0, 90.0, 130.0));
        assert!(s.is_noisy());
        assert!(!Spread::of(&[100.0, 105.0]).unwrap().is_noisy());
        assert_eq!(Spread::of(&[]), None);
        assert_eq!(Spread::of(&[1.0, 3.0]).unwrap().median, 2.0);
    }

    /// Worked by hand: sorted 0.005, 0.01, 0.03, 0.04 (m = 4) scale by 4, 3, 2, 1 to 0.02,
    /// 0.03, 0.06, 0.04, made monotone: 0.02, 0.03, 0.06, 0.06 (R's `p.adjust(…, "holm")`).
    #[test]
    fn holm_adjusts_as_published() {
        let adjusted = holm(&[0.01, 0.04, 0.03, 0.005]);
        let expected = [0.03, 0.06, 0.06, 0.02];
        for (got, want) in adjusted.iter().zip(expected) {
            assert!((got - want).abs() < 1e-12, "{adjusted:?}");
        }
        assert_eq!(holm(&[0.5, 0.9]), [1.0, 1.0]);
        assert_eq!(holm(&[]), Vec::<f64>::new());
        assert_eq!(Correction::None.adjust(&[0.01, 0.2]), [0.01, 0.2]);
        assert_eq!(Correction::Holm.smallest_adjusted(0.008, 10), 0.08);
        assert_eq!(Correction::BenjaminiHochberg.smallest_adjusted(0.008, 10), 0.008);
    }

    #[test]
    fn medians_and_geometric_means() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[]), None);
        assert!((geometric_mean(&[2.0, 8.0]).unwrap() - 4.0).abs() < 1e-12);
        assert_eq!(geometric_mean(&[1.0, 0.0]), None);
    }
}
