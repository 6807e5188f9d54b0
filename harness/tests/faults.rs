//! The network misbehaving, on network namespaces: the server's veth drops a random share of
//! its packets both ways, or answers a share of the TCP packets reaching the server with a
//! reset (iptables' `statistic` match, as `scripts/netns-testbed.sh --drop/--reset` does). The
//! sweeps must still account for every request — complete, or failed with its reason, never
//! both, never twice — stay within `max_run_time`, show what the faults cost, and keep the
//! servers serving. Loss makes timing noisy: the tests assert on counts and invariants, not
//! on latencies beyond "the tail grew".

mod netns;
mod support;

use std::process::{Command, Stdio};

use netns::{bed_or_skip, Bed};
use server_conformance::test_name;
use server_conformance::tools::{find, require, IP, IPTABLES};
use support::{results_json, text, Scratch, HARNESS};

/// Requests per run: enough for a p99 that a 1% loss reaches, few enough that the runs it
/// slows (a lost packet waits at least the 200 ms minimum retransmission timeout) stay short.
const REQUESTS: u64 = 3000;
/// The bound on one run: none may last longer.
const MAX_RUN_TIME_S: f64 = 30.0;

/// A sweep with the servers in the bed's srv namespace and the load from its cli namespace.
fn matrix(bed: &Bed, scenarios: &str) -> String {
    format!(
        "[sweep]\nrequests = {REQUESTS}\nconcurrency = [8]\ntimeout = \"5s\"\nmax_run_time = \"{MAX_RUN_TIME_S}s\"\n\n\
         {scenarios}\n\
         [placement]\nserver_host = \"srv\"\nload_hosts = [\"cli\"]\n\n\
         [[host]]\nname = \"srv\"\nlauncher = {}\naddress = \"{}\"\nharness = \"{HARNESS}\"\n\n\
         [[host]]\nname = \"cli\"\nlauncher = {}\naddress = \"{}\"\nharness = \"{HARNESS}\"\n\n\
         [[variant]]\nname = \"tokio\"\nport = 45003\n\n[[variant]]\nname = \"floor-epoll\"\nport = 45005\n",
        Bed::launcher(&bed.srv),
        bed.srv_addr,
        Bed::launcher(&bed.cli),
        bed.cli_addr
    )
}

/// Every run of every cell accounts for each of its requests exactly once, each failure has
/// a kind, no run outlasted `max_run_time`, and no variant was lost: the servers kept serving.
fn every_request_accounted_for(json: &serde_json::Value) {
    assert!(json["problems"].as_array().is_some_and(Vec::is_empty), "no variant lost: {}", json["problems"]);
    let cells = json["cells"].as_array().expect("cells");
    assert!(!cells.is_empty());
    for cell in cells {
        let failures = &cell["failures"];
        let kinds: u64 = ["connect", "receive", "send", "timeout", "length", "protocol"]
            .iter()
            .map(|kind| failures[kind].as_u64().expect("a count per kind"))
            .sum();
        assert_eq!(cell["failed"].as_u64(), Some(kinds), "every failure has its reason: {cell}");
        for run in cell["runs"].as_array().expect("runs") {
            let (complete, failed) =
                (run["complete"].as_u64().expect("complete"), run["failed"].as_u64().expect("failed"));
            assert_eq!(complete + failed, REQUESTS, "each request complete or failed, once: {run}");
            assert!(complete > REQUESTS * 9 / 10, "the server kept serving: {run}");
            let took = run["time_taken_s"].as_f64().expect("time taken");
            assert!(took <= MAX_RUN_TIME_S + 1.0, "no run past max_run_time: {run}");
            assert_ne!(run["status"], "server_died", "{run}");
        }
    }
}

