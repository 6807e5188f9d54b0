//! The `Date` header value, formatted at most once per second per thread.
//!
//! Formatting an IMF-fixdate costs far more than reading the clock, so each thread keeps the
//! last value and reformats only when the second changes. No background timer is needed, which
//! keeps the spec free of threads and usable from every runtime. The value is formatted into a
//! fixed buffer, never a `String`, so a warm connection answers without allocating.

use std::cell::RefCell;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

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
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.second != second {
            let mut value = [0; DATE_LEN];
            let mut rest = &mut value[..];
            // An IMF-fixdate is always 29 ASCII bytes; anything else leaves the old value.
            if write!(rest, "{}", httpdate::HttpDate::from(now)).is_ok() && rest.is_empty() {
                cache.value = value;
                cache.second = second;
            }
        }
        cache.value
    })
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
}
