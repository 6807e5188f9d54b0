//! Comparing within rounds, so that drift cancels. In interleaved order round r measures every
//! cell of a scenario once before round r + 1 begins (`sweep/order.rs`), so run i of every cell
//! belongs to round i; dividing a variant's run by the baseline's run of the same round leaves
//! out whatever slowed the machine during that round, as long as it slowed both alike.
//!
//! Two sweeps, OLD and NEW, are then compared on those per-round ratios with a Mann–Whitney U
//! test, not a paired one: round i of OLD and round i of NEW ran minutes or days apart in
//! different processes and share nothing, so pairing them would assume a link that is not
//! there, and it would cost the verdict at the usual 5 rounds (a signed-rank test on 5 pairs
//! cannot give p < 0.0625; Mann–Whitney on 5 + 5 ratios can give 0.008). Within one sweep the
//! variant and the baseline of a round do share the round, and there the paired test fits:
//! Wilcoxon's signed-rank on the log ratios, which needs 6 rounds or more to say anything.

use serde::Serialize;

use super::Metric;
use crate::results::{Cell, Results};
use crate::stats::{mann_whitney, median, wilcoxon};

/// The comparison of one point within rounds: each run divided by the baseline's run of the
/// same round.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WithinRounds {
    /// The variant each run is divided by: the sweep's baseline.
    pub reference: String,
    /// `mann_whitney` (two sweeps' per-round ratios) or `wilcoxon_signed_rank` (one sweep's
    /// per-round ratios against 1).
    pub test: &'static str,
    /// The median per-round ratio in the old sweep (one sweep: none).
    pub old_ratio: Option<f64>,
    /// The median per-round ratio in the new sweep (one sweep: the variant over the baseline).
    pub new_ratio: Option<f64>,
    /// The change of the ratio, new over old (one sweep: the ratio over 1), in percent: the
    /// change with the drift divided out.
    pub delta_pct: Option<f64>,
    /// The test's two-sided p-value, uncorrected.
    pub p_value: Option<f64>,
    /// Rounds on each side (one sweep: the pairs, twice).
    pub rounds: (usize, usize),
    /// Whether the test can call a difference real with so many rounds (4 a side for
    /// Mann–Whitney, 6 pairs for the signed-rank test).
    pub enough: bool,
    /// The smallest p-value the test can give with these rounds.
    pub smallest_p: f64,
}

/// Why two cells' runs cannot be matched round by round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unpaired {
    /// The sweep measured one variant at a time (`order = "grouped"`).
    NotInterleaved,
    /// The cell is the baseline itself.
    IsReference,
    /// The baseline has no cell at this point.
    NoReference,
    /// The runs' start times do not follow rounds (a results file edited by hand, or merged).
    OutOfOrder,
}

impl Unpaired {
    /// In words, for a warning.
    pub fn reason(&self) -> &'static str {
        match self {
            Unpaired::NotInterleaved => "the sweep was not interleaved (order = \"grouped\")",
            Unpaired::IsReference => "it is the baseline every ratio divides by",
            Unpaired::NoReference => "the baseline has no cell at that point",
            Unpaired::OutOfOrder => "the runs' start times do not follow interleaved rounds",
        }
    }
}

/// The baseline's cell at `cell`'s point (same scenario and level) in `results`.
pub fn reference_of<'a>(results: &'a Results, cell: &Cell) -> Option<&'a Cell> {
    results
        .cells
        .iter()
        .find(|c| c.variant == results.meta.baseline && c.scenario == cell.scenario && c.same_level(cell))
}

