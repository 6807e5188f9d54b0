//! The sweep: for each variant, start it, verify it, measure every concurrency level, stop
//! it; record and write each cell as it finishes. A variant that fails to start, answers
//! wrongly or dies is reported and cleaned up, and the sweep goes on.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use indicatif::ProgressBar;

use crate::export::ResultsDir;
use crate::load::{self, LoadResult, LoadSpec};
use crate::matrix::{Launch, Plan, VariantPlan};
use crate::results::{Cell, Problem, Results, Run};
use crate::server::{self, RunningServer};
use crate::stats::{Percentiles, Spread, Throughput};
use crate::{report, verify};

/// How the sweep ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Every cell ran; see [`Results::all_clean`] for failures.
    Finished,
    /// SIGINT/SIGTERM: stopped early, servers cleaned up.
    Interrupted,
}

/// Runs the whole plan, printing each variant's tables as it finishes.
pub fn run(
    plan: &Plan,
    results: &mut Results,
    dir: &ResultsDir,
    interrupt: &Arc<AtomicBool>,
) -> anyhow::Result<Ending> {
    let runs_per_variant = (plan.sweep.concurrency.len() * plan.sweep.repeat) as u64;
    let bar = crate::progress::bar(runs_per_variant * plan.variants.len() as u64);
    for variant in &plan.variants {
        if interrupt.load(Ordering::Relaxed) {
            break;
        }
        bar.set_message(format!("{}: starting", variant.name));
        let before = bar.position();
        let problem = match measure_variant(plan, variant, results, dir, interrupt, &bar) {
            Ok(()) => None,
            Err(problem) => {
                let problem = format!("{problem:#}");
                results.problems.push(Problem { variant: variant.name.clone(), problem: problem.clone() });
                Some(problem)
            }
        };
        bar.set_position(before + runs_per_variant);
        dir.write(results, None)?;
        let mut section = if results.cells.iter().any(|c| c.variant == variant.name) {
            report::variant_section(results, &variant.name)
        } else {
            format!("## {}\n\n", variant.name)
        };
        if let Some(problem) = problem {
            section.push_str(&format!("**Problem:** {problem}\n\n"));
        }
        bar.suspend(|| print!("{section}"));
    }
    bar.finish_and_clear();
    Ok(if interrupt.load(Ordering::Relaxed) { Ending::Interrupted } else { Ending::Finished })
}

/// Starts, verifies, measures and stops one variant. An error is that variant's problem.
fn measure_variant(
    plan: &Plan,
    variant: &VariantPlan,
    results: &mut Results,
    dir: &ResultsDir,
    interrupt: &Arc<AtomicBool>,
    bar: &ProgressBar,
) -> anyhow::Result<()> {
    let mut server = server::start(variant, &plan.placement.server_cpus)?;
    let addr = server.addr;
    let spec_for = |concurrency: usize, requests: u64| LoadSpec {
        addr,
        path: plan.sweep.path.clone(),
        requests,
        concurrency,
        keep_alive: plan.sweep.keep_alive,
        timeout: plan.sweep.timeout,
        max_duration: plan.sweep.max_run_time,
        cpus: plan.placement.load_cpus.clone(),
    };
    let request = spec_for(1, 1).request();
    verify::verify(server.addr, &request, variant.verify)
        .map_err(|err| anyhow::anyhow!("refused before measuring: {err:#}"))?;
    for &concurrency in &plan.sweep.concurrency {
        if interrupt.load(Ordering::Relaxed) {
            break;
        }
        if let Err(err) = server.check_alive() {
            anyhow::bail!("{err:#} before concurrency {concurrency}; its remaining cells were not run");
        }
        bar.set_message(format!("{} c={concurrency}", variant.name));
        if plan.sweep.warmup > 0 {
            load::run(&spec_for(concurrency, plan.sweep.warmup), interrupt.clone())?;
        }
        let mut runs = Vec::with_capacity(plan.sweep.repeat);
        for _ in 0..plan.sweep.repeat {
            runs.push(load::run(&spec_for(concurrency, plan.sweep.requests), interrupt.clone())?);
            bar.inc(1);
        }
        let mut cell = summarize(variant, concurrency, plan, &runs);
        if let Some(status) = server.exit_status() {
            cell.note =
                Some(format!("the server exited ({status}) during this cell{}", server.stderr_note()));
        } else if runs.iter().any(|r| r.cut_short) {
            cell.note = Some("a run was cut short (max_run_time or interrupt)".into());
        }
        let died = cell.note.is_some() && server.exit_status().is_some();
        results.cells.push(cell);
        dir.write(results, results.cells.last())?;
        if died {
            anyhow::bail!(
                "the server died at concurrency {concurrency}{}; its remaining cells were not run",
                server.stderr_note()
            );
        }
    }
    stop(server, matches!(variant.launch, Launch::Builtin(_)))
}

