//! The gate of `harness compare --fail-on METRIC:CHANGE`: a point breaches a threshold when
//! its metric changed for the worse by more than the threshold **and** the change is
//! significant after correction over the metric's rows. A gate that trusted every cell's own
//! p < 0.05 would fail about once in twenty cells for nothing; one that trusted run-against-run
//! tests between sweeps would fail whenever the machine drifted between them (see
//! [`super::rounds`]), so each row is judged on its decision (within rounds where it can be).

use std::str::FromStr;

use serde::Serialize;

use super::{Basis, Comparison, Correction, Metric, Row};
use crate::stats::mann_whitney::ALPHA;

/// One `--fail-on METRIC:CHANGE`: a change of `metric` for the worse beyond `change_pct`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    pub metric: Metric,
    /// Signed the way the metric gets worse: negative for requests per second, positive for
    /// latency and CPU.
    pub change_pct: f64,
}

/// What `--fail-on` accepts, for messages.
const FORM: &str = "METRIC:CHANGE with METRIC one of rps (requests per second), p50, p99 (latency), cpu (server \
CPU per request), syscalls, switches (the server's per request, from `mechanics = true`) and CHANGE a signed percentage the way the metric gets worse, e.g. rps:-5%, p99:+10%, cpu:+5%";

impl FromStr for Threshold {
    type Err = String;

    fn from_str(text: &str) -> Result<Threshold, String> {
        let Some((name, change)) = text.split_once(':') else {
            return Err(format!("`{text}`: expected {FORM}"));
        };
        let metric = Metric::from_short(name.trim())
            .ok_or_else(|| format!("unknown metric `{name}` in `{text}`: expected {FORM}"))?;
        let worse = if metric.higher_is_better() { '-' } else { '+' };
        let example = format!("{}:{worse}5%", metric.short());
        let change = change.trim();
        let number = change
            .strip_suffix('%')
            .filter(|n| n.starts_with(['+', '-']))
            .ok_or_else(|| format!("`{text}`: the change must be a signed percentage, e.g. {example}"))?;
        let change_pct: f64 = number
            .parse()
            .ok()
            .filter(|n: &f64| n.is_finite())
            .ok_or_else(|| format!("`{text}`: `{number}` is not a number; e.g. {example}"))?;
        if !number.starts_with(worse) {
            return Err(format!(
                "`{text}`: {} gets worse as it {}, so its threshold is {worse}N%, e.g. {example}",
                metric.name(),
                if metric.higher_is_better() { "falls" } else { "rises" }
            ));
        }
        if metric.higher_is_better() && change_pct <= -100.0 {
            return Err(format!("`{text}`: {} cannot fall by 100% or more; e.g. {example}", metric.name()));
        }
        Ok(Threshold { metric, change_pct })
    }
}

impl Threshold {
    /// As written on the command line, normalized: `rps:-5%`.
    pub fn label(&self) -> String {
        let sign = if self.metric.higher_is_better() { '-' } else { '+' };
        format!("{}:{sign}{}%", self.metric.short(), self.change_pct.abs())
    }

    /// Whether `change_pct` is worse than this threshold.
    pub fn beyond(&self, change_pct: f64) -> bool {
        if self.metric.higher_is_better() {
            change_pct < self.change_pct
        } else {
            change_pct > self.change_pct
        }
    }
}

/// The gate's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every point that could be judged stayed within its thresholds.
    Pass,
    /// Some point breached a threshold: exit 1.
    Breach,
    /// No point had runs enough for any difference to be called real: nothing was judged, and
    /// the gate does not fail.
    NoVerdict,
}

/// A point that breached a threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Breach {
    pub scenario: String,
    pub variant: String,
    pub level: String,
    /// The metric's short name (`rps`, `p50`, `p99`, `cpu`).
    pub metric: &'static str,
    pub threshold: String,
    /// The medians over each side's runs.
    pub old_median: Option<f64>,
    pub new_median: Option<f64>,
    /// The decision's change, in percent (within rounds: of the ratio to `reference`).
    pub delta_pct: f64,
    pub basis: Basis,
    /// The baseline the change was measured against, within rounds.
    pub reference: Option<String>,
    /// The decision's p-value after the correction.
    pub corrected_p: f64,
}

