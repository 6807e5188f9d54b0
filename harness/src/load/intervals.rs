//! A run over time: what each interval of its measured window held (responses, failures by
//! kind, a latency histogram), so a long run (a soak) shows drift that its totals would hide.
//!
//! Each load thread keeps its own [`Timeline`], binning every measured request by when it
//! ended; the run merges the threads' timelines (and a sweep the load hosts') interval by
//! interval, exactly: counts summed, histograms added. [`Ticker`] tells the caller when an
//! interval boundary has passed, so it can read the server then.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::Failures;

/// One interval of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    /// Requests answered with a whole response that ended in this interval.
    pub complete: u64,
    pub non_2xx: u64,
    /// Requests that failed in this interval, by kind.
    pub failures: Failures,
    /// Latency of this interval's complete requests (ns): the same figure as the run's.
    #[serde(with = "crate::histogram::encoded")]
    pub latency: Histogram<u64>,
}

impl Default for Tally {
    fn default() -> Tally {
        Tally { complete: 0, non_2xx: 0, failures: Failures::default(), latency: interval_histogram() }
    }
}

impl Tally {
    /// Adds another thread's (or host's) tally of the same interval.
    pub fn add(&mut self, other: &Tally) {
        self.complete = self.complete.saturating_add(other.complete);
        self.non_2xx = self.non_2xx.saturating_add(other.non_2xx);
        self.failures.add(&other.failures);
        // Auto-resizing: a histogram read back from another host grows as this one does.
        self.latency.auto(true);
        let _ = self.latency.add(&other.latency);
    }
}

/// A histogram that grows to what it holds (3 significant digits, as the run's): a thread
/// keeps one per interval, and most intervals hold only microseconds.
fn interval_histogram() -> Histogram<u64> {
    let mut histogram = Histogram::new(3).expect("3 significant digits is a valid histogram");
    histogram.auto(true);
    histogram
}

/// One thread's tallies by interval, counted from `origin` (the measured window's start).
#[derive(Debug, Clone)]
pub struct Timeline {
    origin: Instant,
    every: Option<Duration>,
    /// The interval `at` was last binned into, and its end: most events fall in it.
    current: (usize, Instant),
    pub tallies: Vec<Tally>,
}

impl Timeline {
    /// Intervals of `every` from `origin`; `None` keeps nothing.
    pub fn new(origin: Instant, every: Option<Duration>) -> Timeline {
        let every = every.filter(|every| !every.is_zero());
        let end = every.map_or(origin, |every| origin + every);
        Timeline { origin, every, current: (0, end), tallies: Vec::new() }
    }

    /// The tally of the interval `at` falls in (an event before the origin falls in the first).
    pub fn at(&mut self, at: Instant) -> Option<&mut Tally> {
        let every = self.every?;
        let (mut index, end) = self.current;
        if at >= end || at < end.checked_sub(every).unwrap_or(self.origin) {
            let since = at.saturating_duration_since(self.origin);
            index = usize::try_from(since.as_nanos() / every.as_nanos().max(1)).unwrap_or(usize::MAX);
            let end = u32::try_from(index + 1).map_or(at, |n| self.origin + every * n);
            self.current = (index, end);
        }
        // A stray clock far ahead must not allocate an interval per period in between.
        let index = index.min(MAX_INTERVALS - 1);
        if self.tallies.len() <= index {
            self.tallies.resize_with(index + 1, Tally::default);
        }
        self.tallies.get_mut(index)
    }
}

/// Most intervals one run keeps (a week of 10 s intervals): a bound, not a target.
pub const MAX_INTERVALS: usize = 60_480;

/// `into` with `other`'s tallies added, interval by interval.
pub fn merge(into: &mut Vec<Tally>, other: &[Tally]) {
    if into.len() < other.len() {
        into.resize_with(other.len(), Tally::default);
    }
    for (mine, theirs) in into.iter_mut().zip(other) {
        mine.add(theirs);
    }
}

/// Says when each interval boundary after `origin` is reached: boundary k (1, 2, …) is at
/// `origin + k × every`, the end of interval k − 1. It says so a moment early ([`LEAD`]): a
/// window that ends on a boundary closes its connections right then, and the reading of the
/// last interval must still see the run as it was.
#[derive(Debug, Clone)]
pub struct Ticker {
    origin: Instant,
    every: Duration,
    next: u32,
}

/// How early a boundary is said: 50 ms, or a twentieth of a shorter interval.
pub const LEAD: Duration = Duration::from_millis(50);

impl Ticker {
    pub fn new(origin: Instant, every: Duration) -> Ticker {
        Ticker { origin, every: every.max(Duration::from_millis(1)), next: 1 }
    }

    /// When the next boundary is said.
    fn next_at(&self) -> Option<Instant> {
        let at = self.origin.checked_add(self.every.checked_mul(self.next)?)?;
        Some(at.checked_sub(LEAD.min(self.every / 20)).unwrap_or(at))
    }

    /// The boundary reached by `now`, if one has been since the last call (one at a time: a
    /// caller late by two intervals hears of both on two calls).
    pub fn due(&mut self, now: Instant) -> Option<usize> {
        if now < self.next_at()? {
            return None;
        }
        self.next += 1;
        usize::try_from(self.next - 1).ok()
    }

