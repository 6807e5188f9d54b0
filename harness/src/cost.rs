//! What a process group costs: CPU time, resident memory and threads, read from `/proc`.
//!
//! A server is its whole process group (the harness starts each in its own): nginx's forked
//! workers and a `sh -c` wrapper's child count. For each member the CPU time is its process
//! CPU clock (`clock_getcpuclockid`), which sums every thread it ever had — live and exited —
//! in nanoseconds; the clock ticks of `/proc/PID/stat` (10 ms) would be too coarse for a run
//! of a few tens of milliseconds. To that are added the times of its children it has reaped
//! (`cutime` + `cstime` of `/proc/PID/stat`), so a member that exits and is reaped inside the
//! group keeps counting. Summing `/proc/PID/task/*` instead would miss threads that already
//! exited and report almost nothing for thread-per-connection.

use std::io;
use std::time::{Duration, Instant};

use crate::machine::tcp::TcpCounters;
use crate::mechanics::Tally;

/// One reading of a process group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSample {
    pub at: Instant,
    /// CPU time of every member, with the children each has reaped.
    pub cpu: Duration,
    /// Resident memory of every member (the sum of their `VmRSS`), KiB.
    pub rss_kib: u64,
    pub threads: u64,
    pub processes: u64,
    /// Open file descriptors of every member (sockets included): `None` when a member's
    /// `/proc/PID/fd` cannot be read (another user's process, without root).
    pub fds: Option<u64>,
    /// The TCP counters of the network namespace the group was read in (its host's): what a
    /// run did to the kernel's listen queues and retransmissions is their difference.
    pub tcp: Option<TcpCounters>,
    /// The group's system calls, context switches and migrations so far, where they are
    /// counted (see [`crate::mechanics`]).
    pub mechanics: Option<Tally>,
    /// The kernel's memory for TCP sockets on the group's host, bytes (see
    /// [`crate::machine::sockets`]): every socket there, the group's and others'.
    pub socket_bytes: Option<u64>,
}

/// Reads every process whose process group is `pgid`. Fails if there is none.
pub fn sample_group(pgid: i32) -> io::Result<GroupSample> {
    sample_of(group(pgid)?, || format!("no process in group {pgid}"))
}

/// Reads process `pid` alone (a server started by hand, which shares its group with the
/// shell's other jobs). Fails if it is gone.
pub fn sample_process(pid: i32) -> io::Result<GroupSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let fields = Stat::parse(&stat)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("/proc/{pid}/stat: unreadable")))?;
    sample_of(vec![(pid, fields)], || format!("no process {pid}"))
}

/// One reading of `members`; `none` says what is missing when there are none.
fn sample_of(members: Vec<(i32, Stat)>, none: impl Fn() -> String) -> io::Result<GroupSample> {
    let at = Instant::now();
    let tcp = TcpCounters::read().ok();
    let socket_bytes = crate::machine::sockets::socket_bytes().ok();
    let mut sample = GroupSample {
        at,
        cpu: Duration::ZERO,
        rss_kib: 0,
        threads: 0,
        processes: 0,
        fds: Some(0),
        tcp,
        mechanics: None,
        socket_bytes,
    };
    let page_kib = page_size() / 1024;
    for (pid, fields) in members {
        let own = process_cpu_time(pid).unwrap_or_else(|| ticks(fields.utime + fields.stime));
        sample.cpu += own + ticks(fields.cutime + fields.cstime);
        sample.rss_kib += fields.rss_pages * page_kib;
        sample.threads += fields.threads;
        sample.processes += 1;
        match open_descriptors(pid) {
            Some(own) => sample.fds = sample.fds.map(|all| all + own),
            // A member that exited since it was listed holds none.
            None if !std::path::Path::new(&format!("/proc/{pid}")).exists() => {}
            None => sample.fds = None,
        }
    }
    if sample.processes == 0 {
        return Err(io::Error::new(io::ErrorKind::NotFound, none()));
    }
    Ok(sample)
}

/// What one process holds: resident memory and open descriptors (for the harness itself
/// over a long run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    pub rss_kib: u64,
    pub fds: u64,
}

