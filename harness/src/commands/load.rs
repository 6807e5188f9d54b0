//! `harness load URL`: one run (ab-style closed loop, or an open loop with `--rate`) against
//! a server on loopback or a declared host, printed with the same tables as the sweep (or as
//! one results cell in JSON). Exit 1 when any request failed.

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use server_spec::default_duration;

use super::exit;
use crate::cost::{sample_process, GroupSample, Spent};
use crate::hosts::protocol;
use crate::load::{Job, Shape, Stop};
use crate::machine::idle::CpuIdle;
use crate::machine::tcp::TcpCounters;
use crate::mechanics::Attached;
use crate::plan::defaults;
use crate::results::summarize::Point;
use crate::results::{summarize, Cell, MeasuredRun, Mode, Status};

/// `harness load`'s arguments. Defaults are the matrix's ([`defaults`]).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// `http://127.0.0.1:PORT/path` (loopback only).
    pub url: String,
    /// Requests to complete (closed loop; an open loop runs for --duration).
    #[arg(short = 'n', long, default_value_t = defaults::REQUESTS, conflicts_with = "rate",
          value_parser = at_least_one::<u64>)]
    pub requests: u64,
    /// Connections at once; with --rate, the pool the rate is spread over (as --connections).
    #[arg(short = 'c', long, default_value_t = defaults::LOAD_CONCURRENCY, conflicts_with = "connections",
          value_parser = at_least_one::<usize>)]
    pub concurrency: usize,
    /// Whether `-c` was given (not its default): with --rate it then sets the pool.
    #[arg(skip)]
    pub concurrency_given: bool,
    /// Persistent HTTP/1.1 connections (default: a new HTTP/1.0 connection per request).
    #[arg(short = 'k', long)]
    pub keep_alive: bool,
    /// CPUs to run load threads on, one thread each (e.g. `1` or `2,3`).
    #[arg(long, value_delimiter = ',')]
    pub cpus: Vec<usize>,
    /// Per-request timeout.
    #[arg(long, default_value = default_duration!(defaults::TIMEOUT), value_parser = server_spec::cli::parse_timeout)]
    pub timeout: Duration,
    /// Open loop: offer this many requests per second (on a schedule, wrk2-style) instead of
    /// a closed loop; latency counts from each request's intended send time.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Open loop: measured time, after the warm-up.
    #[arg(long, default_value = default_duration!(defaults::DURATION), value_parser = server_spec::cli::parse_timeout)]
    pub duration: Duration,
    /// Open loop: time on the same schedule before measuring, not recorded.
    #[arg(long, default_value = default_duration!(defaults::WARMUP_TIME), value_parser = server_spec::cli::parse_duration)]
    pub warmup_time: Duration,
    /// Open loop: the connections the rate is spread over (`-c` says the same).
    #[arg(long, default_value_t = defaults::OPEN_CONNECTIONS, requires = "rate", value_parser = at_least_one::<usize>)]
    pub connections: usize,
    /// Keep the run's figures per interval of this length too (rate, p99, failures over time;
    /// shown as a table once the run lasts two intervals).
    #[arg(long, default_value = default_duration!(defaults::INTERVAL), value_parser = server_spec::cli::parse_timeout)]
    pub interval: Duration,
    /// Print the run as a results cell in JSON (histograms encoded) instead of the tables.
    #[arg(long)]
    pub json: bool,
    /// Hard bound on the run: what is still open then fails as timeouts.
    #[arg(long, default_value = default_duration!(defaults::MAX_RUN_TIME), value_parser = server_spec::cli::parse_timeout)]
    pub max_run_time: Duration,
    /// Stop (as on Ctrl-C) when standard input closes: load started through a launcher ends
    /// with its launcher.
    #[arg(long)]
    pub lifeline: bool,
    /// Print a line (`window open`) to standard output as the measured window opens, before
    /// the results: the sweep that runs this load on another host samples the server then.
    #[arg(long)]
    pub announce_window: bool,
    /// Print the whole run as one line of the hosts' protocol (what a sweep reads back from a
    /// load host) instead of the tables.
    #[arg(long, hide = true)]
    pub report: bool,
    /// With --report: the name this load was started with (its host's), said back in the
    /// report, so the sweep sees it arrived whole.
    #[arg(long, hide = true, requires = "report")]
    pub name: Option<String>,
    /// Addresses besides loopback that load may go to: the hosts a matrix declares. Load never
    /// goes anywhere else.
    #[arg(long = "declared-host", value_delimiter = ',')]
    pub declared_hosts: Vec<std::net::IpAddr>,
    /// Requests each keep-alive connection writes at once before reading their answers
    /// (HTTP/1.1 pipelining); needs -k and a closed loop.
    #[arg(long, default_value_t = defaults::PIPELINE, value_parser = at_least_one::<usize>, requires = "keep_alive", conflicts_with = "rate")]
    pub pipeline: usize,
    /// A request mix instead of the URL's path: `PATH=WEIGHT,…` (e.g. `/=99,/work/1000=1`),
    /// each request drawing its path.
    #[arg(long, value_parser = parse_mix)]
    pub mix: Option<Mix>,
    /// Seeds the draw of a mix's paths (a run is reproducible).
    #[arg(long, default_value_t = defaults::SEED)]
    pub seed: u64,
    /// `awake` keeps every CPU of this machine out of its idle states for the run (the
    /// server's, wherever it is pinned, and the load's); `native` lets them sleep.
    #[arg(long, default_value = "native", value_parser = parse_cpu_idle)]
    pub cpu_idle: CpuIdle,
    /// Count the load threads' system calls, context switches and migrations (perf events):
    /// off by default, because every counted system call costs the generator a little, as
    /// `mechanics = true` costs a sweep's servers.
    #[arg(long)]
    pub mechanics: bool,
    /// A server started by hand, read around the run: its CPU per request (every thread,
    /// live or exited) and, with --mechanics, its system calls and context switches per
    /// request (counted on each of its threads, and what they start, from now on).
    #[arg(long, value_name = "PID", conflicts_with = "report")]
    pub server_pid: Option<i32>,
}

