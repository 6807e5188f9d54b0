//! The main job end to end: a tiny matrix over two built-in variants and one external
//! command server, checked through the printed tables and the files written.

mod support;

use support::{free_port, results_dir, text, Scratch};

#[test]
fn tiny_matrix_end_to_end() {
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

    // The printed report: header, a classic table per variant, percentiles, the comparison.
    for expected in [
        "# runtime-matrix report",
        "- **placement:** servers on CPU",
        "- **git commit:**",
        "## tokio (workers 1)",
        "## thread-pool (workers 2)",
        "## tiny (workers 1)",
        "### Requests per second",
        "### p99 latency (µs)",
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
    let dir = results_dir(&out);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    assert_eq!(json["meta"]["requests"], 50);
    assert_eq!(json["meta"]["concurrency"], serde_json::json!([1, 2]));
    let cells = json["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 6);
    for cell in cells {
        for key in [
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
        ] {
            assert!(cell.get(key).is_some(), "cell lacks {key}: {cell}");
        }
        for key in ["mean", "p50", "p90", "p99", "p999", "max"] {
            assert!(cell["latency_us"][key].as_f64().unwrap() > 0.0, "latency_us.{key}: {cell}");
        }
        assert_eq!(cell["complete"], 50, "{cell}");
        assert_eq!(cell["failed"], 0, "{cell}");
        assert_eq!(cell["non_2xx"], 0, "{cell}");
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
    let tokio = cells.iter().find(|c| c["variant"] == "tokio").unwrap();
    // 50 answers of the spec's 174-byte HTTP/1.0 response.
    assert_eq!(tokio["total_transferred_bytes"], 50 * 174);
    let tiny = cells.iter().find(|c| c["variant"] == "tiny").unwrap();
    assert_eq!(tiny["html_transferred_bytes"], 50 * 5);

    // The other files: the report, the CSV and one histogram per cell.
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(report.contains("## Comparison"), "{report}");
    let csv = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 7, "{csv}");
    assert!(csv.starts_with("variant,workers,concurrency,keep_alive,requests,complete,failed"));
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
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(results_dir(&out).join("results.json")).unwrap())
            .unwrap();
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
    let matrix = "[sweep]\nrequests = 20\nconcurrency = [1]\n[[variant]]\nname = \"tokio\"\n[[variant]]\nname = \"smol\"\n";
    let (output, _) = scratch.run(matrix, &["--only", "smol"]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("## smol") && !stdout.contains("## tokio"), "{stdout}");
    let (output, _) = scratch.run(matrix, &["--only", "nginx"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("--only: no variant `nginx`"), "{}", text(&output.stderr));
}
