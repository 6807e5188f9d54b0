//! Servers and load on other hosts, through each host's launcher: the command prefix that runs
//! a program there (`ssh … bench@10.0.0.2`, `ip netns exec srv`). No agent, no protocol of our
//! own: the other host runs the same `harness`, and the two talk through the launcher's pipes.
//!
//! - A server starts as `harness serve NAME --lifeline …`: it leads a process group of its own,
//!   says which before its listening line, and stops when its standard input closes — so a
//!   killed harness or a dropped SSH session never leaves it running.
//! - Its cost is read on its host by `harness sample PGID`.
//! - Load runs as `harness load … --json --lifeline` on every load host at once, the work split
//!   evenly; their results (histograms included) are merged exactly.
//! - A server's answer is checked from the first load host (`harness verify`), where the load
//!   will come from.

use crate::stderr_tail::StderrTail;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use crate::cost::GroupSample;
use crate::load::{Cut, Latencies, LoadResult, LoadSpec, Shape};
use crate::plan::{Host, Verify};
use crate::results::{Cell, Status};
use crate::server::StartFailure;
use crate::tied::TiedChild;
use crate::watchdog::Watchdog;

/// How long a remote server may take to say it is listening (an SSH connection included).
const READY_TIMEOUT: Duration = Duration::from_secs(30);

impl Host {
    /// A command that runs `harness ARGS` on this host.
    pub fn harness(&self, args: &[String]) -> Command {
        let mut command = Command::new(&self.launcher[0]);
        command.args(&self.launcher[1..]).arg(&self.harness).args(args);
        command
    }
}

/// Starts a launcher (`command`) tied to the harness (see [`TiedChild`]), its standard input
/// a pipe: the lifeline.
fn spawn_tied(mut command: Command, watchdog: &Arc<Watchdog>) -> std::io::Result<TiedChild> {
    command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    TiedChild::spawn(command, watchdog, || {})
}

/// A built-in server on another host.
#[derive(Debug)]
pub struct RemoteServer {
    /// The local launcher process (ssh, ip netns exec → harness serve), leading its group.
    launcher: TiedChild,
    /// The lifeline: closing it stops the server.
    lifeline: Option<ChildStdin>,
    pub addr: SocketAddr,
    /// The server's process group on its host.
    pub remote_pgid: i32,
    pub argv: Vec<String>,
    host: Host,
    stderr: StderrTail,
}

impl RemoteServer {
    /// Starts built-in `builtin` on `host` and waits for its listening line.
    pub fn start(
        builtin: &str,
        port: u16,
        workers: usize,
        cpus: &[usize],
        host: &Host,
        watchdog: &Arc<Watchdog>,
        interrupt: &AtomicBool,
    ) -> Result<RemoteServer, StartFailure> {
        let mut args: Vec<String> = ["serve", builtin, "--addr"].iter().map(|s| (*s).to_owned()).collect();
        args.extend([
            host.address.to_string(),
            "--port".into(),
            port.to_string(),
            "--workers".into(),
            workers.to_string(),
        ]);
        args.push("--lifeline".into());
        if !cpus.is_empty() {
            args.extend(["--cpus".into(), cpu_args(cpus)]);
        }
        let command = host.harness(&args);
        let argv: Vec<String> = std::iter::once(command.get_program())
            .chain(command.get_args())
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let mut launcher = spawn_tied(command, watchdog).map_err(|err| match err.kind() {
            std::io::ErrorKind::NotFound => StartFailure::NotRunnable(format!(
                "the launcher `{}` of host `{}` is not installed ({err})",
                host.launcher[0], host.name
            )),
            _ => StartFailure::Failed(format!("cannot start `{}`: {err}", argv.join(" "))),
        })?;
        let stderr = StderrTail::follow(&mut launcher.child);
        let lifeline = launcher.child.stdin.take();
        let mut server = RemoteServer {
            launcher,
            lifeline,
            addr: SocketAddr::new(host.address, port),
            remote_pgid: 0,
            argv,
            host: host.clone(),
            stderr,
        };
        if let Err(reason) = server.await_ready(interrupt) {
            let said = server.stderr.last_words();
            server.kill();
            let status = server.launcher.exited().and_then(|s| s.code());
            if status == Some(i32::from(server_common::EXIT_NOT_RUNNABLE)) {
                return Err(StartFailure::NotRunnable(
                    said.strip_prefix("Error: ").unwrap_or(&said).to_owned(),
                ));
            }
            let said = if said.is_empty() { String::new() } else { format!(": {said}") };
            return Err(StartFailure::Failed(format!(
                "did not start on host `{}`: {reason}{said} (command: {})",
                server.host.name,
                server.argv.join(" ")
            )));
        }
        Ok(server)
    }

