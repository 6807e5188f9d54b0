//! The command line: `harness list`, `harness serve VARIANT [server options]`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use server_spec::cli::ServerArgs;

use crate::registry;

#[derive(Debug, Parser)]
#[command(name = "harness", version, about = "What does the concurrency model cost? Measure it.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the sweep a matrix file describes (`harness MATRIX` means the same).
    Run(RunArgs),
    /// List the built-in server variants.
    List,
    /// Run one server variant in the foreground.
    Serve {
        /// A name from `harness list`.
        variant: String,
        #[command(flatten)]
        args: ServerArgs,
    },
    /// Drive one server (any, on loopback) with the harness's load generator, like ab.
    Load(LoadArgs),
}

/// `harness run`: the sweep.
#[derive(Debug, clap::Args)]
struct RunArgs {
    /// The matrix file, e.g. `matrix.toml`.
    matrix: std::path::PathBuf,
    /// Measure only these variants (names from the matrix), e.g. `--only tokio,smol`.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Where the results directory (`<UTC stamp>/`) is created.
    #[arg(long, default_value = "results")]
    out: std::path::PathBuf,
    /// Report figures even from an unoptimized build (they mean little).
    #[arg(long)]
    allow_unoptimized: bool,
}

/// `harness load`: one ab-style run against a URL.
#[derive(Debug, clap::Args)]
struct LoadArgs {
    /// `http://127.0.0.1:PORT/path` (loopback only).
    url: String,
    /// Requests to complete.
    #[arg(short = 'n', long, default_value_t = 1000)]
    requests: u64,
    /// Connections at once.
    #[arg(short = 'c', long, default_value_t = 1)]
    concurrency: usize,
    /// Persistent HTTP/1.1 connections (default: a new HTTP/1.0 connection per request).
    #[arg(short = 'k', long)]
    keep_alive: bool,
    /// CPUs to run load threads on, one thread each (e.g. `1` or `2,3`).
    #[arg(long, value_delimiter = ',')]
    cpus: Vec<usize>,
    /// Per-request timeout.
    #[arg(long, default_value = "10s", value_parser = server_spec::cli::parse_duration)]
    timeout: std::time::Duration,
}

/// Subcommand names; any other first argument is a matrix path (`harness matrix.toml`).
const SUBCOMMANDS: [&str; 6] = ["run", "list", "serve", "load", "help", "--help"];

/// Exit status for a configuration error, before anything starts.
pub const EXIT_CONFIG: u8 = 2;
/// Exit status when some cell had failed requests or a variant could not be measured.
pub const EXIT_FAILURES: u8 = 1;
/// Exit status after SIGINT/SIGTERM (128 + SIGINT).
pub const EXIT_INTERRUPTED: u8 = 130;

/// `harness PATH` means `harness run PATH`.
fn with_implied_run(mut args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let first = args.get(1).and_then(|a| a.to_str()).map(str::to_owned);
    if let Some(first) = first {
        if !first.starts_with('-') && !SUBCOMMANDS.contains(&first.as_str()) {
            args.insert(1, "run".into());
        }
    }
    args
}

/// Parses the command line and runs it; returns the process exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse_from(with_implied_run(std::env::args_os().collect()));
    let result = match cli.command {
        Command::Run(args) => return sweep(&args),
        Command::List => {
            list();
            Ok(())
        }
        Command::Serve { variant, args } => serve(&variant, &args),
        Command::Load(args) => load(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("Error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn list() {
    use crate::report::table::{render, Align};
    let rows: Vec<Vec<String>> = registry::VARIANTS
        .iter()
        .map(|v| {
            vec![v.name.into(), v.runtime.into(), v.io.name().into(), v.threading.into(), v.workers.into()]
        })
        .collect();
    let headers = ["variant", "runtime", "I/O", "threading model", "--workers N means"];
    print!("{}", render(&headers, &[Align::Left; 5], &rows));
}

fn serve(name: &str, args: &ServerArgs) -> anyhow::Result<()> {
    let variant = registry::find(name)
        .ok_or_else(|| anyhow::anyhow!("no variant `{name}`; known: {}", registry::names()))?;
    server_common::start(variant, args)
}

fn load(args: &LoadArgs) -> anyhow::Result<()> {
    let (addr, path) = parse_loopback_url(&args.url)?;
    let spec = crate::load::LoadSpec {
        addr,
        path,
        requests: args.requests,
        concurrency: args.concurrency.max(1),
        keep_alive: args.keep_alive,
        timeout: args.timeout,
        max_duration: std::time::Duration::from_secs(600),
        cpus: args.cpus.clone(),
    };
    let result = crate::load::run(&spec, std::sync::Arc::default())?;
    let t =
        crate::stats::Throughput::of(result.elapsed, result.complete, result.total_bytes, spec.concurrency);
    let p = crate::stats::Percentiles::of(&result.latencies.total);
    println!("Concurrency Level:      {}", spec.concurrency);
    println!("Time taken for tests:   {:.3} seconds", t.time_taken_s);
    println!("Complete requests:      {}", result.complete);
    println!("Failed requests:        {} {:?}", result.failures.total(), result.failures);
    println!("Non-2xx responses:      {}", result.non_2xx);
    println!("Total transferred:      {} bytes", result.total_bytes);
    println!("Requests per second:    {:.2} [#/sec] (mean)", t.requests_per_second);
    println!("Time per request:       {:.3} [ms] (mean)", t.time_per_request_ms);
    println!("Transfer rate:          {:.2} [Kbytes/sec] received", t.transfer_rate_kb_s);
    println!(
        "Latency (us):           mean {:.1}, p50 {:.1}, p90 {:.1}, p99 {:.1}, p99.9 {:.1}, max {:.1}",
        p.mean, p.p50, p.p90, p.p99, p.p999, p.max
    );
    Ok(())
}

/// Splits `http://IP:PORT/path` into a loopback address and a path. Other hosts are refused:
/// the harness only ever sends load to this machine.
pub fn parse_loopback_url(url: &str) -> anyhow::Result<(std::net::SocketAddr, String)> {
    let rest = url.strip_prefix("http://").ok_or_else(|| anyhow::anyhow!("`{url}`: only http:// URLs"))?;
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], rest[at..].to_owned()),
        None => (rest, "/".to_owned()),
    };
    let authority = authority.replace("localhost", "127.0.0.1");
    let addr: std::net::SocketAddr = authority
        .parse()
        .map_err(|_| anyhow::anyhow!("`{url}`: the host must be an IP address and a port"))?;
    anyhow::ensure!(addr.ip().is_loopback(), "`{url}`: load goes only to loopback (127.0.0.0/8, ::1)");
    Ok((addr, path))
}

