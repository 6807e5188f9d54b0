//! `harness run MATRIX`: the main job. Reads and validates the matrix (every problem at once,
//! exit 2), prepares the results directory, signals and the watchdog, runs the sweep, prints
//! the report, and makes sure the results are written somewhere.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use std::path::PathBuf;

use super::exit::TERMINATED as EXIT_TERMINATED;
use super::exit::{CONFIG as EXIT_CONFIG, FAILURES as EXIT_FAILURES, INTERRUPTED as EXIT_INTERRUPTED};
use crate::export::{Output, ResultsDir};
use crate::plan::{Launch, Load, Plan, Scenario, VariantPlan};
use crate::process::watchdog::Watchdog;
use crate::results::{HostMeta, Meta, ProblemKind, Results, ScenarioMeta, VariantMeta, SCHEMA_VERSION};
use crate::sweep::{self, Ending};

/// `harness run`'s arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The matrix file, e.g. `matrix.toml`.
    pub matrix: PathBuf,
    /// Measure only these variants (names from the matrix), e.g. `--only tokio,smol`.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Where the results directory (`<UTC stamp>/`) is created.
    #[arg(long, default_value = "results")]
    pub out: PathBuf,
    /// Report figures even from an unoptimized build (they mean little).
    #[arg(long)]
    pub allow_unoptimized: bool,
    /// Profile every scenario (as `profile = true`): one extra run per cell under `perf record`,
    /// a flame graph beside the results and the top symbols in the report.
    #[arg(long)]
    pub profile: bool,
    /// After a clean sweep, keep its results.json as baseline NAME, in `<--out>/baselines/NAME.json`
    /// (replacing one of that name), for `harness compare --baseline NAME NEW`.
    #[arg(long, value_name = "NAME")]
    pub save_baseline: Option<crate::baselines::Name>,
}

/// How long after Ctrl-C the harness exits even if something still blocks: the promise is
/// "within a second".
const INTERRUPT_BACKSTOP: Duration = Duration::from_millis(900);

pub fn run(args: &Args) -> ExitCode {
    match prepare(args) {
        Ok(prepared) => ExitCode::from(sweep(prepared)),
        Err(code) => ExitCode::from(code),
    }
}

/// Everything validated before anything starts.
struct Prepared {
    plan: Plan,
    file: String,
    output: Output,
    /// Where a clean sweep's results are kept as a baseline: the results parent and the name.
    save_baseline: Option<(PathBuf, crate::baselines::Name)>,
}

/// Reads the matrix, validates it and the options, creates the results directory. A problem
/// here is a configuration error: printed, exit 2, nothing started.
fn prepare(args: &Args) -> Result<Prepared, u8> {
    let file = args.matrix.display().to_string();
    let source = std::fs::read_to_string(&args.matrix).map_err(|err| {
        eprintln!("{file}: cannot read: {err}");
        EXIT_CONFIG
    })?;
    let mut plan = crate::matrix::parse(&file, &source, crate::affinity::online_cpus()).map_err(|err| {
        eprintln!("{err}");
        EXIT_CONFIG
    })?;
    plan.keep_only(&args.only).map_err(|err| {
        eprintln!("{err}");
        EXIT_CONFIG
    })?;
    if args.profile {
        plan.profile_all();
    }
    if crate::meta::unoptimized() && !args.allow_unoptimized {
        eprintln!(
            "this harness was built without optimization ({}), so its servers would be too and every figure \
             would mislead; build with optimization (the README's command does) or pass --allow-unoptimized",
            crate::meta::build_profile()
        );
        return Err(EXIT_CONFIG);
    }
    let stamp = crate::meta::now_utc().replace(':', "-");
    let dir = ResultsDir::create(&args.out, &stamp).map_err(|err| {
        eprintln!("--out {}: unusable: {err:#}", args.out.display());
        EXIT_CONFIG
    })?;
    if let Err(err) = dir.mark_latest() {
        eprintln!("note: cannot point {}/latest at this run: {err}", args.out.display());
    }
    let save_baseline = args.save_baseline.clone().map(|name| (args.out.clone(), name));
    Ok(Prepared { plan, file, output: Output::new(dir), save_baseline })
}

