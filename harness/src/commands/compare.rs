//! `harness compare OLD [NEW] [--fail-on METRIC:CHANGE]… [--format …] [--html FILE]`: benchstat
//! for results, and a gate for CI. Two results are compared point by point (scenario, variant,
//! level); one is compared variant by variant with its baseline; `--baseline NAME NEW`
//! compares NEW with a baseline kept by `harness run --save-baseline NAME`. Exit 0; 1 when a
//! threshold is breached (or the page cannot be written); 2 when an input cannot be read or an
//! option is wrong.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::exit;
use crate::baselines;
use crate::compare::gate::{self, Threshold};
use crate::compare::{self, Correction};
use crate::results::Results;

/// `harness compare`'s arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The old results (a results directory or its results.json); alone, its variants are
    /// compared with its baseline. With --baseline, the one path given is NEW.
    #[arg(value_name = "OLD")]
    pub first: PathBuf,
    /// The new results.
    #[arg(value_name = "NEW")]
    pub second: Option<PathBuf>,
    /// Compare NEW with the baseline saved under NAME (`harness run --save-baseline NAME`),
    /// read from `<--results>/baselines/NAME.json`.
    #[arg(long, value_name = "NAME")]
    pub baseline: Option<baselines::Name>,
    /// Where `harness run --out` put the results, whose `baselines/` holds the saved baselines.
    #[arg(long, value_name = "DIR", default_value = "results")]
    pub results: PathBuf,
    /// Exit 1 when some point's METRIC changed for the worse beyond CHANGE and significantly
    /// after correction, e.g. rps:-5%, p50:+10%, p99:+10%, cpu:+5%; repeatable, one per metric.
    #[arg(long = "fail-on", value_name = "METRIC:CHANGE")]
    pub fail_on: Vec<Threshold>,
    /// The correction over each metric's rows [default: bh with --fail-on, none without].
    #[arg(long, value_enum, value_name = "HOW")]
    pub correction: Option<CorrectionArg>,
    /// What to print: the tables (text), the comparison as JSON, a summary for a CI job's page
    /// (markdown), or the newer results in Bencher Metric Format (bmf).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Print the comparison as JSON (`--format json`).
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Also write the comparison as a self-contained HTML page, spectra overlaid per cell.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// benchstat's long form: one row per point with both medians, the change and the p-value
    /// (default: a variant × level table per metric, like the run report's).
    #[arg(long)]
    pub long: bool,
}

/// `--format`'s values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
    Bmf,
}

/// `--correction`'s values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CorrectionArg {
    /// Holm's step-down: the chance of any false alarm stays under 5%.
    Holm,
    /// Benjamini–Hochberg: the share of false alarms among the differences called real.
    Bh,
    /// Each p-value on its own.
    None,
}

impl From<CorrectionArg> for Correction {
    fn from(arg: CorrectionArg) -> Correction {
        match arg {
            CorrectionArg::Holm => Correction::Holm,
            CorrectionArg::Bh => Correction::BenjaminiHochberg,
            CorrectionArg::None => Correction::None,
        }
    }
}

/// What is compared, resolved from the arguments.
enum Inputs {
    /// One sweep's variants against its baseline.
    One(PathBuf),
    /// OLD against NEW; `old_name` says what OLD is called in the title.
    Two { old: PathBuf, new: PathBuf, old_name: String },
}

pub fn run(args: &Args) -> ExitCode {
    let inputs = match resolve(args) {
        Ok(inputs) => inputs,
        Err(message) => {
            eprintln!("harness compare: {message}");
            return ExitCode::from(exit::CONFIG);
        }
    };
    let read = |path: &Path| Results::read(path).map_err(|err| eprintln!("harness compare: {err}"));
    let correction = args.correction.map_or(
        if args.fail_on.is_empty() { Correction::None } else { Correction::BenjaminiHochberg },
        Correction::from,
    );
    let (old, new, title) = match &inputs {
        Inputs::One(path) => {
            let Ok(old) = read(path) else { return ExitCode::from(exit::CONFIG) };
            let title =
                format!("{}: every variant against the baseline `{}`", path.display(), old.meta.baseline);
            (old, None, title)
        }
        Inputs::Two { old, new, old_name } => {
            let (Ok(old_results), Ok(new_results)) = (read(old), read(new)) else {
                return ExitCode::from(exit::CONFIG);
            };
            (old_results, Some(new_results), format!("{old_name} → {}", new.display()))
        }
    };
    let mut comparison = match &new {
        Some(new) => compare::sweeps(&old, new, correction),
        None => compare::against_baseline(&old, correction),
    };
    if !args.fail_on.is_empty() {
        comparison.gate = Some(gate::judge(&comparison, &args.fail_on, correction));
    }
    let mut status = exit::SUCCESS;
    if let Some(file) = &args.html {
        let page = crate::html::comparison(&title, &old, new.as_ref(), &comparison);
        if let Err(err) = std::fs::write(file, page) {
            eprintln!("harness compare: cannot write {}: {err}", file.display());
            status = exit::FAILURES;
        }
    }
    let one_sweep = new.is_none();
    let format = if args.json { Format::Json } else { args.format };
    match format {
        Format::Text => {
            print!("{}", crate::report::compare::markdown(&title, &comparison, one_sweep, args.long))
        }
        Format::Markdown => print!("{}", crate::report::summary::markdown(&title, &comparison, one_sweep)),
        Format::Json => match serde_json::to_string_pretty(&comparison) {
            Ok(json) => println!("{json}"),
            Err(err) => {
                eprintln!("harness compare: {err}");
                return ExitCode::from(exit::FAILURES);
            }
        },
        Format::Bmf => println!("{}", crate::report::bmf::render(new.as_ref().unwrap_or(&old))),
    }
    if let Some(gate) = &comparison.gate {
        // Machine-readable output stays clean on stdout; the verdict goes to the log.
        if matches!(format, Format::Json | Format::Bmf) {
            eprint!("{}", crate::report::gate::section(gate));
        }
        if gate.breached() {
            status = exit::FAILURES;
        }
    }
    ExitCode::from(status)
}

/// What the positional arguments and `--baseline` name, and whether `--fail-on` is usable.
fn resolve(args: &Args) -> Result<Inputs, String> {
    for (i, threshold) in args.fail_on.iter().enumerate() {
        if let Some(again) = args.fail_on[..i].iter().find(|t| t.metric == threshold.metric) {
            return Err(format!(
                "--fail-on {} and {} both gate {}: give one threshold per metric",
                again.label(),
                threshold.label(),
                threshold.metric.short()
            ));
        }
    }
    match (&args.baseline, &args.first, &args.second) {
        (Some(name), new, None) => {
            let old = baselines::file(&args.results, name);
            if !old.is_file() {
                let saved = baselines::saved(&args.results);
                let listed = if saved.is_empty() { "none".to_owned() } else { saved.join(", ") };
                return Err(format!(
                    "no baseline named `{name}` in {} (saved there: {listed}); `harness run --save-baseline {name}` keeps one",
                    args.results.join(baselines::DIR).display()
                ));
            }
            Ok(Inputs::Two { old_name: format!("baseline `{name}`"), old, new: new.clone() })
        }
        (Some(_), _, Some(_)) => Err("with --baseline NAME, give only the NEW results".to_owned()),
        (None, one, None) => Ok(Inputs::One(one.clone())),
        (None, old, Some(new)) => {
            Ok(Inputs::Two { old_name: old.display().to_string(), old: old.clone(), new: new.clone() })
        }
    }
}
