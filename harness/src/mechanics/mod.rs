//! Why a request costs what it does: the system calls a server makes for it, in all and by
//! name, its context switches (voluntary: it blocked; involuntary: it was preempted, or
//! yielded) and its CPU migrations — per request, beside its CPU time. Counted by the kernel's
//! perf events ([`perf`]) on the server's first process before it runs (so every thread and
//! child it starts is counted, exited ones included, as its CPU is) and on each load thread.
//!
//! smol's extra reactor calls (`timerfd_settime`, `epoll_ctl`, the eventfd `read`), tokio-uring's
//! two waits a turn (`epoll_wait` on the ring's fd, then `io_uring_enter`) and glommio's plain
//! `recvfrom`/`sendto` beside its rings read off these counts.

pub mod perf;

use serde::{Deserialize, Serialize};

use perf::{Counter, Event, Scope};

/// The system calls counted by name: those an HTTP server's loop makes per request or per turn
/// (I/O, waiting, waking, timers), and the few that show a model's overhead (threads,
/// memory, signals). Each is one tracepoint counter; every other call is in the total only.
/// Kept short on purpose: every counter is inherited by every thread the server starts, and
/// the kernel switches each one in and out with its thread.
pub const BY_NAME: [&str; 24] = [
    "read",
    "write",
    "readv",
    "writev",
    "recvfrom",
    "sendto",
    "recvmsg",
    "sendmsg",
    "epoll_wait",
    "epoll_pwait",
    "epoll_ctl",
    "io_uring_enter",
    "accept4",
    "close",
    "shutdown",
    "setsockopt",
    "futex",
    "timerfd_settime",
    "poll",
    "ppoll",
    "sched_yield",
    "clock_nanosleep",
    "clone3",
    "mmap",
];

/// A preempted task's `prev_state` in `sched:sched_switch` (`TASK_REPORT_MAX`, shown as
/// `R+`), or a task that yielded (`R`): what the kernel counts as involuntary.
const INVOLUNTARY: &str = "prev_state == 0 || prev_state == 256";

/// The counters of one server (or load thread).
#[derive(Debug)]
pub struct Counters {
    syscalls: Counter,
    by_name: Vec<(&'static str, Counter)>,
    switches: Counter,
    involuntary: Counter,
    migrations: Counter,
}

/// The counts at one moment, or between two (a load host sends its load threads').
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Tally {
    pub syscalls: u64,
    pub by_name: Vec<(String, u64)>,
    pub switches: u64,
    pub involuntary: u64,
    pub migrations: u64,
}

impl Counters {
    /// Counts task `pid` and everything it starts from now on. Open them before it starts
    /// anything (see `harness gate`), or its earlier threads are missed.
    pub fn inherited(pid: i32) -> Result<Counters, String> {
        Counters::open(Scope::Inherited(pid))
    }

    /// Counts the calling thread.
    pub fn this_thread() -> Result<Counters, String> {
        Counters::open(Scope::ThisThread)
    }

    fn open(scope: Scope) -> Result<Counters, String> {
        let open = |event: Event| Counter::open(&event, scope).map_err(|err| unavailable(&event, &err));
        let tracepoint = |group, name: &str| Event::Tracepoint { group, name: name.to_owned(), filter: None };
        Ok(Counters {
            syscalls: open(tracepoint("raw_syscalls", "sys_enter"))?,
            by_name: BY_NAME
                .iter()
                .filter_map(|name| {
                    // A call this kernel has no tracepoint for (an old one, another arch) is left out.
                    Counter::open(&tracepoint("syscalls", &format!("sys_enter_{name}")), scope)
                        .ok()
                        .map(|counter| (*name, counter))
                })
                .collect(),
            switches: open(Event::CONTEXT_SWITCHES)?,
            involuntary: open(Event::Tracepoint {
                group: "sched",
                name: "sched_switch".into(),
                filter: Some(INVOLUNTARY),
            })?,
            migrations: open(Event::CPU_MIGRATIONS)?,
        })
    }

