//! One [`Cell`] from its measured runs: ab's figures from the median run, percentiles from the
//! merged histograms, the server's cost, and every run's own figures.

use crate::cost::{utilization, Footprint, GroupSample, Spent};
use crate::load::{intervals, Latencies, LoadResult};
use crate::stats::{median, Percentiles, Spread, Throughput};

use super::{
    Cell, CellMeta, Cost, Encoded, Histograms, Interval, Mechanics, Mode, PathStats, Run, Sides, Status,
    TcpCounters,
};

/// Load-generator CPU utilization from which a cell is marked client-bound.
const CLIENT_BOUND: f64 = 0.9;

use super::RATE_MET;

/// One measured run, as the sweep saw it.
#[derive(Debug, Clone)]
pub struct MeasuredRun {
    pub load: LoadResult,
    /// Unix ms at the start of the measured window.
    pub started_at: u64,
    /// What the server's process group spent over the window (`None`: could not be read).
    pub server: Option<Spent>,
    /// Scale: the server's resident memory (KiB) before the connections were opened, and
    /// with them open and idle.
    pub idle_rss_kib: Option<(u64, u64)>,
    /// Scale: the kernel's memory for the server's end of the connections open and idle, KiB
    /// (see [`crate::machine::sockets`]).
    pub idle_kernel_kib: Option<f64>,
    pub status: Status,
    /// TCP's trouble during the run, from the kernel's counters (`None`: not read).
    pub tcp: Option<TcpCounters>,
    /// The server (and the harness) read at the window's interval boundaries, for the run's
    /// [`Interval`]s.
    pub readings: Vec<Reading>,
}

/// What was read at one boundary of a run's measured window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// 0: the window's open; k: the end of interval k − 1; [`Reading::END`]: the window's end.
    pub boundary: usize,
    /// The server's process group, read on its host.
    pub server: Option<GroupSample>,
    /// The harness itself, when the load ran on this machine.
    pub harness: Option<Footprint>,
}

impl Reading {
    /// The boundary of the reading taken as the run ended.
    pub const END: usize = usize::MAX;
}

/// What a cell is, apart from its runs.
#[derive(Debug, Clone)]
pub struct Point {
    pub scenario: String,
    pub variant: String,
    pub workers: usize,
    /// Workers is an axis of its scenario (see [`Cell::workers_axis`]).
    pub workers_axis: bool,
    pub mode: Mode,
    pub concurrency: usize,
    pub rate: Option<f64>,
    pub keep_alive: bool,
    pub requests: u64,
    /// The CPUs the server was pinned to, as asked (empty: no server was sampled).
    pub server_cpus: Vec<usize>,
    /// The CPUs it was allowed on, read back (empty: unknown, on another host).
    pub server_cpus_in_force: Vec<usize>,
    /// A request mix's paths and weights (empty: one path).
    pub mix: Vec<(String, u32)>,
}

impl Point {
    /// How many CPUs the server could use, for its utilization: those in force where they
    /// were read back, else those asked.
    fn server_cpu_count(&self) -> usize {
        if self.server_cpus_in_force.is_empty() {
            self.server_cpus.len()
        } else {
            self.server_cpus_in_force.len()
        }
    }
}

