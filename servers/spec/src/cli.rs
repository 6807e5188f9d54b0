//! The command line every server variant shares, and the line it prints once listening.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroUsize;
use std::time::Duration;

use crate::connection::{Config, Timeouts};
use crate::limits;

/// Options every server variant accepts.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// Address to listen on.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub addr: IpAddr,
    /// Port to listen on; 0 picks a free one (the `listening on` line tells which).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Threads, pool size or executors, as the variant defines it (at least 1). Default: the
    /// number of CPUs.
    #[arg(long, value_parser = parse_workers)]
    pub workers: Option<NonZeroUsize>,
    /// Close a connection whose request head is not complete this long after it was
    /// accepted (or, on a keep-alive connection, after the head's first byte).
    #[arg(long, default_value = crate::default_duration!(limits::HEADER_TIMEOUT), value_parser = parse_timeout)]
    pub header_timeout: Duration,
    /// Close a keep-alive connection idle this long between requests.
    #[arg(long, default_value = crate::default_duration!(limits::IDLE_TIMEOUT), value_parser = parse_timeout)]
    pub idle_timeout: Duration,
    /// Close a connection whose response makes no write progress this long (the client
    /// stopped reading).
    #[arg(long, default_value = crate::default_duration!(limits::WRITE_TIMEOUT), value_parser = parse_timeout)]
    pub write_timeout: Duration,
    /// Serve `GET /files/{name}` from this directory, opened once at start (a missing or
    /// unreadable one: the server refuses to start). Without it, `/files/…` is 404.
    #[arg(long, value_name = "DIR")]
    pub files: Option<std::path::PathBuf>,
}

impl ServerArgs {
    /// The address to bind.
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.addr, self.port)
    }

    /// `--workers`, or the number of CPUs this process may run on.
    pub fn workers(&self) -> usize {
        self.workers.or_else(|| std::thread::available_parallelism().ok()).map_or(1, NonZeroUsize::get)
    }

    /// The per-connection settings these options describe.
    pub fn config(&self) -> Config {
        Config::new(Timeouts {
            header: self.header_timeout,
            idle: self.idle_timeout,
            write: self.write_timeout,
        })
    }
}

/// The longest duration taken anywhere (timeouts, run times, warm-ups): a year is as good as
/// never here, and every deadline (`now` + a duration) must fit in an `Instant`, which a
/// `Duration` of centuries does not.
pub const LONGEST_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// A duration such as `10s`, `250ms` or `1m`, at most [`LONGEST_DURATION`]; a bare number is
/// seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = match text.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            humantime::parse_duration(text).map_err(|err| format!("`{text}`: {err} (e.g. 10s, 250ms)"))?
        }
    };
    if duration > LONGEST_DURATION {
        return Err(format!("`{text}`: at most a year"));
    }
    Ok(duration)
}

/// A duration as the command line, `--help` and the README write it: `10s`, `5m`, `250ms`.
pub fn shown_duration(duration: Duration) -> String {
    humantime::format_duration(duration).to_string()
}

/// A default duration, written as [`shown_duration`] writes it, as the `&'static str` clap's
/// `default_value` takes: every default is stated once, as a `Duration` constant, and `--help`
/// shows that constant.
#[macro_export]
macro_rules! default_duration {
    ($duration:expr) => {{
        static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        TEXT.get_or_init(|| $crate::cli::shown_duration($duration)).as_str()
    }};
}

/// `--workers`: a whole number, at least 1.
pub fn parse_workers(text: &str) -> Result<NonZeroUsize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) => NonZeroUsize::new(n).ok_or_else(|| {
            "must be at least 1 (threads, pool size or executors, as the variant defines it)".to_owned()
        }),
        Err(_) => {
            Err(format!("`{text}` is not a whole number (threads, pool size or executors, at least 1)"))
        }
    }
}

/// A timeout: a duration more than zero (a zero timeout would close every connection at once).
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    match parse_duration(text)? {
        d if d.is_zero() => Err(format!("`{text}`: a timeout must be more than zero")),
        d => Ok(d),
    }
}

