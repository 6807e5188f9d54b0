//! Bad input, bad servers and a careless user: a configuration error stops everything with
//! every problem located; a wrong server is refused; a server that cannot run here is one
//! line; a dying server is reported at once and the sweep goes on; another program on the
//! port is never measured; Ctrl-C, SIGTERM and even SIGKILL leave no server behind; a results
//! directory that disappears loses nothing.

mod support;

use std::time::{Duration, Instant};

use server_conformance::test_name;
use server_conformance::tools::{require, PYTHON3};
use support::{
    cells_of, free_port, processes_matching, results_dir, results_json, signal, text, wait_for_measuring,
    wait_with_timeout, Scratch, HARNESS,
};

#[test]
fn config_errors_exit_2_with_positions() {
    let scratch = Scratch::new();
    let (output, out) = scratch.run(
        "[sweep]\nrequests = -1\nconcurrency = []\nrepat = 3\nkeep_alive = \"yes\"\n[[variant]]\nname = \"nope\"\nworkers = \"two\"\n",
        &[],
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    let file = scratch.path().join("matrix.toml");
    let file = file.display();
    let lines: Vec<&str> = stderr.lines().collect();
    let expect = [
        format!("{file}:2:12: requests"),
        format!("{file}:3:15: concurrency"),
        format!("{file}:4:1: unknown key `repat`"),
        format!("{file}:5:14: `keep_alive` must be true or false"),
        format!("{file}:7:8: no built-in variant `nope`"),
        format!("{file}:8:11: `workers` must be a whole number"),
    ];
    assert_eq!(lines.len(), expect.len(), "every problem, at once:\n{stderr}");
    for (line, want) in lines.iter().zip(&expect) {
        assert!(line.starts_with(want.as_str()), "want {want:?}:\n{stderr}");
    }
    assert!(!out.exists(), "nothing starts on a configuration error");
}

#[test]
fn an_unusable_out_directory_is_a_configuration_error() {
    let scratch = Scratch::new();
    let blocker = scratch.path().join("a-file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let matrix = scratch.matrix("[sweep]\nrequests = 5\nconcurrency = [1]\n[[variant]]\nname = \"tokio\"\n");
    let output =
        std::process::Command::new(HARNESS).arg(&matrix).arg("--out").arg(&blocker).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("--out"), "{}", text(&output.stderr));
}

#[test]
fn wrong_bytes_are_refused_and_the_sweep_goes_on() {
    if !require(test_name!(wrong_bytes_are_refused_and_the_sweep_goes_on), &[PYTHON3]) {
        return;
    }
    let scratch = Scratch::new();
    let wrong = scratch.tiny_variant("impostor", free_port(), 0, "Hello, world?", "spec");
    let matrix =
        format!("[sweep]\nrequests = 20\nconcurrency = [1]\n\n{wrong}\n[[variant]]\nname = \"smol\"\n");
    let (output, out) = scratch.run(&matrix, &[]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("**impostor:** refused before measuring: its answer differs from the spec"),
        "{stdout}"
    );
    assert!(stdout.contains("### smol (workers 1)"), "the sweep went on: {stdout}");
    let json = results_json(&out);
    let cells = json["cells"].as_array().unwrap();
    assert!(cells.iter().all(|c| c["variant"] == "smol"), "the impostor was not timed");
    assert_eq!(json["problems"][0]["variant"], "impostor");
    assert_eq!(json["problems"][0]["kind"], "failed");
    // report.md holds what the terminal showed about it.
    let report = std::fs::read_to_string(results_dir(&out).join("report.md")).unwrap();
    assert!(report.contains("**impostor:** refused before measuring"), "{report}");
}