/// Builds the cell of `point` from `runs` (at least one).
pub fn summarize(point: &Point, runs: &[MeasuredRun]) -> Cell {
    let throughputs: Vec<Throughput> = runs
        .iter()
        .map(|r| Throughput::of(r.load.elapsed, r.load.complete, r.load.total_bytes, point.concurrency))
        .collect();
    let run_rows: Vec<Run> = runs.iter().zip(&throughputs).map(|(run, t)| run_row(point, run, t)).collect();
    let rates: Vec<f64> = run_rows.iter().filter_map(|r| r.requests_per_second).collect();
    let spread = Spread::of(&rates).filter(|_| rates.len() > 1);
    // The run whose requests per second is the (upper) median; a run without a rate (the
    // server died) is never it unless no run has one.
    let mut order: Vec<usize> = (0..runs.len()).collect();
    order.sort_by(|a, b| {
        let rate = |i: &usize| run_rows[*i].requests_per_second.unwrap_or(f64::NEG_INFINITY);
        rate(a).total_cmp(&rate(b))
    });
    let with_rate = order.iter().filter(|i| run_rows[**i].requests_per_second.is_some()).count();
    let median_index =
        if with_rate > 0 { order[runs.len() - with_rate + with_rate / 2] } else { runs.len() - 1 };
    let (run, throughput) = (&runs[median_index], throughputs[median_index]);
    let status = runs.iter().map(|r| r.status).max_by_key(|s| severity(*s)).unwrap_or(Status::Complete);
    let died = status == Status::ServerDied;
    let mut latencies = Latencies::new();
    for r in runs {
        latencies.merge(&r.load.latencies);
    }
    let load_utilizations: Vec<f64> =
        runs.iter().filter_map(|r| utilization(r.load.cpu, r.load.elapsed, r.load.threads)).collect();
    let load_utilization = median(&load_utilizations);
    let open = point.mode == Mode::Open;
    let achieved: Vec<f64> = runs.iter().filter_map(|r| r.load.achieved_rate()).collect();
    let server = cell_cost(&run_rows);
    let tcp = runs.iter().filter_map(|r| r.tcp).reduce(|mut all, run| {
        all.add(&run);
        all
    });
    let mut notes = notes(runs);
    if let Some(note) = tcp.and_then(|t| t.note()) {
        notes.push(note);
    }
    if let Some(rate) = point.rate {
        for got in achieved.iter().filter(|got| **got < rate * RATE_MET) {
            let note = format!(
                "a run achieved {got:.0} req/s, under 99% of the {rate:.0} offered: the server (or the generator) could not keep up"
            );
            if !notes.contains(&note) {
                notes.push(note);
            }
        }
    }
    Cell {
        scenario: point.scenario.clone(),
        variant: point.variant.clone(),
        workers: point.workers,
        workers_axis: point.workers_axis,
        mode: point.mode,
        concurrency: point.concurrency,
        rate: point.rate,
        keep_alive: point.keep_alive,
        requests: point.requests,
        complete: run.load.complete,
        failed: run.load.failures.total(),
        failures: run.load.failures,
        non_2xx: run.load.non_2xx,
        total_transferred_bytes: run.load.total_bytes,
        html_transferred_bytes: run.load.body_bytes,
        time_taken_s: throughput.time_taken_s,
        requests_per_second: (!died).then_some(throughput.requests_per_second),
        time_per_request_ms: (!died).then_some(throughput.time_per_request_ms),
        transfer_rate_kb_s: (!died).then_some(throughput.transfer_rate_kb_s),
        latency_us: Percentiles::of(&latencies.total),
        connect_us: Percentiles::of(&latencies.connect),
        ttfb_us: Percentiles::of(&latencies.ttfb),
        achieved_rate: if open { median(&achieved) } else { None },
        uncorrected_latency_us: open.then(|| Percentiles::of(&latencies.uncorrected)),
        send_lag_us: open.then(|| Percentiles::of(&latencies.send_lag)),
        server,
        meta: CellMeta {
            load_cpu_us_per_request: median(
                &run_rows.iter().filter_map(|r| r.load_cpu_us_per_request).collect::<Vec<_>>(),
            ),
            load_cpu_utilization: load_utilization,
            client_bound: load_utilization.is_some_and(|u| u >= CLIENT_BOUND),
            load_cpus_in_force: run.load.cpus_in_force.clone(),
            floor_p50_us: None,
            server_cpus: point.server_cpus.clone(),
            server_cpus_in_force: point.server_cpus_in_force.clone(),
        },
        tcp,
        mechanics: cell_mechanics(&run_rows),
        profile: None,
        paths: path_stats(&point.mix, runs),
        requests_per_second_spread: spread,
        noisy: spread.is_some_and(|s| s.is_noisy()),
        failed_all_runs: runs.iter().map(|r| r.load.failures.total()).sum(),
        status,
        notes,
        histograms: Histograms {
            uncorrected: open.then(|| Encoded(latencies.uncorrected.clone())),
            send_lag: open.then(|| Encoded(latencies.send_lag.clone())),
            latency: Encoded(latencies.total),
            connect: Encoded(latencies.connect),
            ttfb: Encoded(latencies.ttfb),
        },
        runs: run_rows,
    }
}

/// Worse outcomes rank higher: a cell's status is its worst run's.
fn severity(status: Status) -> u8 {
    match status {
        Status::Complete => 0,
        Status::CutShort => 1,
        Status::Interrupted => 2,
        Status::ServerDied => 3,
    }
}

