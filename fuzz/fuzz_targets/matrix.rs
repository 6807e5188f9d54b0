//! Fuzzes the matrix reader: any text is either a plan or every mistake at once, each at a
//! real LINE:COL of the text, and never a panic.
//!
//! Run: `cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run matrix -- -max_total_time=600`
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else { return };
    match harness::matrix::parse("m.toml", source, 2) {
        Ok(plan) => {
            assert!(!plan.variants.is_empty() && !plan.scenarios.is_empty(), "a plan measures something");
            assert!(plan.variants.iter().any(|v| v.name == plan.baseline), "the baseline is a variant");
        }
        Err(err) => {
            assert!(!err.mistakes.is_empty(), "an error says what is wrong");
            // A position past the end is the end (a missing table, say): line count + 1 at most.
            let lines = source.lines().count() + 1;
            for mistake in &err.mistakes {
                assert!(
                    (1..=lines).contains(&mistake.line) && mistake.column >= 1,
                    "{}:{} in a text of {lines} lines: {}",
                    mistake.line,
                    mistake.column,
                    mistake.message
                );
            }
            assert!(err.to_string().starts_with("m.toml:"));
        }
    }
});
