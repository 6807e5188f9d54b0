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
    /// Requests to complete.
    #[arg(short = 'n', long, default_value_t = 1000)]
    pub requests: u64,
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
    /// Print the run as a results cell in JSON (histograms encoded) instead of the tables.
    #[arg(long)]
    pub json: bool,
}

/// `harness compare`: benchstat for results.
#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// The old results (a results directory or its results.json); alone, its variants are
    /// compared with its baseline.
    pub old: PathBuf,
    /// The new results.
    pub new: Option<PathBuf>,
    /// Print the comparison as JSON (`settings_differ`, `rows`, `geomean`, `warnings`).
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
    ["run", "list", "serve", "load", "compare", "report", "watchdog", "help", "--help", "--version"];

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
        Command::Serve { variant, args } => commands::serve(&variant, &args),
        Command::Load(args) => commands::load::run(&args),
        Command::Compare(args) => commands::compare::run(&args),
        Command::Report(args) => commands::report::run(&args),
        Command::Watchdog => crate::watchdog::run(),
    }
}
