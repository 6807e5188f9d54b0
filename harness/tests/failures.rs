//! Bad input and bad servers: a configuration error stops everything with line and column; a
//! wrong server is refused; a dying server is reported and cleaned up while the sweep goes on;
//! Ctrl-C leaves no server behind.

mod support;

use std::time::{Duration, Instant};

use support::{free_port, results_dir, text, Scratch, HARNESS};

#[test]
fn config_errors_exit_2_with_positions() {
    let scratch = Scratch::new();
    let (output, out) =
        scratch.run("[sweep]\nrequests = -1\nconcurrency = []\n[[variant]]\nname = \"nope\"\n", &[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    let file = scratch.path().join("matrix.toml");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{stderr}");
    assert!(lines[0].starts_with(&format!("{}:2:12: requests", file.display())), "{stderr}");
    assert!(lines[1].starts_with(&format!("{}:3:15: concurrency", file.display())), "{stderr}");
    assert!(lines[2].starts_with(&format!("{}:5:8: no built-in variant `nope`", file.display())), "{stderr}");
    assert!(!out.exists(), "nothing starts on a configuration error");
}

#[test]
fn wrong_bytes_are_refused_and_the_sweep_goes_on() {
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
    assert!(stdout.contains("## smol (workers 1)"), "the sweep went on: {stdout}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(results_dir(&out).join("results.json")).unwrap())
            .unwrap();
    let cells = json["cells"].as_array().unwrap();
    assert!(cells.iter().all(|c| c["variant"] == "smol"), "the impostor was not timed");
    assert_eq!(json["problems"][0]["variant"], "impostor");
}

#[test]
fn a_server_that_dies_mid_sweep_is_reported_and_the_sweep_goes_on() {
    let scratch = Scratch::new();
    // Verification takes one connection and each cell 30: it dies during the second cell.
    let dying = scratch.tiny_variant("fragile", free_port(), 45, "ok", "status");
    let matrix = format!("[sweep]\nrequests = 30\nconcurrency = [1, 2, 3]\ntimeout = \"2s\"\n\n{dying}\n[[variant]]\nname = \"tokio\"\n");
    let (output, out) = scratch.run(&matrix, &[]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("the server exited"), "{stdout}");
    assert!(stdout.contains("## tokio (workers 1)"), "the sweep went on: {stdout}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(results_dir(&out).join("results.json")).unwrap())
            .unwrap();
    let fragile: Vec<&serde_json::Value> =
        json["cells"].as_array().unwrap().iter().filter(|c| c["variant"] == "fragile").collect();
    assert_eq!(fragile.len(), 2, "cells after the death are not run");
    assert_eq!(fragile[0]["failed"], 0);
    assert!(fragile[1]["failed"].as_u64().unwrap() > 0);
    assert!(fragile[1]["note"].as_str().unwrap().contains("exited"));
    let tokio = json["cells"].as_array().unwrap().iter().filter(|c| c["variant"] == "tokio").count();
    assert_eq!(tokio, 3);
}

#[test]
fn ctrl_c_stops_the_sweep_and_leaves_no_server() {
    let scratch = Scratch::new();
    let port = free_port();
    let matrix = format!(
        "[sweep]\nrequests = 100000000\nconcurrency = [1]\nkeep_alive = true\nmax_run_time = \"60s\"\n\n[[variant]]\nname = \"tokio\"\nport = {port}\n"
    );
    let file = scratch.path().join("matrix.toml");
    std::fs::write(&file, matrix).unwrap();
    let mut harness = std::process::Command::new(HARNESS)
        .arg(&file)
        .arg("--out")
        .arg(scratch.path().join("results"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the server is up and being measured.
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(20), "server never came up");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(harness.id() as libc::pid_t, libc::SIGINT);
    }
    let status = harness.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "the server outlived the harness");
    let mut stderr = String::new();
    std::io::Read::read_to_string(harness.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("interrupted"), "{stderr}");
}
