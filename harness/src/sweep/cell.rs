//! A cell being measured: which one it is, what it measures, and what its runs have gathered
//! so far. Interleaved rounds leave many cells open at once; each is one of these until its
//! last run (or the end of the sweep) turns it into a results [`Cell`].

use std::collections::BTreeMap;

use crate::corpus::Resident;
use crate::hosts::load::{split_notes, Share};
use crate::plan::Files;
use crate::profile::Profile;
use crate::results::summarize::Point;
use crate::results::{summarize, Cell, MeasuredRun};
use crate::slow_clients::Trickled;

/// Which cell: (scenario, variant, workers, level) — indices into the plan's scenarios, that
/// scenario's levels and the variants, and the workers value of the scenario's axis (`None`:
/// the variant's own workers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CellKey {
    pub scenario: usize,
    pub workers: Option<usize>,
    pub level: usize,
    pub variant: usize,
}

/// A cell with some of its runs made.
#[derive(Debug)]
pub struct Measuring {
    /// What the cell is (scenario, variant, level, …), fixed when its first run was made.
    pub point: Point,
    pub runs: Vec<MeasuredRun>,
    /// What the slow clients met during each run, if the scenario has them.
    pub trickled: Vec<Trickled>,
    /// How each run's load was split between load hosts, if it came from load hosts.
    pub splits: Vec<Vec<Share>>,
    /// Where the server's time went in the extra, profiled run, or why there is none.
    pub profile: Option<Result<Profile, String>>,
    /// What was known about the cell before its runs: its placement's trouble (server CPUs
    /// shared with the load at this many workers).
    pub notes: Vec<String>,
    /// A files scenario: what `mincore` found resident after each run's cache preparation.
    pub cache: Vec<Result<Resident, String>>,
}

impl Measuring {
    pub fn new(point: Point, notes: Vec<String>) -> Measuring {
        Measuring {
            point,
            runs: Vec::new(),
            trickled: Vec::new(),
            splits: Vec::new(),
            profile: None,
            notes,
            cache: Vec::new(),
        }
    }

    /// The results cell: the runs summarized, with what the load hosts and slow clients met,
    /// and how cold or warm a files scenario's files were.
    pub fn finish(self, slow_clients: usize, files: Option<&Files>) -> Cell {
        let mut cell = summarize(&self.point, &self.runs);
        cell.notes.splice(0..0, self.notes);
        if let Some(files) = files {
            cell.notes.extend(super::files::notes(files, &self.cache));
        }
        if !self.splits.is_empty() {
            for note in split_notes(&self.splits) {
                if !cell.notes.contains(&note) {
                    cell.notes.push(note);
                }
            }
        }
        match self.profile {
            Some(Ok(profile)) => cell.profile = Some(profile),
            Some(Err(why)) => cell.notes.push(format!("no profile: {why}")),
            None => {}
        }
        if !self.trickled.is_empty() {
            let closed: u64 = self.trickled.iter().map(|t| t.closed_by_server).sum();
            let refused: u64 = self.trickled.iter().map(|t| t.refused).sum();
            cell.notes.push(format!(
                "{slow_clients} slow clients trickled a request head one byte per second during each run; the server \
                 closed {closed} of them (its header timeout), {refused} could not connect"
            ));
        }
        cell
    }
}

/// The cells open at once, in key order (scenario, workers, level, variant).
pub type Open = BTreeMap<CellKey, Measuring>;