/// A server that fails to start gets one line, its stderr said once.
#[test]
fn a_server_that_cannot_start_is_one_line() {
    let scratch = Scratch::new();
    let port = free_port();
    let script = scratch.path().join("broken.sh");
    std::fs::write(&script, "echo 'cannot bind: boom' >&2\nexit 4\n").unwrap();
    let matrix = format!(
        "[sweep]\nrequests = 10\nconcurrency = [1]\n\n[[variant]]\nname = \"broken\"\ncommand = [\"sh\", \"{}\"]\nport = {port}\n\n[[variant]]\nname = \"tokio\"\n",
        script.display()
    );
    let (output, out) = scratch.run(&matrix, &[]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let json = results_json(&out);
    let problem = json["problems"][0]["problem"].as_str().unwrap();
    assert_eq!(problem.matches("cannot bind: boom").count(), 1, "stderr said once: {problem}");
    assert!(problem.contains("exit status: 4"), "{problem}");
    assert!(!problem.contains('\n'), "{problem}");
    assert_eq!(cells_of(&json, "tokio").len(), 1, "the sweep went on");
}

/// A variant this machine cannot run (io_uring denied, as a container's seccomp profile does)
/// is one line under "Not runnable here", and the sweep's verdict does not depend on it.
#[test]
fn a_variant_that_cannot_run_here_does_not_fail_the_sweep() {
    let scratch = Scratch::new();
    let matrix = "[sweep]\nrequests = 20\nconcurrency = [1]\n\n[[variant]]\nname = \"monoio\"\n\n[[variant]]\nname = \"tokio\"\n";
    let (output, out) = scratch.run_with_env(matrix, &[], &[("RUNTIME_MATRIX_DENY_IO_URING", "1")]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{}", text(&output.stderr));
    let line: Vec<&str> =
        stdout.lines().filter(|l| l.contains("monoio") && l.contains("not runnable here")).collect();
    assert!(!line.is_empty(), "{stdout}");
    assert!(line[0].contains("io_uring is unavailable to monoio"), "{}", line[0]);
    assert!(!stdout.contains("## Problems"), "{stdout}");
    let json = results_json(&out);
    assert_eq!(json["problems"][0]["kind"], "not_runnable");
    let report = std::fs::read_to_string(results_dir(&out).join("report.md")).unwrap();
    assert!(report.contains("## Not runnable here"), "{report}");
}

#[test]
fn a_server_that_dies_mid_sweep_is_reported_and_the_sweep_goes_on() {
    if !require(test_name!(a_server_that_dies_mid_sweep_is_reported_and_the_sweep_goes_on), &[PYTHON3]) {
        return;
    }
    let scratch = Scratch::new();
    // Verification takes one connection and each cell 30: it dies during the second cell
    // (without the extra, counted run per cell, which would take 30 more).
    let dying = scratch.tiny_variant("fragile", free_port(), 45, "ok", "status");
    let matrix = format!(
        "[sweep]\nrequests = 30\nconcurrency = [1, 2, 3]\ntimeout = \"2s\"\norder = \"grouped\"\nmechanics = \"off\"\n\n{dying}\n[[variant]]\nname = \"tokio\"\n"
    );
    let (output, out) = scratch.run(&matrix, &[]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("the server died (exit status: 3) during classic c=2"), "{stdout}");
    assert!(stdout.contains("### tokio (workers 1)"), "the sweep went on: {stdout}");
    let json = results_json(&out);
    let fragile = cells_of(&json, "fragile");
    assert_eq!(fragile.len(), 2, "cells after the death are not run");
    assert_eq!(fragile[0]["failed"], 0);
    assert_eq!(fragile[1]["status"], "server_died");
    assert!(fragile[1]["requests_per_second"].is_null(), "no rate for a dead server's cell: {}", fragile[1]);
    assert_eq!(cells_of(&json, "tokio").len(), 3);
}

/// A server killed in the middle of a long cell ends that cell at once (not after timeouts
/// of hammering a dead port), marked, with no rate; in interleaved order the others go on.
#[test]
fn a_server_killed_mid_cell_ends_the_cell_at_once() {
    let scratch = Scratch::new();
    let port = free_port();
    let matrix = format!(
        "[sweep]\nrequests = 100000000\nconcurrency = [2]\nkeep_alive = true\nmax_run_time = \"3s\"\n\n\
         [[variant]]\nname = \"smol\"\nport = {port}\n\n[[variant]]\nname = \"tokio\"\n"
    );
    let mut harness = scratch.spawn(&matrix);
    wait_for_measuring(port, 2, Duration::from_secs(30));
    let victims = processes_matching(&format!("serve smol --port {port}"));
    assert_eq!(victims.len(), 1, "{victims:?}");
    signal(victims[0], libc::SIGKILL);
    let (status, _) = wait_with_timeout(&mut harness, Duration::from_secs(60));
    let output = harness.wait_with_output().unwrap();
    let stdout = text(&output.stdout);
    assert_eq!(status.code(), Some(1), "{stdout}");
    let json = results_json(&scratch.out());
    let smol = cells_of(&json, "smol");
    assert_eq!(smol[0]["status"], "server_died", "{}", smol[0]);
    assert!(smol[0]["requests_per_second"].is_null());
    // The run ended when the server died, not at max_run_time.
    let ran = Duration::from_secs_f64(smol[0]["runs"][0]["time_taken_s"].as_f64().unwrap());
    assert!(ran < Duration::from_secs(2), "the dead server's run went on for {ran:?}");
    assert_eq!(cells_of(&json, "tokio").len(), 1, "the other variant was still measured");
}

/// A cell cut short by max_run_time reports its rate over the whole window, marked.
#[test]
fn a_cut_short_cell_uses_the_whole_window() {
    if !require(test_name!(a_cut_short_cell_uses_the_whole_window), &[PYTHON3]) {
        return;
    }
    let scratch = Scratch::new();
    let port = free_port();
    // A server that answers 30 connections and then never again: the
    // run's last response comes early, and the run ends at max_run_time.
    let matrix = format!(
        "[sweep]\nrequests = 1000\nconcurrency = [1]\ntimeout = \"30s\"\nmax_run_time = \"2s\"\n\n{}",
        scratch.tiny_variant_mode("stalling", port, 30, "ok", "status", "stall")
    );
    let (output, out) = scratch.run(&matrix, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stdout));
    let json = results_json(&out);
    let cell = &cells_of(&json, "stalling")[0];
    assert_eq!(cell["status"], "cut_short", "{cell}");
    // The readiness probe and verification took two of the 30 answers.
    let complete = cell["complete"].as_f64().expect("complete");
    assert!((20.0..=29.0).contains(&complete), "{cell}");
    let taken = cell["time_taken_s"].as_f64().expect("time taken");
    assert!(taken >= 1.9, "the rate is over the whole 2 s window, not to the last response: {taken}");
    let rate = cell["requests_per_second"].as_f64().expect("a rate");
    assert!((rate - complete / taken).abs() < 1e-6, "{cell}");
    assert!(cell["notes"].to_string().contains("max_run_time"), "{cell}");
}

/// Another program already on a command variant's port is never measured.
#[test]
fn a_port_taken_by_another_program_is_refused() {
    if !require(test_name!(a_port_taken_by_another_program_is_refused), &[PYTHON3]) {
        return;
    }
    let scratch = Scratch::new();
    let port = free_port();
    let mut squatter = std::process::Command::new("python3")
        .args([scratch.script().to_str().expect("a UTF-8 path"), &port.to_string(), "0", "squatter"])
        .spawn()
        .expect("python3");
    support::wait_for_own_listener(&mut squatter, port, Duration::from_secs(10));
    let matrix = format!(
        "[sweep]\nrequests = 20\nconcurrency = [1]\n\n{}\n[[variant]]\nname = \"tokio\"\n",
        scratch.tiny_variant("mine", port, 0, "mine", "status")
    );
    let (output, out) = scratch.run(&matrix, &[]);
    let _ = squatter.kill();
    let _ = squatter.wait();
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let json = results_json(&out);
    let problem = json["problems"][0]["problem"].as_str().unwrap();
    assert!(problem.contains(&format!("port {port} is already in use")), "{problem}");
    assert!(problem.contains("python3"), "names who holds it: {problem}");
    assert!(cells_of(&json, "mine").is_empty(), "the other program was not measured");
}

#[test]
fn ctrl_c_stops_the_sweep_within_a_second_and_marks_it() {
    let scratch = Scratch::new();
    let port = free_port();
    let matrix = format!(
        "[sweep]\nrequests = 100000000\nconcurrency = [1]\nkeep_alive = true\nmax_run_time = \"60s\"\n\n[[variant]]\nname = \"tokio\"\nport = {port}\n"
    );
    let mut harness = scratch.spawn(&matrix);
    wait_for_measuring(port, 1, Duration::from_secs(30));
    signal(harness.id(), libc::SIGINT);
    let (status, took) = wait_with_timeout(&mut harness, Duration::from_secs(10));
    assert_eq!(status.code(), Some(130));
    assert!(took < Duration::from_secs(1), "took {took:?} to stop after Ctrl-C");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "the server outlived the harness");
    let output = harness.wait_with_output().unwrap();
    assert!(text(&output.stderr).contains("interrupted"), "{}", text(&output.stderr));
    let json = results_json(&scratch.out());
    assert_eq!(json["interrupted"], true);
    assert_eq!(json["cells"][0]["status"], "interrupted");
    let report = std::fs::read_to_string(results_dir(&scratch.out()).join("report.md")).unwrap();
    assert!(report.contains("**Interrupted:**"), "{report}");
}