    /// The counts so far.
    pub fn read(&self) -> Option<Tally> {
        Some(Tally {
            syscalls: self.syscalls.read().ok()?,
            by_name: self
                .by_name
                .iter()
                .filter_map(|(name, c)| Some(((*name).to_owned(), c.read().ok()?)))
                .collect(),
            switches: self.switches.read().ok()?,
            involuntary: self.involuntary.read().ok()?,
            migrations: self.migrations.read().ok()?,
        })
    }
}

/// The counters of a process that is already running (a server started by hand): a set on
/// each of its threads, each inherited by whatever that thread starts from then on. Threads
/// that exited before are not counted; a thread started while the sets open is caught by
/// listing the threads again until no new one appears.
#[derive(Debug)]
pub struct Attached {
    threads: Vec<(i32, Counters)>,
}

impl Attached {
    /// Counts every thread of process `pid` from now on.
    pub fn to(pid: i32) -> Result<Attached, String> {
        let mut threads: Vec<(i32, Counters)> = Vec::new();
        // Bounded: a process that starts threads faster than they can be counted is counted
        // as far as the last listing, and the caller is told nothing is missing only if the
        // listing settled.
        for _ in 0..8 {
            let tids =
                task_ids(pid).map_err(|err| format!("cannot list the threads of process {pid}: {err}"))?;
            let new: Vec<i32> =
                tids.into_iter().filter(|tid| threads.iter().all(|(t, _)| t != tid)).collect();
            if new.is_empty() {
                return Ok(Attached { threads });
            }
            for tid in new {
                match Counters::inherited(tid) {
                    Ok(counters) => threads.push((tid, counters)),
                    // A thread that exited between listing and opening has nothing to count.
                    Err(_) if !std::path::Path::new(&format!("/proc/{pid}/task/{tid}")).exists() => {}
                    Err(err) => return Err(err),
                }
            }
        }
        Err(format!("process {pid} kept starting threads while its counters were opened"))
    }

    /// Counts every thread of each of `pids` (a server's process group) from now on.
    pub fn to_all(pids: impl IntoIterator<Item = i32>) -> Result<Attached, String> {
        let mut all = Attached { threads: Vec::new() };
        for pid in pids {
            all.threads.extend(Attached::to(pid)?.threads);
        }
        Ok(all)
    }

    /// The counts so far, every thread's summed (threads that exited since keep theirs).
    pub fn read(&self) -> Option<Tally> {
        let mut sum = Tally::default();
        for (_, counters) in &self.threads {
            sum.add(&counters.read()?);
        }
        Some(sum)
    }
}

/// The threads of process `pid` now.
fn task_ids(pid: i32) -> std::io::Result<Vec<i32>> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/task"))?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect())
}

/// Why counting is not possible here, in one line.
fn unavailable(event: &Event, err: &std::io::Error) -> String {
    let what = match event {
        Event::Tracepoint { group, name, .. } => format!("tracepoint {group}:{name}"),
        Event::Software(_) => "a software event".to_owned(),
    };
    let hint = match err.raw_os_error() {
        Some(libc::EACCES | libc::EPERM) => {
            "; run as root, or lower kernel.perf_event_paranoid (sysctl -w kernel.perf_event_paranoid=1)"
        }
        Some(libc::ENOENT) | None => "; is tracefs mounted (/sys/kernel/tracing)?",
        Some(libc::ENOSYS) => "; this kernel has no perf events",
        _ => "",
    };
    format!("cannot count {what} with perf events ({err}){hint}")
}

impl Tally {
    /// What happened between `before` and this tally.
    pub fn since(&self, before: &Tally) -> Tally {
        Tally {
            syscalls: self.syscalls.saturating_sub(before.syscalls),
            by_name: self
                .by_name
                .iter()
                .map(|(name, n)| {
                    let was = before.by_name.iter().find(|(b, _)| b == name).map_or(0, |(_, n)| *n);
                    (name.clone(), n.saturating_sub(was))
                })
                .collect(),
            switches: self.switches.saturating_sub(before.switches),
            involuntary: self.involuntary.saturating_sub(before.involuntary),
            migrations: self.migrations.saturating_sub(before.migrations),
        }
    }

    /// Adds another's counts (load threads, load hosts).
    pub fn add(&mut self, other: &Tally) {
        self.syscalls += other.syscalls;
        for (name, n) in &other.by_name {
            match self.by_name.iter_mut().find(|(mine, _)| mine == name) {
                Some((_, mine)) => *mine += n,
                None => self.by_name.push((name.clone(), *n)),
            }
        }
        self.switches += other.switches;
        self.involuntary += other.involuntary;
        self.migrations += other.migrations;
    }
}

/// How many system calls of the top ones a cell names.
pub const TOP: usize = 5;

/// A run's mechanics per request, as `results.json` keeps them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mechanics {
    /// System calls per complete request, every kind.
    pub syscalls_per_request: f64,
    /// The most frequent of the calls counted by name, per request, most first.
    pub top_syscalls: Vec<NamedRate>,
    /// Context switches where it blocked (waiting for I/O, a lock, a timer), per request.
    pub voluntary_switches_per_request: f64,
    /// Context switches where it was preempted (or yielded), per request.
    pub involuntary_switches_per_request: f64,
    /// Moves from one CPU to another, per request.
    pub migrations_per_request: f64,
}

/// A system call's name and its calls per request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedRate {
    pub name: String,
    pub per_request: f64,
}