    /// Reads `process group N`, then the listening line.
    fn await_ready(&mut self, interrupt: &AtomicBool) -> Result<(), String> {
        let stdout = self.launcher.child.stdout.take().ok_or("no stdout")?;
        let (lines_tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines_tx.send(line);
            }
        });
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.exit_status() {
                return Err(format!("exited ({status})"));
            }
            if interrupt.load(Ordering::Relaxed) {
                return Err("interrupted".into());
            }
            if Instant::now() >= deadline {
                return Err(format!("no `listening on` line within {READY_TIMEOUT:?}"));
            }
            match lines.recv_timeout(Duration::from_millis(50)) {
                Ok(line) => {
                    if let Some(pgid) = line.strip_prefix(crate::commands::PROCESS_GROUP_PREFIX) {
                        self.remote_pgid = pgid
                            .trim()
                            .parse()
                            .ok()
                            .filter(|pgid| *pgid > 0)
                            .ok_or_else(|| format!("a bad line: {line:?}"))?;
                    } else if let Some(addr) = server_spec::cli::parse_listening_line(&line) {
                        // Its cost is read by process group: without one, nothing is measured.
                        if self.remote_pgid <= 0 {
                            return Err("listening before saying its process group".into());
                        }
                        self.addr = addr;
                        return Ok(());
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(Duration::from_millis(50));
                    return Err(self
                        .exit_status()
                        .map_or_else(|| "closed its stdout".to_owned(), |s| format!("exited ({s})")));
                }
            }
        }
    }

    /// Reads what the server's process group has spent, on its host.
    pub fn sample(&self) -> Option<GroupSample> {
        sample_on(&self.host, self.remote_pgid)
    }

    /// The launcher's exit status (the remote server's), if it has exited.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.launcher.exit_status()
    }

    /// The local launcher process: it ends when the remote server does.
    pub fn local_pid(&self) -> i32 {
        self.launcher.pgid
    }

    /// The server's last stderr lines (through the launcher), as one line.
    pub fn last_words(&self) -> String {
        self.stderr.last_words()
    }

    /// Closes the lifeline (the server stops as on SIGTERM) and waits `grace` for it; then
    /// kills the launcher.
    pub fn stop(mut self, grace: Duration) -> Option<ExitStatus> {
        self.lifeline = None;
        self.launcher.wait_for_exit(grace);
        self.kill();
        self.launcher.exited()
    }

    fn kill(&mut self) {
        self.lifeline = None;
        self.launcher.kill();
    }
}

impl Drop for RemoteServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `harness sample PGID` on `host`.
pub fn sample_on(host: &Host, pgid: i32) -> Option<GroupSample> {
    // Group 0 would be the kernel's threads, not a server.
    if pgid <= 0 {
        return None;
    }
    let asked = Instant::now();
    let output = host.harness(&["sample".into(), pgid.to_string()]).stdin(Stdio::null()).output().ok()?;
    // The host read /proc somewhere between asking and answering: the middle is the best guess.
    let at = asked + asked.elapsed() / 2;
    if !output.status.success() {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
    Some(GroupSample {
        at,
        cpu: Duration::from_nanos(value["cpu_ns"].as_u64()?),
        rss_kib: value["rss_kib"].as_u64()?,
        threads: value["threads"].as_u64()?,
        processes: value["processes"].as_u64()?,
    })
}

/// `harness verify` on `host`: the server's answer, checked where the load comes from.
pub fn verify_from(host: &Host, spec: &LoadSpec, how: Verify) -> anyhow::Result<Vec<String>> {
    let mut args = vec!["verify".to_owned(), url(spec), "--how".into(), how.name().into()];
    if spec.keep_alive {
        args.push("-k".into());
    }
    args.extend(declared(spec));
    let output = host.harness(&args).stdin(Stdio::null()).output()?;
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stderr);
        let said = said.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no reason given");
        anyhow::bail!("{} (checked from host `{}`)", said.strip_prefix("Error: ").unwrap_or(said), host.name);
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}

fn url(spec: &LoadSpec) -> String {
    format!("http://{}{}", spec.addr, spec.path)
}

fn declared(spec: &LoadSpec) -> Vec<String> {
    spec.allowed.iter().flat_map(|ip| ["--declared-host".to_owned(), ip.to_string()]).collect()
}

/// One load host's part of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Share {
    pub host: String,
    pub shape: Shape,
    /// Its load generator's CPU seconds per wall second per load CPU.
    pub utilization: Option<f64>,
}

