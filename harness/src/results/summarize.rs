//! One [`Cell`] from its measured runs: ab's figures from the median run, percentiles from the
//! merged histograms, the server's cost, and every run's own figures.

use crate::cost::{utilization, Spent};
use crate::load::{Latencies, LoadResult};
use crate::stats::{median, Percentiles, Spread, Throughput};

use super::{Cell, CellMeta, Cost, Encoded, Histograms, Mechanics, Mode, Run, Sides, Status, TcpCounters};

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
    }
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

    /// Two load hosts at 45% each are a generator at 45%, not 90% (client-bound).
    #[test]
    fn load_utilization_is_per_thread_over_every_host() {
        let mut load = host_part(0.45);
        load.absorb(&host_part(0.45));
        let point = Point {
            scenario: "classic".into(),
            variant: "tokio".into(),
            workers: 1,
            workers_axis: false,
            mode: Mode::Closed,
            concurrency: 2,
            rate: None,
            keep_alive: false,
            requests: 2000,
            server_cpus: vec![0],
            server_cpus_in_force: vec![0],
        };
        let run = MeasuredRun {
            load,
            started_at: 0,
            server: None,
            idle_rss_kib: None,
            idle_kernel_kib: None,
            status: Status::Complete,
            tcp: None,
        };
        let cell = summarize(&point, &[run]);
        let utilization = cell.meta.load_cpu_utilization.expect("a utilization");
        assert!((utilization - 0.45).abs() < 1e-9, "{utilization}");
        assert!(!cell.meta.client_bound);
    }
}
