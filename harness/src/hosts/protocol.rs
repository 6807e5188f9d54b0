//! Everything that crosses a launcher's pipes, in one place both ends use: the harness that
//! runs a sweep writes and reads these, and the `harness serve --lifeline`, `harness load
//! --report`, `harness sample` and `harness verify` it starts on another host print them.
//!
//! | from | line |
//! |---|---|
//! | `harness serve --lifeline` | with `--name`, [`Named`] (`name "…"`); then [`ProcessGroup`] (`process group N`), then the spec's listening line |
//! | `harness load --announce-window` | [`WINDOW_OPEN`] as the measured window opens |
//! | `harness load --report` | one [`LoadReport`] line: the whole [`LoadResult`], histograms encoded |
//! | `harness sample PGID` | one [`Sample`] line |
//! | `harness verify URL` | one [`Verified`] line: the notes on the answer |
//! | `harness awake --cpus LIST` | [`Awake`] (`awake: HOW`) once the CPUs are kept awake |
//!
//! The JSON lines are serde types: a field added here is added on both ends at once, and a
//! line that does not parse is an error that names it, never a figure silently lost.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::cost::GroupSample;
use crate::load::LoadResult;
use crate::machine::tcp::TcpCounters;

/// `harness serve --lifeline` says which process group it leads before its listening line:
/// its cost is read by group, so a server that does not say is not measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessGroup(pub i32);

impl ProcessGroup {
    const PREFIX: &'static str = "process group ";

    /// The line, as printed.
    pub fn line(self) -> String {
        format!("{}{}", Self::PREFIX, self.0)
    }

    /// `None` when `line` is not a process-group line; an error when it is one but its group
    /// is not a real one (0 would be the kernel's threads).
    pub fn parse(line: &str) -> Option<Result<ProcessGroup, String>> {
        let rest = line.trim().strip_prefix(Self::PREFIX)?;
        Some(
            rest.parse::<i32>()
                .ok()
                .filter(|pgid| *pgid > 0)
                .map(ProcessGroup)
                .ok_or_else(|| format!("a bad line: {line:?}")),
        )
    }
}

/// What a program started through a launcher with `--name NAME` says back first: the name as
/// it arrived, JSON-encoded on one line (`name "tokio \"fast\"; $(x)"`), so the harness can see
/// that it crossed the launcher whole. A launcher that runs its command through a shell
/// without the harness quoting it (see [`crate::plan::Host::shell`]) would have split it,
/// expanded it, or run part of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named(pub String);

impl Named {
    const PREFIX: &'static str = "name ";

    /// The line, as printed.
    pub fn line(&self) -> String {
        format!("{}{}", Self::PREFIX, line(&self.0))
    }

    /// `None` when `line` is not a name line; an error when it is one whose name does not read.
    pub fn parse(line: &str) -> Option<Result<Named, String>> {
        let rest = line.trim_end_matches(['\r', '\n']).strip_prefix(Self::PREFIX)?;
        Some(
            serde_json::from_str::<String>(rest)
                .map(Named)
                .map_err(|err| format!("a bad line ({err}): {line:?}")),
        )
    }

    /// Whether the name arrived as `sent`; if not, what went wrong, in words, for `host`.
    pub fn check(&self, sent: &str, host: &str) -> Result<(), String> {
        if self.0 == sent {
            return Ok(());
        }
        Err(format!(
            "host `{host}` received the name {sent:?} as {:?}: its launcher passed the command through a shell \
             that split or expanded it (set `shell = true` on the host, so the harness quotes every argument)",
            self.0
        ))
    }
}

/// What `harness load --announce-window` prints as its measured window opens: the sweep that
/// runs the load on another host samples the server then.
pub const WINDOW_OPEN: &str = "window open";

/// Whether `line` is [`WINDOW_OPEN`].
pub fn is_window_open(line: &str) -> bool {
    line.trim_end() == WINDOW_OPEN
}

/// What `harness sample PGID` prints: the group's spending so far, and the TCP counters of
/// its host's network namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    pub cpu_ns: u64,
    pub rss_kib: u64,
    pub threads: u64,
    pub processes: u64,
    /// Open descriptors of the group (`None`: not readable there, or an older harness).
    #[serde(default)]
    pub fds: Option<u64>,
    #[serde(default)]
    pub tcp: Option<TcpCounters>,
    /// The kernel's memory for TCP sockets on the host, bytes.
    #[serde(default)]
    pub socket_bytes: Option<u64>,
}

impl Sample {
    pub fn of(sample: &GroupSample) -> Sample {
        Sample {
            cpu_ns: u64::try_from(sample.cpu.as_nanos()).unwrap_or(u64::MAX),
            rss_kib: sample.rss_kib,
            threads: sample.threads,
            processes: sample.processes,
            fds: sample.fds,
            tcp: sample.tcp,
            socket_bytes: sample.socket_bytes,
        }
    }

    /// The reading as if taken `at` (on the host, somewhere between asking and answering).
    pub fn at(self, at: Instant) -> GroupSample {
        GroupSample {
            at,
            cpu: Duration::from_nanos(self.cpu_ns),
            rss_kib: self.rss_kib,
            threads: self.threads,
            processes: self.processes,
            fds: self.fds,
            tcp: self.tcp,
            mechanics: None,
            socket_bytes: self.socket_bytes,
        }
    }
}

/// What `harness awake` prints once it keeps the CPUs awake: how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Awake(pub String);

impl Awake {
    const PREFIX: &'static str = "awake: ";

