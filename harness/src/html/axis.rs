//! A plotters axis whose ticks we choose: plotters' own axes pick "nice" numbers, but the
//! percentile spectrum needs ticks at 50%, 90%, 99%… on a transformed scale, a level axis
//! needs a tick at every measured level, and log latency reads best at 1-2-5 steps. One
//! [`Axis`] type does all of them: a linear or log10 mapping of `f64` with labelled ticks.

use std::ops::Range;

use plotters::coord::ranged1d::{KeyPointHint, KeyPointWeight, NoDefaultFormatting, Ranged, ValueFormatter};

/// An axis from `lo` to `hi`, linear or logarithmic, with labelled ticks (grid lines and
/// labels) and unlabelled minor grid lines.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    lo: f64,
    hi: f64,
    log: bool,
    ticks: Vec<(f64, String)>,
    minor: Vec<f64>,
}

/// The percentiles labelled on a spectrum's x axis: HdrHistogram's plot shows the same.
const PERCENTILES: [(f64, &str); 7] = [
    (0.5, "50%"),
    (0.9, "90%"),
    (0.99, "99%"),
    (0.999, "99.9%"),
    (0.9999, "99.99%"),
    (0.99999, "99.999%"),
    (0.999_999, "99.9999%"),
];

/// Where percentile `p` sits on a spectrum's x axis: log10(1/(1−p)), so each further nine
/// (90%, 99%, 99.9%) is one step to the right.
pub fn percentile_x(p: f64) -> f64 {
    -(1.0 - p).log10()
}

impl Axis {
    /// A spectrum's x axis, from the 0th percentile to `x_max` (in [`percentile_x`] units).
    pub fn percentiles(x_max: f64) -> Axis {
        let ticks: Vec<(f64, String)> = PERCENTILES
            .iter()
            .map(|(p, label)| (percentile_x(*p), (*label).to_owned()))
            .filter(|(x, _)| *x <= x_max + 1e-9)
            .collect();
        Axis { lo: 0.0, hi: x_max, log: false, minor: ticks.iter().map(|t| t.0).collect(), ticks }
    }

    /// A linear axis from `lo` to `hi` with about `count` ticks at round numbers, labelled
    /// by `label`.
    pub fn linear(lo: f64, hi: f64, count: usize, label: fn(f64, f64) -> String) -> Axis {
        let (lo, hi) = ordered(lo, hi);
        let step = nice_step((hi - lo) / count.max(1) as f64);
        let first = (lo / step).ceil() as i64;
        let last = (hi / step).floor() as i64;
        let ticks: Vec<(f64, String)> = (first..=last)
            .map(|i| {
                let value = i as f64 * step;
                (value, label(value, step))
            })
            .collect();
        Axis { lo, hi, log: false, minor: ticks.iter().map(|t| t.0).collect(), ticks }
    }

    /// A log10 axis from `lo` to `hi` (both > 0): ticks at 1, 2 and 5 per decade (every
    /// digit over less than a decade, decades only over many), minor lines at every digit.
    pub fn log(lo: f64, hi: f64, label: fn(f64) -> String) -> Axis {
        let (lo, hi) = ordered(lo.max(f64::MIN_POSITIVE), hi.max(f64::MIN_POSITIVE));
        let decades = hi.log10() - lo.log10();
        let digits: &[f64] = if decades < 1.0 {
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
        } else if decades <= 4.0 {
            &[1.0, 2.0, 5.0]
        } else {
            &[1.0]
        };
        let mut ticks = Vec::new();
        let mut minor = Vec::new();
        let mut decade = 10f64.powf(lo.log10().floor());
        while decade <= hi {
            for digit in 1..10 {
                let value = decade * f64::from(digit);
                if value >= lo && value <= hi {
                    minor.push(value);
                    if digits.contains(&f64::from(digit)) {
                        ticks.push((value, label(value)));
                    }
                }
            }
            decade *= 10.0;
        }
        if ticks.len() < 2 {
            // Too narrow a range for round numbers: label its ends.
            ticks = vec![(lo, label(lo)), (hi, label(hi))];
        }
        Axis { lo, hi, log: true, ticks, minor }
    }

    /// An axis with a tick at each of `values`, labelled `labels`, from `lo` to `hi`
    /// (categories, or the measured levels of a sweep).
    pub fn at(lo: f64, hi: f64, log: bool, values: &[f64], labels: Vec<String>) -> Axis {
        let ticks: Vec<(f64, String)> = values.iter().copied().zip(labels).collect();
        let (lo, hi) = ordered(lo, hi);
        Axis { lo, hi, log, minor: ticks.iter().map(|t| t.0).collect(), ticks }
    }

    /// The labelled ticks, for tests and legends.
    pub fn ticks(&self) -> &[(f64, String)] {
        &self.ticks
    }

    /// Where `value` falls between the ends, 0.0 to 1.0.
    fn fraction(&self, value: f64) -> f64 {
        let (lo, hi, value) = if self.log {
            let safe = |v: f64| v.max(f64::MIN_POSITIVE).log10();
            (safe(self.lo), safe(self.hi), safe(value))
        } else {
            (self.lo, self.hi, value)
        };
        if hi > lo {
            (value - lo) / (hi - lo)
        } else {
            0.5
        }
    }
}

