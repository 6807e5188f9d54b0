//! `harness report DIR`: redraws a results directory's reports (`report.md`, `report.html`)
//! from its `results.json` alone, so old results, and selections edited by hand, can be drawn
//! again with this harness's renderers. Exit 0; 2 when the results cannot be read (the message
//! names the file and, for an older harness's file, the schema it has and the one needed); 1
//! when a report cannot be written.

use std::process::ExitCode;

use std::path::PathBuf;

use super::exit;
use crate::export::ResultsDir;
use crate::results::Results;

/// `harness report`'s arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A results directory (or its results.json); its report.md and report.html are rewritten.
    #[arg(value_name = "DIR")]
    pub results: PathBuf,
}

pub fn run(args: &Args) -> ExitCode {
    let results = match Results::read(&args.results) {
        Ok(results) => results,
        Err(err) => {
            eprintln!("harness report: {err}");
            return ExitCode::from(exit::CONFIG);
        }
    };
    // The reports go beside the results file they were drawn from.
    let path = if args.results.is_dir() {
        args.results.clone()
    } else {
        args.results.parent().map_or_else(|| ".".into(), std::path::Path::to_path_buf)
    };
    match (ResultsDir { path }).write_reports(&results) {
        Ok(written) => {
            for file in written {
                println!("{}", file.display());
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("harness report: {err:#}");
            ExitCode::from(exit::FAILURES)
        }
    }
}
