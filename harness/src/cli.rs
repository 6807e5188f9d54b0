//! The command line: parses and dispatches, nothing else. Each subcommand's job is in
//! [`crate::commands`].

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use server_spec::cli::ServerArgs;

use crate::commands;

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
        #[command(flatten)]
        remote: RemoteServeArgs,
    },
    /// Drive one server (any, on loopback) with the harness's load generator, like ab.
    Load(LoadArgs),
    /// Compare two results (directories or results.json), or one run's variants with its baseline.
    Compare(CompareArgs),
    /// Redraw a results directory's report.md and report.html from its results.json.
    Report(ReportArgs),
    /// Kills the servers' process groups once the harness that started it is gone (internal).
    #[command(hide = true)]
    Watchdog,
    /// Prints what a process group spends (CPU, memory, threads) as one JSON line: the
    /// server-cost sampler, run on a server's host through its launcher.
    Sample {
        /// The process group to read.
        pgid: i32,
    },
    /// Checks a server's answer as a sweep does before measuring it (exit 0 when it passes;
    /// prints the notes as JSON): run on a load host through its launcher.
    Verify(VerifyArgs),
}

/// How `harness serve` is tied to the harness that started it on another host.
#[derive(Debug, Clone, clap::Args)]
pub struct RemoteServeArgs {
    /// Serve until standard input closes (then stop as on SIGTERM), lead a process group of
    /// its own and say so (`process group N`) before the listening line: a server started
    /// through a launcher (ssh, ip netns exec) dies with its launcher.
    #[arg(long)]
    pub lifeline: bool,
    /// Pin the server to these CPUs (e.g. `0` or `0,2`): placement on a host the harness does
    /// not run on.
    #[arg(long, value_delimiter = ',')]
    pub cpus: Vec<usize>,
}

/// `harness verify`: one request, checked.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// `http://ADDR:PORT/path` of the server.
    pub url: String,
    /// `spec`, `status` or `body` (see matrix.toml's `verify`).
    #[arg(long, default_value = "spec")]
    pub how: String,
    /// Send the keep-alive (HTTP/1.1) request instead of ab's HTTP/1.0 one.
    #[arg(short = 'k', long)]
    pub keep_alive: bool,
    /// Addresses besides loopback that requests may go to (the hosts a matrix declares).
    #[arg(long = "declared-host", value_delimiter = ',')]
    pub declared_hosts: Vec<std::net::IpAddr>,
}

/// `harness run`: the sweep.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
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
}

/// `harness load`: one ab-style run against a URL.
#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// `http://127.0.0.1:PORT/path` (loopback only).
    pub url: String,
    /// Requests to complete (closed loop; default 1000).
    #[arg(short = 'n', long)]
    pub requests: Option<u64>,
    /// Connections at once.
    #[arg(short = 'c', long, default_value_t = 1)]
    pub concurrency: usize,
    /// Persistent HTTP/1.1 connections (default: a new HTTP/1.0 connection per request).
    #[arg(short = 'k', long)]
    pub keep_alive: bool,
    /// CPUs to run load threads on, one thread each (e.g. `1` or `2,3`).
    #[arg(long, value_delimiter = ',')]
    pub cpus: Vec<usize>,
    /// Per-request timeout.
    #[arg(long, default_value = "10s", value_parser = server_spec::cli::parse_timeout)]
    pub timeout: std::time::Duration,
    /// Open loop: offer this many requests per second (on a schedule, wrk2-style) instead of
    /// a closed loop; latency counts from each request's intended send time.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Open loop: measured time, after the warm-up.
    #[arg(long, default_value = "5s", value_parser = server_spec::cli::parse_timeout)]
    pub duration: std::time::Duration,
    /// Open loop: time on the same schedule before measuring, not recorded.
    #[arg(long, default_value = "1s", value_parser = server_spec::cli::parse_duration)]
    pub warmup_time: std::time::Duration,
    /// Open loop: the connections the rate is spread over (default 50).
    #[arg(long)]
    pub connections: Option<usize>,
    /// Print the run as a results cell in JSON (histograms encoded) instead of the tables.
    #[arg(long)]
    pub json: bool,
    /// Hard bound on the run: what is still open then fails as timeouts.
    #[arg(long, default_value = "600s", value_parser = server_spec::cli::parse_timeout)]
    pub max_run_time: std::time::Duration,
    /// Stop (as on Ctrl-C) when standard input closes: load started through a launcher ends
    /// with its launcher.
    #[arg(long)]
    pub lifeline: bool,
    /// Print a line (`window open`) to standard output as the measured window opens, before
    /// the results: the sweep that runs this load on another host samples the server then.
    #[arg(long)]
    pub announce_window: bool,
    /// Addresses besides loopback that load may go to: the hosts a matrix declares. Load never
    /// goes anywhere else.
    #[arg(long = "declared-host", value_delimiter = ',')]
    pub declared_hosts: Vec<std::net::IpAddr>,
}

/// `harness compare`: benchstat for results.
#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// The old results (a results directory or its results.json); alone, its variants are
    /// compared with its baseline.
    pub old: PathBuf,
    /// The new results.
    pub new: Option<PathBuf>,
    /// Print the comparison as JSON (`settings_differ`, `rows`, `geomean`, `warnings`, `unmatched`).
    #[arg(long)]
    pub json: bool,
    /// Also write the comparison as a self-contained HTML page, spectra overlaid per cell.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

/// `harness report`: redraw the reports of a results directory.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// A results directory (or its results.json); its report.md and report.html are rewritten.
    #[arg(value_name = "DIR")]
    pub results: PathBuf,
}

/// Subcommand names; any other first argument is a matrix path (`harness matrix.toml`).
const SUBCOMMANDS: [&str; 10] =
    ["run", "list", "serve", "load", "compare", "report", "watchdog", "sample", "verify", "help"];

/// Exit status for a configuration error, before anything starts.
pub const EXIT_CONFIG: u8 = 2;
/// Exit status when some cell had failed requests or a variant could not be measured.
pub const EXIT_FAILURES: u8 = 1;
/// Exit status after SIGINT (128 + SIGINT).
pub const EXIT_INTERRUPTED: u8 = 130;
/// Exit status after SIGTERM (128 + SIGTERM).
pub const EXIT_TERMINATED: u8 = 143;

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
    match cli.command {
        Command::Run(args) => commands::run::run(&args),
        Command::List => commands::list(),
        Command::Serve { variant, args, remote } => commands::serve(&variant, &args, &remote),
        Command::Load(args) => commands::load::run(&args),
        Command::Compare(args) => commands::compare::run(&args),
        Command::Report(args) => commands::report::run(&args),
        Command::Watchdog => crate::watchdog::run(),
        Command::Sample { pgid } => commands::sample(pgid),
        Command::Verify(args) => commands::verify(&args),
    }
}
