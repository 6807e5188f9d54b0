//! The main job end to end: small matrices over built-in variants and an external command
//! server, checked through what is printed and the files written.

mod support;

use server_conformance::test_name;
use server_conformance::tools::{require, PYTHON3};
use support::{cells_of, free_port, results_dir, results_json, text, Scratch};

#[test]
fn tiny_matrix_end_to_end() {
    if !require(test_name!(tiny_matrix_end_to_end), &[PYTHON3]) {
        return;
    }
    let scratch = Scratch::new();
    let port = free_port();
    let matrix = format!(
        "[sweep]\nrequests = 50\nconcurrency = [1, 2]\nwarmup = 5\n\n\
         [[variant]]\nname = \"tokio\"\n\n[[variant]]\nname = \"thread-pool\"\nworkers = 2\n\n{}",
        scratch.tiny_variant("tiny", port, 0, "hello", "status")
    );
    let (output, out) = scratch.run(&matrix, &[]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "exit {}:\n{stdout}\n{}", output.status, text(&output.stderr));

    // The printed report: header, each cell's line as it finished, a classic table per
    // variant, percentiles, the comparison matrices.
    for expected in [
        "# runtime-matrix report",
        "- **placement:** servers on CPU",
        "- **git commit:**",
        "- **order:** interleaved; baseline `tokio`",
        "classic tokio c=1: ",
        "## Scenario: classic",
        "### tokio (workers 1)",
        "### thread-pool (workers 2)",
        "### tiny (workers 1)",
        "#### Requests per second (higher is better)",
        "#### p99 latency, µs (lower is better)",
        "#### Server CPU per request, µs (lower is better)",
        "## Verdict",
        "- **Server CPU per request** (lower is better): cheapest `",
        "report.html in a browser",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?} in:\n{stdout}");
    }
    // Exactly the classic columns, in order, once per variant.
    let classic: Vec<Vec<&str>> = stdout
        .lines()
        .filter(|line| line.starts_with("| No Test"))
        .map(|line| line.trim_matches('|').split('|').map(str::trim).collect())
        .collect();
    assert_eq!(classic.len(), 3, "{stdout}");
    for columns in &classic {
        assert_eq!(columns, &harness::report::CLASSIC_COLUMNS);
    }
    let percentiles = stdout.lines().filter(|line| line.starts_with("| Concurrency |")).count();
    assert_eq!(percentiles, 3, "{stdout}");

    // results.json: meta and one cell per variant × concurrency, each complete and clean.
    let json = results_json(&out);
    assert_eq!(json["schema_version"], 2);
    assert_eq!(json["meta"]["scenarios"][0]["requests"], 50);
    assert_eq!(json["meta"]["scenarios"][0]["concurrency"], serde_json::json!([1, 2]));
    let tokio_meta =
        json["meta"]["variants"].as_array().unwrap().iter().find(|v| v["name"] == "tokio").unwrap();
    assert_eq!(tokio_meta["launch"], "builtin");
    assert!(tokio_meta["runtime_version"].as_str().unwrap().starts_with("tokio@1."), "{tokio_meta}");
    let tiny_meta =
        json["meta"]["variants"].as_array().unwrap().iter().find(|v| v["name"] == "tiny").unwrap();
    assert_eq!(tiny_meta["command"][0], "python3");
    let cells = json["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 6);
    for cell in cells {
        for key in [
            "scenario",
            "variant",
            "concurrency",
            "keep_alive",
            "requests",
            "complete",
            "failed",
            "non_2xx",
            "total_transferred_bytes",
            "time_taken_s",
            "requests_per_second",
            "time_per_request_ms",
            "transfer_rate_kb_s",
            "server",
            "meta",
            "runs",
            "histograms",
        ] {
            assert!(cell.get(key).is_some(), "cell lacks {key}: {cell}");
        }
        for key in ["mean", "p50", "p90", "p99", "p999", "max"] {
            assert!(cell["latency_us"][key].as_f64().unwrap() > 0.0, "latency_us.{key}: {cell}");
        }
        assert_eq!(cell["complete"], 50, "{cell}");
        assert_eq!(cell["failed"], 0, "{cell}");
        assert_eq!(cell["non_2xx"], 0, "{cell}");
        assert_eq!(cell["status"], "complete", "{cell}");
        assert!(cell["server"]["cpu_us_per_request"].as_f64().unwrap() > 0.0, "{cell}");
        assert!(cell["server"]["rss_kib"].as_u64().unwrap() > 0, "{cell}");
        assert!(cell["meta"]["load_cpu_us_per_request"].as_f64().unwrap() > 0.0, "{cell}");
        assert!(cell["runs"][0]["started_at"].as_u64().unwrap() > 1_700_000_000_000, "{cell}");
        assert!(cell["histograms"]["latency"].as_str().unwrap().starts_with("HISTF"), "{cell}");
        // ab's formulas hold on what was written.
        let t = cell["time_taken_s"].as_f64().unwrap();
        let rps = cell["requests_per_second"].as_f64().unwrap();
        assert!((rps - 50.0 / t).abs() / rps < 1e-6, "{cell}");
        let c = cell["concurrency"].as_f64().unwrap();
        assert!(
            (cell["time_per_request_ms"].as_f64().unwrap() - c * t * 1000.0 / 50.0).abs() < 1e-6,
            "{cell}"
        );
    }
    let tokio = cells_of(&json, "tokio")[0];
    // 50 answers of the spec's 174-byte HTTP/1.0 response.
    assert_eq!(tokio["total_transferred_bytes"], 50 * 174);
    let tiny = cells_of(&json, "tiny")[0];
    assert_eq!(tiny["html_transferred_bytes"], 50 * 5);

    // The other files: the report, the CSV and one histogram per cell.
    let dir = results_dir(&out);
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(report.contains("### Comparison (classic, baseline `tokio`)"), "{report}");
    let csv = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 7, "{csv}");
    assert!(csv.starts_with("scenario,variant,workers,concurrency,rate,keep_alive,requests,complete,failed"));
    let hgrm: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "hgrm"))
        .collect();
    assert_eq!(hgrm.len(), 6);
    let histogram = std::fs::read_to_string(dir.join("tokio-c2.hgrm")).unwrap();
    assert!(histogram.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)"), "{histogram}");
    assert!(histogram.contains("#[Max     ="), "{histogram}");
    assert!(histogram.contains("Total count    =           50]"), "{histogram}");
}

