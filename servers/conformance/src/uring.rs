//! Checks for the io_uring variants: they really use io_uring, and fail clearly without it.

use crate::client::exchange;
use crate::process::run_to_exit;
use crate::ServerProcess;

/// The environment switch that denies io_uring (see `server_common::uring::DENY_ENV`).
const DENY_ENV: &str = "RUNTIME_MATRIX_DENY_IO_URING";

/// How many io_uring instances process `pid` holds open.
pub fn io_uring_instances(pid: u32) -> usize {
    let entries = std::fs::read_dir(format!("/proc/{pid}/fd")).expect("read /proc/PID/fd");
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| std::fs::read_link(entry.path()).ok())
        .filter(|target| target.to_string_lossy().contains("io_uring"))
        .count()
}

/// A running server holds at least one io_uring instance per worker, and serves through it.
pub fn holds_io_uring(program: &str) {
    let server = ServerProcess::start(program, &["--workers", "2"]);
    assert_eq!(exchange(server.addr, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").status, 200);
    let rings = io_uring_instances(server.pid());
    assert!(rings >= 2, "expected an io_uring per worker, found {rings} in /proc/{}/fd", server.pid());
    server.stop_cleanly();
}

/// Exit status of a server that cannot run on this machine.
const EXIT_NOT_RUNNABLE: i32 = server_spec::cli::EXIT_NOT_RUNNABLE as i32;

/// With io_uring denied, the server exits at start with the "not runnable here" status (69)
/// and one clear line naming the cause; no panic, no fallback.
pub fn fails_clearly_without_io_uring(program: &str) {
    let (status, stderr) = run_to_exit(program, &["--workers", "2"], &[(DENY_ENV, "1")]);
    assert_eq!(status.code(), Some(EXIT_NOT_RUNNABLE), "exit status {status}, stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|line| !line.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected, got: {stderr}");
    assert!(lines[0].contains("io_uring is unavailable"), "{stderr}");
    assert!(lines[0].contains(DENY_ENV), "the cause is named: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
