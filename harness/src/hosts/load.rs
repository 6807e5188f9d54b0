//! A load split over the load hosts: each host's share (connections evenly, requests or rate
//! in proportion), started on every host at once as `harness load … --report`, and their
//! results merged exactly — each host sends its whole [`LoadResult`] (see
//! [`super::protocol::LoadReport`]), so nothing is lost or re-derived on the way.

use std::io::{BufRead, BufReader};
use std::process::ExitStatus;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use super::{cpu_args, declared, protocol, spawn_tied, url};
use crate::load::{Job, LoadResult, Shape, Ticker, Ticks};
use crate::plan::Host;
use crate::process::stderr_tail::StderrTail;
use crate::process::tied::TiedChild;
use crate::process::watchdog::Watchdog;

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

/// What a remote load's standard output says: its window opened, or it ended with this text.
enum Said {
    WindowOpen,
    Ended(usize, String),
}

/// Runs `job` from every host of `hosts` at once, each its share, and merges what they
/// measured exactly (see [`merge`]); `stop` closes their lifelines. `at_window` is called as
/// the measured window opens: before any host starts for a closed loop, once every host says
/// its warm-up is over for an open loop (so a server sampled then is charged for measured
/// requests only). `ticks` is called back at each interval boundary from then on. Returns the
/// merged load and each host's share.
pub fn run_load(
    job: &Job,
    hosts: &[&Host],
    stop: &crate::load::Stop,
    watchdog: &Arc<Watchdog>,
    at_window: &mut dyn FnMut(),
    mut ticks: Option<Ticks<'_>>,
) -> std::io::Result<(LoadResult, Vec<Share>)> {
    if matches!(job.shape, Shape::Scale { .. }) {
        return Err(std::io::Error::other("a scale run needs the load on this machine"));
    }
    let open = matches!(job.shape, Shape::Open { .. });
    // Counts the window's interval boundaries once it is open.
    let mut ticker = None;
    if !open {
        at_window();
        ticker = ticks.as_ref().map(|ticks| Ticker::new(std::time::Instant::now(), ticks.every));
    }
    let shapes = split_shape(&job.shape, hosts.len());
    let (said_tx, said) = mpsc::channel();
    let mut running = Vec::new();
    for (index, (host, shape)) in hosts.iter().zip(&shapes).enumerate() {
        let mut load = match spawn_load(job, host, shape, watchdog) {
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
                    if protocol::is_window_open(&line) {
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
                    ticker = ticks.as_ref().map(|ticks| Ticker::new(std::time::Instant::now(), ticks.every));
                }
            }
            Ok(Said::Ended(index, text)) => texts[index] = Some(text),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if let (Some(ticks), Some(ticker)) = (ticks.as_mut(), ticker.as_mut()) {
            ticks.catch_up(ticker);
        }
    }
    let mut parts = Vec::new();
    let mut shares = Vec::new();
    let mut failure = None;
    for ((host, shape, mut load, stderr), text) in running.into_iter().zip(texts) {
        let status = end_load(&mut load);
        let what = format!("harness load on host `{}`", host.name);
        let report = protocol::parse::<protocol::LoadReport>(text.as_deref().unwrap_or_default(), &what);
        // The name said back must be the one sent: otherwise the launcher's shell mangled it.
        let report = report.and_then(|report| match &report.name {
            Some(name) => protocol::Named(name.clone()).check(&host.name, &host.name).map(|()| report),
            None => Err(format!("{what} did not say the name it was started with")),
        });
        let part = match (status, report) {
            (Ok(_), Ok(report)) => report.load,
            (status, report) => {
                let status = status.map_or_else(|err| err.to_string(), |status| status.to_string());
                let said = match report {
                    Err(unreadable) if stderr.last_words().is_empty() => unreadable,
                    _ => stderr.last_words(),
                };
                failure.get_or_insert_with(|| {
                    std::io::Error::other(format!(
                        "the load on host `{}` failed ({status}): {said}",
                        host.name
                    ))
                });
                continue;
            }
        };
        let utilization = crate::cost::utilization(part.cpu, part.elapsed, part.threads);
        shares.push(Share { host: host.name.clone(), shape, utilization });
        parts.push(part);
    }
    match failure {
        Some(err) => Err(err),
        None => Ok((merge(&parts), shares)),
    }
}

/// Loads that ran at the same time on several hosts, as one: every count summed, histograms
/// added (so percentiles are those of every request), the window the longest, cut if any was.
pub fn merge(parts: &[LoadResult]) -> LoadResult {
    let mut merged = LoadResult::empty();
    for part in parts {
        merged.absorb(part);
        merged.elapsed = merged.elapsed.max(part.elapsed);
        merged.window = merged.window.max(part.window);
        merged.cut = merged.cut.or(part.cut);
    }
    merged
}

/// Starts `shape` of `job` on `host` (`harness load … --report`), tied to `watchdog`.
fn spawn_load(job: &Job, host: &Host, shape: &Shape, watchdog: &Arc<Watchdog>) -> std::io::Result<TiedChild> {
    let mut args = vec![
        "load".to_owned(),
        url(job),
        "--report".into(),
        "--name".into(),
        host.name.clone(),
        "--lifeline".into(),
        "--announce-window".into(),
    ];
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
    if job.keep_alive {
        args.push("-k".into());
    }
    if job.mechanics {
        args.push("--mechanics".into());
    }
    if job.pipeline > 1 {
        args.extend(["--pipeline".into(), job.pipeline.to_string()]);
    }
    if !job.mix.is_empty() {
        let mix: Vec<String> = job.mix.iter().map(|(path, weight)| format!("{path}={weight}")).collect();
        args.extend(["--mix".into(), mix.join(",")]);
    }
    args.extend(["--seed".into(), job.seed.to_string()]);
    if let Some(every) = job.interval {
        args.extend(["--interval".into(), format!("{}ms", every.as_millis().max(1))]);
    }
    args.extend(["--timeout".into(), format!("{}ms", job.timeout.as_millis().max(1))]);
    args.extend(["--max-run-time".into(), format!("{}ms", job.max_duration.as_millis().max(1))]);
    if !job.cpus.is_empty() {
        args.extend(["--cpus".into(), cpu_args(&job.cpus)]);
    }
    args.extend(declared(job));
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
        let mut fast = LoadResult::empty();
        let mut slow = LoadResult::empty();
        for _ in 0..90 {
            fast.latencies.total.record(1_000_000).unwrap();
        }
        for _ in 0..10 {
            slow.latencies.total.record(9_000_000).unwrap();
        }
        fast.complete = 90;
        slow.complete = 10;
        (fast.unclosed, slow.unclosed, fast.abandoned, slow.extra_bytes) = (3, 4, 1, 40);
        (fast.elapsed, slow.elapsed) = (Duration::from_millis(900), Duration::from_millis(1100));
        slow.cut = Some(crate::load::Cut::Deadline);
        let merged = merge(&[fast, slow]);
        assert_eq!((merged.unclosed, merged.abandoned, merged.extra_bytes), (7, 1, 40));
        assert_eq!(
            (merged.elapsed, merged.cut),
            (Duration::from_millis(1100), Some(crate::load::Cut::Deadline))
        );
        assert_eq!(merged.complete, 100);
        assert_eq!(merged.latencies.total.len(), 100);
        // p95 of the merge is the slow host's 9 ms; neither host alone nor an average says so.
        let p95 = merged.latencies.total.value_at_quantile(0.95);
        assert!((8_990_000..=9_010_000).contains(&p95), "{p95}");
        assert!((899_000..=1_001_000).contains(&merged.latencies.total.value_at_quantile(0.5)));
    }
}
