//! `harness compare --fail-on`: a gate for CI on real sweeps. Bad thresholds exit 2 with a
//! message; a clear slowdown exits 1 naming its cells (run against run, and within rounds
//! against a yardstick); the Bencher Metric Format output has the documented shape; a baseline
//! is saved by `harness run` and compared by name. The false-alarm rate has its own test
//! binary (`false_alarms.rs`), so no other test's load runs beside it.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use server_conformance::test_name;
use server_conformance::tools::{require, PYTHON3};
use support::{free_port, results_dir, text, Scratch, HARNESS};

/// A small keep-alive sweep of `variants` (`[[variant]]` tables) at `levels`, 5 rounds, on
/// `path`, written to `dir/name`; returns its results directory.
fn sweep(dir: &Path, name: &str, path: &str, levels: &str, variants: &str, extra: &[&str]) -> PathBuf {
    let matrix = format!(
        "[sweep]\nrequests = 200\nwarmup = 20\nconcurrency = {levels}\nkeep_alive = true\nrepeat = 5\npath = \"{path}\"\n\n{variants}"
    );
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(&file, matrix).expect("write the matrix");
    let out = dir.join(name);
    let output = Command::new(HARNESS)
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .args(extra)
        .env("NO_COLOR", "1")
        .output()
        .expect("run the harness");
    assert!(output.status.success(), "{}\n{}", text(&output.stdout), text(&output.stderr));
    results_dir(&out)
}

fn harness(args: &[&str]) -> Output {
    Command::new(HARNESS).args(args).output().expect("run the harness")
}

fn show(output: &Output) -> String {
    format!("exit {:?}\n{}\n{}", output.status.code(), text(&output.stdout), text(&output.stderr))
}

#[test]
fn bad_thresholds_and_names_exit_2_saying_what_is_wrong() {
    // Parsed before any input is read: the inputs need not exist.
    for (option, said) in [
        ("latency:+5%", "unknown metric `latency`"),
        ("rps:-5", "signed percentage"),
        ("rps:5%", "signed percentage"),
        ("rps:+5%", "rps:-5%"),
        ("p99:-10%", "p99:+5%"),
        ("cpu:+lots%", "not a number"),
        ("rps:-120%", "100%"),
        ("rps", "METRIC:CHANGE"),
    ] {
        let output = harness(&["compare", "nowhere-old", "nowhere-new", "--fail-on", option]);
        assert_eq!(output.status.code(), Some(2), "{option}: {}", show(&output));
        let stderr = text(&output.stderr);
        assert!(stderr.contains(said) && stderr.contains("--fail-on"), "{option}: {stderr}");
    }
    let output = harness(&["compare", "a", "b", "--fail-on", "rps:-5%", "--fail-on", "rps:-10%"]);
    assert_eq!(output.status.code(), Some(2), "{}", show(&output));
    assert!(text(&output.stderr).contains("one threshold per metric"), "{}", show(&output));
    let output = harness(&["compare", "a", "b", "--correction", "bonferroni"]);
    assert_eq!(output.status.code(), Some(2), "{}", show(&output));
    assert!(text(&output.stderr).contains("holm"), "{}", show(&output));
    for name in ["../main", "a/b", "", ".hidden"] {
        let output = harness(&["compare", "--baseline", name, "new"]);
        assert_eq!(output.status.code(), Some(2), "{name:?}: {}", show(&output));
        assert!(text(&output.stderr).contains("baseline name"), "{name:?}: {}", show(&output));
    }
}

