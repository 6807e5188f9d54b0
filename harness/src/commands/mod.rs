//! What each subcommand does, one module each, each owning its arguments; [`crate::cli`] only
//! picks the subcommand.
//!
//! - [`run`]: the sweep job (`harness run matrix.toml`).
//! - [`load`]: one ab-style run (`harness load URL`).
//! - [`compare`]: benchstat for results (`harness compare OLD NEW`).
//! - [`report`]: redraws a results directory's reports (`harness report DIR`).
//! - [`serve`]: one built-in server in the foreground (`harness serve NAME`).
//! - [`list`]: the built-in variants.
//! - [`calibrate`]: the machine's floor alone (`harness calibrate`).
//! - [`files`]: the corpus files scenarios serve (`harness files make DIR`).
//! - [`host`]: `sample`, `verify` and `awake`, which a sweep runs on other hosts (with `serve
//!   --lifeline` and `load --report`).
//! - [`exit`]: every exit status, defined once.

pub mod calibrate;
pub mod compare;
pub mod files;
pub mod host;
pub mod list;
pub mod load;
pub mod report;
pub mod run;
pub mod serve;

/// The exit statuses of every subcommand (the README's table).
pub mod exit {
    /// Done, and clean.
    pub const SUCCESS: u8 = 0;
    /// Something measured failed: a failed request, a variant that failed, a cut-short cell,
    /// results that could not be written; for `compare --fail-on`, a breach.
    pub const FAILURES: u8 = 1;
    /// Bad input, before anything starts: a matrix's mistakes, an unknown command or option,
    /// an unreadable results file.
    pub const CONFIG: u8 = 2;
    /// After SIGINT (128 + SIGINT).
    pub const INTERRUPTED: u8 = 130;
    /// After SIGTERM (128 + SIGTERM).
    pub const TERMINATED: u8 = 143;
}
