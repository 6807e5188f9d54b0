//! The `Date` header value, formatted at most once per second per thread.
//!
//! Formatting an IMF-fixdate costs far more than reading the clock, so each thread keeps the
//! last value and reformats only when the second changes. No background timer is needed, which
//! keeps the spec free of threads and usable from every runtime. The value is formatted into a
//! fixed buffer, never a `String`, so a warm connection answers without allocating.

use std::cell::RefCell;
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate such as `Sun, 06 Nov 1994 08:49:37 GMT`.
pub const DATE_LEN: usize = 29;

struct Cached {
    second: u64,
    value: [u8; DATE_LEN],
}

thread_local! {
    static CACHE: RefCell<Cached> = const { RefCell::new(Cached { second: u64::MAX, value: [b' '; DATE_LEN] }) };
}

/// The current time as an IMF-fixdate.
pub fn now() -> [u8; DATE_LEN] {
    let second = unix_second();
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.second != second {
            let mut value = [0; DATE_LEN];
            let mut rest = &mut value[..];
            let time = httpdate::HttpDate::from(UNIX_EPOCH + Duration::from_secs(second));
            // An IMF-fixdate is always 29 ASCII bytes; anything else leaves the old value.
            if write!(rest, "{time}").is_ok() && rest.is_empty() {
                cache.value = value;
                cache.second = second;
            }
        }
        cache.value
    })
}

/// Seconds since the Unix epoch, read once per response.
///
/// On Linux from `CLOCK_REALTIME_COARSE`: the time of the last timer tick, read from the vDSO
/// without touching the TSC, several times cheaper than `SystemTime::now()`. A tick is 1 to
/// 4 ms, so a new second shows that much late at worst, far inside a `Date` value's one
/// second resolution.
#[cfg(target_os = "linux")]
fn unix_second() -> u64 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `now` is a valid, writable `timespec` for the duration of the call, and
    // `clock_gettime` writes nothing else.
    let read = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut now) };
    match u64::try_from(now.tv_sec) {
        Ok(second) if read == 0 => second,
        _ => precise_unix_second(),
    }
}

#[cfg(not(target_os = "linux"))]
fn unix_second() -> u64 {
    precise_unix_second()
}

fn precise_unix_second() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_an_imf_fixdate() {
        let date = now();
        let text = std::str::from_utf8(&date).unwrap();
        assert!(text.ends_with(" GMT"), "{text}");
        assert!(httpdate::parse_http_date(text).is_ok(), "{text}");
    }

    #[test]
    fn the_cheap_clock_tells_the_right_second() {
        let before = precise_unix_second();
        let second = unix_second();
        let after = precise_unix_second();
        // The coarse clock may lag by a tick, so it can still show the second just ended.
        assert!((before.saturating_sub(1)..=after).contains(&second), "{before} {second} {after}");
    }
}