/// The same variant against a path with 1 MiB bodies: every point slower, and alone in the
/// sweep, tokio is judged run against run.
#[test]
fn a_heavier_path_breaches_naming_its_cells() {
    let scratch = Scratch::new();
    let tokio = "[[variant]]\nname = \"tokio\"\n";
    let light = sweep(scratch.path(), "light", "/", "[1, 2]", tokio, &[]);
    let heavy = sweep(scratch.path(), "heavy", "/bytes/1048576", "[1, 2]", tokio, &[]);
    let (old, new) = (light.to_str().unwrap(), heavy.to_str().unwrap());

    let output = harness(&["compare", old, new, "--fail-on", "rps:-5%"]);
    assert_eq!(output.status.code(), Some(1), "{}", show(&output));
    let stdout = text(&output.stdout);
    let first = stdout.lines().find(|l| !l.is_empty() && !l.starts_with('#')).unwrap_or_default();
    assert!(
        first.starts_with("**Gate: failed** (exit 1) — 2 points breach rps:-5%"),
        "verdict first: {stdout}"
    );
    assert!(first.contains("Benjamini–Hochberg"), "the correction is named: {first}");
    for level in ["c=1", "c=2"] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with("| classic") && l.contains(&format!(" {level} |")) && l.contains("| rps"))
            .unwrap_or_else(|| panic!("a breach row for tokio {level}: {stdout}"));
        assert!(line.contains("tokio") && line.contains("rps:-5%") && line.contains("| runs"), "{line}");
    }
    // Latency was not gated; a threshold the slowdown stays within passes.
    let output = harness(&["compare", old, new, "--fail-on", "p50:+100000%"]);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    assert!(text(&output.stdout).contains("**Gate: passed**"), "{}", show(&output));
    // Without --fail-on: exit 0 whatever changed, and no correction unless asked.
    let output = harness(&["compare", old, new, "--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["correction"], "none");
    assert!(json.get("gate").is_none(), "{json}");
    // JSON keeps stdout clean and carries the gate; the verdict goes to stderr.
    let output =
        harness(&["compare", old, new, "--fail-on", "rps:-5%", "--format", "json", "--correction", "holm"]);
    assert_eq!(output.status.code(), Some(1), "{}", show(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["correction"], "Holm");
    assert_eq!(json["gate"]["verdict"], "breach", "{}", json["gate"]);
    assert_eq!(json["gate"]["breaches"].as_array().unwrap().len(), 2);
    assert_eq!(json["gate"]["breaches"][0]["basis"], "runs");
    assert!(text(&output.stderr).contains("**Gate: failed**"), "{}", show(&output));
    // The CI summary: the verdict line, the breaches, compact tables.
    let output = harness(&["compare", old, new, "--fail-on", "rps:-5%", "--format", "markdown"]);
    assert_eq!(output.status.code(), Some(1), "{}", show(&output));
    let summary = text(&output.stdout);
    assert!(summary.starts_with("## Performance: "), "{summary}");
    assert!(summary.contains("**Gate: failed**") && summary.contains("### Requests per second"), "{summary}");
    assert!(summary.contains("| tokio   |"), "compact tables: {summary}");
}

/// A variant whose server changed (floor-epoll → thread-per-connection, a thread created for
/// every connection) against an unchanged yardstick: within rounds, its CPU per request
/// breaches; the yardstick is not judged.
#[test]
fn a_costlier_server_breaches_within_rounds() {
    let scratch = Scratch::new();
    let variants = |subject: &str| {
        format!("[[variant]]\nname = \"tokio\"\n\n[[variant]]\nname = \"subject\"\nbuiltin = \"{subject}\"\n")
    };
    let write = |name: &str, subject: &str| {
        let matrix = format!(
            "[sweep]\nrequests = 300\nwarmup = 20\nconcurrency = [2]\nrepeat = 5\n\n{}",
            variants(subject)
        );
        let (file, out) = (scratch.path().join(format!("{name}.toml")), scratch.path().join(name));
        std::fs::write(&file, matrix).unwrap();
        let output = Command::new(HARNESS).arg(&file).arg("--out").arg(&out).output().unwrap();
        assert!(output.status.success(), "{}", show(&output));
        results_dir(&out)
    };
    let before = write("before", "floor-epoll");
    let after = write("after", "thread-per-connection");
    let output = harness(&[
        "compare",
        before.to_str().unwrap(),
        after.to_str().unwrap(),
        "--fail-on",
        "cpu:+20%",
        "--format",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", show(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let breaches = json["gate"]["breaches"].as_array().unwrap();
    assert_eq!(breaches.len(), 1, "{breaches:?}");
    assert_eq!(breaches[0]["variant"], "subject");
    assert_eq!(breaches[0]["level"], "c=2");
    assert_eq!(breaches[0]["metric"], "cpu");
    assert_eq!(breaches[0]["basis"], "within_rounds");
    assert_eq!(breaches[0]["reference"], "tokio");
    assert!(breaches[0]["delta_pct"].as_f64().unwrap() > 20.0, "{breaches:?}");
    let tokio = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["variant"] == "tokio" && r["metric"] == "server_cpu_us_per_request")
        .unwrap();
    assert_eq!(tokio["decision"]["basis"], "yardstick", "{tokio}");
    assert!(json["gate"]["summary"].as_str().unwrap().contains("`tokio`, the yardstick"), "{}", json["gate"]);
}

/// Bencher's documented shape (its JSON schema, https://bencher.dev/bmf.json): an object of
/// benchmarks by name, each an object of measures by name or slug, each an object with a
/// number `value` and optionally numbers `lower_value` and `upper_value`; names up to 1024
/// characters, measure slugs up to 64.
fn assert_bmf(bmf: &serde_json::Value) {
    let benchmarks = bmf.as_object().expect("an object of benchmarks");
    assert!(!benchmarks.is_empty());
    for (name, measures) in benchmarks {
        assert!(!name.is_empty() && name.chars().count() <= 1024, "{name}");
        let measures = measures.as_object().unwrap_or_else(|| panic!("{name}: an object of measures"));
        assert!(!measures.is_empty(), "{name}");
        for (slug, metric) in measures {
            assert!(!slug.is_empty() && slug.len() <= 64, "{slug}");
            let metric = metric.as_object().unwrap_or_else(|| panic!("{name} {slug}: an object"));
            for key in metric.keys() {
                assert!(
                    ["value", "lower_value", "upper_value"].contains(&key.as_str()),
                    "{name} {slug}: {key}"
                );
            }
            let number =
                |key: &str| metric.get(key).map(|v| v.as_f64().unwrap_or_else(|| panic!("{key}: {v}")));
            let value = number("value").unwrap_or_else(|| panic!("{name} {slug}: value is required"));
            let lower = number("lower_value").expect("we always give lower_value");
            let upper = number("upper_value").expect("we always give upper_value");
            assert!(lower <= value && value <= upper && lower > 0.0, "{name} {slug}: {metric:?}");
        }
    }
}

#[test]
fn bencher_metric_format_has_the_documented_shape() {
    let scratch = Scratch::new();
    let variants = "[[variant]]\nname = \"tokio\"\n\n[[variant]]\nname = \"smol\"\n";
    let dir = sweep(scratch.path(), "one", "/", "[1, 2]", variants, &[]);
    let output = harness(&["compare", dir.to_str().unwrap(), "--format", "bmf"]);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let bmf: serde_json::Value = serde_json::from_slice(&output.stdout).expect("BMF is JSON");
    assert_bmf(&bmf);
    let names: Vec<&String> = bmf.as_object().unwrap().keys().collect();
    assert_eq!(names, ["classic/smol/c=1", "classic/smol/c=2", "classic/tokio/c=1", "classic/tokio/c=2"]);
    let tokio = &bmf["classic/tokio/c=2"];
    let measures: Vec<&String> = tokio.as_object().unwrap().keys().collect();
    assert_eq!(measures, ["latency-p50", "latency-p99", "server-cpu-per-request", "throughput"]);
    // The values are the runs' own: the median run's rate, latency in nanoseconds.
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    let cell = results["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["variant"] == "tokio" && c["concurrency"] == 2)
        .unwrap();
    let mut rates: Vec<f64> =
        cell["runs"].as_array().unwrap().iter().map(|r| r["requests_per_second"].as_f64().unwrap()).collect();
    rates.sort_by(f64::total_cmp);
    let near = |got: &serde_json::Value, want: f64| (got.as_f64().unwrap() - want).abs() <= want * 1e-9;
    assert!(near(&tokio["throughput"]["value"], rates[2]), "{rates:?} {tokio}");
    assert!(near(&tokio["throughput"]["lower_value"], rates[0]), "{rates:?} {tokio}");
    assert!(near(&tokio["throughput"]["upper_value"], rates[4]), "{rates:?} {tokio}");
    let p50s: Vec<f64> = cell["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["latency_us"]["p50"].as_f64().unwrap() * 1000.0)
        .collect();
    assert!(p50s.iter().any(|p50| near(&tokio["latency-p50"]["value"], *p50)), "in ns: {p50s:?} {tokio}");
    // Two results: the newer one's figures; a gate's verdict stays off stdout.
    let output = harness(&[
        "compare",
        dir.to_str().unwrap(),
        dir.to_str().unwrap(),
        "--format",
        "bmf",
        "--fail-on",
        "rps:-5%",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let again: serde_json::Value = serde_json::from_slice(&output.stdout).expect("only BMF on stdout");
    assert_eq!(again, bmf);
    assert!(text(&output.stderr).contains("**Gate: passed**"), "{}", show(&output));
}

#[test]
fn a_baseline_is_saved_by_name_and_compared() {
    let scratch = Scratch::new();
    let variants = "[[variant]]\nname = \"tokio\"\n\n[[variant]]\nname = \"smol\"\n";
    let out = scratch.path().join("kept");
    let base = sweep(scratch.path(), "kept", "/", "[2]", variants, &["--save-baseline", "main"]);
    let saved = out.join("baselines").join("main.json");
    assert_eq!(std::fs::read(&saved).unwrap(), std::fs::read(base.join("results.json")).unwrap());
    let new = sweep(scratch.path(), "change", "/", "[2]", variants, &[]);
    let results = out.to_str().unwrap();
    let output = harness(&[
        "compare",
        "--baseline",
        "main",
        "--results",
        results,
        new.to_str().unwrap(),
        "--fail-on",
        "rps:-90%",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let stdout = text(&output.stdout);
    assert!(stdout.starts_with("# Comparison: baseline `main` → "), "{stdout}");
    assert!(stdout.contains("**Gate: passed**"), "{stdout}");
    // A name not saved lists the ones that are; NEW is needed, and only NEW.
    let output = harness(&["compare", "--baseline", "release", "--results", results, new.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", show(&output));
    assert!(
        text(&output.stderr).contains("no baseline named `release`") && text(&output.stderr).contains("main")
    );
    let output = harness(&["compare", "--baseline", "main", "--results", results, "a", "b"]);
    assert_eq!(output.status.code(), Some(2), "{}", show(&output));
    // A bad name is refused before anything starts.
    let matrix = scratch.matrix("[sweep]\nrequests = 10\n\n[[variant]]\nname = \"tokio\"\n");
    let refused = scratch.path().join("refused");
    let output = Command::new(HARNESS)
        .arg(&matrix)
        .args(["--out", refused.to_str().unwrap(), "--save-baseline", "../escape"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", show(&output));
    assert!(!refused.exists(), "nothing started");
}

#[test]
fn a_sweep_that_failed_is_not_kept_as_a_baseline() {
    if !require(test_name!(a_sweep_that_failed_is_not_kept_as_a_baseline), &[PYTHON3]) {
        return;
    }
    let scratch = Scratch::new();
    // The tiny server exits after 3 connections: verification, then two requests of its cell.
    let matrix =
        format!("[sweep]\nrequests = 20\n\n{}", scratch.tiny_variant("tiny", free_port(), 3, "hi", "status"));
    let (output, out) = scratch.run(&matrix, &["--save-baseline", "main"]);
    assert_eq!(output.status.code(), Some(1), "{}", show(&output));
    assert!(text(&output.stderr).contains("not saved as baseline `main`"), "{}", show(&output));
    assert!(!out.join("baselines").exists());
}

/// `examples/ci/regression-gate.sh` end to end, with a smaller matrix of the same shape (the
/// base build's floor-epoll as the yardstick) and this build as both base and change.
#[test]
fn the_ci_script_sweeps_both_builds_and_keeps_the_reports() {
    let scratch = Scratch::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let template = scratch.path().join("ci.toml");
    std::fs::write(
        &template,
        format!(
            "[sweep]\nrequests = 200\nwarmup = 20\nconcurrency = [2]\nkeep_alive = true\nrepeat = 5\n\n\
             [[variant]]\nname = \"reference\"\ncommand = [\"@BASE_HARNESS@\", \"serve\", \"floor-epoll\", \"--port\", \
             \"{{port}}\", \"--workers\", \"{{workers}}\"]\nport = {}\nverify = \"spec\"\n\n[[variant]]\nname = \"tokio\"\n",
            free_port()
        ),
    )
    .unwrap();
    let out = scratch.path().join("ci");
    let summary_page = scratch.path().join("step-summary.md");
    let output = Command::new(root.join("examples/ci/regression-gate.sh"))
        .args([HARNESS, HARNESS])
        .arg(&out)
        .env("MATRIX", &template)
        .env("FAIL_ON", "rps:-90% cpu:+200%")
        .env("GITHUB_STEP_SUMMARY", &summary_page)
        .output()
        .expect("run the script");
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.starts_with("## Performance: baseline `base` → "), "{summary}");
    assert!(
        summary.contains("**Gate: passed**") && summary.contains("`reference`, the yardstick"),
        "{summary}"
    );
    assert_eq!(std::fs::read_to_string(&summary_page).unwrap(), summary, "the job's summary page gets it");
    assert!(std::fs::read_to_string(out.join("report.html")).unwrap().contains("<h1>Comparison: baseline"));
    let bmf: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("bmf.json")).unwrap()).unwrap();
    assert_bmf(&bmf);
    assert!(out.join("base/baselines/base.json").is_file());
    assert!(results_dir(&out.join("change")).join("report.html").is_file());
    // Wrong arguments: the usage, exit 2.
    let output = Command::new(root.join("examples/ci/regression-gate.sh")).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", show(&output));
    assert!(text(&output.stderr).contains("BASE_HARNESS CHANGE_HARNESS"), "{}", show(&output));
}