/// `total` split as evenly as possible into `parts`, the first ones a unit larger.
fn split(total: u64, parts: usize) -> Vec<u64> {
    let parts = parts.max(1) as u64;
    (0..parts).map(|i| total / parts + u64::from(i < total % parts)).collect()
}

/// `shape` split across `hosts` load hosts: connections evenly, requests (or rate) in
/// proportion; hosts that would get no connection get nothing.
pub fn split_shape(shape: &Shape, hosts: usize) -> Vec<Shape> {
    let connections = split(shape.connections() as u64, hosts);
    match shape {
        Shape::Closed { requests, concurrency } => {
            let total = *concurrency as u64;
            let mut given = 0;
            connections
                .iter()
                .filter(|c| **c > 0)
                .enumerate()
                .map(|(i, c)| {
                    let share = if i + 1 == connections.iter().filter(|c| **c > 0).count() {
                        requests - given
                    } else {
                        requests * c / total
                    };
                    given += share;
                    Shape::Closed { requests: share, concurrency: *c as usize }
                })
                .collect()
        }
        Shape::Open { rate, connections: pool, warmup, duration } => connections
            .iter()
            .filter(|c| **c > 0)
            .map(|c| Shape::Open {
                rate: rate * *c as f64 / *pool as f64,
                connections: *c as usize,
                warmup: *warmup,
                duration: *duration,
            })
            .collect(),
        Shape::Scale { .. } => vec![shape.clone()],
    }
}

/// The line a remote `harness load --announce-window` prints as its measured window opens.
pub const WINDOW_OPEN: &str = "window open";

/// What a remote load's standard output says: its window opened, or it ended with this text.
enum Said {
    WindowOpen,
    Ended(usize, String),
}