/// A server started by hand (`--server-pid`), read as the sweep reads its own.
struct Watched {
    pid: i32,
    counters: Option<Attached>,
}

impl Watched {
    /// Process `pid`, with its mechanics counted if `mechanics` (a warning, and no counts,
    /// where they cannot be); an error if there is no such process.
    fn new(pid: i32, mechanics: bool) -> anyhow::Result<Watched> {
        sample_process(pid)
            .map_err(|err| anyhow::anyhow!("--server-pid {pid}: no process to read ({err})"))?;
        let children = crate::cost::children(pid);
        if !children.is_empty() {
            // `taskset … server &` inside `cd dir && …` backgrounds a shell, not the server.
            eprintln!(
                "warning: process {pid} has child processes ({}); only {pid} itself is read: if the server is a \
                 child (a wrapper or a backgrounded shell list started it), give the child's PID",
                children.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            );
        }
        let counters = mechanics.then(|| Attached::to(pid)).and_then(|attached| {
            attached.map_err(|why| eprintln!("warning: the server's mechanics are not counted: {why}")).ok()
        });
        Ok(Watched { pid, counters })
    }

    fn sample(&self) -> Option<GroupSample> {
        let mut sample = sample_process(self.pid).ok()?;
        sample.mechanics = self.counters.as_ref().and_then(Attached::read);
        Some(sample)
    }
}

/// A request mix as `--mix` gives it: (path, weight) pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mix(pub Vec<(String, u32)>);

/// `PATH=WEIGHT,…`: each path like a request target, each weight a whole number ≥ 1.
fn parse_mix(text: &str) -> Result<Mix, String> {
    let pairs: Result<Vec<(String, u32)>, String> = text
        .split(',')
        .map(|entry| {
            let (path, weight) =
                entry.rsplit_once('=').ok_or_else(|| format!("`{entry}`: give PATH=WEIGHT, e.g. /=99"))?;
            if !path.starts_with('/') || !path.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(format!("`{path}`: a path starts with / and is visible ASCII"));
            }
            let weight: u32 =
                weight.parse().map_err(|_| format!("`{weight}`: a weight is a whole number"))?;
            if weight == 0 {
                return Err(format!("`{entry}`: a weight is at least 1"));
            }
            Ok((path.to_owned(), weight))
        })
        .collect();
    pairs.map(Mix)
}

