//! Fuzzes the results reader behind `harness report` and `harness compare`: any text is
//! either results every renderer draws — report.md, report.html, the `.hgrm` files, compare's
//! tables, JSON and page — or an error naming the file, and never a panic.
//!
//! Run: `cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run results -- -max_total_time=600`
#![no_main]

use harness::results::Results;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let results = match Results::parse(text, "dir/results.json") {
        Ok(results) => results,
        Err(err) => {
            assert!(err.to_string().starts_with("dir/results.json: "), "{err}");
            return;
        }
    };
    let _ = harness::report::full(&results);
    let _ = harness::html::report(&results);
    for cell in &results.cells {
        let _ = harness::export::hgrm(&cell.histograms.latency.0);
        let _ = harness::export::hgrm_name(cell);
    }
    let against = harness::compare::against_baseline(&results);
    let itself = harness::compare::sweeps(&results, &results);
    for comparison in [&against, &itself] {
        let _ = harness::report::compare::markdown("old → new", comparison, false, false);
        let _ = harness::report::compare::markdown("old → new", comparison, true, true);
        let _ = serde_json::to_string(comparison);
    }
    let _ = harness::html::comparison("old → new", &results, Some(&results), &itself);
});
