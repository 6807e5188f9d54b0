//! The open loop's arithmetic, as wrk2 does it: each connection follows its own schedule of
//! intended send times, and latency counts from the intended time, not from when the request
//! could finally be sent.
//!
//! A rate R over N connections gives each connection an interval of N/R between its sends,
//! and connection i a phase of i/R, so together they send one request every 1/R. A request
//! whose connection is still busy at its intended time waits; when the connection frees, the
//! overdue requests go out at once, one after another (catching up), each still measured from
//! its own intended time. That is the coordinated-omission correction: while a server stalls,
//! a closed loop (or an uncorrected open loop) stops sending and records the stall once; here
//! every request that should have been sent during the stall records it.

use std::time::{Duration, Instant};

/// One connection's schedule of intended send times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// The intended time of this connection's request number 0.
    first: Instant,
    /// Time between this connection's intended sends.
    interval: Duration,
    /// Requests of this connection already sent (or skipped past).
    sent: u64,
}

impl Schedule {
    /// Connection `index` of `connections` sharing `rate` requests/s, starting at `start`.
    pub fn new(start: Instant, rate: f64, connections: usize, index: usize) -> Schedule {
        let per_request = Duration::from_secs_f64(1.0 / rate);
        Schedule {
            first: start + per_request * index as u32,
            interval: per_request * connections as u32,
            sent: 0,
        }
    }

    /// The intended time of the next request.
    pub fn next(&self) -> Instant {
        self.intended(self.sent)
    }

    /// The intended time of request `k` of this connection.
    pub fn intended(&self, k: u64) -> Instant {
        let k = u32::try_from(k).unwrap_or(u32::MAX);
        self.first + self.interval * k
    }

    /// Takes the next request: returns its intended time and moves on.
    pub fn take(&mut self) -> Instant {
        let intended = self.next();
        self.sent += 1;
        intended
    }
}

/// When a request intended at `intended` goes out if its connection is free from `free`:
/// at its time, or at once if that has passed (catching up).
fn send_time(intended: Instant, free: Instant) -> Instant {
    intended.max(free)
}

/// The latencies of one open-loop request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// From the intended send to the end of the response: the figure reported.
    pub corrected: Duration,
    /// From the actual send to the end of the response: what a closed loop would report.
    pub uncorrected: Duration,
    /// How late the generator itself sent it: the actual send minus the time it was due and
    /// its connection was free. Waiting for a busy connection is not the generator's lateness.
    pub send_lag: Duration,
}

impl Timing {
    pub fn of(intended: Instant, free: Instant, sent: Instant, ended: Instant) -> Timing {
        Timing {
            corrected: ended.saturating_duration_since(intended),
            uncorrected: ended.saturating_duration_since(sent),
            send_lag: sent.saturating_duration_since(send_time(intended, free)),
        }
    }
}

/// The measured window of an open-loop run: requests intended in it are recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: Instant,
    pub end: Instant,
}

impl Window {
    /// Whether a request intended at `at` is measured.
    pub fn measures(&self, at: Instant) -> bool {
        at >= self.start && at < self.end
    }

    /// Whether a request intended at `at` is sent at all (warm-up and window, not after).
    pub fn sends(&self, at: Instant) -> bool {
        at < self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn connections_interleave_into_the_rate() {
        let t0 = Instant::now();
        // 1000 req/s over 4 connections: each sends every 4 ms, phases 0, 1, 2, 3 ms.
        let mut all: Vec<Instant> = Vec::new();
        for index in 0..4 {
            let mut schedule = Schedule::new(t0, 1000.0, 4, index);
            for _ in 0..5 {
                all.push(schedule.take());
            }
        }
        all.sort();
        let gaps: Vec<Duration> = all.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps.iter().all(|g| *g == ms(1)), "one request every 1 ms: {gaps:?}");
        assert_eq!(all[0], t0);
        assert_eq!(all[19], t0 + ms(19));
    }

    #[test]
    fn a_late_connection_catches_up() {
        let t0 = Instant::now();
        let mut schedule = Schedule::new(t0, 100.0, 1, 0);
        // Request 0 at 0 ms takes 35 ms: requests 1..3 (10, 20, 30 ms) are overdue and go out
        // at once, one after another, each measured from its own intended time.
        assert_eq!(schedule.take(), t0);
        let free = t0 + ms(35);
        let mut sends = Vec::new();
        let mut now = free;
        while schedule.next() <= now {
            let intended = schedule.take();
            let sent = send_time(intended, now);
            let ended = sent + ms(1);
            sends.push(Timing::of(intended, now, sent, ended));
            now = ended;
        }
        assert_eq!(sends.len(), 3);
        assert_eq!(sends[0].corrected, ms(26), "intended at 10, answered at 36");
        assert_eq!(sends[0].uncorrected, ms(1));
        assert_eq!(sends[0].send_lag, Duration::ZERO, "waiting for the connection is not lag");
        assert_eq!(sends[2].corrected, ms(8), "intended at 30, answered at 38");
        assert_eq!(schedule.next(), t0 + ms(40), "then the schedule goes on as planned");
    }

    #[test]
    fn send_lag_is_the_generators_own_lateness() {
        let t0 = Instant::now();
        let timing = Timing::of(t0 + ms(10), t0, t0 + ms(10) + Duration::from_micros(70), t0 + ms(11));
        assert_eq!(timing.send_lag, Duration::from_micros(70));
        assert_eq!(timing.corrected, ms(1));
    }

    #[test]
    fn the_window_measures_only_its_part_of_the_schedule() {
        let t0 = Instant::now();
        let window = Window { start: t0 + ms(1000), end: t0 + ms(6000) };
        assert!(!window.measures(t0 + ms(999)) && window.sends(t0 + ms(999)), "warm-up: sent, not measured");
        assert!(window.measures(t0 + ms(1000)) && window.measures(t0 + ms(5999)));
        assert!(!window.sends(t0 + ms(6000)));
    }
}
