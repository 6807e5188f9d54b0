//! False alarms of `harness compare --fail-on rps:-5%`, measured: two identical small sweeps,
//! freshly run, compared 20 times, must breach at most twice. Nothing differs between the two
//! sides but the machine, so every breach is a false alarm. Its own test binary, so no other
//! test's load runs beside it (cargo runs test binaries one at a time).
//!
//! What the gate promises: with 5 rounds a side, a row is significant only when its 5 new
//! per-round ratios all but overlap the old ones (two-sided p ≤ 8/252); one direction of that
//! is 1.6% of comparisons when nothing changed, less once the change must also pass −5%. So
//! about 0.3 false alarms in 20 are expected, and 2 or more come about 4% of the time at worst
//! when the machine's noise hits both variants alike. It does not always: runs of this test
//! have given 1, 0, 0 and 2 breaches in 20, the 2 on a machine still busy with other work. So
//! the bar is 2: the aim is at most 1 in 20, but a test that fails one CI run in twenty-five by
//! chance alone would cry wolf itself. 3 or more in 20 takes a false-alarm rate several times
//! the design's, which is what a gate that drift can fake shows.
//! A gate trusting each cell's own test run against run (as `compare` did before) fails far
//! more often here: the machine's speed drifts by tens of percent between sweeps a second apart.

mod support;

use std::process::Command;
use std::time::Instant;

use support::{results_dir, text, Scratch, HARNESS};

/// Comparisons made, and how many may breach.
const COMPARISONS: usize = 20;
const ALLOWED: usize = 2;

/// Two variants at one level, 5 keep-alive rounds of 500 requests: about a second a sweep.
const MATRIX: &str =
    "[sweep]\nrequests = 500\nwarmup = 50\nconcurrency = [2]\nkeep_alive = true\nrepeat = 5\n\n\
[[variant]]\nname = \"tokio\"\n\n[[variant]]\nname = \"smol\"\n";

#[test]
fn identical_sweeps_rarely_breach() {
    let scratch = Scratch::new();
    let matrix = scratch.matrix(MATRIX);
    let started = Instant::now();
    let sweep = |name: String| {
        let out = scratch.path().join(name);
        let output =
            Command::new(HARNESS).arg(&matrix).arg("--out").arg(&out).output().expect("run the harness");
        assert!(output.status.success(), "{}\n{}", text(&output.stdout), text(&output.stderr));
        results_dir(&out)
    };
    let mut alarms = Vec::new();
    for i in 0..COMPARISONS {
        let (old, new) = (sweep(format!("old-{i}")), sweep(format!("new-{i}")));
        let output = Command::new(HARNESS)
            .args(["compare", "--fail-on", "rps:-5%", "--format", "json"])
            .arg(&old)
            .arg(&new)
            .output()
            .expect("run harness compare");
        let json: serde_json::Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|err| panic!("{err}: {}\n{}", text(&output.stdout), text(&output.stderr)));
        let gate = &json["gate"];
        // A comparison that could not judge anything would pass for nothing.
        assert_eq!(gate["judged"], 1, "smol within rounds against tokio, judged: {gate}");
        match (output.status.code(), gate["verdict"].as_str()) {
            (Some(0), Some("pass")) => {}
            (Some(1), Some("breach")) => alarms.push(format!("comparison {}: {}", i + 1, gate["breaches"])),
            other => panic!("{other:?}: {gate}\n{}", text(&output.stderr)),
        }
    }
    let took = started.elapsed();
    eprintln!(
        "false alarms: {} of {COMPARISONS} comparisons of identical sweeps breached rps:-5% ({took:.0?}){}",
        alarms.len(),
        alarms.iter().map(|a| format!("\n  {a}")).collect::<String>()
    );
    assert!(
        alarms.len() <= ALLOWED,
        "{} false alarms in {COMPARISONS}:\n{}",
        alarms.len(),
        alarms.join("\n")
    );
}