/// `metric` of each round of `cell` over the baseline's run of the same round in `results`.
/// Run i of every cell is round i (a cell that lost its server or was interrupted kept a
/// prefix of the rounds); the start times must agree: every run of round i began after every
/// run of round i − 1 had begun.
pub fn ratios(results: &Results, cell: &Cell, metric: Metric) -> Result<Vec<f64>, Unpaired> {
    if results.meta.order != "interleaved" {
        return Err(Unpaired::NotInterleaved);
    }
    if cell.variant == results.meta.baseline {
        return Err(Unpaired::IsReference);
    }
    let reference = reference_of(results, cell).ok_or(Unpaired::NoReference)?;
    let rounds = cell.runs.len().min(reference.runs.len());
    for i in 1..rounds {
        let before = cell.runs[i - 1].started_at.max(reference.runs[i - 1].started_at);
        let now = cell.runs[i].started_at.min(reference.runs[i].started_at);
        if now < before {
            return Err(Unpaired::OutOfOrder);
        }
    }
    Ok(cell.runs[..rounds]
        .iter()
        .zip(&reference.runs[..rounds])
        .filter_map(|(run, base)| Some((metric.of_run(run)?, metric.of_run(base)?)))
        .filter(|(_, base)| *base > 0.0)
        .map(|(value, base)| value / base)
        .collect())
}

/// Two sweeps: `old_cell` and `new_cell` (the same point) each over their sweep's baseline in
/// the same round, the two sets of ratios compared with Mann–Whitney.
pub fn between_sweeps(
    old: &Results,
    old_cell: &Cell,
    new: &Results,
    new_cell: &Cell,
    metric: Metric,
) -> Result<WithinRounds, Unpaired> {
    let before = ratios(old, old_cell, metric)?;
    let after = ratios(new, new_cell, metric)?;
    let (old_ratio, new_ratio) = (median(&before), median(&after));
    let enough = before.len() >= mann_whitney::MIN_RUNS && after.len() >= mann_whitney::MIN_RUNS;
    Ok(WithinRounds {
        reference: new.meta.baseline.clone(),
        test: "mann_whitney",
        old_ratio,
        new_ratio,
        delta_pct: old_ratio.zip(new_ratio).and_then(|(o, n)| (o > 0.0).then(|| (n / o - 1.0) * 100.0)),
        p_value: mann_whitney::test(&before, &after).map(|o| o.p_value),
        rounds: (before.len(), after.len()),
        enough,
        smallest_p: mann_whitney::smallest_p(before.len(), after.len()),
    })
}

