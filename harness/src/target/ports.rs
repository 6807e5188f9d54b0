//! Ports for `command` variants that leave `port` out: the harness picks one below Linux's
//! ephemeral range (`/proc/sys/net/ipv4/ip_local_port_range`) and fills `{port}` with it.
//!
//! Why below the range: a fixed port inside it (the classic exercise's 45000, nginx's 47880
//! in an older `examples/reference.toml`) can be drawn by any outgoing connection as its
//! ephemeral port — the load generator's own, after a heavy run — and a client's TIME_WAIT
//! then holds it for up to a minute, so the variant is refused. The kernel never hands out a
//! port below the range to a connection, so a port picked there stays free once it is checked.

use std::collections::HashSet;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::Mutex;

/// Where Linux keeps the ephemeral range: two numbers, the lowest and highest port.
const RANGE_FILE: &str = "/proc/sys/net/ipv4/ip_local_port_range";

/// How far below the ephemeral range a port is picked: wide enough that many harnesses (and
/// many variants) never run short, narrow enough to stay clear of the well-known ports.
const WINDOW: u16 = 10_000;

/// The lowest port ever picked: below it are the privileged ports.
const LOWEST: u16 = 1024;

/// Ports this process has picked, so two variants of one sweep never get the same one even
/// before either server has bound it.
static PICKED: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// Linux's ephemeral port range, `(low, high)`.
pub fn ephemeral_range() -> Result<(u16, u16), String> {
    let text =
        std::fs::read_to_string(RANGE_FILE).map_err(|err| format!("cannot read {RANGE_FILE}: {err}"))?;
    parse_range(&text).ok_or_else(|| format!("{RANGE_FILE} holds {:?}, not two ports", text.trim()))
}

/// `32768\t60999\n` → `(32768, 60999)`.
fn parse_range(text: &str) -> Option<(u16, u16)> {
    let mut ports = text.split_whitespace().map(str::parse::<u16>);
    let (low, high) = (ports.next()?.ok()?, ports.next()?.ok()?);
    (ports.next().is_none() && low <= high).then_some((low, high))
}

/// The ports a pick may come from, below an ephemeral range starting at `low`.
fn window(low: u16) -> std::ops::Range<u16> {
    low.saturating_sub(WINDOW).max(LOWEST)..low.max(LOWEST)
}

/// Picks a port below the ephemeral range that nothing uses now (no socket of any state has it,
/// and it binds on loopback) and this process has not picked before.
pub fn pick() -> Result<u16, String> {
    let (low, high) = ephemeral_range()?;
    let candidates = window(low);
    if candidates.is_empty() {
        return Err(format!(
            "no port to pick below the ephemeral range ({low}-{high} in {RANGE_FILE} starts at or below {LOWEST}): \
             give the variant a `port`"
        ));
    }
    // Harnesses running at once start their search at different places.
    let start = std::process::id() as usize;
    let mut picked = PICKED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let picked = picked.get_or_insert_with(HashSet::new);
    let port = first_free(candidates.clone(), start, |port| !picked.contains(&port) && is_unused(port))
        .ok_or_else(|| format!("every port from {} to {} is in use", candidates.start, candidates.end - 1))?;
    picked.insert(port);
    Ok(port)
}

/// The first port of `range`, searched from `start` (modulo its length) around to the start,
/// for which `free` holds.
fn first_free(range: std::ops::Range<u16>, start: usize, free: impl Fn(u16) -> bool) -> Option<u16> {
    let size = usize::from(range.end - range.start);
    (0..size).map(|i| range.start + u16::try_from((start + i) % size).unwrap_or(0)).find(|port| free(*port))
}

/// No socket has `port` (listening, connected, TIME_WAIT) and it binds on loopback.
fn is_unused(port: u16) -> bool {
    !super::sockets::anything_on(port) && TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_range_file_reads() {
        assert_eq!(parse_range("32768\t60999\n"), Some((32768, 60999)));
        assert_eq!(parse_range("1024 1024"), Some((1024, 1024)));
        assert_eq!(parse_range("60999 32768"), None);
        assert_eq!(parse_range("32768"), None);
        assert_eq!(parse_range("a b"), None);
        assert_eq!(parse_range("1 2 3"), None);
        let (low, high) = ephemeral_range().expect("this machine's range");
        assert!(low <= high);
    }

    #[test]
    fn the_window_stays_below_the_range_and_above_the_privileged_ports() {
        assert_eq!(window(32768), 22768..32768);
        assert_eq!(window(5000), 1024..5000);
        assert!(window(1024).is_empty() && window(80).is_empty());
        // The search wraps around from its start and skips what is not free.
        assert_eq!(first_free(100..110, 7, |p| p != 107), Some(108));
        assert_eq!(first_free(100..110, 9, |p| p < 103 && p != 100), Some(101));
        assert_eq!(first_free(100..110, 0, |_| false), None);
    }

    /// A picked port is below the ephemeral range, free, and never picked twice.
    #[test]
    fn picks_free_ports_below_the_range_never_twice() {
        let (low, _) = ephemeral_range().expect("this machine's range");
        let ports: Vec<u16> = (0..5).map(|_| pick().expect("a port")).collect();
        for port in &ports {
            assert!(window(low).contains(port), "{port} below {low}");
            assert!(TcpListener::bind((Ipv4Addr::LOCALHOST, *port)).is_ok(), "{port} is free");
        }
        let distinct: HashSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len(), "{ports:?}");
        // A port something listens on is never picked.
        let held = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a listener");
        let port = held.local_addr().expect("its address").port();
        assert!(!is_unused(port));
    }
}
