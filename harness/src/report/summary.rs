//! `harness compare --format markdown`: the comparison for a CI job's summary page (GitHub's
//! `$GITHUB_STEP_SUMMARY`, GitLab's job artifacts). The verdict line first, then the
//! breaches, then per metric a compact variant × level table of the changes that were judged
//! (within rounds where they could be, bold where a threshold was breached), then what to be
//! wary of. Everything else — medians, p-values, the plots — is in the full report.

use std::fmt::Write;

use super::compare::{grids_named, grids_of};
use crate::compare::gate::Gate;
use crate::compare::{Basis, Comparison, Correction, Metric, Row};

/// The summary page of `comparison` (`baseline`: one sweep's variants against its baseline).
pub fn markdown(title: &str, comparison: &Comparison, baseline: bool) -> String {
    let mut out = format!("## Performance: {title}\n\n");
    match &comparison.gate {
        Some(gate) => out.push_str(&super::gate::section(gate)),
        None => {
            let significant = comparison.rows.iter().filter(|r| r.decision.significant).count();
            let _ = writeln!(
                out,
                "No thresholds given (`--fail-on`): {significant} of {} comparisons are significant ({}).\n",
                comparison.rows.len(),
                correction_words(comparison.correction)
            );
        }
    }
    for metric in Metric::ALL {
        let grids = grids_of(comparison, metric, |row| Some(entry(row, comparison.gate.as_ref())));
        if grids.is_empty() {
            continue;
        }
        let _ = writeln!(out, "### {}\n", metric.title());
        for grid in grids {
            if grids_named(comparison) {
                let _ = writeln!(out, "**{}**\n", grid.scenario);
            }
            out.push_str(&grid.markdown());
        }
    }
    let reference =
        comparison.rows.iter().find_map(|r| r.within_rounds.as_ref()).map(|w| w.reference.clone());
    let sides = if baseline { "each variant against the baseline" } else { "new against old" };
    let within = match reference {
        Some(reference) => format!(
            "; `r`: within rounds, each run over `{reference}`'s in the same round (drift divides out), else run against \
             run; `yardstick`: `{reference}` itself, run against run, not judged"
        ),
        None => String::new(),
    };
    let _ = writeln!(
        out,
        "Changes are {sides}{within}. `~`: not significant ({}); **bold**: beyond a threshold.\n",
        correction_words(comparison.correction)
    );
    if !comparison.settings_differ.is_empty() {
        let listed: Vec<String> = comparison
            .settings_differ
            .iter()
            .map(|d| format!("{} `{}` → `{}`", d.setting, d.old, d.new))
            .collect();
        let _ = writeln!(out, "Settings that differ: {}.\n", listed.join("; "));
    }
    for warning in &comparison.warnings {
        let _ = writeln!(out, "- {warning}");
    }
    if !comparison.warnings.is_empty() {
        out.push('\n');
    }
    out
}

/// A compact entry: the decision's change, `r` when within rounds, `~` when not significant,
/// bold when it breached a threshold.
fn entry(row: &Row, gate: Option<&Gate>) -> String {
    let Some(change) = row.decision.delta_pct else { return "—".to_owned() };
    if row.decision.basis == Basis::Yardstick {
        return format!("{change:+.1}% yardstick");
    }
    let rounds = if row.decision.basis == Basis::WithinRounds { " r" } else { "" };
    let breached = gate.is_some_and(|gate| {
        gate.breaches.iter().any(|b| {
            b.scenario == row.scenario
                && b.variant == row.variant
                && b.level == row.level
                && Metric::from_short(b.metric).map(Metric::key) == Some(row.metric)
        })
    });
    match (breached, row.decision.significant) {
        (true, _) => format!("**{change:+.1}%**{rounds}"),
        (false, true) => format!("{change:+.1}%{rounds}"),
        (false, false) => format!("{change:+.1}%{rounds} ~"),
    }
}

fn correction_words(correction: Correction) -> String {
    match correction {
        Correction::None => "p ≥ 0.05, uncorrected".to_owned(),
        other => format!("q ≥ 0.05 after the {} correction over each metric's rows", other.name()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::gate;
    use crate::results::sample;

    #[test]
    fn verdict_first_then_compact_tables() {
        let mut old = sample::results(&["tokio", "smol"], &[1, 2], 5, 10);
        for cell in &mut old.cells {
            for (i, run) in cell.runs.iter_mut().enumerate() {
                run.started_at = 1_000 * i as u64 + u64::from(cell.variant == "smol");
            }
        }
        let mut new = old.clone();
        for run in new.cells.iter_mut().filter(|c| c.variant == "smol").flat_map(|c| c.runs.iter_mut()) {
            run.requests_per_second = run.requests_per_second.map(|r| r * 0.7);
        }
        let mut comparison = crate::compare::sweeps(&old, &new, Correction::BenjaminiHochberg);
        comparison.gate =
            Some(gate::judge(&comparison, &["rps:-5%".parse().unwrap()], Correction::BenjaminiHochberg));
        let page = markdown("base → change", &comparison, false);
        let lines: Vec<&str> = page.lines().collect();
        assert_eq!(lines[0], "## Performance: base → change");
        assert!(lines[2].starts_with("**Gate: failed** (exit 1) — 2 points breach rps:-5%"), "{page}");
        assert!(
            page.contains("| classic  | smol    |   c=1 | rps    |  8800 |  6160 | -30.00% | rps:-5%"),
            "{page}"
        );
        assert!(page.contains("| smol    |    **-30.0%** r |    **-30.0%** r |"), "{page}");
        assert!(page.contains("| tokio   | +0.0% yardstick | +0.0% yardstick |"), "{page}");
        assert!(page.contains("Benjamini–Hochberg"), "{page}");
    }
}