fn run_row(point: &Point, run: &MeasuredRun, throughput: &Throughput) -> Run {
    let complete = run.load.complete;
    Run {
        started_at: run.started_at,
        time_taken_s: throughput.time_taken_s,
        requests_per_second: (run.status != Status::ServerDied).then_some(throughput.requests_per_second),
        complete,
        failed: run.load.failures.total(),
        non_2xx: run.load.non_2xx,
        latency_us: Percentiles::of(&run.load.latencies.total),
        // A dying server's last window is no measure of what it costs.
        server: run.server.as_ref().filter(|_| run.status != Status::ServerDied).map(|spent| Cost {
            cpu_us_per_request: spent.cpu_us_per_request(complete),
            cpu_utilization: spent.utilization(point.server_cpu_count()),
            rss_kib: spent.rss_kib,
            threads: spent.threads,
            // Per connection actually open when the memory was read.
            rss_per_connection_kib: run
                .idle_rss_kib
                .filter(|_| run.load.held > 0)
                .map(|(before, idle)| (idle as f64 - before as f64) / run.load.held as f64),
            kernel_kib: run.idle_kernel_kib,
            kernel_kib_per_connection: run
                .idle_kernel_kib
                .filter(|_| run.load.held > 0)
                .map(|kib| kib / run.load.held as f64),
        }),
        load_cpu_us_per_request: (complete > 0).then(|| run.load.cpu.as_secs_f64() * 1e6 / complete as f64),
        status: run.status,
        tcp: run.tcp,
        mechanics: {
            let dead = run.status == Status::ServerDied;
            let server = run.server.as_ref().filter(|_| !dead).and_then(|s| s.mechanics.as_ref());
            let sides = Sides {
                server: server.and_then(|tally| Mechanics::of(tally, complete)),
                load: run.load.mechanics.as_ref().and_then(|tally| Mechanics::of(tally, complete)),
            };
            (sides.server.is_some() || sides.load.is_some()).then_some(sides)
        },
        intervals: intervals_of(run),
    }
}

/// Each path of a mix over every run: counts summed, histograms merged.
fn path_stats(mix: &[(String, u32)], runs: &[MeasuredRun]) -> Vec<PathStats> {
    if mix.len() < 2 {
        return Vec::new();
    }
    mix.iter()
        .enumerate()
        .map(|(index, (path, weight))| {
            let mut merged = crate::load::PathCounts::new();
            for run in runs {
                if let Some(counts) = run.load.paths.get(index) {
                    merged.complete += counts.complete;
                    merged.failed += counts.failed;
                    merged.non_2xx += counts.non_2xx;
                    let _ = merged.latency.add(&counts.latency);
                }
            }
            PathStats {
                path: path.clone(),
                weight: *weight,
                complete: merged.complete,
                failed: merged.failed,
                non_2xx: merged.non_2xx,
                latency_us: Percentiles::of(&merged.latency),
                histogram: Encoded(merged.latency),
            }
        })
        .collect()
}

/// A run interval by interval: its load's tallies cut to whole intervals of its window (the
/// remainder joining the last), each with the server as read at the interval's end.
fn intervals_of(run: &MeasuredRun) -> Vec<Interval> {
    let Some(every) = run.load.interval.filter(|every| !every.is_zero()) else { return Vec::new() };
    let count = intervals::count(run.load.elapsed, every);
    let reading = |boundary: usize| run.readings.iter().find(|r| r.boundary == boundary);
    intervals::folded(&run.load.intervals, count)
        .iter()
        .enumerate()
        .map(|(i, tally)| {
            let last = i + 1 == count;
            let start = every.saturating_mul(u32::try_from(i).unwrap_or(u32::MAX));
            let seconds =
                if last { run.load.elapsed.saturating_sub(start).as_secs_f64() } else { every.as_secs_f64() };
            // Read at the interval's end: the last one's boundary while the run still held its
            // connections, else (the run ended before its clock came round) as it ended.
            let end = reading(i + 1).or_else(|| reading(Reading::END).filter(|_| last));
            let server = end.and_then(|r| r.server.as_ref());
            let spent =
                reading(i).and_then(|r| r.server.as_ref()).zip(server).map(|(b, a)| Spent::between(b, a));
            let harness = end.and_then(|r| r.harness);
            Interval {
                end_s: start.as_secs_f64() + seconds,
                seconds,
                complete: tally.complete,
                failed: tally.failures.total(),
                non_2xx: tally.non_2xx,
                requests_per_second: if seconds > 0.0 { tally.complete as f64 / seconds } else { 0.0 },
                latency_us: Percentiles::of(&tally.latency),
                server_rss_kib: server.map(|s| s.rss_kib),
                server_fds: server.and_then(|s| s.fds),
                server_threads: server.map(|s| s.threads),
                server_cpu_us_per_request: spent.and_then(|s| s.cpu_us_per_request(tally.complete)),
                harness_rss_kib: harness.map(|h| h.rss_kib),
                harness_fds: harness.map(|h| h.fds),
            }
        })
        .collect()
}