/// Ctrl-C while a server hangs (SIGSTOP: it answers nothing, not even SIGTERM) still ends the
/// sweep within a second.
#[test]
fn ctrl_c_with_a_hung_server_is_still_quick() {
    let scratch = Scratch::new();
    let port = free_port();
    let matrix = format!(
        "[sweep]\nrequests = 100000000\nconcurrency = [2]\nkeep_alive = true\nmax_run_time = \"60s\"\n\n[[variant]]\nname = \"tokio\"\nport = {port}\n"
    );
    let mut harness = scratch.spawn(&matrix);
    wait_for_measuring(port, 2, Duration::from_secs(30));
    let server = processes_matching(&format!("serve tokio --port {port}"));
    assert_eq!(server.len(), 1);
    signal(server[0], libc::SIGSTOP);
    std::thread::sleep(Duration::from_millis(200));
    signal(harness.id(), libc::SIGINT);
    let (status, took) = wait_with_timeout(&mut harness, Duration::from_secs(15));
    assert_eq!(status.code(), Some(130));
    assert!(took < Duration::from_secs(1), "took {took:?} with a hung server");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        processes_matching(&format!("serve tokio --port {port}")).is_empty(),
        "the hung server was killed"
    );
}

#[test]
fn sigterm_exits_143() {
    let scratch = Scratch::new();
    let port = free_port();
    let matrix = format!(
        "[sweep]\nrequests = 100000000\nconcurrency = [1]\nkeep_alive = true\nmax_run_time = \"60s\"\n\n[[variant]]\nname = \"smol\"\nport = {port}\n"
    );
    let mut harness = scratch.spawn(&matrix);
    wait_for_measuring(port, 1, Duration::from_secs(30));
    signal(harness.id(), libc::SIGTERM);
    let (status, _) = wait_with_timeout(&mut harness, Duration::from_secs(10));
    assert_eq!(status.code(), Some(143));
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "the server outlived the harness");
}