/// The footprint of process `pid`, if it can be read.
pub fn footprint(pid: i32) -> Option<Footprint> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields = Stat::parse(&stat)?;
    Some(Footprint { rss_kib: fields.rss_pages * (page_size() / 1024), fds: open_descriptors(pid)? })
}

/// The harness's own footprint.
pub fn own_footprint() -> Option<Footprint> {
    footprint(i32::try_from(std::process::id()).ok()?)
}

/// How many descriptors process `pid` has open (`/proc/PID/fd`).
fn open_descriptors(pid: i32) -> Option<u64> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64)
}

/// The processes whose parent is `pid` (a wrapper's children: `sh -c`, `taskset` in a
/// backgrounded list).
pub fn children(pid: i32) -> Vec<i32> {
    processes().into_iter().filter(|(_, stat)| stat.ppid == pid).map(|(child, _)| child).collect()
}

/// The processes of group `pgid`.
pub fn group_members(pgid: i32) -> Vec<i32> {
    group(pgid).map(|members| members.into_iter().map(|(pid, _)| pid).collect()).unwrap_or_default()
}

/// Every process of group `pgid`, with its stat fields.
fn group(pgid: i32) -> io::Result<Vec<(i32, Stat)>> {
    // Group 0 holds the kernel's threads: never a server.
    if pgid <= 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("no process group {pgid}")));
    }
    std::fs::metadata("/proc")?;
    Ok(processes().into_iter().filter(|(_, stat)| stat.pgrp == pgid).collect())
}

/// Every process there is, with its stat fields.
fn processes() -> Vec<(i32, Stat)> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|entry| {
            let pid = entry.ok()?.file_name().to_str()?.parse::<i32>().ok()?;
            // A process may exit between listing and reading: skip it.
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            Some((pid, Stat::parse(&stat)?))
        })
        .collect()
}

/// The fields of `/proc/PID/stat` this module reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    ppid: i32,
    pgrp: i32,
    utime: u64,
    stime: u64,
    cutime: u64,
    cstime: u64,
    threads: u64,
    rss_pages: u64,
}

impl Stat {
    /// Parses a stat line. The command name (field 2) may hold spaces and parentheses, so
    /// fields are counted from the last `)`.
    fn parse(line: &str) -> Option<Stat> {
        let rest = &line[line.rfind(')')? + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // `rest` starts at field 3 (state): field N is fields[N - 3].
        let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<i64>().ok());
        Some(Stat {
            ppid: i32::try_from(field(4)?).ok()?,
            pgrp: i32::try_from(field(5)?).ok()?,
            utime: u64::try_from(field(14)?).ok()?,
            stime: u64::try_from(field(15)?).ok()?,
            cutime: u64::try_from(field(16)?).unwrap_or(0),
            cstime: u64::try_from(field(17)?).unwrap_or(0),
            threads: u64::try_from(field(20)?).ok()?,
            rss_pages: u64::try_from(field(24)?).unwrap_or(0),
        })
    }
}

/// The CPU time of process `pid` (all its threads, live and exited), in nanoseconds.
fn process_cpu_time(pid: i32) -> Option<Duration> {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: clock_getcpuclockid writes one clockid_t into `clock`.
    if unsafe { libc::clock_getcpuclockid(pid, &mut clock) } != 0 {
        return None;
    }
    read_clock(clock)
}

/// CPU time of the calling thread so far.
pub fn thread_cpu_time() -> Duration {
    read_clock(libc::CLOCK_THREAD_CPUTIME_ID).unwrap_or_default()
}

fn read_clock(clock: libc::clockid_t) -> Option<Duration> {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec into `now`.
    if unsafe { libc::clock_gettime(clock, &mut now) } != 0 {
        return None;
    }
    Some(Duration::new(u64::try_from(now.tv_sec).ok()?, u32::try_from(now.tv_nsec).ok()?))
}

