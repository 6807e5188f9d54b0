//! Fuzzes what the harness reads from other hosts: the lines a remote `harness serve`, `harness
//! sample`, `harness verify` and `harness awake` print, and a load host's whole report — which
//! is then merged with another and summarized into a cell and its tables, as a sweep does.
//! Anything is read as its message or refused with a reason, never a panic.
//!
//! Run: `cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run host_lines -- -max_total_time=600`
#![no_main]

use std::time::Instant;

use harness::hosts::protocol::{self, Awake, LoadReport, Named, ProcessGroup, Sample, Verified};
use harness::results::summarize::Point;
use harness::results::{summarize, MeasuredRun, Mode, Reading, Status};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for line in text.lines() {
        if let Some(Ok(group)) = ProcessGroup::parse(line) {
            assert!(group.0 > 0, "a real process group");
        }
        if let Some(Ok(named)) = Named::parse(line) {
            assert_eq!(Named::parse(&named.line()), Some(Ok(named.clone())), "a name reads back");
        }
        let _ = Awake::parse(line);
        let _ = protocol::is_window_open(line);
        let _ = server_spec::cli::parse_listening_line(line);
        let _ = protocol::parse::<Verified>(line, "harness verify");
        if let Ok(sample) = protocol::parse::<Sample>(line, "harness sample") {
            assert_eq!(Sample::of(&sample.at(Instant::now())), sample, "a sample reads back");
        }
    }
    let Ok(report) = protocol::parse::<LoadReport>(&text, "harness load on host `cli`") else { return };
    let load = harness::hosts::load::merge(&[report.load.clone(), report.load]);
    let point = Point {
        scenario: "s".into(),
        variant: "v".into(),
        workers: 1,
        mode: if load.window.is_zero() { Mode::Closed } else { Mode::Open },
        concurrency: 2,
        rate: (!load.window.is_zero()).then_some(1000.0),
        keep_alive: true,
        requests: load.complete,
        server_cpus: 1,
    };
    let readings = vec![Reading { boundary: Reading::END, server: None, harness: None }];
    let run = MeasuredRun {
        status: Status::of_run(load.cut, false),
        load,
        started_at: 0,
        server: None,
        idle_rss_kib: None,
        tcp: None,
        readings,
    };
    let cell = summarize(&point, &[run.clone(), run]);
    let _ = harness::report::cell_line(&cell);
    let cells = [&cell];
    let _ = harness::report::classic(&cells);
    let _ = harness::report::percentiles(&cells);
    let _ = harness::report::open_loop(&cells);
    let _ = harness::report::over_time(&cells);
    let _ = serde_json::to_string(&cell);
});
