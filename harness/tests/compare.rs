//! `harness compare`: matching cells of two real sweeps, saying which differences are real,
//! listing settings that differ, and refusing unreadable input clearly.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{results_dir, text, Scratch, HARNESS};

/// Runs a sweep of tokio and smol at c=1 and c=2, 5 repeats, on `path`, the four measured
/// metrics only (`mechanics = "off"`: compare's counted-once rows are checked in scaling.rs);
/// returns its results directory.
fn sweep(scratch: &Scratch, name: &str, path: &str) -> PathBuf {
    let matrix = format!(
        "[sweep]\nrequests = 300\nconcurrency = [1, 2]\nkeep_alive = true\nrepeat = 5\npath = \"{path}\"\nmechanics = \"off\"\n\n[[variant]]\nname = \"tokio\"\n[[variant]]\nname = \"smol\"\n"
    );
    let out = scratch.path().join(name);
    let file = scratch.path().join(format!("{name}.toml"));
    std::fs::write(&file, matrix).expect("write the matrix");
    let output = Command::new(HARNESS)
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .env("NO_COLOR", "1")
        .output()
        .expect("run the harness");
    assert!(output.status.success(), "{}\n{}", text(&output.stdout), text(&output.stderr));
    results_dir(&out)
}

fn compare(args: &[&Path], json: bool) -> (Option<i32>, String, String) {
    compare_with(args, if json { &["--json"] } else { &["--long"] })
}

fn compare_with(args: &[&Path], options: &[&str]) -> (Option<i32>, String, String) {
    let mut command = Command::new(HARNESS);
    command.arg("compare").args(args).args(options);
    let output = command.output().expect("run harness compare");
    (output.status.code(), text(&output.stdout), text(&output.stderr))
}

#[test]
fn a_run_against_itself_is_all_noise_and_a_heavier_path_is_significant() {
    let scratch = Scratch::new();
    let small = sweep(&scratch, "small", "/");
    let (code, stdout, stderr) = compare(&[&small, &small], false);
    assert_eq!(code, Some(0), "{stderr}");
    let deltas: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("| classic"))
        .map(|l| l.split('|').map(str::trim).nth(6).unwrap_or_default())
        .collect();
    assert_eq!(deltas.len(), 2 * 2 * 4, "every cell and metric: {stdout}");
    assert!(deltas.iter().all(|d| *d == "~"), "nothing differs from itself: {stdout}");
    assert!(!stdout.contains("Settings that differ"), "{stdout}");
    // By default: variant × level tables, in the matrix's order, and a word on why nothing
    // but drift can differ between two sweeps of the same everything.
    let (code, stdout, _) = compare_with(&[&small, &small], &[]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("Same commit, build, machine and settings"), "{stdout}");
    let (within, grid): (Vec<&str>, Vec<&str>) = stdout
        .lines()
        .filter(|l| l.starts_with("| tokio ") || l.starts_with("| smol "))
        .partition(|l| l.contains('×'));
    assert_eq!(grid.len(), 2 * 4, "a row per variant in each metric's table: {stdout}");
    assert!(grid[0].starts_with("| tokio") && grid[1].starts_with("| smol"), "matrix order: {stdout}");
    assert!(grid.iter().all(|row| row.contains(" → ") && row.matches('~').count() == 2), "{stdout}");
    // Under each, smol within rounds over tokio (the yardstick): the same ratios, no change.
    assert_eq!(within.len(), 4, "{stdout}");
    assert!(
        within.iter().all(|row| row.starts_with("| smol") && row.matches("+0.0% ~").count() == 2),
        "{stdout}"
    );

    let big = sweep(&scratch, "big", "/bytes/2097152");
    let (code, json, stderr) = compare(&[&small, &big], true);
    assert_eq!(code, Some(0), "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let differ = json["settings_differ"].as_array().unwrap();
    assert!(
        differ
            .iter()
            .any(|d| d["setting"] == "classic: path" && d["old"] == "/" && d["new"] == "/bytes/2097152"),
        "{differ:?}"
    );
    let rows = json["rows"].as_array().unwrap();
    for row in rows.iter().filter(|r| r["metric"] == "requests_per_second") {
        assert_eq!(row["significant"], true, "a 2 MiB body is slower for real: {row}");
        assert!(row["delta_pct"].as_f64().unwrap() < -20.0, "{row}");
        assert!(row["p_value"].as_f64().unwrap() < 0.05, "{row}");
    }
    for key in
        ["variant", "level", "metric", "old_median", "new_median", "delta_pct", "p_value", "significant"]
    {
        assert!(rows[0].get(key).is_some(), "rows have {key}: {}", rows[0]);
    }
    let (_, stdout, _) = compare(&[&small, &big], false);
    assert!(
        stdout.contains("Settings that differ") && stdout.contains("classic: path: `/` → `/bytes/2097152`"),
        "{stdout}"
    );
    assert!(stdout.contains("| geomean"), "{stdout}");

    // One directory alone: every variant against its baseline.
    let (code, stdout, _) = compare(&[&small], false);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("against the baseline `tokio`"), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("| classic") && l.contains("smol")), "{stdout}");
}

#[test]
fn unreadable_input_exits_2_naming_the_file() {
    let scratch = Scratch::new();
    let missing = scratch.path().join("nowhere");
    let (code, _, stderr) = compare(&[&missing, &missing], false);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("nowhere") && stderr.contains("cannot read"), "{stderr}");

    let garbage = scratch.path().join("garbage.json");
    std::fs::write(&garbage, "{ not json").unwrap();
    let (code, _, stderr) = compare(&[&garbage], false);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("garbage.json") && stderr.contains("not a results file"), "{stderr}");

    // Results written before schema 2 say which schema they are.
    let old = scratch.path().join("old.json");
    std::fs::write(&old, r#"{"meta": {}, "cells": [], "problems": []}"#).unwrap();
    let (code, _, stderr) = compare(&[&old], false);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("schema 1") && stderr.contains("reads schema 2"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
