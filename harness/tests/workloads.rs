//! Workloads beyond the classic sweep, end to end: the open loop corrects for coordinated
//! omission, a scale run reads the server's memory per idle connection, and slow clients show
//! each model under slowloris.

mod support;

use std::process::Command;
use std::time::Duration;

use server_conformance::ServerProcess;
use support::{cells_of, results_json, signal, text, Scratch, HARNESS};

/// A server stalled (SIGSTOP) for 1 s of a 5 s open-loop run at 1,000 req/s over 50
/// connections: a fifth of the intended sends fall in the stall, so the corrected p90 shows it
/// while the uncorrected p90 stays near the unstalled latency.
#[test]
fn the_open_loop_sees_a_stall_the_closed_loop_hides() {
    let server = ServerProcess::start(HARNESS, &["serve", "tokio", "--workers", "1"]);
    let url = format!("http://{}/", server.addr);
    let pid = server.pid();
    let staller = std::thread::spawn(move || {
        // The run warms up 1 s, then measures 5 s: stall in the middle of the window.
        std::thread::sleep(Duration::from_millis(2500));
        signal(pid, libc::SIGSTOP);
        std::thread::sleep(Duration::from_secs(1));
        signal(pid, libc::SIGCONT);
    });
    let output = Command::new(HARNESS)
        .args(["load", "-k", "--rate", "1000", "--duration", "5s", "--connections", "50", "--json", &url])
        .output()
        .expect("run harness load");
    staller.join().expect("staller");
    assert!(output.status.success(), "{}\n{}", text(&output.stdout), text(&output.stderr));
    let cell: serde_json::Value = serde_json::from_str(&text(&output.stdout)).expect("a cell in JSON");
    assert_eq!(cell["mode"], "open");
    assert_eq!(cell["rate"], 1000.0);
    assert_eq!(cell["failed"], 0, "{cell}");
    let intended = cell["requests"].as_u64().expect("requests");
    assert!((4900..=5000).contains(&intended), "5 s at 1000/s were intended: {intended}");
    let corrected = cell["latency_us"]["p90"].as_f64().expect("p90");
    let uncorrected = cell["uncorrected_latency_us"]["p90"].as_f64().expect("uncorrected p90");
    assert!(corrected >= 100_000.0, "the corrected p90 shows the 1 s stall: {corrected} µs");
    assert!(uncorrected < 50_000.0, "the uncorrected p90 hides it: {uncorrected} µs");
    let achieved = cell["achieved_rate"].as_f64().expect("achieved");
    assert!(achieved > 800.0, "the overdue requests were still sent: {achieved}/s");
    assert!(cell["send_lag_us"]["p50"].as_f64().is_some());
    assert!(cell["histograms"]["uncorrected"].as_str().is_some_and(|h| h.starts_with("HISTF")));
    assert!(cell["histograms"]["send_lag"].as_str().is_some_and(|h| h.starts_with("HISTF")));
    server.stop_cleanly();
}

/// Open-loop scenarios in a matrix: one cell per rate, with the offered and achieved rates,
/// both latencies and the send lag; the report shows them.
#[test]
fn an_open_loop_scenario_in_a_sweep() {
    let matrix = "[sweep]\nkeep_alive = true\n\n[[scenario]]\nname = \"rate\"\nmode = \"open\"\nrate = [200, 400]\n\
                  duration = \"1s\"\nwarmup_time = \"200ms\"\nconnections = 10\n\n[[variant]]\nname = \"smol\"\n";
    // A segment lost on loopback (other tests' traffic shares the namespace's memory) costs a
    // 200 ms retransmission timeout, a fifth of this 1 s window: such a run says so in its TCP
    // counters and earns one more sweep. Without a retransmission the rate must be met.
    for attempt in 1..=2 {
        let scratch = Scratch::new();
        let (output, out) = scratch.run(matrix, &[]);
        let stdout = text(&output.stdout);
        assert!(output.status.success(), "{stdout}\n{}", text(&output.stderr));
        assert!(stdout.contains("| Offered /s | Achieved /s |"), "{stdout}");
        let json = results_json(&out);
        assert_eq!(json["meta"]["scenarios"][0]["mode"], "open");
        let cells = cells_of(&json, "smol");
        assert_eq!(cells.len(), 2);
        let retransmitted =
            |cell: &serde_json::Value| cell["tcp"]["retransmitted_segments"].as_u64().unwrap_or(0) > 0;
        if attempt == 1 && cells.iter().any(|cell| retransmitted(cell)) {
            continue;
        }
        for (cell, rate) in cells.iter().zip([200.0, 400.0]) {
            assert_eq!(cell["rate"], rate);
            let achieved = cell["achieved_rate"].as_f64().expect("achieved");
            assert!(achieved > rate * 0.95 && achieved < rate * 1.05, "{cell}");
            assert!(cell["uncorrected_latency_us"]["p99"].as_f64().expect("uncorrected") > 0.0);
            assert!(cell["send_lag_us"]["p99"].as_f64().is_some());
        }
        return;
    }
}