fn sweep(args: &RunArgs) -> ExitCode {
    match try_sweep(args) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("Error: {err:#}");
            ExitCode::from(EXIT_FAILURES)
        }
    }
}

fn try_sweep(args: &RunArgs) -> anyhow::Result<u8> {
    use anyhow::Context;
    let file = args.matrix.display().to_string();
    let source = match std::fs::read_to_string(&args.matrix) {
        Ok(source) => source,
        Err(err) => {
            eprintln!("{file}: cannot read: {err}");
            return Ok(EXIT_CONFIG);
        }
    };
    let mut plan = match crate::matrix::parse(&file, &source, crate::affinity::available_cpus()) {
        Ok(plan) => plan,
        Err(err) => {
            eprintln!("{err}");
            return Ok(EXIT_CONFIG);
        }
    };
    if let Err(err) = plan.keep_only(&args.only) {
        eprintln!("{err}");
        return Ok(EXIT_CONFIG);
    }
    if crate::meta::unoptimized() && !args.allow_unoptimized {
        eprintln!(
            "this harness was built without optimization ({}), so its servers would be too and every figure \
             would mislead; build with optimization (the README's command does) or pass --allow-unoptimized",
            crate::meta::build_profile()
        );
        return Ok(EXIT_CONFIG);
    }
    for warning in &plan.warnings {
        eprintln!("warning: {warning}");
    }
    let interrupt = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal while stopping exits at once; the servers die with us (PDEATHSIG).
        signal_hook::flag::register_conditional_shutdown(
            signal,
            i32::from(EXIT_INTERRUPTED),
            interrupt.clone(),
        )
        .context("cannot install the signal handler")?;
        signal_hook::flag::register(signal, interrupt.clone())
            .context("cannot install the signal handler")?;
    }
    let started = crate::meta::now_utc();
    let mut results = crate::results::Results {
        meta: crate::results::Meta {
            started_utc: started.clone(),
            matrix: file,
            harness_version: env!("CARGO_PKG_VERSION").into(),
            git_commit: crate::meta::git_commit(),
            build_profile: crate::meta::build_profile(),
            kernel: crate::meta::kernel(),
            cpu_model: crate::meta::cpu_model(),
            cpus: crate::affinity::available_cpus(),
            server_cpus: plan.placement.server_cpus.clone(),
            load_cpus: plan.placement.load_cpus.clone(),
            requests: plan.sweep.requests,
            concurrency: plan.sweep.concurrency.clone(),
            keep_alive: plan.sweep.keep_alive,
            warmup: plan.sweep.warmup,
            repeat: plan.sweep.repeat,
            path: plan.sweep.path.clone(),
            timeout_s: plan.sweep.timeout.as_secs_f64(),
            load_generator: format!(
                "harness closed loop (mio), {} thread(s), one shared request counter",
                plan.placement.load_cpus.len()
            ),
        },
        cells: Vec::new(),
        problems: Vec::new(),
    };
    let dir = crate::export::ResultsDir::create(&args.out, &started.replace(':', "-"))?;
    print!("{}", crate::report::header(&results));
    let ending = crate::sweep::run(&plan, &mut results, &dir, &interrupt)?;
    dir.write(&results, None)?;
    if !results.cells.is_empty() {
        print!("{}", crate::report::comparison(&results));
    }
    print!("{}", crate::report::problems(&results));
    println!("Results: {}", dir.path.display());
    Ok(match ending {
        crate::sweep::Ending::Interrupted => {
            eprintln!("interrupted: servers stopped; results so far are in {}", dir.path.display());
            EXIT_INTERRUPTED
        }
        crate::sweep::Ending::Finished if results.all_clean() => 0,
        crate::sweep::Ending::Finished => {
            let failed: u64 = results.cells.iter().map(|c| c.failed_all_runs).sum();
            eprintln!(
                "not clean: {failed} failed requests, {} variant problem(s); see Problems above",
                results.problems.len()
            );
            EXIT_FAILURES
        }
    })
}
