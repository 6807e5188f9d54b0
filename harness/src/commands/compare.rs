//! `harness compare OLD [NEW] [--json] [--html FILE]`: benchstat for results. Two results are
//! compared point by point (scenario, variant, level); one is compared variant by variant with
//! its baseline. `--html` also writes the comparison as a page with the spectra overlaid.
//! Exit 0, 2 when an input cannot be read, 1 when the page cannot be written.

use std::path::PathBuf;
use std::process::ExitCode;

use super::exit;
use crate::compare;
use crate::results::Results;

/// `harness compare`'s arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
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
    /// benchstat's long form: one row per point with both medians, the change and the p-value
    /// (default: a variant × level table per metric, like the run report's).
    #[arg(long)]
    pub long: bool,
}

pub fn run(args: &Args) -> ExitCode {
    let read = |path: &std::path::Path| {
        Results::read(path).map_err(|err| {
            eprintln!("harness compare: {err}");
        })
    };
    let Ok(old) = read(&args.old) else { return ExitCode::from(exit::CONFIG) };
    let new = match &args.new {
        Some(path) => {
            let Ok(new) = read(path) else { return ExitCode::from(exit::CONFIG) };
            Some(new)
        }
        None => None,
    };
    let comparison = match &new {
        Some(new) => compare::sweeps(&old, new),
        None => compare::against_baseline(&old),
    };
    let title = match &args.new {
        Some(new) => format!("{} → {}", args.old.display(), new.display()),
        None => format!("{}: every variant against the baseline `{}`", args.old.display(), old.meta.baseline),
    };
    if let Some(file) = &args.html {
        let page = crate::html::comparison(&title, &old, new.as_ref(), &comparison);
        if let Err(err) = std::fs::write(file, page) {
            eprintln!("harness compare: cannot write {}: {err}", file.display());
            return ExitCode::from(exit::FAILURES);
        }
    }
    if args.json {
        match serde_json::to_string_pretty(&comparison) {
            Ok(json) => println!("{json}"),
            Err(err) => {
                eprintln!("harness compare: {err}");
                return ExitCode::from(exit::FAILURES);
            }
        }
    } else {
        print!("{}", crate::report::compare::markdown(&title, &comparison, args.new.is_none(), args.long));
    }
    ExitCode::SUCCESS
}