/// What the gate found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gate {
    /// The thresholds, normalized (`rps:-5%`).
    pub thresholds: Vec<String>,
    /// The correction the decisions went through.
    pub correction: Correction,
    pub verdict: Verdict,
    /// The verdict in one sentence.
    pub summary: String,
    pub breaches: Vec<Breach>,
    /// Rows (point × gated metric) that could be judged.
    pub judged: usize,
    /// Rows that could not, each with why (too few runs; a correction no p-value can pass).
    pub unjudged: Vec<String>,
}

impl Gate {
    pub fn breached(&self) -> bool {
        self.verdict == Verdict::Breach
    }
}

/// Judges `comparison`'s rows against `thresholds` (its decisions are already corrected with
/// `correction`).
pub fn judge(comparison: &Comparison, thresholds: &[Threshold], correction: Correction) -> Gate {
    let mut breaches = Vec::new();
    let mut judged = 0;
    let mut unjudged = Vec::new();
    let mut best_possible: Option<(f64, &Row)> = None;
    let mut yardstick: Option<&str> = None;
    for threshold in thresholds {
        let rows: Vec<&Row> = comparison.rows.iter().filter(|r| r.metric == threshold.metric.key()).collect();
        let (measured_against, rows): (Vec<&Row>, Vec<&Row>) =
            rows.into_iter().partition(|r| r.decision.basis == Basis::Yardstick);
        yardstick = yardstick.or(measured_against.first().map(|r| r.variant.as_str()));
        let family = rows.iter().filter(|r| r.decision.enough && r.decision.p_value.is_some()).count();
        for row in rows {
            let reachable = correction.smallest_adjusted(row.decision.smallest_p, family.max(1));
            if best_possible.is_none_or(|(best, _)| reachable < best) {
                best_possible = Some((reachable, row));
            }
            if !row.decision.enough || reachable >= ALPHA {
                unjudged.push(format!(
                    "{} {} {} {}: {}",
                    row.scenario,
                    row.variant,
                    row.level,
                    threshold.metric.short(),
                    why_unjudged(row, reachable, correction)
                ));
                continue;
            }
            judged += 1;
            let (Some(delta), Some(q)) = (row.decision.delta_pct, row.decision.corrected_p) else { continue };
            if row.decision.significant && threshold.beyond(delta) {
                breaches.push(Breach {
                    scenario: row.scenario.clone(),
                    variant: row.variant.clone(),
                    level: row.level.clone(),
                    metric: threshold.metric.short(),
                    threshold: threshold.label(),
                    old_median: row.old_median,
                    new_median: row.new_median,
                    delta_pct: delta,
                    basis: row.decision.basis,
                    reference: row.reference().map(str::to_owned),
                    corrected_p: q,
                });
            }
        }
    }
    let labels: Vec<String> = thresholds.iter().map(Threshold::label).collect();
    let how =
        format!("significant after {} over each metric's rows at α = {ALPHA}", correction_words(correction));
    let against = yardstick.map_or_else(String::new, |yardstick| {
        format!("; judged within rounds against `{yardstick}`, the yardstick, which is not judged itself")
    });
    let (verdict, summary) = if !breaches.is_empty() {
        let points = if breaches.len() == 1 { "point breaches" } else { "points breach" };
        (
            Verdict::Breach,
            format!(
                "{} {points} {}: beyond the threshold and {how}{against}",
                breaches.len(),
                labels.join(", ")
            ),
        )
    } else if judged == 0 {
        let why = best_possible.map_or_else(
            || "no point was compared".to_owned(),
            |(reachable, row)| why_unjudged(row, reachable, correction),
        );
        (
            Verdict::NoVerdict,
            format!(
                "no verdict on {}: too few runs for any difference to be called real ({why})",
                labels.join(", ")
            ),
        )
    } else {
        let partly = if unjudged.is_empty() {
            String::new()
        } else {
            format!("; {} more could not be judged (too few runs)", unjudged.len())
        };
        (
            Verdict::Pass,
            format!(
                "no breach of {} among {judged} comparisons (a breach: beyond its threshold and {how}){against}{partly}",
                labels.join(", ")
            ),
        )
    };
    Gate { thresholds: labels, correction, verdict, summary, breaches, judged, unjudged }
}

