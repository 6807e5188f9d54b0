//! The conformance suite: holds every server variant to the whole spec, over real TCP on
//! 127.0.0.1, with real clients (`ab`, `curl`) as well as raw bytes.
//!
//! A variant's tests are one line in its `tests/conformance.rs`:
//!
//! ```ignore
//! server_conformance::suite!(tokio, env!("CARGO_BIN_EXE_server-tokio"));
//! ```
//!
//! which expands to one `#[test]` per check in [`checks`], each starting its own server
//! process on an ephemeral port and stopping it with SIGTERM (the test then asserts exit 0).
//!
//! # Layout
//! - [`process`]: starting a server binary, reading its `listening on` line, stopping it.
//! - [`client`]: a raw HTTP/1.1 client that reads responses byte-exactly.
//! - [`checks`]: the checks.
//! - [`files`]: the `/files/{name}` group (a directory of test files, exact bytes, refusals).
//! - [`real_clients`]: `ab` and `curl` against the server.
//! - [`tools`]: the outside programs tests run; a test whose program is missing skips, saying
//!   so (or fails, with `RUNTIME_MATRIX_STRICT=1`).
//! - [`uring`]: proof that an io_uring variant uses io_uring, and fails clearly without it.

pub mod checks;
pub mod client;
pub mod files;
pub mod process;
pub mod real_clients;
pub mod tools;
pub mod uring;

pub use process::ServerProcess;

/// Expands to the whole suite as `#[test]`s in a module named `$name`, run against the server
/// binary `$program` (with any extra arguments).
#[macro_export]
macro_rules! suite {
    ($name:ident, $program:expr $(, $arg:expr)* $(,)?) => {
        $crate::suite!(@module $name, $program, [$($arg),*];
            hello_is_byte_exact, head_has_no_body, every_route, refusals_keep_the_connection,
            keep_alive_http11, http10_closes, http10_keep_alive, close_stops_answering,
            pipelined_in_order, work_and_offload, byte_at_a_time, expect_continue, chunked_bodies,
            malformed_requests, garbage_is_refused_at_once, stalled_reader_is_closed, oversized_requests, body_limits, large_body,
            header_timeout_spares_others, idle_timeout, concurrent_clients,
            sigterm_finishes_in_flight, ab_sweep: [AB], curl_agrees: [CURL]);
    };
    // A module `$name` of `#[test]`s, one per check, each starting `$program` with the extra
    // arguments `$arg`s (and those the check adds). `check: [TOOL, …]` names the outside
    // programs (constants of `tools`) a check runs: without them its test is skipped.
    (@module $name:ident, $program:expr, [$($arg:expr),*]; $($check:ident $(: [$($tool:ident),*])?),*) => {
        mod $name {
            fn start(extra: &[&str]) -> $crate::ServerProcess {
                let mut args: Vec<&str> = vec![$($arg),*];
                args.extend_from_slice(extra);
                $crate::ServerProcess::start($program, &args)
            }
            $(
                #[test]
                fn $check() {
                    if !$crate::tools::require($crate::test_name!($check), &[$($($crate::tools::$tool),*)?]) {
                        return;
                    }
                    $crate::checks::$check(&start);
                }
            )*
        }
    };
}

/// Expands to the checks that a request that waits does not hold up its worker: `/sleep` waits
/// on a timer, not in a thread (on one worker, sleeping connections overlap and others are
/// served meanwhile), and `/offload` computes on the runtime's blocking facility (on one
/// worker, others are served meanwhile). Every variant but the thread pool (whose worker a
/// waiting connection holds, by design) runs them.
#[macro_export]
macro_rules! waiting_suite {
    ($name:ident, $program:expr $(, $arg:expr)* $(,)?) => {
        $crate::suite!(@module $name, $program, [$($arg),*];
            sleeps_overlap_on_one_worker, a_sleep_does_not_delay_others, an_offload_does_not_delay_others);
    };
}

/// Expands to the check that `/work` computes on the thread running the event loop, like
/// application code that forgets to offload: on one worker, a computing connection holds up
/// the others. Every variant where one thread serves many connections runs it (not the thread
/// variants: there a connection has its thread to itself, or waits for a free one anyway).
#[macro_export]
macro_rules! event_loop_suite {
    ($name:ident, $program:expr $(, $arg:expr)* $(,)?) => {
        $crate::suite!(@module $name, $program, [$($arg),*]; work_holds_its_worker);
    };
}

/// Expands to the io_uring checks for the server binary `$program`: it holds io_uring
/// instances while serving, and fails at start with one clear line when io_uring is denied.
#[macro_export]
macro_rules! uring_suite {
    ($program:expr) => {
        #[test]
        fn uses_io_uring() {
            $crate::uring::holds_io_uring($program);
        }

        #[test]
        fn fails_clearly_without_io_uring() {
            $crate::uring::fails_clearly_without_io_uring($program);
        }
    };
}