fn parse_cpu_idle(text: &str) -> Result<CpuIdle, String> {
    CpuIdle::named(text).ok_or_else(|| format!("must be native or awake, not {text:?}"))
}

pub fn run(args: &Args) -> ExitCode {
    let job = match job(args) {
        Ok(job) => job,
        Err(err) => {
            eprintln!("error: {err:#}");
            return ExitCode::from(exit::CONFIG);
        }
    };
    let _awake = match args.cpu_idle {
        CpuIdle::Native => None,
        CpuIdle::Awake => match awake() {
            Ok((keeper, watchdog)) => {
                eprintln!("CPUs kept awake: {}", keeper.how);
                Some((keeper, watchdog))
            }
            Err(why) => {
                eprintln!("warning: the CPUs cannot be kept awake ({why}); the run is native");
                None
            }
        },
    };
    let watched = match args.server_pid.map(|pid| Watched::new(pid, args.mechanics)).transpose() {
        Ok(watched) => watched,
        Err(err) => {
            eprintln!("error: {err:#}");
            return ExitCode::from(exit::CONFIG);
        }
    };
    let started_at = crate::meta::unix_ms();
    // The kernel's TCP counters around the run: a listen queue that overflowed, SYNs
    // retransmitted (on loopback both ends' are here).
    let tcp_before = TcpCounters::read().ok();
    let mut server_before = None;
    let measured = measure(args, &job, &mut || server_before = watched.as_ref().and_then(Watched::sample));
    let load = match measured {
        Ok(load) => load,
        Err(err) => {
            eprintln!("Error: {err:#}");
            return ExitCode::from(exit::FAILURES);
        }
    };
    let server_after = watched.as_ref().and_then(Watched::sample);
    let server = server_before.zip(server_after).map(|(before, after)| Spent::between(&before, &after));
    if watched.is_some() && server.is_none() {
        eprintln!("warning: the server could not be read around the run (did it exit?)");
    }
    let tcp = tcp_before.zip(TcpCounters::read().ok()).map(|(before, after)| after.since(&before));
    let failed = load.failures.total() > 0;
    if args.report {
        println!("{}", protocol::line(&protocol::LoadReport { load, name: args.name.clone() }));
        return ExitCode::from(if failed { exit::FAILURES } else { exit::SUCCESS });
    }
    let cell = cell(args, &job, load, started_at, tcp, server);
    if args.json {
        match serde_json::to_string_pretty(&cell) {
            Ok(json) => println!("{json}"),
            Err(err) => {
                eprintln!("Error: {err}");
                return ExitCode::from(exit::FAILURES);
            }
        }
    } else {
        print!("{}", render(&cell, args));
    }
    if cell.failed_all_runs > 0 {
        eprintln!("{}", failure_summary(&cell, args.timeout));
        return ExitCode::from(exit::FAILURES);
    }
    ExitCode::SUCCESS
}

/// Every CPU of this machine kept awake, by a child tied to this process.
fn awake() -> Result<(crate::target::awake::Keeper, Arc<crate::process::watchdog::Watchdog>), String> {
    let watchdog = Arc::new(crate::process::watchdog::Watchdog::start().map_err(|err| format!("{err:#}"))?);
    let cpus: Vec<usize> = (0..crate::affinity::online_cpus()).collect();
    crate::target::awake::Keeper::here(&cpus, &watchdog).map(|keeper| (keeper, watchdog))
}

/// The run the arguments ask for, or what is wrong with them (bad input: exit 2).
fn job(args: &Args) -> anyhow::Result<Job> {
    let (addr, path) = parse_target_url(&args.url, &args.declared_hosts)?;
    let shape = match args.rate {
        Some(rate) => {
            anyhow::ensure!(rate > 0.0 && rate.is_finite(), "--rate must be more than 0 requests per second");
            // `-c` names the connections in either loop: with --rate, the pool the rate is
            // spread over (as --connections does).
            let connections = if args.concurrency_given { args.concurrency } else { args.connections };
            Shape::Open { rate, connections, warmup: args.warmup_time, duration: args.duration }
        }
        None => Shape::Closed { requests: args.requests, concurrency: args.concurrency },
    };
    Ok(Job {
        addr,
        path,
        shape,
        keep_alive: args.keep_alive,
        timeout: args.timeout,
        max_duration: args.max_run_time,
        cpus: args.cpus.clone(),
        allowed: args.declared_hosts.clone(),
        mechanics: args.mechanics,
        mix: args.mix.clone().map(|mix| mix.0).unwrap_or_default(),
        pipeline: args.pipeline,
        seed: args.seed,
        interval: Some(args.interval),
    })
}