/// The p99s (µs) of the cells of `scenario`, by variant.
fn p99s(json: &serde_json::Value, scenario: &str) -> Vec<(String, f64)> {
    json["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .filter(|c| c["scenario"] == scenario)
        .map(|c| {
            (
                c["variant"].as_str().expect("variant").to_owned(),
                c["latency_us"]["p99"].as_f64().expect("p99"),
            )
        })
        .collect()
}

#[test]
fn one_percent_loss_leaves_every_request_accounted_for() {
    let test = test_name!(one_percent_loss_leaves_every_request_accounted_for);
    if !require(test, &[IP, IPTABLES]) {
        return;
    }
    let Some(bed) = bed_or_skip(test) else { return };
    let iptables = find(&IPTABLES).expect("iptables, found by require");
    let scenarios = "[[scenario]]\nname = \"keep-alive\"\nkeep_alive = true\n";

    // The same sweep on a clean wire first, then at 1% loss both ways.
    let clean = Scratch::new();
    let (output, out) = clean.run(&matrix(&bed, scenarios), &[]);
    assert!(output.status.success(), "{}\n{}", text(&output.stdout), text(&output.stderr));
    let clean = results_json(&out);
    every_request_accounted_for(&clean);

    bed.faults(&iptables, Some(0.01), None).expect("loss on the server's veth");
    let lossy = Scratch::new();
    let (output, out) = lossy.run(&matrix(&bed, scenarios), &[]);
    // A request whose packets are lost again and again may time out: exit 1, with its reason.
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{}\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    let lossy = results_json(&out);
    every_request_accounted_for(&lossy);

    // Retransmissions are in the tail: a lost segment waits for the retransmission timeout
    // (200 ms at least), where a clean request takes well under a millisecond.
    let (before, after) = (p99s(&clean, "keep-alive"), p99s(&lossy, "keep-alive"));
    assert_eq!(before.len(), 2);
    for ((variant, clean_p99), (_, lossy_p99)) in before.iter().zip(&after) {
        assert!(
            *lossy_p99 > 4.0 * clean_p99 && *lossy_p99 > 50_000.0,
            "{variant}: p99 {clean_p99} µs clean, {lossy_p99} µs at 1% loss"
        );
    }
    // The server's side retransmitted (its lost responses), as read in its namespace.
    for cell in lossy["cells"].as_array().expect("cells") {
        let retransmitted = cell["tcp"]["retransmitted_segments"].as_u64().unwrap_or(0);
        assert!(retransmitted > 0, "retransmissions counted: {cell}");
        assert!(cell["notes"].to_string().contains("retransmitted"), "and said: {}", cell["notes"]);
    }
}

#[test]
fn resets_fail_as_receive_failures_that_add_up() {
    let test = test_name!(resets_fail_as_receive_failures_that_add_up);
    if !require(test, &[IP, IPTABLES]) {
        return;
    }
    let Some(bed) = bed_or_skip(test) else { return };
    let iptables = find(&IPTABLES).expect("iptables, found by require");
    bed.faults(&iptables, None, Some(0.02)).expect("resets on the server's veth");
    let scratch = Scratch::new();
    let scenarios = "[[scenario]]\nname = \"close\"\nkeep_alive = false\n\n\
                     [[scenario]]\nname = \"keep-alive\"\nkeep_alive = true\n";
    let (output, out) = scratch.run(&matrix(&bed, scenarios), &[]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "failed requests make the exit status 1: {stdout}");
    let json = results_json(&out);
    every_request_accounted_for(&json);
    for cell in json["cells"].as_array().expect("cells") {
        let failures = &cell["failures"];
        let count = |kind: &str| failures[kind].as_u64().expect("a count");
        // A reset arrives while the client waits for its answer (receive), or in answer to its
        // SYN (connect); nothing else can go wrong here.
        assert_eq!(count("timeout") + count("length") + count("protocol"), 0, "{cell}");
        if cell["scenario"] == "close" {
            // A connection per request: every reset cuts a request.
            assert!(count("receive") > 0, "resets show as receive failures: {cell}");
        } else {
            // A reused connection reset before its answer is sent again on a new one, as ab
            // does (counted once, complete or failed, and said); only a new connection's first
            // request can fail.
            assert!(
                cell["notes"].to_string().contains("sent again on a new connection"),
                "{}",
                cell["notes"]
            );
        }
    }
    // The report lists the failed requests by kind, in words.
    assert!(stdout.contains("failed requests over all runs (") && stdout.contains("receive "), "{stdout}");
    // Healed, the wire is clean again and the servers answer as before.
    bed.heal(&iptables).expect("faults removed");
    let healed = Scratch::new();
    let (output, out) = healed.run(&matrix(&bed, "[[scenario]]\nname = \"clean\"\nkeep_alive = true\n"), &[]);
    assert!(output.status.success(), "{}\n{}", text(&output.stdout), text(&output.stderr));
    every_request_accounted_for(&results_json(&out));
}

/// The test bed script's own options make the same rules, refuse what is not a probability,
/// and go with the bed.
#[test]
fn the_test_bed_script_drops_and_resets() {
    let test = test_name!(the_test_bed_script_drops_and_resets);
    if !require(test, &[IP, IPTABLES]) {
        return;
    }
    // Only to learn whether namespaces can be made here; the script makes its own.
    let Some(probe) = bed_or_skip(test) else { return };
    drop(probe);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let script = |args: &[&str]| {
        Command::new(root.join("scripts/netns-testbed.sh"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("the script")
    };
    let refused = script(&["up", "--drop", "150%"]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));
    assert!(text(&refused.stderr).contains("not a probability"), "{}", text(&refused.stderr));
    let up = script(&["up", "--drop", "1%", "--reset", "0.005"]);
    let said = text(&up.stdout);
    assert!(up.status.success(), "{said}\n{}", text(&up.stderr));
    assert!(
        said.contains("dropping 0.010000 of packets both ways") && said.contains("resetting 0.005000"),
        "{said}"
    );
    let iptables = find(&IPTABLES).expect("iptables, found by require");
    let rules = Command::new("ip")
        .args(["netns", "exec", "rm-srv"])
        .arg(&iptables)
        .arg("-S")
        .output()
        .expect("iptables -S");
    let down = script(&["down"]);
    let rules = text(&rules.stdout);
    assert!(down.status.success(), "{}", text(&down.stderr));
    for rule in [
        "-A INPUT -i rm-veth-srv -p tcp -m statistic --mode random --probability 0.00499999989 -j REJECT --reject-with tcp-reset",
        "-A INPUT -i rm-veth-srv -m statistic --mode random --probability 0.00999999978 -j DROP",
        "-A OUTPUT -o rm-veth-srv -m statistic --mode random --probability 0.00999999978 -j DROP",
    ] {
        assert!(rules.contains(rule), "{rule} in\n{rules}");
    }
    let namespaces = text(&Command::new("ip").args(["netns", "list"]).output().expect("ip").stdout);
    assert!(!namespaces.contains("rm-srv"), "the bed is removed: {namespaces}");
}
