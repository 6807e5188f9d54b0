//! The handler that computes: the fixed computation behind `/work/{µs}` and `/offload/{µs}`,
//! and its calibration to an iteration count per microsecond.
//!
//! [`compute`] is a chain of integer operations (SplitMix64's xor-shift-multiply step), each
//! iteration needing the previous one's result: the compiler can neither vectorize nor skip it,
//! the CPU cannot overlap iterations, it touches no memory and allocates nothing, and integer
//! shifts and multiplies take the same time whatever the values, so every iteration costs the
//! same on one CPU. [`calibrate`] measures that cost once, at server start, on the thread (and
//! so the CPUs) the server was started on; the rate goes into every connection's
//! [`crate::Config`], and the spec turns a request's microseconds into iterations with it.

use std::hint::black_box;
use std::time::Duration;

/// SplitMix64's multiplier: odd, so the step is a bijection and the chain never settles.
const MULTIPLIER: u64 = 0x9E37_79B9_7F4A_7C15;

/// Where every chain starts (any value would do; the result is never looked at).
const SEED: u64 = 0x2545_F491_4F6C_DD1D;

/// Runs the computation for `iterations` iterations and returns its (meaningless) result. The
/// count and the result go through [`black_box`], so the loop is never optimized away.
pub fn compute(iterations: u64) -> u64 {
    let mut state = black_box(SEED);
    for _ in 0..black_box(iterations) {
        state ^= state >> 31;
        state = state.wrapping_mul(MULTIPLIER);
    }
    black_box(state)
}

/// Iterations that make `micros` microseconds at `rate` iterations per microsecond (see
/// [`calibrate`]); a rate of 0, an uncalibrated [`crate::Config`], makes every request free.
pub fn iterations(rate: f64, micros: u64) -> u64 {
    // `as` saturates: a nonsensical rate cannot overflow, and 10^6 µs × any real rate fits.
    (rate * micros as f64).round() as u64
}

/// How long one timed try of [`calibrate`] runs: long against the clock's resolution and a
/// loop's start-up, short enough that several tries add little to a server's start.
const TRY_TIME: Duration = Duration::from_millis(2);

/// Timed tries; the fastest counts (see [`calibrate`]).
const TRIES: usize = 5;

/// Iterations of the first, untimed run that sizes the tries (and wakes the CPU up).
const PROBE: u64 = 20_000;

/// Measures how many iterations of [`compute`] this thread runs per microsecond of CPU.
///
/// A probe run sizes each try to about [`TRY_TIME`]; then [`TRIES`] tries are timed and the
/// **fastest** gives the rate, not the median. Tries are timed on the thread's own CPU clock
/// (`CLOCK_THREAD_CPUTIME_ID`), not the wall clock, so time spent waiting while another process
/// has the CPU does not count: a server started on a busy machine still learns what a
/// microsecond of computing is. What is left (an interrupt, a cold cache, a clock still ramping
/// up from idle) can only make a try slower, never faster, so the fastest try is the one closest
/// to what the loop costs on a free CPU, which is what `/work/{µs}` promises. The whole
/// calibration takes about 10 ms.
pub fn calibrate() -> f64 {
    let probe = timed(PROBE);
    let per_nanosecond = PROBE as f64 / probe.as_nanos().max(1) as f64;
    let per_try = ((per_nanosecond * TRY_TIME.as_nanos() as f64) as u64).max(PROBE);
    let fastest = (0..TRIES).map(|_| timed(per_try)).min().unwrap_or(probe).max(Duration::from_nanos(1));
    per_try as f64 / (fastest.as_nanos() as f64 / 1000.0)
}

/// How much of this thread's CPU time `iterations` take.
fn timed(iterations: u64) -> Duration {
    let started = thread_cpu_time();
    compute(iterations);
    thread_cpu_time().saturating_sub(started)
}

/// The CPU time this thread has used so far.
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `now` is a valid timespec the kernel writes; this clock exists on every Linux
    // since 2.6.12 and the call cannot fail with a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    Duration::new(u64::try_from(now.tv_sec).unwrap_or(0), u32::try_from(now.tv_nsec).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compute_is_deterministic() {
        assert_eq!(compute(1000), compute(1000));
        assert_ne!(compute(1000), compute(1001));
        assert_eq!(compute(0), SEED);
    }

    #[test]
    fn iterations_scale_with_the_rate() {
        assert_eq!(iterations(0.0, 1_000_000), 0, "uncalibrated: free");
        assert_eq!(iterations(250.0, 1000), 250_000);
        assert_eq!(iterations(0.5, 3), 2, "rounded");
        assert_eq!(iterations(f64::INFINITY, 1), u64::MAX, "saturates");
    }

    /// The rate makes the CPU time it promises. Loose bounds: tests run beside each other on a
    /// shared machine.
    #[test]
    fn a_calibrated_millisecond_takes_about_a_millisecond() {
        let rate = calibrate();
        assert!(rate > 1.0, "{rate} iterations/µs: an optimized build does hundreds");
        let fastest = (0..5).map(|_| timed(iterations(rate, 1000))).min().unwrap_or_default();
        assert!(
            fastest > Duration::from_micros(500) && fastest < Duration::from_millis(5),
            "a calibrated millisecond took {fastest:?} at its fastest"
        );
    }
}
