//! The soak, short: `examples/soak.toml` as written (an open loop at 5,000 requests per second,
//! keep-alive and not), but seconds instead of minutes, two variants. Every run is kept
//! interval by interval, the intervals add up to the run, the server and the harness are read
//! at every boundary, and the reports show the drift (a table, and plots over time).

mod support;

use support::{results_dir, results_json, text, Scratch};

#[test]
fn a_short_soak_keeps_every_run_interval_by_interval() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let example = std::fs::read_to_string(root.join("examples/soak.toml")).expect("the example");
    let short = [
        ("duration = \"10m\"", "duration = \"4s\""),
        ("warmup_time = \"5s\"", "warmup_time = \"1s\""),
        ("interval = \"10s\"", "interval = \"1s\""),
        ("max_run_time = \"11m\"", "max_run_time = \"30s\""),
    ]
    .iter()
    .fold(example.clone(), |text, (long, short)| {
        assert!(text.contains(long), "examples/soak.toml has {long}");
        text.replace(long, short)
    });
    assert!(example.contains("rate = [5000]") && example.contains("keep_alive = false"));
    let scratch = Scratch::new();
    let (output, out) = scratch.run(&short, &["--only", "floor-epoll,tokio"]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", text(&output.stderr));
    let json = results_json(&out);
    assert_eq!(json["meta"]["scenarios"][0]["interval_s"], 1.0);
    let cells = json["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), 4, "two variants, keep-alive and not");
    for cell in cells {
        let run = &cell["runs"][0];
        let intervals = run["intervals"].as_array().unwrap_or_else(|| panic!("intervals: {cell}"));
        // A 4 s window in 1 s intervals; on a busy machine the last responses come later, and
        // the window (to the last of them) grows by as many intervals.
        let took = run["time_taken_s"].as_f64().expect("time taken");
        assert_eq!(intervals.len(), took.floor() as usize, "{run}");
        assert!(intervals.len() >= 4, "{run}");
        let sum = |key: &str| intervals.iter().map(|i| i[key].as_u64().expect(key)).sum::<u64>();
        assert_eq!(sum("complete"), run["complete"].as_u64().expect("complete"), "{run}");
        assert_eq!(sum("failed"), run["failed"].as_u64().expect("failed"), "{run}");
        for interval in intervals {
            // Rates and latencies are this shared machine's; that each interval has them is ours.
            let rate = interval["requests_per_second"].as_f64().expect("a rate");
            assert!(rate > 0.0, "{interval}");
            assert!(interval["latency_us"]["p99"].as_f64().expect("p99") > 0.0, "{interval}");
            for key in ["server_rss_kib", "server_fds", "server_threads", "harness_rss_kib", "harness_fds"] {
                assert!(interval[key].as_u64().is_some_and(|v| v > 0), "{key}: {interval}");
            }
            assert!(
                interval["server_cpu_us_per_request"].as_f64().is_some_and(|cpu| cpu > 0.0),
                "{interval}"
            );
        }
        let last = intervals.last().expect("a last interval");
        assert!(
            (last["end_s"].as_f64().expect("end") - took).abs() < 1e-6,
            "the last ends with the run: {last}"
        );
    }
    let dir = results_dir(&out);
    let markdown = std::fs::read_to_string(dir.join("report.md")).expect("report.md");
    assert!(markdown.contains("server RSS KiB first → last"), "{markdown}");
    assert!(markdown.contains(" × 1 s"), "{markdown}");
    let html = std::fs::read_to_string(dir.join("report.html")).expect("report.html");
    for plot in ["p99-over-time", "rss-over-time"] {
        // One per scenario (a level each).
        assert_eq!(html.matches(&format!("data-plot=\"{plot}\"")).count(), 2, "{plot}");
    }
}
