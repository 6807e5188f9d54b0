//! Files from disk in the sweep: the scenario's corpus files put in or out of the page cache
//! just before each measured run (after its warm-up, whose requests read files too), and what
//! the cell says about how cold or warm they really were.

use crate::corpus::{self, Resident};
use crate::plan::{Cache, Files};

/// The share of a cold corpus's pages that may still be resident before a cell says the run
/// was not really cold: pages another process keeps mapped or locked are not dropped.
const COLD_ENOUGH: f64 = 0.01;

/// The share of a warm corpus's pages that must be resident: memory pressure can evict some.
const WARM_ENOUGH: f64 = 0.99;

/// Drops the files from the page cache, or reads them in, as the scenario asks; what
/// `mincore` then found resident, or why it could not be done.
pub fn prepare(files: &Files) -> Result<Resident, String> {
    let paths = files.paths();
    let prepared = match files.cache {
        Cache::Cold => corpus::drop_cached(&paths),
        Cache::Warm => corpus::warm(&paths),
    };
    prepared.map_err(|err| format!("cannot make the files {}: {err}", files.cache.name()))
}

/// How many of a scenario's files each server's answers are checked against, before it is
/// measured: the first, the last, and two drawn with the scenario's seed.
pub const VERIFIED_FILES: usize = 4;

/// The paths of the files checked before measuring (see [`VERIFIED_FILES`]).
pub fn sample_paths(files: &Files, seed: u64) -> Vec<(String, u32)> {
    corpus::sample(&files.names, VERIFIED_FILES, seed)
        .into_iter()
        .map(|name| (format!("{}{name}", server_spec::files::PREFIX), 1))
        .collect()
}

/// The cell's note on its files' cache state over its runs, with a warning when a run was not
/// as cold (or warm) as asked.
pub fn notes(files: &Files, prepared: &[Result<Resident, String>]) -> Vec<String> {
    let mut notes = Vec::new();
    let label = corpus::size_label(files.size);
    let count = files.names.len();
    for err in prepared.iter().filter_map(|p| p.as_ref().err()) {
        if !notes.contains(err) {
            notes.push(err.clone());
        }
    }
    let done: Vec<&Resident> = prepared.iter().filter_map(|p| p.as_ref().ok()).collect();
    let Some(of) = done.first().map(|r| r.of) else { return notes };
    let most = done.iter().map(|r| r.pages).max().unwrap_or(0);
    let least = done.iter().map(|r| r.pages).min().unwrap_or(0);
    match files.cache {
        Cache::Cold => {
            notes.push(format!(
                "cold: the {count} files of {label} were dropped from the page cache before each of {} runs; \
                 mincore then found at most {most} of their {of} pages resident",
                done.len()
            ));
            if let Some(worst) = done.iter().find(|r| r.share() > COLD_ENOUGH) {
                notes.push(format!(
                    "WARNING: not cold: {} of {} pages ({:.1}%) stayed in the page cache after posix_fadvise(DONTNEED) \
                     (mapped or locked by another process?); that run read them from memory",
                    worst.pages,
                    worst.of,
                    worst.share() * 100.0
                ));
            }
        }
        Cache::Warm => {
            notes.push(format!(
                "warm: the {count} files of {label} were read whole before each of {} runs; mincore then found at least \
                 {least} of their {of} pages resident",
                done.len()
            ));
            if let Some(worst) = done.iter().find(|r| r.share() < WARM_ENOUGH) {
                notes.push(format!(
                    "WARNING: not warm: only {} of {} pages ({:.1}%) were in the page cache after reading them \
                     (too little memory for the corpus?); that run read the rest from the disk",
                    worst.pages,
                    worst.of,
                    worst.share() * 100.0
                ));
            }
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(cache: Cache) -> Files {
        Files { dir: "/c".into(), size: 65536, names: vec!["64KiB-0000".into(); 4], cache }
    }

    #[test]
    fn a_cold_run_that_was_not_cold_is_flagged() {
        let cold = [Ok(Resident { pages: 0, of: 640 }), Ok(Resident { pages: 1, of: 640 })];
        let notes = notes(&files(Cache::Cold), &cold);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("at most 1 of their 640 pages"), "{notes:?}");
        let warm_after_drop = [Ok(Resident { pages: 0, of: 64 }), Ok(Resident { pages: 40, of: 64 })];
        let notes = super::notes(&files(Cache::Cold), &warm_after_drop);
        assert!(notes[1].starts_with("WARNING: not cold: 40 of 64 pages"), "{notes:?}");
    }

    #[test]
    fn a_warm_run_that_was_not_warm_is_flagged() {
        let notes = notes(&files(Cache::Warm), &[Ok(Resident { pages: 32, of: 64 })]);
        assert!(notes[1].starts_with("WARNING: not warm"), "{notes:?}");
        let notes = super::notes(&files(Cache::Warm), &[Err("cannot make the files warm: gone".into())]);
        assert_eq!(notes, ["cannot make the files warm: gone"]);
    }
}
