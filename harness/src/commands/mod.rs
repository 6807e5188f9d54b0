//! What each subcommand does, one module each; [`crate::cli`] only parses and dispatches.
//!
//! - [`run`]: the sweep job (`harness run matrix.toml`).
//! - [`load`]: one ab-style run (`harness load URL`).
//! - [`compare`]: benchstat for results (`harness compare OLD NEW`).
//! - [`report`]: redraws a results directory's reports (`harness report DIR`).
//! - `list` and `serve` are a few lines each, here.

pub mod compare;
pub mod load;
pub mod report;
pub mod run;

use std::process::ExitCode;

use server_spec::cli::ServerArgs;

use crate::registry;
use crate::report::table::{render, Align};

/// `harness list`: the registry as a table.
pub fn list() -> ExitCode {
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

/// `harness serve VARIANT`: runs one built-in in the foreground, exactly as its own binary
/// would (same exit statuses, including "not runnable here").
pub fn serve(name: &str, args: &ServerArgs) -> ExitCode {
    let Some(variant) = registry::find(name) else {
        eprintln!("Error: no variant `{name}`; known: {}", registry::names());
        return ExitCode::FAILURE;
    };
    match server_common::start(variant, args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => server_common::report(&err),
    }
}