#[test]
fn keep_alive_and_repeats() {
    let scratch = Scratch::new();
    let matrix = "[sweep]\nrequests = 200\nconcurrency = [3]\nkeep_alive = true\nrepeat = 3\n\n[[variant]]\nname = \"smol\"\n";
    let (output, out) = scratch.run(matrix, &[]);
    assert!(output.status.success(), "{}\n{}", text(&output.stdout), text(&output.stderr));
    let json = results_json(&out);
    let cell = &json["cells"][0];
    assert_eq!(cell["keep_alive"], true);
    assert_eq!(cell["runs"].as_array().unwrap().len(), 3);
    let spread = &cell["requests_per_second_spread"];
    assert!(spread["min"].as_f64().unwrap() <= spread["median"].as_f64().unwrap());
    assert!(spread["median"].as_f64().unwrap() <= spread["max"].as_f64().unwrap());
    // Keep-alive: the spec's HTTP/1.1 answer (155 bytes), and only 3 connections per run.
    assert_eq!(cell["total_transferred_bytes"], 200 * 155);
    let stdout = text(&output.stdout);
    assert!(stdout.contains("keep-alive (HTTP/1.1)"), "{stdout}");
}

#[test]
fn only_picks_variants() {
    let scratch = Scratch::new();
    let matrix =
        "[sweep]\nrequests = 20\nconcurrency = [1]\n[[variant]]\nname = \"tokio\"\n[[variant]]\nname = \"smol\"\n";
    let (output, _) = scratch.run(matrix, &["--only", "smol"]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("### smol") && !stdout.contains("### tokio"), "{stdout}");
    let (output, _) = scratch.run(matrix, &["--only", "nginx"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("--only: no variant `nginx`"), "{}", text(&output.stderr));
}

/// Interleaved rounds: every variant's server runs at once, each round measures each cell
/// once, and the order of the variants rotates from round to round.
#[test]
fn interleaved_rounds_rotate() {
    let scratch = Scratch::new();
    // Runs long enough (tens of ms) that their millisecond start times never tie.
    let matrix = "[sweep]\nrequests = 200\nconcurrency = [1]\nrepeat = 3\n\n\
                  [[variant]]\nname = \"tokio\"\n[[variant]]\nname = \"smol\"\n[[variant]]\nname = \"thread-pool\"\n";
    let (output, out) = scratch.run(matrix, &[]);
    assert!(output.status.success(), "{}\n{}", text(&output.stdout), text(&output.stderr));
    let json = results_json(&out);
    assert_eq!(json["meta"]["order"], "interleaved");
    let mut runs: Vec<(u64, String, usize)> = Vec::new();
    for cell in json["cells"].as_array().unwrap() {
        for (round, run) in cell["runs"].as_array().unwrap().iter().enumerate() {
            runs.push((
                run["started_at"].as_u64().unwrap(),
                cell["variant"].as_str().unwrap().to_owned(),
                round,
            ));
        }
    }
    runs.sort();
    let order: Vec<&str> = runs.iter().map(|(_, variant, _)| variant.as_str()).collect();
    assert_eq!(
        order,
        ["tokio", "smol", "thread-pool", "smol", "thread-pool", "tokio", "thread-pool", "tokio", "smol"],
        "rounds interleave and rotate: {runs:?}"
    );
}

/// Grouped order measures one variant at a time, and then variants may share a port.
#[test]
fn grouped_order_shares_a_port() {
    let scratch = Scratch::new();
    let port = free_port();
    let matrix = format!(
        "[sweep]\nrequests = 20\nconcurrency = [1, 2]\nrepeat = 2\norder = \"grouped\"\n\n\
         [[variant]]\nname = \"tokio\"\nport = {port}\n[[variant]]\nname = \"smol\"\nport = {port}\n"
    );
    let (output, out) = scratch.run(&matrix, &[]);
    assert!(output.status.success(), "{}\n{}", text(&output.stdout), text(&output.stderr));
    let json = results_json(&out);
    let last_tokio = cells_of(&json, "tokio")
        .iter()
        .flat_map(|c| c["runs"].as_array().unwrap())
        .map(|r| r["started_at"].as_u64().unwrap())
        .max()
        .unwrap();
    let first_smol = cells_of(&json, "smol")
        .iter()
        .flat_map(|c| c["runs"].as_array().unwrap())
        .map(|r| r["started_at"].as_u64().unwrap())
        .min()
        .unwrap();
    assert!(last_tokio <= first_smol, "tokio's runs all come before smol's");
}

/// `results.json` reads back into the types it was written from, and writes back the same.
#[test]
fn results_json_round_trips() {
    let scratch = Scratch::new();
    let matrix =
        "[sweep]\nrequests = 30\nconcurrency = [1, 2]\nrepeat = 2\n\n[[variant]]\nname = \"tokio\"\n";
    let (output, out) = scratch.run(matrix, &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let path = results_dir(&out).join("results.json");
    let written: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let results = harness::results::Results::read(&path).expect("reads back");
    let again = serde_json::to_value(&results).unwrap();
    assert_eq!(written, again);
    // The stored histogram recomputes the stored percentiles.
    let cell = &results.cells[0];
    let p99 = cell.histograms.latency.0.value_at_quantile(0.99) as f64 / 1000.0;
    assert_eq!(p99, cell.latency_us.p99);
    assert_eq!(cell.histograms.latency.0.len(), 60, "both runs' 30 requests");
}

/// Scenarios: each its own settings, cells keyed by scenario, reports grouped by scenario.
#[test]
fn scenarios_group_cells() {
    let scratch = Scratch::new();
    let matrix = "[sweep]\nrequests = 20\nconcurrency = [1]\n\n\
                  [[scenario]]\nname = \"short\"\n\n[[scenario]]\nname = \"kept\"\nkeep_alive = true\nconcurrency = [2]\n\n\
                  [[variant]]\nname = \"tokio\"\n";
    let (output, out) = scratch.run(matrix, &[]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("## Scenario: short") && stdout.contains("## Scenario: kept"), "{stdout}");
    let json = results_json(&out);
    let scenarios: Vec<(&str, u64, bool)> = json["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["scenario"].as_str().unwrap(),
                c["concurrency"].as_u64().unwrap(),
                c["keep_alive"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(scenarios, [("short", 1, false), ("kept", 2, true)]);
    let dir = results_dir(&out);
    assert!(dir.join("short-tokio-c1.hgrm").exists());
    assert!(dir.join("kept-tokio-c2-k.hgrm").exists());
}
