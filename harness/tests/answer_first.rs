//! The answer first: a verdict at the top of the reports, honest labels after an interrupted
//! sweep, progress a CI log can follow, and a command line without surprises (every bad input
//! exits 2 with a message that says what is allowed).

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use scraper::{Html, Selector};
use server_conformance::test_name;
use server_conformance::tools::{require, PYTHON3};
use support::{established_to, free_ports, results_dir, results_json, signal, text, Scratch, HARNESS};

fn harness(args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(HARNESS).args(args).env("NO_COLOR", "1").output().expect("run the harness");
    (output.status.code(), text(&output.stdout), text(&output.stderr))
}

/// Three variants, two levels, four runs a cell: the verdict ranks them, names those tied with
/// the best and how that was decided, and comes first in `report.md` and `report.html`, where
/// the comparison tables (their legend first) come before the plots and command lines fold away.
#[test]
fn the_verdict_comes_first() {
    let scratch = Scratch::new();
    let matrix = "[sweep]\nrequests = 300\nconcurrency = [1, 2]\nkeep_alive = true\nrepeat = 4\n\n\
                  [[variant]]\nname = \"tokio\"\n[[variant]]\nname = \"smol\"\n[[variant]]\nname = \"floor-epoll\"\n";
    let (output, out) = scratch.run(matrix, &[]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", text(&output.stderr));
    // The terminal ends with the verdict, then where the page is.
    let verdict_at = stdout.rfind("## Verdict").expect("a verdict");
    assert!(verdict_at > stdout.rfind("#### Server CPU per request").expect("the matrices"), "{stdout}");
    assert!(stdout.trim_end().lines().last().unwrap_or_default().contains("report.html"), "{stdout}");

    let dir = results_dir(&out);
    let report = std::fs::read_to_string(dir.join("report.md")).expect("report.md");
    let verdict = report.find("## Verdict").expect("a verdict in report.md");
    assert!(verdict < report.find("## Scenario: classic").expect("the scenario"), "verdict first: {report}");
    for expected in [
        "- **Server CPU per request** (lower is better): cheapest `",
        "- **p99 latency** (lower is better): lowest `",
        "Benjamini–Hochberg-corrected over 4 comparisons",
        "- **Requests per second** (higher is better): ",
        "- **Stability**: steadiest `",
    ] {
        assert!(report.contains(expected), "missing {expected:?} in:\n{report}");
    }
    let cpu_line = report.lines().find(|l| l.starts_with("- **Server CPU per request**")).unwrap_or_default();
    assert!(cpu_line.contains("tied with it: `") || cpu_line.contains("none tied with it"), "{cpu_line}");

    let page = std::fs::read_to_string(dir.join("report.html")).expect("report.html");
    let document = Html::parse_document(&page);
    assert!(document.errors.is_empty(), "{:?}", document.errors);
    let selector = |css: &str| Selector::parse(css).expect("a selector");
    let verdict = document.select(&selector("section.verdict li")).count();
    assert!(verdict >= 4, "the verdict's findings as a list: {verdict}");
    let at = |needle: &str| page.find(needle).unwrap_or_else(|| panic!("{needle} on the page"));
    assert!(at("class=\"verdict\"") < at("<dl class=\"facts\">") || at("class=\"verdict\"") < at("<figure"));
    assert!(at("class=\"legend-text\"") < at("<table class=\"matrix\""), "the legend before the tables");
    assert!(at("<table class=\"matrix\"") < at("<figure"), "the comparison before the plots");
    assert_eq!(document.select(&selector("table.variants details")).count(), 3, "command lines fold away");
    // `results/latest` is this run.
    let latest = std::fs::canonicalize(out.join("latest")).expect("results/latest");
    assert_eq!(latest, std::fs::canonicalize(&dir).unwrap());
}

/// Ctrl-C in the middle of round 2: cells that simply got fewer runs say how many they kept and
/// are not marked cut short; only the one whose run was stopped midway is (`†`); the header
/// says what was kept of the plan; no advice to raise `repeat` (it is 5); `compare` says the
/// input was interrupted.
#[test]
fn an_interrupted_sweep_says_what_it_kept() {
    if !require(test_name!(an_interrupted_sweep_says_what_it_kept), &[PYTHON3]) {
        return;
    }
    let scratch = Scratch::new();
    let ports = free_ports(2);
    // The tiny server answers 50 connections, then holds every later one unanswered: one for
    // verification, 20 for each of round 1's two cells, so round 2's first run (tiny's, the
    // variants rotate) hangs at its 10th.
    let matrix = format!(
        "[sweep]\nrequests = 20\nconcurrency = [1, 2]\nrepeat = 5\ntimeout = \"60s\"\n\n\
         [[variant]]\nname = \"tokio\"\nport = {}\n\n{}",
        ports[0],
        scratch.tiny_variant_mode("tiny", ports[1], 50, "hello", "status", "stall")
    );
    let child = scratch.spawn(&matrix);
    // A connection held for half a second is the stall (the others last microseconds).
    let started = Instant::now();
    let mut held_since = None;
    loop {
        assert!(started.elapsed() < Duration::from_secs(60), "the tiny server never stalled");
        match (established_to(ports[1]) > 0, held_since) {
            (true, None) => held_since = Some(Instant::now()),
            (true, Some(since)) if since.elapsed() > Duration::from_millis(500) => break,
            (false, _) => held_since = None,
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(child.id(), libc::SIGINT);
    let output = child.wait_with_output().expect("the harness exits");
    assert_eq!(output.status.code(), Some(130), "{}", text(&output.stderr));
    let json = results_json(&scratch.out());
    assert_eq!(json["interrupted"], true);
    let cell = |variant: &str, c: u64| {
        json["cells"]
            .as_array()
            .expect("cells")
            .iter()
            .find(|cell| cell["variant"] == variant && cell["concurrency"] == c)
            .unwrap_or_else(|| panic!("no {variant} c={c} in {json}"))
            .clone()
    };
    let cut = cell("tiny", 1);
    assert_eq!(cut["status"], "interrupted", "its second run was stopped midway: {cut}");
    // Round 2 starts with tiny (the variants rotate), so tokio kept one run of each cell.
    for (variant, c, kept) in [("tokio", 1, 1), ("tokio", 2, 1), ("tiny", 2, 1)] {
        let cell = cell(variant, c);
        assert_eq!(cell["status"], "complete", "fewer runs is not cut short: {cell}");
        assert_eq!(cell["runs"].as_array().map(Vec::len), Some(kept), "{cell}");
        assert!(cell["notes"].to_string().contains(&format!("kept {kept} of 5 runs")), "{cell}");
    }
    let report = std::fs::read_to_string(results_dir(&scratch.out()).join("report.md")).expect("report.md");
    assert!(
        report.contains("**Interrupted:**") && report.contains("it kept 5 of 20 planned runs"),
        "{report}"
    );
    assert!(report.contains("cut midway (`†`): classic tiny c=1"), "{report}");
    assert_eq!(report.matches(" †").count(), 1, "one cell cut: {report}");
    assert!(!report.contains("set `repeat`"), "repeat is 5 already: {report}");
    assert!(report.contains("because the sweep was cut short"), "{report}");
    let dir = results_dir(&scratch.out());
    let (code, stdout, _) = harness(&["compare", dir.to_str().unwrap_or_default()]);
    assert_eq!(code, Some(0));
    assert!(
        stdout.contains("these results were interrupted: ") && stdout.contains("kept 5 of 20"),
        "{stdout}"
    );
}

/// With output that is not a terminal, the plan at once, then a progress line at least every
/// ten seconds: a CI log follows a long sweep.
#[test]
fn a_ci_log_hears_from_the_sweep_every_ten_seconds() {
    let scratch = Scratch::new();
    let matrix = "[sweep]\nmode = \"open\"\nrate = [200]\nduration = \"11s\"\nwarmup_time = \"0s\"\nconnections = 2\n\n\
                  [[variant]]\nname = \"tokio\"\n";
    let started = Instant::now();
    let mut child = Command::new(HARNESS)
        .arg(scratch.matrix(matrix))
        .arg("--out")
        .arg(scratch.out())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the harness");
    let mut lines = Vec::new();
    for line in BufReader::new(child.stderr.take().expect("stderr")).lines().map_while(Result::ok) {
        lines.push((started.elapsed(), line));
    }
    assert!(child.wait().expect("exit").success(), "{lines:?}");
    let first =
        |prefix: &str| lines.iter().find(|(_, l)| l.starts_with(prefix)).map(|(at, l)| (*at, l.clone()));
    let (at, plan) = first("plan: ").expect("the plan");
    assert!(at < Duration::from_secs(3), "{at:?}");
    assert!(plan.contains("1 measured runs") && plan.contains("1 open-loop runs take 11s"), "{plan}");
    let (at, progress) = first("progress: ").unwrap_or_else(|| panic!("no progress line: {lines:?}"));
    assert!(at <= Duration::from_millis(11_500), "the first progress line came after {at:?}");
    assert!(
        progress.contains("0/1 runs") && progress.contains("left") && progress.contains("now classic tokio"),
        "{progress}"
    );
}

/// Every bad command line exits 2 and says what is wrong and what is allowed.
#[test]
fn the_command_line_without_surprises() {
    let scratch = Scratch::new();
    for (args, says) in [
        (&["lst"][..], "unknown command 'lst'; did you mean 'list'?"),
        (&["frobnicate"][..], "unknown command 'frobnicate'; commands: run, list"),
        (&["serve", "nope"][..], "no variant `nope`; known: tokio-uring"),
        (&["serve", "tokio", "--workers", "0"][..], "must be at least 1"),
        (&["load", "-n", "0", "http://127.0.0.1:1/"][..], "must be at least 1"),
        (&["load", "--rate", "100", "-n", "5", "http://127.0.0.1:1/"][..], "cannot be used with"),
        (
            &["load", "-c", "2", "--connections", "3", "--rate", "9", "http://127.0.0.1:1/"][..],
            "cannot be used with",
        ),
        (&["load", "--connections", "3", "http://127.0.0.1:1/"][..], "--rate"),
        (&["load", "http://10.1.2.3:80/"][..], "load goes only to loopback"),
        (&["compare", "/nowhere/at/all"][..], "cannot read"),
    ] {
        let (code, _, stderr) = harness(args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?} should say {says:?}: {stderr}");
    }
    // A path that exists is a matrix even if it looks like a command.
    let file = scratch.path().join("lst");
    std::fs::write(&file, "[sweep]\nrequests = nope\n").expect("a bad matrix");
    let (code, _, stderr) = harness(&[file.to_str().unwrap_or_default()]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("lst:2:"), "read as a matrix: {stderr}");
    // Defaults are written one way, from the same constants the matrix uses.
    let (_, help, _) = harness(&["load", "--help"]);
    for default in ["[default: 1000]", "[default: 1]", "[default: 10s]", "[default: 5m]", "[default: 50]"] {
        assert!(help.contains(default), "{default} in:\n{help}");
    }
}

/// `harness load`: `-c` with `--rate` sets the pool; the output says whether keep-alive was on,
/// an open loop has no "Time per request", and nothing claims a server column it never sampled.
#[test]
fn harness_load_says_what_it_did() {
    let mut server = Command::new(HARNESS)
        .args(["serve", "tokio", "--workers", "1", "--port", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("a server");
    let mut line = String::new();
    BufReader::new(server.stdout.take().expect("stdout")).read_line(&mut line).expect("its line");
    let addr = server_spec::cli::parse_listening_line(&line).expect("a listening line");
    let url = format!("http://{addr}/");
    let (code, stdout, stderr) =
        harness(&["load", "--rate", "200", "-c", "3", "--duration", "300ms", "--json", &url]);
    assert_eq!(code, Some(0), "{stderr}");
    let cell: serde_json::Value = serde_json::from_str(&stdout).expect("a cell");
    assert_eq!(cell["concurrency"], 3, "-c set the pool: {cell}");
    let (code, stdout, stderr) = harness(&["load", "--rate", "200", "--duration", "300ms", &url]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("keep-alive off")
            && stdout.contains("open loop at 200 requests/s over 50 connections"),
        "{stdout}"
    );
    assert!(!stdout.contains("Time per request") && !stdout.contains("server CPU"), "{stdout}");
    let (code, stdout, _) = harness(&["load", "-k", "-n", "200", "-c", "2", &url]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("keep-alive on") && stdout.contains("Time per request"), "{stdout}");
    let _ = server.kill();
    let _ = server.wait();
}

/// `--only` without the baseline says which variant is the baseline instead; a baseline that
/// cannot start is replaced by the next variant, and that is said too.
#[test]
fn the_baseline_is_never_silently_changed() {
    let scratch = Scratch::new();
    let matrix = "[sweep]\nrequests = 50\nconcurrency = [1]\nbaseline = \"tokio\"\n\n\
                  [[variant]]\nname = \"tokio\"\n[[variant]]\nname = \"smol\"\n[[variant]]\nname = \"floor-epoll\"\n";
    let (output, out) = scratch.run(matrix, &["--only", "smol,floor-epoll"]);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("--only leaves out the baseline `tokio`; `smol`"), "{stderr}");
    assert_eq!(results_json(&out)["meta"]["baseline"], "smol");

    let scratch = Scratch::new();
    let port = free_ports(1)[0];
    let matrix = format!(
        "[sweep]\nrequests = 50\nconcurrency = [1]\n\n[[variant]]\nname = \"broken\"\ncommand = [\"sh\", \"-c\", \"exit 7\"]\nport = {port}\n\n\
         [[variant]]\nname = \"tokio\"\n[[variant]]\nname = \"smol\"\n"
    );
    let (output, out) = scratch.run(&matrix, &[]);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the baseline `broken` has no measured cell") && stderr.contains("`tokio`"),
        "{stderr}"
    );
    assert!(
        stdout.contains("### Comparison (classic, baseline `tokio`)") && stdout.contains("×"),
        "{stdout}"
    );
    assert_eq!(results_json(&out)["meta"]["baseline"], "tokio");
}