/// Makes the run: Ctrl-C (or, with `--lifeline`, the launcher's end) stops it with what it has.
/// `at_window` is called as the measured window opens.
fn measure(args: &Args, job: &Job, at_window: &mut dyn FnMut()) -> anyhow::Result<crate::load::LoadResult> {
    let interrupt = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, interrupt.clone())?;
    if args.lifeline {
        let flag = interrupt.clone();
        crate::hosts::lifeline(move || interrupt_on_eof(&flag));
    }
    let mut announce = || {
        at_window();
        if args.announce_window {
            use std::io::Write;
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{}", protocol::WINDOW_OPEN);
            let _ = stdout.flush();
        }
    };
    Ok(crate::load::run(job, &Stop::any(&[&interrupt]), &mut announce)?)
}

/// The run as one results cell, as the sweep would summarize it (the server read only when
/// `--server-pid` names it).
fn cell(
    args: &Args,
    job: &Job,
    load: crate::load::LoadResult,
    started_at: u64,
    tcp: Option<TcpCounters>,
    server: Option<Spent>,
) -> Cell {
    let status = Status::of_run(load.cut, false);
    let (mode, rate, requests) = match job.shape {
        Shape::Open { rate, .. } => (Mode::Open, Some(rate), load.scheduled),
        Shape::Closed { requests, .. } | Shape::Scale { requests, .. } => (Mode::Closed, None, requests),
    };
    let point = Point {
        scenario: "load".into(),
        variant: args.url.clone(),
        workers: 0,
        workers_axis: false,
        mode,
        concurrency: job.shape.connections(),
        rate,
        keep_alive: job.keep_alive,
        requests,
        server_cpus: Vec::new(),
        server_cpus_in_force: Vec::new(),
        mix: job.mix.clone(),
    };
    let readings = Vec::new();
    summarize(
        &point,
        &[MeasuredRun {
            load,
            started_at,
            server,
            idle_rss_kib: None,
            idle_kernel_kib: None,
            status,
            tcp,
            readings,
        }],
    )
}

/// ab's classic table and the percentile table (and for an open loop its rate, corrected and
/// uncorrected latency and send lag), as the sweep prints them, plus the failures in words.
fn render(cell: &Cell, args: &Args) -> String {
    let connection = if cell.keep_alive {
        "keep-alive on: persistent HTTP/1.1 connections"
    } else {
        "keep-alive off: a new HTTP/1.0 connection per request, as ab"
    };
    let mut load = match cell.rate {
        Some(rate) => format!("open loop at {rate:.0} requests/s over {} connections", cell.concurrency),
        None => format!("closed loop, {} requests at concurrency {}", cell.requests, cell.concurrency),
    };
    if args.pipeline > 1 {
        load.push_str(&format!(", {} pipelined at a time", args.pipeline));
    }
    let mut out = format!("{}\n{load}; {connection}\n\n", args.url);
    out.push_str(&crate::report::classic_table(&[cell]));
    out.push('\n');
    out.push_str(&crate::report::percentile_table(&[cell]));
    out.push('\n');
    if cell.mode == Mode::Open {
        out.push_str(&crate::report::open_loop_table(&[cell]));
        out.push('\n');
    }
    if !cell.paths.is_empty() {
        out.push_str(&crate::report::paths(&[cell]).markdown());
        out.push('\n');
    }
    if let Some(table) = crate::report::over_time(&[cell]) {
        out.push_str(&table.markdown());
        out.push('\n');
    }
    let failures =
        if cell.failed_all_runs == 0 { String::new() } else { format!(" ({})", cell.failures.in_words()) };
    out.push_str(&format!("Failed requests:        {}{failures}\n", cell.failed_all_runs));
    out.push_str(&format!("Complete requests:      {}\n", cell.complete));
    out.push_str(&format!("Non-2xx responses:      {}\n", cell.non_2xx));
    out.push_str(&format!(
        "Requests per second:    {} [#/sec] (mean)\n",
        cell.requests_per_second.map_or_else(|| "—".to_owned(), |r| format!("{r:.2}"))
    ));
    if let Some(cpu) = cell.meta.load_cpu_us_per_request {
        out.push_str(&format!("Load generator CPU:     {cpu:.2} µs/request\n"));
    }
    let mechanics = cell.mechanics.as_ref();
    out.push_str(&mechanics_lines("Load", mechanics.and_then(|m| m.load.as_ref())));
    if let Some(cpu) = cell.server.as_ref().and_then(|s| s.cpu_us_per_request) {
        out.push_str(&format!("Server CPU:             {cpu:.2} µs/request\n"));
    }
    out.push_str(&mechanics_lines("Server", mechanics.and_then(|m| m.server.as_ref())));
    for note in &cell.notes {
        out.push_str(&format!("Note: {note}\n"));
    }
    out
}