impl Mechanics {
    /// `tally` over `requests` complete requests; `None` without any.
    pub fn of(tally: &Tally, requests: u64) -> Option<Mechanics> {
        if requests == 0 {
            return None;
        }
        let per = |n: u64| n as f64 / requests as f64;
        let mut named: Vec<&(String, u64)> = tally.by_name.iter().filter(|(_, n)| *n > 0).collect();
        named.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        Some(Mechanics {
            syscalls_per_request: per(tally.syscalls),
            top_syscalls: named
                .iter()
                .take(TOP)
                .map(|(name, n)| NamedRate { name: name.clone(), per_request: per(*n) })
                .collect(),
            voluntary_switches_per_request: per(tally.switches.saturating_sub(tally.involuntary)),
            involuntary_switches_per_request: per(tally.involuntary),
            migrations_per_request: per(tally.migrations),
        })
    }

    /// Context switches of either kind, per request.
    pub fn switches_per_request(&self) -> f64 {
        self.voluntary_switches_per_request + self.involuntary_switches_per_request
    }

    /// The top calls in words: `epoll_wait 0.41, recvfrom 1.00, …`.
    pub fn top_in_words(&self) -> String {
        self.top_syscalls
            .iter()
            .map(|c| format!("{} {:.2}", c.name, c.per_request))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_request_and_the_top_five() {
        let before = Tally {
            syscalls: 100,
            by_name: vec![("read".into(), 10), ("write".into(), 10), ("futex".into(), 0)],
            switches: 5,
            involuntary: 1,
            migrations: 0,
        };
        let after = Tally {
            syscalls: 400,
            by_name: vec![("read".into(), 110), ("write".into(), 210), ("futex".into(), 5)],
            switches: 105,
            involuntary: 21,
            migrations: 2,
        };
        let spent = after.since(&before);
        let mechanics = Mechanics::of(&spent, 100).expect("requests");
        assert_eq!(mechanics.syscalls_per_request, 3.0);
        assert_eq!(mechanics.top_in_words(), "write 2.00, read 1.00, futex 0.05");
        assert_eq!(mechanics.voluntary_switches_per_request, 0.8);
        assert_eq!(mechanics.involuntary_switches_per_request, 0.2);
        assert!((mechanics.switches_per_request() - 1.0).abs() < 1e-12);
        assert_eq!(Mechanics::of(&spent, 0), None);
        let mut both = spent.clone();
        both.add(&spent);
        assert_eq!(both.syscalls, 600);
    }

    /// The calling thread's own counters see its system calls and its sleeps.
    #[test]
    fn counts_a_thread_for_real() {
        let counters = match Counters::this_thread() {
            Ok(counters) => counters,
            Err(why) => return eprintln!("{why}"),
        };
        let before = counters.read().expect("a tally");
        for _ in 0..50 {
            std::thread::sleep(std::time::Duration::from_micros(200));
            let _ = std::fs::metadata("/proc/self");
        }
        let spent = counters.read().expect("a tally").since(&before);
        assert!(spent.syscalls >= 100, "{spent:?}");
        assert!(spent.switches >= 50, "each sleep blocks: {spent:?}");
        assert!(spent.switches - spent.involuntary >= 50, "and is voluntary: {spent:?}");
        let sleeps = spent.by_name.iter().find(|(name, _)| *name == "clock_nanosleep").map(|(_, n)| *n);
        assert_eq!(sleeps, Some(50), "{spent:?}");
    }

    /// A process already running, counted from outside: a shell loop's `sleep`s are its
    /// children, started after the counters opened, and their calls count too.
    #[test]
    fn counts_a_running_process_and_what_it_starts() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "while :; do sleep 0.01; done"])
            .spawn()
            .expect("sh runs");
        let pid = i32::try_from(child.id()).expect("a pid");
        let attached = match Attached::to(pid) {
            Ok(attached) => attached,
            Err(why) => {
                let _ = child.kill();
                let _ = child.wait();
                return eprintln!("{why}");
            }
        };
        let before = attached.read().expect("a tally");
        std::thread::sleep(std::time::Duration::from_millis(300));
        let spent = attached.read().expect("a tally").since(&before);
        let _ = child.kill();
        let _ = child.wait();
        // Each round: the shell forks, the child execs sleep and sleeps; dozens of rounds.
        let sleeps = spent.by_name.iter().find(|(name, _)| *name == "clock_nanosleep").map_or(0, |(_, n)| *n);
        assert!(sleeps >= 5, "the children's sleeps are counted: {spent:?}");
        assert!(spent.switches >= 5, "{spent:?}");
        assert!(Attached::to(i32::MAX).is_err(), "no such process");
    }
}