/// Stops the server. Built-ins must exit 0 on SIGTERM (the spec says so); other programs may
/// also simply die of the signal.
fn stop(mut server: RunningServer, builtin: bool) -> anyhow::Result<()> {
    use std::os::unix::process::ExitStatusExt;
    if let Some(status) = server.exit_status() {
        anyhow::bail!("the server exited early ({status}){}", server.stderr_note());
    }
    match server.stop() {
        Some(status) if status.success() => Ok(()),
        Some(status) if !builtin && status.signal() == Some(libc::SIGTERM) => Ok(()),
        Some(status) => anyhow::bail!("the server did not stop cleanly on SIGTERM ({status})"),
        None => anyhow::bail!("the server's exit status is unknown"),
    }
}

/// One cell from its runs: ab figures from the median run, percentiles from all runs.
fn summarize(variant: &VariantPlan, concurrency: usize, plan: &Plan, runs: &[LoadResult]) -> Cell {
    let throughputs: Vec<Throughput> =
        runs.iter().map(|r| Throughput::of(r.elapsed, r.complete, r.total_bytes, concurrency)).collect();
    let rps: Vec<f64> = throughputs.iter().map(|t| t.requests_per_second).collect();
    let spread = Spread::of(&rps).filter(|_| runs.len() > 1);
    // The run whose requests per second is the (upper) median.
    let mut order: Vec<usize> = (0..runs.len()).collect();
    order.sort_by(|a, b| rps[*a].total_cmp(&rps[*b]));
    let median = order[order.len() / 2];
    let (run, throughput) = (&runs[median], throughputs[median]);
    let mut latencies = load::Latencies::new();
    for r in runs {
        latencies.merge(&r.latencies);
    }
    Cell {
        variant: variant.name.clone(),
        workers: variant.workers,
        concurrency,
        keep_alive: plan.sweep.keep_alive,
        requests: plan.sweep.requests,
        complete: run.complete,
        failed: run.failures.total(),
        failures: run.failures,
        non_2xx: run.non_2xx,
        total_transferred_bytes: run.total_bytes,
        html_transferred_bytes: run.body_bytes,
        time_taken_s: throughput.time_taken_s,
        requests_per_second: throughput.requests_per_second,
        time_per_request_ms: throughput.time_per_request_ms,
        transfer_rate_kb_s: throughput.transfer_rate_kb_s,
        latency_us: Percentiles::of(&latencies.total),
        connect_us: Percentiles::of(&latencies.connect),
        ttfb_us: Percentiles::of(&latencies.ttfb),
        runs: runs
            .iter()
            .zip(&throughputs)
            .map(|(r, t)| Run {
                time_taken_s: t.time_taken_s,
                complete: r.complete,
                failed: r.failures.total(),
                non_2xx: r.non_2xx,
                requests_per_second: t.requests_per_second,
            })
            .collect(),
        requests_per_second_spread: spread,
        noisy: spread.is_some_and(|s| s.is_noisy()),
        failed_all_runs: runs.iter().map(|r| r.failures.total()).sum(),
        note: None,
        latencies,
    }
}