/// One sweep: `cell` over the baseline in the same round, the log ratios tested against 0
/// with the signed-rank test.
pub fn against_reference(results: &Results, cell: &Cell, metric: Metric) -> Result<WithinRounds, Unpaired> {
    let ratios = ratios(results, cell, metric)?;
    let logs: Vec<f64> = ratios.iter().filter(|r| **r > 0.0).map(|r| r.ln()).collect();
    let ratio = median(&ratios);
    Ok(WithinRounds {
        reference: results.meta.baseline.clone(),
        test: "wilcoxon_signed_rank",
        old_ratio: None,
        new_ratio: ratio,
        delta_pct: ratio.map(|r| (r - 1.0) * 100.0),
        p_value: wilcoxon::test(&logs).map(|o| o.p_value),
        rounds: (logs.len(), logs.len()),
        enough: logs.len() >= wilcoxon::MIN_PAIRS,
        smallest_p: wilcoxon::smallest_p(logs.len()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::sample;

    /// Results of tokio (the baseline) and smol at c=1 whose rounds all ran 1 s apart, with
    /// these rates per round.
    fn sweep(tokio: &[f64], smol: &[f64]) -> Results {
        let mut results = sample::results(&["tokio", "smol"], &[1], tokio.len(), 10);
        for (cell, rates) in results.cells.iter_mut().zip([tokio, smol]) {
            for (i, (run, rate)) in cell.runs.iter_mut().zip(rates).enumerate() {
                run.requests_per_second = Some(*rate);
                run.started_at = 1_000 * i as u64 + u64::from(cell.variant == "smol");
            }
        }
        results
    }

    #[test]
    fn drift_that_hits_both_cancels() {
        // The new sweep ran 10% slower throughout, and its rounds drifted further; smol stayed
        // at half of tokio in every round (a power of two, so every ratio is exactly 0.5).
        let tokio = [100.0, 104.0, 98.0, 101.0, 99.0];
        let old = sweep(&tokio, &tokio.map(|t| t / 2.0));
        let slower: Vec<f64> = tokio.iter().enumerate().map(|(i, t)| t * (0.9 - i as f64 / 50.0)).collect();
        let new = sweep(&slower, &slower.iter().map(|t| t / 2.0).collect::<Vec<_>>());
        let (o, n) = (&old.cells[1], &new.cells[1]);
        let raw = crate::compare::row(o, n, Metric::RequestsPerSecond);
        assert!(raw.significant, "run against run, the drift looks real: {raw:?}");
        let within = between_sweeps(&old, o, &new, n, Metric::RequestsPerSecond).unwrap();
        assert_eq!(within.delta_pct, Some(0.0), "{within:?}");
        assert_eq!(within.p_value, Some(1.0), "{within:?}");
        assert_eq!((within.rounds, within.enough, within.test), ((5, 5), true, "mann_whitney"));
    }

    #[test]
    fn a_change_to_one_variant_shows() {
        let tokio = [100.0, 104.0, 98.0, 101.0, 99.0];
        let old = sweep(&tokio, &tokio.map(|t| t * 0.8));
        let new = sweep(&tokio.map(|t| t * 1.05), &tokio.map(|t| t * 0.7 * 1.05));
        let within =
            between_sweeps(&old, &old.cells[1], &new, &new.cells[1], Metric::RequestsPerSecond).unwrap();
        assert!((within.delta_pct.unwrap() - (0.7 / 0.8 - 1.0) * 100.0).abs() < 1e-9, "{within:?}");
        assert!((within.p_value.unwrap() - 2.0 / 252.0).abs() < 1e-12, "{within:?}");
    }

    #[test]
    fn rounds_that_cannot_be_recovered_say_why() {
        let tokio = [100.0, 104.0, 98.0, 101.0, 99.0];
        let mut results = sweep(&tokio, &tokio);
        assert_eq!(
            ratios(&results, &results.cells[0], Metric::RequestsPerSecond),
            Err(Unpaired::IsReference)
        );
        results.cells[1].runs.swap(0, 3);
        assert_eq!(ratios(&results, &results.cells[1], Metric::RequestsPerSecond), Err(Unpaired::OutOfOrder));
        results.meta.order = "grouped".into();
        assert_eq!(
            ratios(&results, &results.cells[1], Metric::RequestsPerSecond),
            Err(Unpaired::NotInterleaved)
        );
    }

    #[test]
    fn a_lost_round_keeps_the_others_paired() {
        let mut results = sweep(&[100.0, 104.0, 98.0, 101.0, 99.0], &[50.0, 52.0, 49.0, 50.5, 49.5]);
        results.cells[1].runs.truncate(3);
        results.cells[0].runs[1].requests_per_second = None;
        let got = ratios(&results, &results.cells[1], Metric::RequestsPerSecond).unwrap();
        assert_eq!(got, [0.5, 0.5]);
    }

    #[test]
    fn one_sweep_is_paired_round_by_round() {
        let tokio = [100.0, 130.0, 90.0, 120.0, 95.0, 110.0];
        // smol is 3% slower than tokio in every round, far less than the rounds' spread.
        let results = sweep(&tokio, &tokio.map(|t| t * 0.97));
        let paired = against_reference(&results, &results.cells[1], Metric::RequestsPerSecond).unwrap();
        assert!((paired.delta_pct.unwrap() + 3.0).abs() < 1e-9, "{paired:?}");
        assert_eq!(paired.p_value, Some(2.0 / 64.0), "six rounds, all slower");
        assert!(paired.enough);
        let raw = crate::compare::row(&results.cells[0], &results.cells[1], Metric::RequestsPerSecond);
        assert!(!raw.significant, "run against run the spread hides it: {raw:?}");
    }
}