/// The exit status of a server that cannot run here: sysexits' `EX_UNAVAILABLE` ("a service
/// is unavailable ... a support program or file does not exist"). Part of the contract: the
/// harness and the conformance suite read it.
pub const EXIT_NOT_RUNNABLE: u8 = 69;

/// The one line a server prints to stdout when it is ready, with the rate its `/work` and
/// `/offload` run at (measured at start, see [`crate::work`]):
/// `listening on http://ADDR:PORT (work: N iterations/µs)`.
pub fn listening_line(addr: SocketAddr, work_rate: f64) -> String {
    format!("{LISTENING_PREFIX}{addr}{WORK_PREFIX}{work_rate:.1}{WORK_SUFFIX}")
}

/// What the listening line starts with; the address follows.
pub const LISTENING_PREFIX: &str = "listening on http://";

/// What follows the address in the listening line, then the work rate, then [`WORK_SUFFIX`].
const WORK_PREFIX: &str = " (work: ";
const WORK_SUFFIX: &str = " iterations/µs)";

/// Parses a listening line back into the address. The work rate may follow it or not (a line
/// from a server that does not state one is still a listening line).
pub fn parse_listening_line(line: &str) -> Option<SocketAddr> {
    let rest = line.trim().strip_prefix(LISTENING_PREFIX)?;
    let addr = match rest.split_once(WORK_PREFIX) {
        Some((addr, rate)) => rate.strip_suffix(WORK_SUFFIX).map(|_| addr)?,
        None => rest,
    };
    addr.parse().ok()
}

/// The work rate (iterations per µs) a listening line states, if it states one.
pub fn parse_work_rate(line: &str) -> Option<f64> {
    let rest = line.trim().strip_prefix(LISTENING_PREFIX)?;
    rest.split_once(WORK_PREFIX)?.1.strip_suffix(WORK_SUFFIX)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_line_round_trips() {
        for addr in ["127.0.0.1:45000", "[::1]:8080"] {
            let addr: SocketAddr = addr.parse().unwrap();
            let line = listening_line(addr, 612.5);
            assert_eq!(parse_listening_line(&line), Some(addr));
            assert_eq!(parse_work_rate(&line), Some(612.5));
        }
        assert_eq!(
            listening_line("127.0.0.1:1".parse().unwrap(), 1234.56),
            "listening on http://127.0.0.1:1 (work: 1234.6 iterations/µs)"
        );
    }

    #[test]
    fn listening_lines_without_a_rate_or_with_another_suffix() {
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert_eq!(parse_listening_line("listening on http://127.0.0.1:1\n"), Some(addr));
        assert_eq!(parse_work_rate("listening on http://127.0.0.1:1"), None);
        assert_eq!(parse_listening_line("listening on http://127.0.0.1:1 (work: 5 iterations/µs"), None);
        assert_eq!(parse_listening_line("listening on http://127.0.0.1:1 and more"), None);
        assert_eq!(parse_listening_line("listening on 127.0.0.1:1"), None);
        assert_eq!(parse_work_rate("listening on http://127.0.0.1:1 (work: x iterations/µs)"), None);
    }

    /// The defaults clap shows are the spec's own (`limits`), stated once there.
    #[test]
    fn defaults_are_the_specs() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: ServerArgs,
        }
        let cli = <Cli as clap::Parser>::parse_from(["server"]);
        assert_eq!(cli.args.config().timeouts, Timeouts::default());
    }

    #[test]
    fn workers_are_at_least_one() {
        assert_eq!(parse_workers("2").map(NonZeroUsize::get), Ok(2));
        assert!(parse_workers("0").unwrap_err().contains("at least 1"));
        assert!(parse_workers("x").unwrap_err().contains("not a whole number"));
        assert_eq!(shown_duration(limits::HEADER_TIMEOUT), "10s");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_timeout("0s").is_err());
        assert!(parse_timeout("300000000000y").is_err(), "would overflow every deadline");
        assert_eq!(parse_timeout("365days"), Ok(LONGEST_DURATION));
        assert!(parse_duration("99999999999999").is_err(), "seconds too");
        assert_eq!(parse_timeout("1ms"), Ok(Duration::from_millis(1)));
    }
}