/// Clock ticks (`/proc/PID/stat` times) as a duration.
fn ticks(ticks: u64) -> Duration {
    // SAFETY: sysconf has no memory-safety preconditions.
    let per_second = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).unwrap_or(100).max(1);
    Duration::from_nanos(ticks.saturating_mul(1_000_000_000) / per_second)
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096)
}

/// What a process group spent between two samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Spent {
    pub cpu: Duration,
    pub wall: Duration,
    /// At the end of the window.
    pub rss_kib: u64,
    pub threads: u64,
    /// System calls, context switches and migrations over the window, where counted.
    pub mechanics: Option<Tally>,
}

impl Spent {
    pub fn between(before: &GroupSample, after: &GroupSample) -> Spent {
        Spent {
            cpu: after.cpu.saturating_sub(before.cpu),
            wall: after.at.saturating_duration_since(before.at),
            rss_kib: after.rss_kib,
            threads: after.threads,
            mechanics: after.mechanics.as_ref().zip(before.mechanics.as_ref()).map(|(a, b)| a.since(b)),
        }
    }

    /// CPU microseconds per request.
    pub fn cpu_us_per_request(&self, requests: u64) -> Option<f64> {
        (requests > 0).then(|| self.cpu.as_secs_f64() * 1e6 / requests as f64)
    }

    /// CPU seconds per wall second per CPU: 1.0 is every CPU busy the whole window.
    pub fn utilization(&self, cpus: usize) -> Option<f64> {
        utilization(self.cpu, self.wall, cpus)
    }
}

/// `cpu` spent over `wall` on `cpus` CPUs, as a share of all they could give (1.0: busy
/// throughout); `None` when there was no time or no CPU.
pub fn utilization(cpu: Duration, wall: Duration, cpus: usize) -> Option<f64> {
    let wall = wall.as_secs_f64();
    (wall > 0.0 && cpus > 0).then(|| cpu.as_secs_f64() / wall / cpus as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_lines_with_awkward_names() {
        let line = "4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 17 3 2 1 20 0 7 0 123 456789 321 18446744073709551615";
        let stat = Stat::parse(line).unwrap();
        assert_eq!(
            stat,
            Stat {
                ppid: 1,
                pgrp: 4242,
                utime: 17,
                stime: 3,
                cutime: 2,
                cstime: 1,
                threads: 7,
                rss_pages: 321
            }
        );
    }

    #[test]
    fn a_child_is_found_by_its_parent() {
        let mut child = std::process::Command::new("sleep").arg("5").spawn().expect("sleep runs");
        let me = i32::try_from(std::process::id()).expect("a pid");
        let found = children(me).contains(&i32::try_from(child.id()).expect("a pid"));
        let _ = child.kill();
        let _ = child.wait();
        assert!(found, "{:?}", children(me));
    }

    #[test]
    fn own_group_is_sampled() {
        // SAFETY: getpgrp has no preconditions.
        let pgid = unsafe { libc::getpgrp() };
        let sample = sample_group(pgid).unwrap();
        assert!(sample.processes >= 1 && sample.threads >= 1 && sample.rss_kib > 0, "{sample:?}");
        // Our own descriptors: at least stdin, stdout, stderr, and the one opened here.
        let file = std::fs::File::open("/proc/self/stat").unwrap();
        let own = footprint(i32::try_from(std::process::id()).unwrap()).unwrap();
        assert!(own.fds >= 4 && own.rss_kib > 0, "{own:?}");
        drop(file);
        assert!(sample.fds.is_some_and(|fds| fds >= 3), "{sample:?}");
        assert!(sample_group(i32::MAX).is_err(), "an empty group is an error");
    }

    #[test]
    fn rates() {
        let spent = Spent {
            cpu: Duration::from_millis(10),
            wall: Duration::from_millis(20),
            rss_kib: 1,
            threads: 1,
            mechanics: None,
        };
        assert_eq!(spent.cpu_us_per_request(1000), Some(10.0));
        assert_eq!(spent.cpu_us_per_request(0), None);
        assert_eq!(spent.utilization(1), Some(0.5));
        assert_eq!(spent.utilization(2), Some(0.25));
    }
}