/// Which signal ended the sweep.
#[derive(Debug)]
struct Signals {
    interrupt: Arc<AtomicBool>,
    terminated: Arc<AtomicBool>,
}

impl Signals {
    /// SIGINT and SIGTERM set `interrupt` (SIGTERM also `terminated`); a second one exits at
    /// once (the watchdog then kills the servers).
    fn install() -> anyhow::Result<Signals> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let interrupt = Arc::new(AtomicBool::new(false));
        let terminated = Arc::new(AtomicBool::new(false));
        for (signal, status) in [(SIGINT, EXIT_INTERRUPTED), (SIGTERM, EXIT_TERMINATED)] {
            signal_hook::flag::register_conditional_shutdown(signal, i32::from(status), interrupt.clone())?;
            signal_hook::flag::register(signal, interrupt.clone())?;
        }
        signal_hook::flag::register(SIGTERM, terminated.clone())?;
        let signals = Signals { interrupt, terminated };
        signals.backstop();
        Ok(signals)
    }

    /// Once interrupted, exits after [`INTERRUPT_BACKSTOP`] whatever still blocks; results
    /// are on disk after every cell, and the watchdog kills the servers.
    fn backstop(&self) {
        let (interrupt, terminated) = (self.interrupt.clone(), self.terminated.clone());
        let _ = std::thread::Builder::new().name("interrupt-backstop".into()).spawn(move || {
            while !interrupt.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(20));
            }
            std::thread::sleep(INTERRUPT_BACKSTOP);
            eprintln!("interrupted: exiting now; results so far are in the results directory");
            let status = if terminated.load(Ordering::Relaxed) { EXIT_TERMINATED } else { EXIT_INTERRUPTED };
            std::process::exit(i32::from(status));
        });
    }

    fn exit_status(&self) -> u8 {
        if self.terminated.load(Ordering::Relaxed) {
            EXIT_TERMINATED
        } else {
            EXIT_INTERRUPTED
        }
    }
}

fn sweep(prepared: Prepared) -> u8 {
    let Prepared { plan, file, mut output, save_baseline } = prepared;
    for warning in &plan.warnings {
        eprintln!("warning: {warning}");
    }
    let signals = match Signals::install() {
        Ok(signals) => signals,
        Err(err) => {
            eprintln!("Error: cannot install the signal handlers: {err:#}");
            return EXIT_FAILURES;
        }
    };
    let watchdog = match Watchdog::start() {
        Ok(watchdog) => Arc::new(watchdog),
        Err(err) => {
            eprintln!("Error: {err:#}");
            return EXIT_FAILURES;
        }
    };
    let mut results = Results {
        schema_version: SCHEMA_VERSION,
        meta: meta(&plan, &file),
        cells: Vec::new(),
        problems: Vec::new(),
        interrupted: false,
        calibration: Vec::new(),
    };
    print!("{}", crate::report::header(&results));
    let context = sweep::Context { interrupt: signals.interrupt.clone(), watchdog };
    let ending = sweep::run(&plan, &mut results, &mut output, &context);
    if let Some(said) = results.replace_missing_baseline() {
        eprintln!("warning: {said}");
    }
    print!("\n{}", crate::report::body(&results));
    print!("{}", crate::report::verdict::markdown(&results));
    let fallback = std::env::temp_dir().join("runtime-matrix-results");
    let written = output.finish(&results, &fallback);
    match &written {
        Ok(path) => println!(
            "Results: {} — open {} in a browser (verdict first, then plots); report.md, results.json, results.csv beside it",
            path.display(),
            path.join("report.html").display()
        ),
        Err(why) => eprintln!("error: {why}"),
    }
    if ending == Ending::Interrupted {
        eprintln!("interrupted: servers stopped; results so far are marked as interrupted");
        if let Some((_, name)) = &save_baseline {
            eprintln!("not saved as baseline `{name}`: the sweep was interrupted");
        }
        return signals.exit_status();
    }
    let status = verdict(&results, written.is_ok());
    match (&save_baseline, &written) {
        (Some((out, name)), Ok(dir)) if status == 0 => keep_baseline(out, name, dir),
        (Some((_, name)), _) => {
            eprintln!("not saved as baseline `{name}`: a baseline must come from a clean sweep (see above)");
            status
        }
        (None, _) => status,
    }
}