    pub fn line(&self) -> String {
        format!("{}{}", Self::PREFIX, self.0)
    }

    pub fn parse(line: &str) -> Option<Awake> {
        line.trim_end().strip_prefix(Self::PREFIX).map(|how| Awake(how.to_owned()))
    }
}

/// What `harness load --report` prints when its run is over: the run itself, exactly as a run
/// on this machine returns it, so merging hosts loses nothing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadReport {
    pub load: LoadResult,
    /// The name the load was started with (`--name`: its host's), as it arrived (see [`Named`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// What `harness verify` prints when the answer passes: its notes (what deviates from HTTP).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Verified(pub Vec<String>);

/// One JSON message as one line.
pub fn line<T: Serialize>(message: &T) -> String {
    // The messages are plain data (numbers, strings, encoded histograms): they always serialize.
    serde_json::to_string(message).unwrap_or_else(|err| format!("{{\"error\":\"{err}\"}}"))
}

/// Reads a JSON message that `what` printed, saying what it was when it does not parse.
pub fn parse<T: for<'de> Deserialize<'de>>(text: &str, what: &str) -> Result<T, String> {
    serde_json::from_str(text.trim()).map_err(|err| {
        let shown: String = text.trim().chars().take(120).collect();
        format!("{what} printed something that is not its message ({err}): {shown:?}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_group_lines() {
        assert_eq!(ProcessGroup(42).line(), "process group 42");
        assert_eq!(ProcessGroup::parse("process group 42\n"), Some(Ok(ProcessGroup(42))));
        assert!(matches!(ProcessGroup::parse("process group 0"), Some(Err(_))));
        assert!(matches!(ProcessGroup::parse("process group x"), Some(Err(_))));
        assert_eq!(ProcessGroup::parse("listening on http://127.0.0.1:1"), None);
    }

    /// A load host's whole result crosses: the counts that have no column in a results cell
    /// (bytes after bodies, unclosed, abandoned, held) and the histograms, exactly.
    #[test]
    fn a_load_report_crosses_whole() {
        let mut load = LoadResult::empty();
        load.complete = 90;
        load.extra_bytes = 4 * 90;
        load.unclosed = 3;
        load.abandoned = 2;
        load.retried = 4;
        load.held = 1000;
        load.closed_while_idle = 5;
        load.elapsed = Duration::from_millis(1234);
        load.cut = Some(crate::load::Cut::Deadline);
        load.cpus_in_force = vec![1, 3];
        for ns in [1_000, 2_000, 9_000_000] {
            load.latencies.total.record(ns).unwrap();
        }
        let sent = line(&LoadReport { load: load.clone(), name: Some("cli \"2\"; $(x)".into()) });
        assert!(!sent.contains('\n'), "one line");
        let back: LoadReport = parse(&sent, "harness load").unwrap();
        assert_eq!(back.name.as_deref(), Some("cli \"2\"; $(x)"));
        let back = back.load;
        assert_eq!(
            (
                back.complete,
                back.extra_bytes,
                back.unclosed,
                back.abandoned,
                back.held,
                back.closed_while_idle,
                back.retried
            ),
            (90, 360, 3, 2, 1000, 5, 4)
        );
        assert_eq!(
            (back.elapsed, back.cut, back.cpus_in_force),
            (load.elapsed, load.cut, load.cpus_in_force)
        );
        assert_eq!(back.latencies.total, load.latencies.total);
        let garbage = parse::<LoadReport>("Error: oops", "harness load on host `cli`").unwrap_err();
        assert!(garbage.contains("host `cli`") && garbage.contains("oops"), "{garbage}");
    }

    /// A name crosses as one JSON line whatever it holds, and a mangled one is caught.
    #[test]
    fn names_cross_whole() {
        let name = "tok io \"q\" it's; $(touch x)\nsecond line";
        let sent = Named(name.into()).line();
        assert_eq!(sent.lines().count(), 1, "{sent}");
        assert_eq!(Named::parse(&format!("{sent}\n")), Some(Ok(Named(name.into()))));
        assert_eq!(Named::parse("process group 4"), None);
        assert!(matches!(Named::parse("name tokio"), Some(Err(_))), "not JSON");
        assert!(Named(name.into()).check(name, "srv").is_ok());
        let mangled = Named("tok".into()).check(name, "srv").unwrap_err();
        assert!(mangled.contains("host `srv`") && mangled.contains("shell = true"), "{mangled}");
    }

    #[test]
    fn samples_cross() {
        let tcp = Some(TcpCounters { listen_overflows: 2, ..TcpCounters::default() });
        let sample = Sample {
            cpu_ns: 12_345,
            rss_kib: 4096,
            threads: 3,
            processes: 1,
            fds: Some(9),
            tcp,
            socket_bytes: Some(9),
        };
        let back: Sample = parse(&line(&sample), "harness sample").unwrap();
        assert_eq!(back, sample);
        let at = Instant::now();
        assert_eq!(Sample::of(&back.at(at)), sample);
        let older: Sample =
            parse(r#"{"cpu_ns":1,"rss_kib":2,"threads":3,"processes":4}"#, "an older harness").unwrap();
        assert_eq!((older.tcp, older.fds), (None, None), "a host running an older harness still answers");
        assert_eq!(Awake::parse("awake: spinning\n"), Some(Awake("spinning".into())));
        assert_eq!(Awake::parse(&Awake("x".into()).line()), Some(Awake("x".into())));
    }
}
