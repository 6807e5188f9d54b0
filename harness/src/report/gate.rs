//! The gate's verdict as Markdown (`harness compare --fail-on`): one line saying pass, breach
//! or no verdict, then the table of breaches, then what could not be judged. The terminal,
//! the CI summary and the HTML page all show it first.

use std::fmt::Write;

use super::compare::number;
use super::table::{render, Align};
use crate::compare::gate::{Breach, Gate, Verdict};

/// The verdict line: `**Gate: failed** — …`.
pub fn verdict_line(gate: &Gate) -> String {
    let word = match gate.verdict {
        Verdict::Pass => "passed",
        Verdict::Breach => "failed",
        Verdict::NoVerdict => "no verdict",
    };
    let exit = if gate.breached() { 1 } else { 0 };
    format!("**Gate: {word}** (exit {exit}) — {}.", gate.summary)
}

/// The breaches' columns.
pub const BREACH_HEADERS: [&str; 10] =
    ["scenario", "variant", "level", "metric", "old", "new", "change", "threshold", "corrected p", "basis"];

/// One breach as a table row.
pub fn breach_row(breach: &Breach) -> Vec<String> {
    vec![
        breach.scenario.clone(),
        breach.variant.clone(),
        breach.level.clone(),
        breach.metric.to_owned(),
        number(breach.old_median),
        number(breach.new_median),
        format!("{:+.2}%", breach.delta_pct),
        breach.threshold.clone(),
        format!("{:.4}", breach.corrected_p),
        breach.basis.describe(breach.reference.as_deref()),
    ]
}

/// The breaches as a padded Markdown table (empty when there are none).
pub fn breach_table(gate: &Gate) -> String {
    if gate.breaches.is_empty() {
        return String::new();
    }
    let rows: Vec<Vec<String>> = gate.breaches.iter().map(breach_row).collect();
    let mut align = vec![Align::Right; BREACH_HEADERS.len()];
    for left in [0, 1, 3, 7, 9] {
        align[left] = Align::Left;
    }
    render(&BREACH_HEADERS, &align, &rows)
}

/// How many unjudged rows are listed by name before the rest are counted.
const UNJUDGED_LISTED: usize = 8;

/// The whole section: the verdict, the breaches, what was not judged.
pub fn section(gate: &Gate) -> String {
    let mut out = format!("{}\n\n", verdict_line(gate));
    let table = breach_table(gate);
    if !table.is_empty() {
        let _ = writeln!(
            out,
            "{table}\nold and new: the medians of each side's runs; change: the decision's (within rounds: of the ratio \
             to the baseline in the same round, with drift divided out).\n"
        );
    }
    if !gate.unjudged.is_empty() && gate.verdict != Verdict::NoVerdict {
        let listed: Vec<&str> = gate.unjudged.iter().take(UNJUDGED_LISTED).map(String::as_str).collect();
        let more = gate.unjudged.len().saturating_sub(UNJUDGED_LISTED);
        let _ = writeln!(
            out,
            "Not judged: {}{}.\n",
            listed.join("; "),
            if more > 0 { format!("; and {more} more") } else { String::new() }
        );
    }
    out
}