/// Keeps `dir`'s results.json as baseline `name` under `out`; 0, or 1 when it cannot be written.
fn keep_baseline(out: &std::path::Path, name: &crate::baselines::Name, dir: &std::path::Path) -> u8 {
    match crate::baselines::save(out, name, &dir.join("results.json")) {
        Ok(path) => {
            println!(
                "Baseline `{name}` saved: {} (compare with: harness compare --baseline {name} NEW)",
                path.display()
            );
            0
        }
        Err(err) => {
            eprintln!("error: cannot save baseline `{name}`: {err:#}");
            EXIT_FAILURES
        }
    }
}

/// 0 when every runnable variant was measured cleanly and the results were written; 1
/// otherwise, with a summary.
fn verdict(results: &Results, written: bool) -> u8 {
    let not_runnable = results.problems.iter().filter(|p| p.kind == ProblemKind::NotRunnable).count();
    if results.cells.is_empty() {
        eprintln!(
            "nothing was measured: every variant was refused, failed or cannot run here ({} problem(s)); see above",
            results.problems.len()
        );
        return EXIT_FAILURES;
    }
    if not_runnable > 0 {
        eprintln!(
            "note: {not_runnable} variant(s) cannot run on this machine; they do not change the verdict"
        );
    }
    if !results.all_clean() {
        let failed: u64 = results.cells.iter().map(|c| c.failed_all_runs).sum();
        let problems = results.problems.len() - not_runnable;
        eprintln!("not clean: {failed} failed requests, {problems} variant problem(s); see Problems above");
        return EXIT_FAILURES;
    }
    if !written {
        return EXIT_FAILURES;
    }
    0
}

/// A scenario's settings, as `results.json` records them.
fn scenario_meta(s: &Scenario) -> ScenarioMeta {
    let mut meta = ScenarioMeta {
        name: s.name.clone(),
        mode: s.load.mode(),
        requests: 0,
        concurrency: Vec::new(),
        rate: Vec::new(),
        keep_alive: s.keep_alive,
        warmup: s.warmup,
        repeat: s.repeat,
        path: s.path.clone(),
        timeout_s: s.timeout.as_secs_f64(),
        max_run_time_s: s.max_run_time.as_secs_f64(),
        duration_s: None,
        warmup_time_s: None,
        connections: None,
        idle_time_s: None,
        slow_clients: s.slow_clients,
        cpu_idle: s.cpu_idle,
        profile: s.profile,
        pipeline: s.pipeline,
        mix: s.mix.clone(),
        seed: s.seed,
        interval_s: Some(s.interval.as_secs_f64()),
        workers: s.workers.clone(),
        files: s.files.as_ref().map(|files| crate::results::FilesMeta {
            dir: files.dir.display().to_string(),
            size: files.size,
            count: files.names.len(),
            cache: files.cache,
        }),
    };
    match &s.load {
        Load::Closed { requests, concurrency } => {
            meta.requests = *requests;
            meta.concurrency.clone_from(concurrency);
        }
        Load::Open { rates, connections, duration, warmup_time } => {
            meta.rate.clone_from(rates);
            meta.concurrency = vec![*connections];
            meta.connections = Some(*connections);
            meta.duration_s = Some(duration.as_secs_f64());
            meta.warmup_time_s = Some(warmup_time.as_secs_f64());
        }
        Load::Scale { connections, requests, idle_time } => {
            meta.requests = *requests;
            meta.concurrency.clone_from(connections);
            meta.idle_time_s = Some(idle_time.as_secs_f64());
        }
    }
    meta
}