/// One side's system calls and context switches per request, two lines (none if not counted).
fn mechanics_lines(side: &str, mechanics: Option<&crate::mechanics::Mechanics>) -> String {
    let Some(m) = mechanics else { return String::new() };
    let calls = format!("{side} system calls:");
    let switches = format!("{side} switches:");
    format!(
        "{calls:<24}{:.2}/request ({})\n{switches:<24}{:.3}/request ({:.3} voluntary, {:.3} involuntary)\n",
        m.syscalls_per_request,
        m.top_in_words(),
        m.switches_per_request(),
        m.voluntary_switches_per_request,
        m.involuntary_switches_per_request,
    )
}

/// Why the run is not clean, in words; a server that accepted but never answered is named
/// as such.
fn failure_summary(cell: &Cell, timeout: Duration) -> String {
    if cell.complete == 0 && cell.failures.timeout == cell.failed_all_runs {
        return format!(
            "no response within {}: the server accepted connections but never answered",
            humantime::format_duration(timeout)
        );
    }
    format!("{} of {} requests failed: {}", cell.failed_all_runs, cell.requests, cell.failures.in_words())
}

/// A count (requests, connections): a whole number, at least 1.
fn at_least_one<T: std::str::FromStr + PartialOrd + From<u8>>(text: &str) -> Result<T, String> {
    match text.trim().parse::<T>() {
        Ok(n) if n < T::from(1) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{text}` is not a whole number")),
    }
}

/// Sets the interrupt flag (the run then ends as on Ctrl-C).
fn interrupt_on_eof(interrupt: &AtomicBool) {
    interrupt.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Splits `http://IP:PORT/path` into an address and a path; the address must be loopback or
/// one of `declared` (the hosts of a matrix): the harness sends load nowhere else.
pub fn parse_target_url(
    url: &str,
    declared: &[std::net::IpAddr],
) -> anyhow::Result<(std::net::SocketAddr, String)> {
    let rest = url.strip_prefix("http://").ok_or_else(|| anyhow::anyhow!("`{url}`: only http:// URLs"))?;
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], rest[at..].to_owned()),
        None => (rest, "/".to_owned()),
    };
    let authority = authority.replace("localhost", "127.0.0.1");
    let addr: std::net::SocketAddr = authority
        .parse()
        .map_err(|_| anyhow::anyhow!("`{url}`: the host must be an IP address and a port"))?;
    anyhow::ensure!(
        crate::load::allowed_target(addr.ip(), declared),
        "`{url}`: load goes only to loopback (127.0.0.0/8, ::1) or to a declared host (--declared-host)"
    );
    Ok((addr, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let (addr, path) = parse_target_url("http://127.0.0.1:8080/x?y", &[]).unwrap();
        assert_eq!((addr.port(), path.as_str()), (8080, "/x?y"));
        assert_eq!(parse_target_url("http://localhost:1", &[]).unwrap().1, "/");
        assert!(parse_target_url("http://10.0.0.1:80/", &[]).is_err(), "not declared");
        assert!(parse_target_url("http://10.0.0.1:80/", &["10.0.0.1".parse().unwrap()]).is_ok());
        assert!(parse_target_url("http://10.0.0.2:80/", &["10.0.0.1".parse().unwrap()]).is_err());
        assert!(parse_target_url("https://127.0.0.1:80/", &[]).is_err());
    }
}