/// A cell's mechanics: each side's from the run with the median system calls per request
/// (its top calls stay one run's own).
fn cell_mechanics(runs: &[Run]) -> Option<Sides> {
    let median_of = |side: fn(&Sides) -> Option<&Mechanics>| -> Option<Mechanics> {
        let mut counted: Vec<&Mechanics> =
            runs.iter().filter_map(|r| r.mechanics.as_ref().and_then(side)).collect();
        counted.sort_by(|a, b| a.syscalls_per_request.total_cmp(&b.syscalls_per_request));
        counted.get(counted.len() / 2).map(|m| (*m).clone())
    };
    let sides = Sides { server: median_of(|s| s.server.as_ref()), load: median_of(|s| s.load.as_ref()) };
    (sides.server.is_some() || sides.load.is_some()).then_some(sides)
}

/// A cell's cost: each CPU figure's median over the runs, the most memory and threads of any run.
fn cell_cost(runs: &[Run]) -> Option<Cost> {
    let costs: Vec<&Cost> = runs.iter().filter_map(|r| r.server.as_ref()).collect();
    if costs.is_empty() {
        return None;
    }
    Some(Cost {
        cpu_us_per_request: median(&costs.iter().filter_map(|c| c.cpu_us_per_request).collect::<Vec<_>>()),
        cpu_utilization: median(&costs.iter().filter_map(|c| c.cpu_utilization).collect::<Vec<_>>()),
        rss_kib: costs.iter().map(|c| c.rss_kib).max().unwrap_or(0),
        threads: costs.iter().map(|c| c.threads).max().unwrap_or(0),
        rss_per_connection_kib: median(
            &costs.iter().filter_map(|c| c.rss_per_connection_kib).collect::<Vec<_>>(),
        ),
        kernel_kib: median(&costs.iter().filter_map(|c| c.kernel_kib).collect::<Vec<_>>()),
        kernel_kib_per_connection: median(
            &costs.iter().filter_map(|c| c.kernel_kib_per_connection).collect::<Vec<_>>(),
        ),
    })
}