/// SIGKILL leaves no handler a chance: the watchdog still kills every server group,
/// grandchildren included (a `sh -c` wrapper's child).
#[test]
fn sigkill_of_the_harness_leaves_no_server() {
    if !require(test_name!(sigkill_of_the_harness_leaves_no_server), &[PYTHON3]) {
        return;
    }
    let scratch = Scratch::new();
    let port = free_port();
    let marker = format!("{port} 0 wrapped");
    let matrix = format!(
        "[sweep]\nrequests = 100000000\nconcurrency = [1]\nkeep_alive = false\nmax_run_time = \"60s\"\n\n\
         [[variant]]\nname = \"wrapped\"\ncommand = [\"sh\", \"-c\", \"python3 {} {{port}} 0 wrapped & wait\"]\nport = {port}\n",
        scratch.script().display()
    );
    let mut harness = scratch.spawn(&matrix);
    wait_for_measuring(port, 1, Duration::from_secs(30));
    assert_eq!(processes_matching(&marker).len(), 2, "sh and its python child are running");
    signal(harness.id(), libc::SIGKILL);
    let _ = harness.wait();
    let started = Instant::now();
    while !processes_matching(&marker).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "orphans survived: {:?}",
            processes_matching(&marker)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The results directory disappears mid-sweep: reported once, the sweep goes on, and every
/// figure is written to a fallback directory at the end; exit 1.
#[test]
fn a_vanished_results_directory_loses_nothing() {
    let scratch = Scratch::new();
    let matrix = "[sweep]\nrequests = 3000\nconcurrency = [1, 2, 3]\nkeep_alive = true\n\n[[variant]]\nname = \"tokio\"\n";
    let mut harness = scratch.spawn(matrix);
    // Remove the directory as soon as the harness has created it.
    let started = Instant::now();
    loop {
        if let Ok(entries) = std::fs::read_dir(scratch.out()) {
            if entries.count() > 0 {
                break;
            }
        }
        assert!(started.elapsed() < Duration::from_secs(20), "no results directory");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::fs::remove_dir_all(scratch.out()).unwrap();
    let (status, _) = wait_with_timeout(&mut harness, Duration::from_secs(60));
    let output = harness.wait_with_output().unwrap();
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(status.code(), Some(1), "{stdout}\n{stderr}");
    assert_eq!(stderr.matches("cannot write results").count(), 1, "reported once: {stderr}");
    assert_eq!(stdout.matches("classic tokio c=").count(), 3, "every cell printed as it finished: {stdout}");
    let fallback = stderr.lines().find(|l| l.contains("everything was written to")).expect(&stderr);
    let dir = fallback.rsplit("written to ").next().unwrap().trim_end_matches(" instead");
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(std::path::Path::new(dir).join("results.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(json["cells"].as_array().unwrap().len(), 3, "no measured cell was lost");
    let _ = std::fs::remove_dir_all(dir);
}