/// What a workers axis does to `variant`, said once among its facts: a variant that does not
/// use `--workers` (thread-per-connection), or a command that never names `{workers}`, runs
/// the same at every value but on the first N server CPUs. Nothing without an axis.
fn workers_notes(plan: &Plan, variant: &VariantPlan) -> Vec<String> {
    let axes: Vec<String> = plan
        .scenarios
        .iter()
        .filter(|s| !s.workers.is_empty())
        .map(|s| format!("`{}` at workers {:?}", s.name, s.workers))
        .collect();
    if axes.is_empty() {
        return Vec::new();
    }
    let ignored = match &variant.launch {
        Launch::Builtin(builtin) if !builtin.uses_workers => {
            Some(format!("it ignores `--workers` ({})", builtin.threading))
        }
        Launch::Builtin(_) => None,
        Launch::Command(args) => {
            let template = variant.config.as_ref().and_then(|path| std::fs::read_to_string(path).ok());
            let named = args.iter().any(|a| a.contains("{workers}"))
                || template.is_some_and(|text| text.contains("{workers}"));
            (!named).then(|| "its command (and config) never names `{workers}`".to_owned())
        }
    };
    let Some(ignored) = ignored else { return Vec::new() };
    vec![format!(
        "workers is an axis ({}), but {ignored}: at workers = N only its CPUs change (the first N server CPUs), \
         so its scaling is the CPUs', not its workers'",
        axes.join("; ")
    )]
}

/// The header facts of a sweep.
fn meta(plan: &Plan, file: &str) -> Meta {
    Meta {
        started_utc: crate::meta::now_utc(),
        matrix: file.to_owned(),
        harness_version: env!("CARGO_PKG_VERSION").into(),
        git_commit: crate::meta::git_commit(),
        build_profile: crate::meta::build_profile(),
        kernel: crate::meta::kernel(),
        cpu_model: crate::meta::cpu_model(),
        cpus: crate::affinity::online_cpus(),
        server_cpus: plan.placement.server_cpus.clone(),
        load_cpus: plan.placement.load_cpus.clone(),
        order: plan.order.name().into(),
        baseline: plan.baseline.clone(),
        server_host: plan.placement.server_host.map(|i| plan.hosts[i].name.clone()),
        load_hosts: plan.placement.load_hosts.iter().map(|i| plan.hosts[*i].name.clone()).collect(),
        hosts: plan
            .hosts
            .iter()
            .map(|h| HostMeta {
                name: h.name.clone(),
                address: h.address.to_string(),
                launcher: h.launcher.clone(),
            })
            .collect(),
        load_generator: format!(
            "harness load generator (mio event loops, HDR histograms), {} thread(s){}",
            plan.placement.load_cpus.len(),
            if plan.placement.load_hosts.is_empty() {
                String::new()
            } else {
                format!(" on each of {} load hosts", plan.placement.load_hosts.len())
            }
        ),
        scenarios: plan.scenarios.iter().map(scenario_meta).collect(),
        variants: plan
            .variants
            .iter()
            .map(|v| {
                let builtin = match &v.launch {
                    Launch::Builtin(variant) => Some(*variant),
                    Launch::Command(_) => None,
                };
                VariantMeta {
                    name: v.name.clone(),
                    launch: if builtin.is_some() { "builtin" } else { "command" }.into(),
                    builtin: builtin.map(|b| b.name.to_owned()),
                    workers: v.workers,
                    // A port the harness picks for a command is filled in once the server starts.
                    command: crate::target::local::command_line(
                        v,
                        (v.port != 0 || builtin.is_some()).then_some(v.port),
                    ),
                    runtime: builtin.map(|b| b.runtime.to_owned()),
                    runtime_version: builtin.and_then(crate::registry::runtime_version),
                    cpus_in_force: Vec::new(),
                    notes: workers_notes(plan, v),
                }
            })
            .collect(),
        warnings: plan.warnings.clone(),
        cpu_awake: Vec::new(),
    }
}