/// A scale run opens every connection first, makes its requests over them, holds them idle
/// and reads the server's memory: RSS per idle connection, with the connect times.
#[test]
fn a_scale_run_measures_memory_per_idle_connection() {
    let scratch = Scratch::new();
    let matrix =
        "[[scenario]]\nname = \"scale\"\nconnections = [300]\nrequests = 600\nidle_time = \"300ms\"\nrepeat = 3\n\n\
                  [[variant]]\nname = \"tokio\"\n[[variant]]\nname = \"thread-per-connection\"\n";
    let (output, out) = scratch.run(matrix, &[]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", text(&output.stderr));
    assert!(stdout.contains("RSS per idle connection KiB"), "{stdout}");
    let json = results_json(&out);
    for variant in ["tokio", "thread-per-connection"] {
        let cell = cells_of(&json, variant)[0];
        assert_eq!(cell["concurrency"], 300);
        assert_eq!(cell["complete"], 600, "{cell}");
        assert_eq!(cell["keep_alive"], true);
        let per_connection = cell["server"]["rss_per_connection_kib"].as_f64().expect("RSS per connection");
        assert!(per_connection > 0.0, "{variant}: {per_connection} KiB");
        // Every run starts from a fresh server: the memory of an earlier run's connections,
        // kept by the allocator, must not hide this run's.
        for run in cell["runs"].as_array().expect("runs") {
            let per_connection = run["server"]["rss_per_connection_kib"].as_f64().expect("each run's");
            assert!(per_connection > 0.0, "{variant}, run {}: {per_connection} KiB", run["started_at"]);
        }
        assert!(cell["connect_us"]["p50"].as_f64().expect("connect times") > 0.0);
    }
    // One thread per connection: the threads show it.
    let threads = cells_of(&json, "thread-per-connection")[0]["server"]["threads"].as_u64().expect("threads");
    assert!(threads >= 300, "{threads}");
}

/// Slow clients hold a small thread pool's workers (its requests time out behind them), while
/// an async server serves on as if they were not there.
#[test]
fn slow_clients_starve_a_pool_but_not_an_async_server() {
    let scratch = Scratch::new();
    let matrix = "[sweep]\nrequests = 20\nconcurrency = [1]\ntimeout = \"1s\"\nmax_run_time = \"5s\"\nslow_clients = 4\n\n\
                  [[variant]]\nname = \"tokio\"\n[[variant]]\nname = \"thread-pool\"\nworkers = 2\n";
    let (output, out) = scratch.run(matrix, &[]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "the pool's requests failed: {stdout}");
    let json = results_json(&out);
    let tokio = cells_of(&json, "tokio")[0];
    assert_eq!(tokio["failed"], 0, "{tokio}");
    let notes = tokio["notes"].to_string();
    assert!(notes.contains("4 slow clients"), "{notes}");
    let pool = cells_of(&json, "thread-pool")[0];
    assert!(pool["failures"]["timeout"].as_u64().expect("timeouts") > 0, "{pool}");
    assert_eq!(json["meta"]["scenarios"][0]["slow_clients"], 4);
}