    /// How long until the next boundary is said (zero if it is due).
    pub fn until_next(&self, now: Instant) -> Duration {
        self.next_at().map_or(Duration::MAX, |at| at.saturating_duration_since(now))
    }
}

/// How many intervals a window of `elapsed` has, in intervals of `every`: whole ones, the
/// remainder joining the last (so a 10 min run in 10 s intervals has 60, not 60 and a sliver
/// for its last responses); none when the window is shorter than one interval.
pub fn count(elapsed: Duration, every: Duration) -> usize {
    if every.is_zero() || elapsed < every {
        return 0;
    }
    usize::try_from(elapsed.as_nanos() / every.as_nanos()).unwrap_or(MAX_INTERVALS).min(MAX_INTERVALS)
}

/// `tallies` cut to `count` intervals, anything later added into the last.
pub fn folded(tallies: &[Tally], count: usize) -> Vec<Tally> {
    let mut kept: Vec<Tally> = tallies.iter().take(count).cloned().collect();
    if count == 0 {
        return kept;
    }
    kept.resize_with(count, Tally::default);
    if let Some(last) = kept.last_mut() {
        for later in tallies.iter().skip(count) {
            last.add(later);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_land_in_their_interval() {
        let origin = Instant::now();
        let every = Duration::from_secs(10);
        let mut timeline = Timeline::new(origin, Some(every));
        let at = |s: f64| origin + Duration::from_secs_f64(s);
        for (s, ns) in [(0.5, 1_000), (9.9, 2_000), (10.0, 3_000), (25.0, 4_000), (12.0, 5_000)] {
            let tally = timeline.at(at(s)).expect("kept");
            tally.complete += 1;
            tally.latency.record(ns).expect("recorded");
        }
        timeline.at(at(31.0)).expect("kept").failures.receive += 1;
        let completes: Vec<u64> = timeline.tallies.iter().map(|t| t.complete).collect();
        assert_eq!(completes, [2, 2, 1, 0]);
        assert_eq!(timeline.tallies[3].failures.receive, 1);
        let second = &timeline.tallies[1].latency;
        assert!(second.equivalent(second.max(), 5_000), "{}", second.max());
        assert!(Timeline::new(origin, None).at(at(1.0)).is_none(), "nothing kept without intervals");
        // A 3.2-interval window has 3: the sliver joins the last.
        assert_eq!(count(Duration::from_secs(32), every), 3);
        assert_eq!(count(Duration::from_secs(9), every), 0);
        let folded = folded(&timeline.tallies, 3);
        let completes: Vec<u64> = folded.iter().map(|t| t.complete).collect();
        assert_eq!(completes, [2, 2, 1]);
        assert_eq!(folded[2].failures.receive, 1);
    }

    /// Two threads' (or hosts') timelines merge exactly, whatever their lengths.
    #[test]
    fn timelines_merge_exactly() {
        let origin = Instant::now();
        let every = Some(Duration::from_secs(1));
        let (mut a, mut b) = (Timeline::new(origin, every), Timeline::new(origin, every));
        for i in 0..30u64 {
            let tally = a.at(origin + Duration::from_millis(i * 100)).expect("kept");
            tally.complete += 1;
            tally.latency.record(1_000 + i).expect("recorded");
        }
        let tally = b.at(origin + Duration::from_millis(4500)).expect("kept");
        tally.complete += 5;
        tally.latency.record_n(9_000_000_000, 5).expect("a far larger value still fits");
        let mut merged = Vec::new();
        merge(&mut merged, &a.tallies);
        merge(&mut merged, &b.tallies);
        let completes: Vec<u64> = merged.iter().map(|t| t.complete).collect();
        assert_eq!(completes, [10, 10, 10, 0, 5]);
        assert_eq!(merged[4].latency.len(), 5);
        // Across a host: encoded and read back, then merged.
        let json = serde_json::to_string(&merged).expect("encoded");
        let back: Vec<Tally> = serde_json::from_str(&json).expect("read back");
        let mut again = back.clone();
        merge(&mut again, &back);
        assert_eq!(again[0].latency.len(), 20);
    }

    #[test]
    fn the_ticker_says_each_boundary_once() {
        let origin = Instant::now();
        let mut ticker = Ticker::new(origin, Duration::from_secs(10));
        assert_eq!(ticker.due(origin + Duration::from_millis(9_940)), None);
        assert_eq!(ticker.due(origin + Duration::from_millis(9_950)), Some(1), "50 ms early");
        assert_eq!(ticker.due(origin + Duration::from_secs(25)), Some(2));
        assert_eq!(ticker.due(origin + Duration::from_secs(25)), None);
        assert_eq!(ticker.until_next(origin + Duration::from_secs(25)), Duration::from_millis(4_950));
        // A short interval is said a twentieth early.
        let mut short = Ticker::new(origin, Duration::from_millis(200));
        assert_eq!(short.due(origin + Duration::from_millis(190)), Some(1));
    }
}