/// What the runs say about how they were measured, in words, each said once.
fn notes(runs: &[MeasuredRun]) -> Vec<String> {
    let mut notes: Vec<String> = Vec::new();
    let mut say = |note: String| {
        if !notes.contains(&note) {
            notes.push(note);
        }
    };
    let sum = |f: fn(&LoadResult) -> u64| runs.iter().map(|r| f(&r.load)).sum::<u64>();
    for run in runs {
        match run.status {
            Status::Complete => {}
            Status::CutShort => say("a run hit max_run_time: its rate is over the whole window and what was open failed as timeouts".into()),
            Status::Interrupted => say("interrupted (Ctrl-C or SIGTERM): a run was cut short; its rate is over the whole window".into()),
            Status::ServerDied => say("the server died during a run: no rate is reported for this cell".into()),
        }
        if let Some(reason) = &run.load.first_protocol_error {
            say(format!("unreadable response: {reason}"));
        }
        for failure in &run.load.pin_failures {
            say(format!(
                "a load thread could not be pinned ({failure}); it ran on CPUs {}",
                crate::affinity::cpu_list(&run.load.cpus_in_force)
            ));
        }
    }
    let unclosed = sum(|l| l.unclosed);
    if unclosed > 0 {
        say(format!(
            "{unclosed} responses were not followed by the server's close within {} s; the client closed those connections (not failures)",
            crate::load::CLOSE_WAIT.as_secs()
        ));
    }
    let closed = sum(|l| l.closed_while_idle);
    if closed > 0 {
        say(format!("the server closed {closed} idle connections while they were held (its idle timeout?)"));
    }
    let unanswered = sum(|l| l.unanswered_connects);
    if unanswered > 0 {
        say(format!(
            "{unanswered} connects were still unanswered when the last request was taken (the server's listen \
             queue was full?); closed holding no request, as ab does"
        ));
    }
    let retried = sum(|l| l.retried);
    if retried > 0 {
        say(format!(
            "{retried} requests were sent again on a new connection: the server closed (or reset) a reused keep-alive \
             connection before answering them (as ab does; each counts once)"
        ));
    }
    let abandoned = sum(|l| l.abandoned);
    if abandoned > 0 {
        say(format!(
            "{abandoned} requests were in progress when a run was stopped (neither complete nor failed)"
        ));
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A load host's part of a run: `cpu` seconds of CPU on one thread over one second.
    fn host_part(cpu: f64) -> LoadResult {
        let mut part = LoadResult::empty();
        part.complete = 1000;
        part.elapsed = Duration::from_secs(1);
        part.cpu = Duration::from_secs_f64(cpu);
        part.threads = 1;
        part
    }

    /// A run's intervals: its tallies cut to whole intervals (the remainder joins the last),
    /// adding up to the run, each with the server as read at its end — the last one's at its
    /// boundary, while the connections were still open, not after the run closed them.
    #[test]
    fn a_run_interval_by_interval() {
        use crate::cost::{Footprint, GroupSample};
        use crate::load::intervals::Timeline;
        use std::time::Instant;
        let origin = Instant::now();
        let every = Duration::from_secs(10);
        let mut timeline = Timeline::new(origin, Some(every));
        let mut load = LoadResult::empty();
        // 35 responses over 35.5 s, one a second; the last at 35 s joins the third interval.
        for s in 0..36u64 {
            let tally = timeline.at(origin + Duration::from_secs(s)).expect("kept");
            tally.complete += 1;
            tally.latency.record(1_000 * (s + 1)).expect("recorded");
            load.complete += 1;
        }
        timeline.at(origin + Duration::from_secs(21)).expect("kept").failures.timeout += 1;
        load.failures.timeout = 1;
        (load.intervals, load.interval, load.elapsed) =
            (timeline.tallies, Some(every), Duration::from_millis(35_500));
        let sample = |s: u64, rss_kib: u64, fds: u64| GroupSample {
            at: origin + Duration::from_secs(s),
            cpu: Duration::from_millis(s * 10),
            rss_kib,
            threads: 2,
            processes: 1,
            fds: Some(fds),
            tcp: None,
            mechanics: None,
            socket_bytes: None,
        };
        let footprint = Some(Footprint { rss_kib: 9000, fds: 20 });
        let readings = [(0, 1000, 60), (1, 1010, 60), (2, 1020, 61), (3, 1030, 62), (Reading::END, 1030, 10)]
            .map(|(boundary, rss, fds)| Reading {
                boundary,
                server: Some(sample(boundary.min(36) as u64 * 10, rss, fds)),
                harness: footprint,
            });
        let run = MeasuredRun {
            load,
            started_at: 0,
            server: None,
            idle_rss_kib: None,
            idle_kernel_kib: None,
            status: Status::Complete,
            tcp: None,
            readings: readings.to_vec(),
        };
        let intervals = intervals_of(&run);
        let completes: Vec<u64> = intervals.iter().map(|i| i.complete).collect();
        assert_eq!(completes, [10, 10, 16]);
        assert_eq!(intervals.iter().map(|i| i.failed).sum::<u64>(), 1);
        assert_eq!(intervals[2].seconds, 15.5);
        assert_eq!(intervals[2].end_s, 35.5);
        let rss: Vec<Option<u64>> = intervals.iter().map(|i| i.server_rss_kib).collect();
        assert_eq!(rss, [Some(1010), Some(1020), Some(1030)]);
        assert_eq!(intervals[2].server_fds, Some(62), "read at its boundary, connections open");
        assert_eq!(intervals[0].server_cpu_us_per_request, Some(10_000.0), "100 ms over 10 requests");
        assert_eq!(intervals[0].harness_fds, Some(20));
        let drift = summarize(&point(), &[run]).runs[0].drift().map(|d| (d.flat(), d.failed));
        assert_eq!(drift, Some((Some(false), 1)), "a failed request is never flat");
    }

    fn point() -> Point {
        Point {
            scenario: "soak".into(),
            variant: "tokio".into(),
            workers: 1,
            workers_axis: false,
            mode: Mode::Closed,
            concurrency: 2,
            rate: None,
            keep_alive: true,
            requests: 36,
            server_cpus: vec![0],
            server_cpus_in_force: vec![0],
            mix: Vec::new(),
        }
    }

    /// Two load hosts at 45% each are a generator at 45%, not 90% (client-bound).
    #[test]
    fn load_utilization_is_per_thread_over_every_host() {
        let mut load = host_part(0.45);
        load.absorb(&host_part(0.45));
        let point = Point { scenario: "classic".into(), keep_alive: false, requests: 2000, ..point() };
        let run = MeasuredRun {
            load,
            started_at: 0,
            server: None,
            idle_rss_kib: None,
            idle_kernel_kib: None,
            status: Status::Complete,
            tcp: None,
            readings: Vec::new(),
        };
        let cell = summarize(&point, &[run]);
        let utilization = cell.meta.load_cpu_utilization.expect("a utilization");
        assert!((utilization - 0.45).abs() < 1e-9, "{utilization}");
        assert!(!cell.meta.client_bound);
    }
}