/// `(lo, hi)` in order and apart, so every mapping is defined.
fn ordered(lo: f64, hi: f64) -> (f64, f64) {
    let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
    if hi > lo {
        (lo, hi)
    } else {
        (lo - 0.5, hi + 0.5)
    }
}

/// The round step (1, 2 or 5 × 10^k) nearest above `raw`.
fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    let fraction = raw / magnitude;
    let nice = if fraction <= 1.0 {
        1.0
    } else if fraction <= 2.0 {
        2.0
    } else if fraction <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// A count or a rate as a tick label on an axis stepping by `step`: `500`, `2500`, `15k`,
/// `1.2M` (the unit follows the step, so every tick of an axis has the same one).
pub fn quantity(value: f64, step: f64) -> String {
    if value == 0.0 {
        return "0".to_owned();
    }
    let (scale, unit) = if step >= 1e6 {
        (1e6, "M")
    } else if step >= 1e3 {
        (1e3, "k")
    } else {
        (1.0, "")
    };
    let step = step / scale;
    let decimals = if step >= 1.0 { 0 } else { (-step.log10().floor()) as usize };
    format!("{:.decimals$}{unit}", value / scale)
}

/// A single count or rate, short: `5`, `2500`, `15k`, `1.25M`, `0.5`.
pub fn compact(value: f64) -> String {
    let (scaled, unit) = if value.abs() >= 1e6 {
        (value / 1e6, "M")
    } else if value.abs() >= 1e4 {
        (value / 1e3, "k")
    } else {
        (value, "")
    };
    format!("{}{unit}", trim(scaled))
}

/// A number with at most two decimals and no trailing zeros.
fn trim(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// A duration in microseconds as a tick label with its unit: `50 µs`, `2 ms`, `1.5 s`.
pub fn duration_us(us: f64) -> String {
    if us >= 1e6 {
        format!("{} s", trim(us / 1e6))
    } else if us >= 1e3 {
        format!("{} ms", trim(us / 1e3))
    } else {
        format!("{} µs", trim(us))
    }
}

impl Ranged for Axis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let span = f64::from(limit.1) - f64::from(limit.0);
        let pixel = f64::from(limit.0) + self.fraction(*value) * span;
        // Points far outside (or not numbers) land just outside the plot, never wrap around.
        pixel.clamp(-1e6, 1e6).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        match hint.weight() {
            KeyPointWeight::Bold => self.ticks.iter().map(|t| t.0).collect(),
            KeyPointWeight::Any => self.minor.clone(),
        }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

impl ValueFormatter<f64> for Axis {
    fn format_ext(&self, value: &f64) -> String {
        self.ticks.iter().find(|t| t.0 == *value).map(|t| t.1.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(axis: &Axis) -> Vec<&str> {
        axis.ticks().iter().map(|t| t.1.as_str()).collect()
    }

    #[test]
    fn percentile_ticks_are_nines() {
        assert!((percentile_x(0.99) - 2.0).abs() < 1e-12);
        assert!((percentile_x(0.5) - std::f64::consts::LOG10_2).abs() < 1e-12);
        let axis = Axis::percentiles(4.0);
        assert_eq!(labels(&axis), ["50%", "90%", "99%", "99.9%", "99.99%"]);
        assert_eq!(axis.map(&0.0, (0, 400)), 0);
        assert_eq!(axis.map(&2.0, (0, 400)), 200);
        assert_eq!(axis.format_ext(&percentile_x(0.999)), "99.9%");
    }

    #[test]
    fn linear_ticks_are_round() {
        let axis = Axis::linear(0.0, 23_000.0, 5, quantity);
        assert_eq!(labels(&axis), ["0", "5k", "10k", "15k", "20k"]);
        let axis = Axis::linear(0.0, 1.2, 4, quantity);
        assert_eq!(labels(&axis), ["0", "0.5", "1.0"]);
        // A single value still makes an axis.
        let axis = Axis::linear(3.0, 3.0, 4, quantity);
        assert!(axis.range().start < 3.0 && axis.range().end > 3.0);
    }

    #[test]
    fn log_ticks_step_one_two_five() {
        let axis = Axis::log(30.0, 2500.0, duration_us);
        assert_eq!(labels(&axis), ["50 µs", "100 µs", "200 µs", "500 µs", "1 ms", "2 ms"]);
        assert_eq!(axis.map(&30.0, (0, 100)), 0);
        assert_eq!(axis.map(&2500.0, (0, 100)), 100);
        // Less than a decade: every digit.
        let axis = Axis::log(42.0, 95.0, duration_us);
        assert_eq!(labels(&axis), ["50 µs", "60 µs", "70 µs", "80 µs", "90 µs"]);
        // Within one digit: the ends.
        let axis = Axis::log(41.0, 43.0, duration_us);
        assert_eq!(labels(&axis), ["41 µs", "43 µs"]);
    }

    #[test]
    fn labels_carry_units() {
        assert_eq!(duration_us(58.25), "58.25 µs");
        assert_eq!(duration_us(1500.0), "1.5 ms");
        assert_eq!(duration_us(2_000_000.0), "2 s");
        assert_eq!(quantity(145_000.0, 50_000.0), "145k");
        assert_eq!(quantity(2_500.0, 500.0), "2500");
        assert_eq!(quantity(4.0, 1.0), "4");
        assert_eq!(compact(15_000.0), "15k");
        assert_eq!(compact(2_500.0), "2500");
        assert_eq!(compact(1.5), "1.5");
    }
}
