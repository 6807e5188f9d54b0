//! The latency percentile spectrum of a stored histogram, as HdrHistogram's plotter draws it:
//! x = log10(1/(1−p)), so 90%, 99%, 99.9% are evenly spaced and the tail gets the room, and
//! y = the latency at that percentile. It is read from the whole histogram, not from the six
//! summary percentiles, so the shape between them (a knee, a second mode) shows.

use hdrhistogram::Histogram;

use super::axis::percentile_x;

/// Quantile steps per halving of the distance to 100%: HdrHistogram's own `.hgrm` output
/// uses 5, which gives a smooth curve with a few dozen points per decade of nines.
const TICKS_PER_HALF_DISTANCE: u32 = 5;

/// The furthest percentile drawn (99.9999%): beyond it even a billion samples say little.
pub const MAX_X: f64 = 6.0;

/// The spectrum of `histogram` (values in nanoseconds) as (x, latency in µs) points, x
/// rising; the last point is the maximum, at the percentile of the single slowest sample.
/// `None` when nothing was recorded.
pub fn points(histogram: &Histogram<u64>) -> Option<Vec<(f64, f64)>> {
    let count = histogram.len();
    if count == 0 {
        return None;
    }
    // The slowest of n samples stands at percentile 1 − 1/n: no point lies further right.
    let last_x = (count as f64).log10().min(MAX_X);
    let us = |ns: u64| ns as f64 / 1000.0;
    let mut points: Vec<(f64, f64)> = Vec::new();
    for step in histogram.iter_quantiles(TICKS_PER_HALF_DISTANCE) {
        let quantile = step.quantile_iterated_to();
        if quantile >= 1.0 {
            break;
        }
        let x = percentile_x(quantile);
        if x >= last_x {
            break;
        }
        let y = us(histogram.highest_equivalent(step.value_iterated_to()));
        if points.last().is_none_or(|last| x > last.0) {
            points.push((x, y));
        }
    }
    points.push((last_x.max(points.last().map_or(0.0, |p| p.0)), us(histogram.max())));
    Some(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram(values_ns: impl IntoIterator<Item = u64>) -> Histogram<u64> {
        let mut histogram = crate::load::latency_histogram();
        for ns in values_ns {
            histogram.record(ns).expect("in range");
        }
        histogram
    }

    #[test]
    fn follows_the_histogram() {
        // 10 000 samples: 1 µs … 10 ms in steps of 1 µs.
        let histogram = histogram((1..=10_000).map(|i| i * 1000));
        let points = points(&histogram).expect("recorded");
        assert!(points.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1), "{points:?}");
        assert_eq!(points[0].0, 0.0);
        let last = points.last().expect("a point");
        assert!((last.0 - 4.0).abs() < 1e-9, "the slowest of 10^4 sits at 99.99%: {last:?}");
        assert!((last.1 - 10_000.0).abs() < 10.0, "{last:?}");
        // At x = 2 (99%) the latency is the 99th percentile, within the histogram's precision.
        let near_99 =
            points.iter().min_by(|a, b| (a.0 - 2.0).abs().total_cmp(&(b.0 - 2.0).abs())).expect("x");
        let expected = 10_000.0 * (1.0 - 10f64.powf(-near_99.0));
        assert!((near_99.1 - expected).abs() / expected < 0.01, "{near_99:?} vs {expected}");
        assert!(points.len() > 30 && points.len() < 400, "{}", points.len());
    }

    #[test]
    fn empty_and_single_sample() {
        assert_eq!(points(&histogram([])), None);
        let one = points(&histogram([50_000])).expect("one sample");
        assert_eq!(one.last().map(|p| p.0), Some(0.0));
        assert!((one[0].1 - 50.0).abs() < 0.1, "{one:?}");
    }
}
