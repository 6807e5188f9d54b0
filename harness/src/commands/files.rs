//! `harness files make DIR --sizes 4KiB,64KiB,1MiB,16MiB --count N`: the corpus a files
//! scenario serves (see [`crate::corpus`]): N files of each size, of deterministic bytes.

use std::path::PathBuf;
use std::process::ExitCode;

use super::exit;
use crate::corpus;

/// `harness files …`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Write a corpus: COUNT files of each size, named SIZE-NNNN (`64KiB-0007`), each an
    /// xorshift stream seeded by its name. Files already there with the right bytes are kept.
    Make {
        /// The corpus directory (made if missing).
        dir: PathBuf,
        /// File sizes: KiB, MiB, GiB or bytes, comma-separated.
        #[arg(long, value_delimiter = ',', value_parser = corpus::parse_size, required = true)]
        sizes: Vec<u64>,
        /// Files of each size. A cold run reads the disk for each file's first request only,
        /// so give more files than a run has requests, or most requests read the page cache.
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
        count: u16,
    },
}

pub fn run(args: &Args) -> ExitCode {
    match &args.action {
        Action::Make { dir, sizes, count } => {
            let started = std::time::Instant::now();
            match corpus::make(dir, sizes, usize::from(*count)) {
                Ok(written) => {
                    let labels: Vec<String> = sizes.iter().map(|s| corpus::size_label(*s)).collect();
                    println!(
                        "{}: {count} files of each of {} ({} MiB written, {:.1} s)",
                        dir.display(),
                        labels.join(", "),
                        written >> 20,
                        started.elapsed().as_secs_f64()
                    );
                    ExitCode::SUCCESS
                }
                Err(err) => {
                    eprintln!("error: cannot make the corpus in {}: {err}", dir.display());
                    ExitCode::from(exit::FAILURES)
                }
            }
        }
    }
}
