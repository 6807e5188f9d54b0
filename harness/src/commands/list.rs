//! `harness list`: the built-in variants, from the registry, as a table.

use std::process::ExitCode;

use crate::registry;
use crate::report::table::{render, Align};

pub fn run() -> ExitCode {
    let rows: Vec<Vec<String>> = registry::VARIANTS
        .iter()
        .map(|v| {
            vec![v.name.into(), v.runtime.into(), v.io.name().into(), v.threading.into(), v.workers.into()]
        })
        .collect();
    let headers = ["variant", "runtime", "I/O", "threading model", "--workers N means"];
    print!("{}", render(&headers, &[Align::Left; 5], &rows));
    ExitCode::SUCCESS
}