/// The correction as a phrase.
fn correction_words(correction: Correction) -> String {
    match correction {
        Correction::None => "no correction".to_owned(),
        other => format!("{} correction", other.name()),
    }
}

/// Why a row cannot be judged, with what would let it be.
fn why_unjudged(row: &Row, reachable: f64, correction: Correction) -> String {
    let (a, b) = match (row.decision.basis, &row.within_rounds) {
        (Basis::WithinRounds, Some(w)) => w.rounds,
        _ => row.runs,
    };
    let (sides, fewest) = match (row.decision.basis, row.within_rounds.as_ref().map(|w| w.test)) {
        (Basis::WithinRounds, Some("wilcoxon_signed_rank")) => {
            let fewest = crate::stats::wilcoxon::MIN_PAIRS;
            (format!("{a} paired rounds, which need {fewest} to reach p < {ALPHA}"), fewest)
        }
        _ => (
            format!("{a} + {b} runs, the smallest p-value is {:.4}", row.decision.smallest_p),
            crate::stats::mann_whitney::MIN_RUNS,
        ),
    };
    if row.decision.enough && reachable >= ALPHA {
        format!(
            "{sides}, and {} over this many rows makes it {reachable:.3} at best; use --correction bh or more repeats",
            correction.name()
        )
    } else {
        format!("{sides}; set repeat ≥ {fewest}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::sample;

    fn threshold(text: &str) -> Result<Threshold, String> {
        text.parse()
    }

    #[test]
    fn thresholds_parse_and_say_what_is_wrong() {
        assert_eq!(
            threshold("rps:-5%"),
            Ok(Threshold { metric: Metric::RequestsPerSecond, change_pct: -5.0 })
        );
        assert_eq!(threshold("p99:+10%").unwrap().label(), "p99:+10%");
        assert_eq!(threshold("cpu:+2.5%").unwrap().change_pct, 2.5);
        assert_eq!(threshold("rps:-0%").unwrap().label(), "rps:-0%");
        let err = threshold("latency:+5%").unwrap_err();
        assert!(err.contains("unknown metric `latency`") && err.contains("rps"), "{err}");
        assert!(threshold("rps").unwrap_err().contains("expected METRIC:CHANGE"));
        assert!(threshold("rps:-5").unwrap_err().contains("signed percentage"));
        assert!(threshold("rps:5%").unwrap_err().contains("signed percentage"));
        assert!(threshold("rps:-x%").unwrap_err().contains("not a number"));
        assert!(threshold("rps:-inf%").unwrap_err().contains("not a number"));
        assert!(threshold("rps:+5%").unwrap_err().contains("rps:-5%"));
        assert!(threshold("p99:-5%").unwrap_err().contains("p99:+5%"));
        assert!(threshold("rps:-100%").unwrap_err().contains("100%"));
    }

    #[test]
    fn beyond_means_worse_than() {
        let rps = threshold("rps:-5%").unwrap();
        assert!(rps.beyond(-5.1) && !rps.beyond(-5.0) && !rps.beyond(3.0));
        let p99 = threshold("p99:+10%").unwrap();
        assert!(p99.beyond(10.5) && !p99.beyond(9.0) && !p99.beyond(-30.0));
    }

    /// Two sweeps of tokio and smol at c=1 and c=2 in interleaved rounds, the new one with smol
    /// 30% slower in every round.
    fn slower_smol(repeat: usize) -> (crate::results::Results, crate::results::Results) {
        let mut old = sample::results(&["tokio", "smol"], &[1, 2], repeat, 10);
        for cell in &mut old.cells {
            let offset = u64::from(cell.variant == "smol");
            for (i, run) in cell.runs.iter_mut().enumerate() {
                run.started_at = 1_000 * i as u64 + offset;
            }
        }
        let mut new = old.clone();
        for cell in new.cells.iter_mut().filter(|c| c.variant == "smol") {
            for run in &mut cell.runs {
                run.requests_per_second = run.requests_per_second.map(|r| r * 0.7);
            }
        }
        (old, new)
    }

    #[test]
    fn a_slower_variant_breaches_and_names_its_points() {
        let (old, new) = slower_smol(5);
        let comparison = super::super::sweeps(&old, &new, Correction::BenjaminiHochberg);
        let gate = judge(&comparison, &[threshold("rps:-5%").unwrap()], Correction::BenjaminiHochberg);
        assert_eq!(gate.verdict, Verdict::Breach, "{gate:?}");
        let points: Vec<String> =
            gate.breaches.iter().map(|b| format!("{} {}", b.variant, b.level)).collect();
        assert_eq!(points, ["smol c=1", "smol c=2"]);
        assert!(gate
            .breaches
            .iter()
            .all(|b| b.basis == Basis::WithinRounds && (b.delta_pct + 30.0).abs() < 1e-6));
        assert_eq!(gate.judged, 2, "tokio is the yardstick: {gate:?}");
        assert!(gate.summary.contains("against `tokio`, the yardstick"), "{}", gate.summary);
        assert!(
            gate.summary.starts_with("2 points breach rps:-5%: beyond the threshold and significant"),
            "{}",
            gate.summary
        );
        // A looser threshold holds.
        let gate = judge(&comparison, &[threshold("rps:-40%").unwrap()], Correction::BenjaminiHochberg);
        assert_eq!(gate.verdict, Verdict::Pass, "{gate:?}");
        assert!(gate.summary.starts_with("no breach of rps:-40% among 2 comparisons"), "{}", gate.summary);
        assert!(gate.summary.contains("Benjamini–Hochberg"), "{}", gate.summary);
    }

    #[test]
    fn too_few_runs_give_no_verdict() {
        let (old, new) = slower_smol(3);
        let comparison = super::super::sweeps(&old, &new, Correction::BenjaminiHochberg);
        let gate = judge(&comparison, &[threshold("rps:-5%").unwrap()], Correction::BenjaminiHochberg);
        assert_eq!(gate.verdict, Verdict::NoVerdict, "{gate:?}");
        assert!(gate.summary.contains("too few runs") && gate.summary.contains("3 + 3"), "{}", gate.summary);
        assert_eq!(gate.unjudged.len(), 2);
    }

    #[test]
    fn holm_over_many_rows_cannot_reach_with_five_runs() {
        // 5 + 5 runs: the smallest p is 0.0079; Holm over 2 rows needs < 0.025, over 10 it
        // cannot be had.
        let (old, new) = slower_smol(5);
        let comparison = super::super::sweeps(&old, &new, Correction::Holm);
        let gate = judge(&comparison, &[threshold("rps:-5%").unwrap()], Correction::Holm);
        assert_eq!(gate.verdict, Verdict::Breach, "2 rows: {gate:?}");
        let mut wide = sample::results(&["tokio", "smol"], &[1, 2, 3, 4, 5], 5, 10);
        wide.meta.order = "grouped".into();
        let comparison = super::super::sweeps(&wide, &wide, Correction::Holm);
        let gate = judge(&comparison, &[threshold("rps:-5%").unwrap()], Correction::Holm);
        assert_eq!(gate.verdict, Verdict::NoVerdict, "{gate:?}");
        assert!(gate.summary.contains("use --correction bh"), "{}", gate.summary);
    }
}
