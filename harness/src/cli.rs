//! The command line: which subcommand, nothing else. Each subcommand owns its arguments and
//! its job in [`crate::commands`]; `harness MATRIX` means `harness run MATRIX`.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::commands::{self, exit};

#[derive(Debug, Parser)]
#[command(name = "harness", version, about = "What does the concurrency model cost? Measure it.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the sweep a matrix file describes (`harness MATRIX` means the same).
    Run(commands::run::Args),
    /// List the built-in server variants.
    List,
    /// Run one server variant in the foreground.
    Serve(commands::serve::Args),
    /// Drive one server (any, on loopback) with the harness's load generator, like ab.
    Load(commands::load::Args),
    /// Compare two results (directories or results.json), or one run's variants with its baseline.
    Compare(commands::compare::Args),
    /// Redraw a results directory's report.md and report.html from its results.json.
    Report(commands::report::Args),
    /// Kills the servers' process groups once the harness that started it is gone (internal).
    #[command(hide = true)]
    Watchdog,
    /// Prints what a process group spends (CPU, memory, threads) as one JSON line: the
    /// server-cost sampler, run on a server's host through its launcher.
    Sample(commands::host::SampleArgs),
    /// Checks a server's answer as a sweep does before measuring it (exit 0 when it passes;
    /// prints the notes as JSON): run on a load host through its launcher.
    Verify(commands::host::VerifyArgs),
    /// Measure the machine's floor alone: a loopback ping-pong between two pinned threads.
    Calibrate(commands::calibrate::Args),
    /// Make the corpus of files a files scenario serves (`files make DIR --sizes … --count N`).
    Files(commands::files::Args),
    /// Keeps CPUs out of their idle states until standard input closes (`cpu_idle = "awake"`).
    #[command(hide = true)]
    Awake(commands::host::AwakeArgs),
    /// Waits until the harness opens the gate, then runs PROGRAM (internal: see process::gate).
    #[command(hide = true)]
    Gate {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        program: Vec<std::ffi::OsString>,
    },
}

/// The subcommands' names, as clap knows them (hidden ones too), and `help`: any other first
/// argument is a matrix path (`harness matrix.toml`) or a mistyped command.
fn subcommands() -> Vec<String> {
    let mut names: Vec<String> = Cli::command().get_subcommands().map(|c| c.get_name().to_owned()).collect();
    names.push("help".into());
    names
}

/// The subcommands a user types (not the harness's own), for messages.
fn visible_subcommands() -> Vec<String> {
    Cli::command().get_subcommands().filter(|c| !c.is_hide_set()).map(|c| c.get_name().to_owned()).collect()
}

/// What the first argument turned out to be.
#[derive(Debug, PartialEq, Eq)]
enum First {
    /// A subcommand, an option, or nothing: clap reads the line as it is.
    AsIs,
    /// A matrix path: `run` is implied.
    Matrix,
    /// Neither an existing file nor a subcommand, and not shaped like a path: a mistyped
    /// subcommand, with the nearest one if it is near.
    Unknown(String, Option<String>),
}

/// Reads the first argument: a path that exists (or looks like a matrix file) is a matrix;
/// a bare word that is no subcommand is a mistyped one, never "cannot read".
fn classify(args: &[OsString]) -> First {
    let Some(first) = args.get(1).and_then(|a| a.to_str()) else { return First::AsIs };
    if first.starts_with('-') || subcommands().iter().any(|c| c == first) {
        return First::AsIs;
    }
    let looks_like_a_path = first.contains('/') || first.contains('.');
    if std::path::Path::new(first).exists() || looks_like_a_path {
        return First::Matrix;
    }
    First::Unknown(first.to_owned(), nearest(first))
}

/// The subcommand within two edits of `word`, if one is (`lst` → `list`).
fn nearest(word: &str) -> Option<String> {
    visible_subcommands()
        .into_iter()
        .map(|c| (edit_distance(word, &c), c))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, c)| c)
}

/// Levenshtein distance, for suggestions.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substituted = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substituted.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// Parses the command line and runs it; returns the process exit code.
pub fn run() -> ExitCode {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    match classify(&args) {
        First::AsIs => {}
        First::Matrix => args.insert(1, "run".into()),
        First::Unknown(word, suggestion) => {
            let hint = suggestion.map_or_else(
                || format!("; commands: {} (or a matrix file: harness matrix.toml)", visible_commands()),
                |near| format!("; did you mean '{near}'?"),
            );
            eprintln!("error: unknown command '{word}'{hint}");
            return ExitCode::from(exit::CONFIG);
        }
    }
    let matches = Cli::command().get_matches_from(args);
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|err| err.exit());
    match cli.command {
        Command::Run(args) => commands::run::run(&args),
        Command::List => commands::list::run(),
        Command::Serve(args) => commands::serve::run(&args),
        Command::Load(mut args) => {
            // A default and a value typed are the same number to clap; `-c` with `--rate`
            // must know which it got.
            args.concurrency_given = matches
                .subcommand_matches("load")
                .and_then(|load| load.value_source("concurrency"))
                .is_some_and(|source| source == clap::parser::ValueSource::CommandLine);
            commands::load::run(&args)
        }
        Command::Compare(args) => commands::compare::run(&args),
        Command::Report(args) => commands::report::run(&args),
        Command::Watchdog => crate::process::watchdog::run(),
        Command::Sample(args) => commands::host::sample(&args),
        Command::Verify(args) => commands::host::verify(&args),
        Command::Calibrate(args) => commands::calibrate::run(&args),
        Command::Files(args) => commands::files::run(&args),
        Command::Awake(args) => commands::host::awake(&args),
        Command::Gate { program } => crate::process::gate::run(&program),
    }
}

fn visible_commands() -> String {
    visible_subcommands().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first(args: &[&str]) -> First {
        classify(&args.iter().map(OsString::from).collect::<Vec<_>>())
    }

    #[test]
    fn a_mistyped_command_is_not_a_matrix() {
        assert_eq!(first(&["harness", "lst"]), First::Unknown("lst".into(), Some("list".into())));
        assert_eq!(first(&["harness", "comapre"]), First::Unknown("comapre".into(), Some("compare".into())));
        assert_eq!(first(&["harness", "gate"]), First::AsIs, "hidden commands are commands");
        assert_eq!(first(&["harness", "frobnicate"]), First::Unknown("frobnicate".into(), None));
        assert_eq!(
            first(&["harness", "missing.toml"]),
            First::Matrix,
            "a path that does not exist is still read"
        );
        assert_eq!(first(&["harness", "dir/matrix"]), First::Matrix);
        assert_eq!(first(&["harness", "list"]), First::AsIs);
        assert_eq!(first(&["harness", "--help"]), First::AsIs);
        assert_eq!(first(&["harness"]), First::AsIs);
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("lst", "list"), 1);
        assert_eq!(edit_distance("serv", "serve"), 1);
        assert_eq!(edit_distance("", "run"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