/// Runs `spec` from every host of `hosts` at once, each its share, and merges what they
/// measured exactly (counts summed, histograms added); `stop` closes their lifelines.
/// `at_window` is called as the measured window opens: before any host starts for a closed
/// loop, once every host says its warm-up is over for an open loop (so a server sampled then
/// is charged for measured requests only).
pub fn run_load(
    spec: &LoadSpec,
    hosts: &[&Host],
    stop: &crate::load::Stop,
    watchdog: &Arc<Watchdog>,
    at_window: &mut dyn FnMut(),
) -> std::io::Result<(LoadResult, Vec<Share>, Vec<String>)> {
    if matches!(spec.shape, Shape::Scale { .. }) {
        return Err(std::io::Error::other("a scale run needs the load on this machine"));
    }
    let open = matches!(spec.shape, Shape::Open { .. });
    if !open {
        at_window();
    }
    let shapes = split_shape(&spec.shape, hosts.len());
    let (said_tx, said) = mpsc::channel();
    let mut running = Vec::new();
    for (index, (host, shape)) in hosts.iter().zip(&shapes).enumerate() {
        let mut load = match spawn_load(spec, host, shape, watchdog) {
            Ok(load) => load,
            Err(err) => {
                // The hosts already started stop with what they have, and are reaped.
                for (_, _, mut load, _) in running {
                    let _ = end_load(&mut load);
                }
                return Err(err);
            }
        };
        let stderr = StderrTail::follow(&mut load.child);
        let stdout = load.child.stdout.take();
        let tx = said_tx.clone();
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(stdout) = stdout {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if line == WINDOW_OPEN {
                        let _ = tx.send(Said::WindowOpen);
                    } else {
                        text.push_str(&line);
                        text.push('\n');
                    }
                }
            }
            let _ = tx.send(Said::Ended(index, text));
        });
        running.push((*host, shape.clone(), load, stderr));
    }
    drop(said_tx);
    let mut texts: Vec<Option<String>> = vec![None; running.len()];
    let mut opened = 0;
    while texts.iter().any(Option::is_none) {
        if stop.is_set() {
            // Close the lifelines: the remote loads end as on Ctrl-C, with what they have.
            for (_, _, load, _) in &mut running {
                load.child.stdin = None;
            }
        }
        match said.recv_timeout(Duration::from_millis(20)) {
            Ok(Said::WindowOpen) => {
                opened += 1;
                if open && opened == running.len() {
                    at_window();
                }
            }
            Ok(Said::Ended(index, text)) => texts[index] = Some(text),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let mut merged = LoadResult::empty();
    let mut shares = Vec::new();
    let mut notes = Vec::new();
    let mut failure = None;
    for ((host, shape, mut load, stderr), text) in running.into_iter().zip(texts) {
        let status = end_load(&mut load);
        let cell = serde_json::from_str::<Cell>(text.as_deref().unwrap_or_default());
        let cell = match (status, cell) {
            (Ok(_), Ok(cell)) => cell,
            (status, _) => {
                let status = status.map_or_else(|err| err.to_string(), |status| status.to_string());
                failure.get_or_insert_with(|| {
                    std::io::Error::other(format!(
                        "the load on host `{}` failed ({status}): {}",
                        host.name,
                        stderr.last_words()
                    ))
                });
                continue;
            }
        };
        let mut part = to_load_result(&cell);
        // As many threads as `harness load` runs there: one per CPU given, at most one per connection.
        part.threads = spec.cpus.len().clamp(1, shape.connections().max(1));
        merged.absorb(&part);
        merged.elapsed = merged.elapsed.max(part.elapsed);
        merged.window = merged.window.max(part.window);
        merged.cut = merged.cut.or(part.cut);
        notes.extend(cell.notes.iter().map(|note| format!("host `{}`: {note}", host.name)));
        shares.push(Share { host: host.name.clone(), shape, utilization: cell.meta.load_cpu_utilization });
    }
    match failure {
        Some(err) => Err(err),
        None => Ok((merged, shares, notes)),
    }
}

/// Starts `shape` of `spec` on `host` (`harness load … --json`), tied to `watchdog`.
fn spawn_load(
    spec: &LoadSpec,
    host: &Host,
    shape: &Shape,
    watchdog: &Arc<Watchdog>,
) -> std::io::Result<TiedChild> {
    let mut args =
        vec!["load".to_owned(), url(spec), "--json".into(), "--lifeline".into(), "--announce-window".into()];
    match shape {
        Shape::Closed { requests, concurrency } => {
            args.extend(["-n".into(), requests.to_string(), "-c".into(), concurrency.to_string()]);
        }
        Shape::Open { rate, connections, warmup, duration } => args.extend([
            "--rate".into(),
            rate.to_string(),
            "--connections".into(),
            connections.to_string(),
            "--warmup-time".into(),
            format!("{}ms", warmup.as_millis()),
            "--duration".into(),
            format!("{}ms", duration.as_millis().max(1)),
        ]),
        Shape::Scale { .. } => {
            return Err(std::io::Error::other("a scale run needs the load on this machine"))
        }
    }
    if spec.keep_alive {
        args.push("-k".into());
    }
    args.extend(["--timeout".into(), format!("{}ms", spec.timeout.as_millis().max(1))]);
    args.extend(["--max-run-time".into(), format!("{}ms", spec.max_duration.as_millis().max(1))]);
    if !spec.cpus.is_empty() {
        args.extend(["--cpus".into(), cpu_args(&spec.cpus)]);
    }
    args.extend(declared(spec));
    spawn_tied(host.harness(&args), watchdog)
}

/// Closes a remote load's lifeline (it ends as on Ctrl-C, with what it has, if it has not
/// already), waits for it and reaps its group; how it exited.
fn end_load(load: &mut TiedChild) -> std::io::Result<ExitStatus> {
    load.child.stdin = None;
    let status = load.child.wait();
    load.kill();
    status
}

/// CPUs as `--cpus` takes them: `0,2,3` (never a range, which `--cpus` does not read).
fn cpu_args(cpus: &[usize]) -> String {
    cpus.iter().map(usize::to_string).collect::<Vec<_>>().join(",")
}

/// A remote load's cell, back into what one local run measures.
fn to_load_result(cell: &Cell) -> LoadResult {
    let histograms = &cell.histograms;
    let latencies = Latencies {
        total: histograms.latency.0.clone(),
        connect: histograms.connect.0.clone(),
        ttfb: histograms.ttfb.0.clone(),
        uncorrected: histograms
            .uncorrected
            .as_ref()
            .map_or_else(crate::load::latency_histogram, |h| h.0.clone()),
        send_lag: histograms.send_lag.as_ref().map_or_else(crate::load::latency_histogram, |h| h.0.clone()),
    };
    let elapsed = Duration::from_secs_f64(cell.time_taken_s.max(0.0));
    let mut result = LoadResult::empty();
    result.elapsed = elapsed;
    result.complete = cell.complete;
    result.non_2xx = cell.non_2xx;
    result.failures = cell.failures;
    result.total_bytes = cell.total_transferred_bytes;
    result.body_bytes = cell.html_transferred_bytes;
    result.latencies = latencies;
    result.scheduled = if cell.rate.is_some() { cell.requests } else { 0 };
    result.window = if cell.rate.is_some() { elapsed } else { Duration::ZERO };
    result.cpu = Duration::from_secs_f64(
        cell.meta.load_cpu_us_per_request.unwrap_or(0.0) * cell.complete as f64 / 1e6,
    );
    result.cpus_in_force = cell.meta.load_cpus_in_force.clone();
    result.cut = match cell.status {
        Status::Complete => None,
        Status::CutShort => Some(Cut::Deadline),
        Status::Interrupted | Status::ServerDied => Some(Cut::Stopped),
    };
    result
}

/// What a cell says about how its load was split (`runs`: each run's shares), and which
/// host's load generator was saturated.
pub fn split_notes(runs: &[Vec<Share>]) -> Vec<String> {
    let Some(first) = runs.first() else { return Vec::new() };
    let parts: Vec<String> = first
        .iter()
        .map(|share| {
            let what = match share.shape {
                Shape::Closed { requests, concurrency } => {
                    format!("c={concurrency}, {requests} requests a run")
                }
                Shape::Open { rate, connections, .. } => {
                    format!("{rate:.0}/s over {connections} connections")
                }
                Shape::Scale { connections, .. } => format!("{connections} connections"),
            };
            let cpu: Vec<f64> = runs
                .iter()
                .flatten()
                .filter(|s| s.host == share.host)
                .filter_map(|s| s.utilization)
                .collect();
            let cpu = match (cpu.iter().copied().reduce(f64::min), cpu.iter().copied().reduce(f64::max)) {
                (Some(lo), Some(hi)) if (hi - lo) < 0.005 => format!(", load CPU {:.0}%", hi * 100.0),
                (Some(lo), Some(hi)) => format!(", load CPU {:.0}–{:.0}%", lo * 100.0, hi * 100.0),
                _ => String::new(),
            };
            format!("`{}` ({what}{cpu})", share.host)
        })
        .collect();
    let mut notes = vec![format!("load split over hosts {}", parts.join(", "))];
    for host in first.iter().map(|s| &s.host) {
        let saturated: Vec<f64> = runs
            .iter()
            .flatten()
            .filter(|s| &s.host == host)
            .filter_map(|s| s.utilization)
            .filter(|u| *u >= 0.9)
            .collect();
        if let Some(worst) = saturated.iter().copied().reduce(f64::max) {
            notes.push(format!(
                "host `{host}`'s load generator was saturated in {} of {} runs (CPU up to {:.0}%): it may be the bottleneck; add a load host",
                saturated.len(),
                runs.len(),
                worst * 100.0
            ));
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_splits_evenly_and_adds_up() {
        let shapes = split_shape(&Shape::Closed { requests: 1000, concurrency: 5 }, 2);
        assert_eq!(
            shapes,
            [
                Shape::Closed { requests: 600, concurrency: 3 },
                Shape::Closed { requests: 400, concurrency: 2 }
            ]
        );
        let shapes = split_shape(&Shape::Closed { requests: 10, concurrency: 1 }, 3);
        assert_eq!(shapes, [Shape::Closed { requests: 10, concurrency: 1 }], "no connection, no share");
        let open = Shape::Open {
            rate: 1000.0,
            connections: 4,
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs(5),
        };
        let rates: Vec<f64> = split_shape(&open, 2)
            .iter()
            .map(|s| match s {
                Shape::Open { rate, .. } => *rate,
                _ => 0.0,
            })
            .collect();
        assert_eq!(rates, [500.0, 500.0]);
    }

    /// Two load hosts' results merge exactly: counts add up, percentiles come from the merged
    /// histogram (not from averaging the two).
    #[test]
    fn results_merge_from_histograms() {
        let mut fast = crate::results::tests::cell_with_runs("a", 2, &[1000.0]);
        let mut slow = crate::results::tests::cell_with_runs("a", 2, &[1000.0]);
        let mut h1 = crate::load::latency_histogram();
        let mut h2 = crate::load::latency_histogram();
        for _ in 0..90 {
            h1.record(1_000_000).unwrap();
        }
        for _ in 0..10 {
            h2.record(9_000_000).unwrap();
        }
        fast.histograms.latency = crate::results::Encoded(h1);
        slow.histograms.latency = crate::results::Encoded(h2);
        fast.complete = 90;
        slow.complete = 10;
        let mut merged = LoadResult::empty();
        for part in [to_load_result(&fast), to_load_result(&slow)] {
            merged.absorb(&part);
        }
        assert_eq!(merged.complete, 100);
        assert_eq!(merged.latencies.total.len(), 100);
        // p95 of the merge is the slow host's 9 ms; neither host alone nor an average says so.
        let p95 = merged.latencies.total.value_at_quantile(0.95);
        assert!((8_990_000..=9_010_000).contains(&p95), "{p95}");
        assert!((899_000..=1_001_000).contains(&merged.latencies.total.value_at_quantile(0.5)));
    }
}
