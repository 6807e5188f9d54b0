//! `harness load`: one run against any server, the sweep's tables, failures in words, exit 1
//! when anything failed, and the framing rules of what is measured.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use server_conformance::test_name;
use server_conformance::tools::{require, AB, PYTHON3};
use support::{text, wait_for_port, Scratch, HARNESS};

/// The tiny Python server in `mode` on a free port, killed when dropped.
struct Tiny {
    child: Child,
    url: String,
}

impl Tiny {
    /// Starts it on a port it picks itself (no race with other programs for a free port); the
    /// test requires `python3`.
    fn start(scratch: &Scratch, mode: &str) -> Tiny {
        let mut child = Command::new("python3")
            .args([scratch.script().to_str().expect("a UTF-8 path"), "0", "0", "hello", mode])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start python3");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout).read_line(&mut line).expect("the port line");
        let port: u16 = line.trim().parse().expect("a port");
        wait_for_port(port, Duration::from_secs(10));
        Tiny { child, url: format!("http://127.0.0.1:{port}/") }
    }
}

impl Drop for Tiny {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn load(args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(HARNESS).arg("load").args(args).output().expect("run harness load");
    (output.status.code(), text(&output.stdout), text(&output.stderr))
}

#[test]
fn prints_the_sweeps_tables_and_exits_0_when_clean() {
    if !require(test_name!(prints_the_sweeps_tables_and_exits_0_when_clean), &[PYTHON3]) {
        return;
    }
    let scratch = Scratch::new();
    let server = Tiny::start(&scratch, "close");
    let (code, stdout, stderr) = load(&["-n", "50", "-c", "2", &server.url]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("| No Test | Concurrency Level |"), "{stdout}");
    assert!(stdout.contains("| Concurrency | mean µs |"), "{stdout}");
    assert!(stdout.contains("Failed requests:        0\n"), "{stdout}");
    assert!(!stdout.contains("Failures {"), "no Debug struct: {stdout}");
}

/// An open loop also prints what it offered and achieved, both latencies and its send lag.
#[test]
fn an_open_loop_prints_its_rate_and_send_lag() {
    if !require(test_name!(an_open_loop_prints_its_rate_and_send_lag), &[PYTHON3]) {
        return;
    }
    let scratch = Scratch::new();
    let server = Tiny::start(&scratch, "close");
    let args =
        ["--rate", "100", "--duration", "1s", "--warmup-time", "100ms", "--connections", "4", &server.url];
    let (code, stdout, stderr) = load(&args);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("| Offered /s | Achieved /s |"), "{stdout}");
    assert!(stdout.contains("send lag p99 µs"), "{stdout}");
}

/// A server that accepts but never answers: exit 1, said in words.
#[test]
fn a_silent_server_is_no_response_within_the_timeout() {
    if !require(test_name!(a_silent_server_is_no_response_within_the_timeout), &[PYTHON3]) {
        return;
    }
    let scratch = Scratch::new();
    let server = Tiny::start(&scratch, "silent");
    let (code, stdout, stderr) = load(&["-n", "4", "-c", "2", "--timeout", "300ms", &server.url]);
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("Failed requests:        4 (timeout 4)"), "{stdout}");
    assert!(stderr.contains("no response within 300ms"), "{stderr}");
}

/// The classic exercise's kind of server (HTTP/1.0, four bytes after its `Content-Length`
/// body): measured with 0 failed, and the byte counts ab reports for it.
#[test]
fn bytes_after_the_body_are_counted_as_ab_counts_them() {
    if !require(test_name!(bytes_after_the_body_are_counted_as_ab_counts_them), &[PYTHON3, AB]) {
        return;
    }
    let scratch = Scratch::new();
    let server = Tiny::start(&scratch, "extra");
    let (code, stdout, stderr) = load(&["-n", "40", "-c", "2", "--json", &server.url]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let cell: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(cell["failed"], 0, "{cell}");
    let ab = support::run_tool("ab", &["-q", "-n", "40", "-c", "2", &server.url]);
    let field = |name: &str| -> u64 {
        ab.lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {ab}"))
    };
    assert_eq!(field("Failed requests:"), 0, "{ab}");
    assert_eq!(cell["total_transferred_bytes"].as_u64().unwrap(), field("Total transferred:"), "ab: {ab}");
    assert_eq!(cell["html_transferred_bytes"].as_u64().unwrap(), field("HTML transferred:"), "ab: {ab}");
    assert_eq!(field("Document Length:"), 9, "5 bytes of body and 4 after it");
}

/// A body with no length ends with the close: measured like ab.
#[test]
fn close_delimited_bodies_are_measured() {
    if !require(test_name!(close_delimited_bodies_are_measured), &[PYTHON3]) {
        return;
    }
    let scratch = Scratch::new();
    let server = Tiny::start(&scratch, "nolength");
    let (code, stdout, stderr) = load(&["-n", "30", "-c", "3", "--json", &server.url]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let cell: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!((cell["complete"].as_u64(), cell["failed"].as_u64()), (Some(30), Some(0)));
    assert_eq!(cell["html_transferred_bytes"], 30 * 5);
}

/// With keep-alive a response must be framed: an unframed one fails with the reason.
#[test]
fn keep_alive_needs_framed_responses() {
    if !require(test_name!(keep_alive_needs_framed_responses), &[PYTHON3]) {
        return;
    }
    let scratch = Scratch::new();
    let server = Tiny::start(&scratch, "nolength");
    let (code, stdout, stderr) = load(&["-k", "-n", "5", &server.url]);
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("protocol"), "{stdout}");
    assert!(
        stdout.contains("without Content-Length or chunked coding on a keep-alive connection"),
        "{stdout}"
    );
}

/// A server that answers HTTP/1.0 but never closes: each request is complete (not also a
/// timeout), the missing close is counted and said, and the wait for it is bounded.
#[test]
fn an_unclosed_http10_response_is_complete_not_failed() {
    if !require(test_name!(an_unclosed_http10_response_is_complete_not_failed), &[PYTHON3]) {
        return;
    }
    let scratch = Scratch::new();
    let server = Tiny::start(&scratch, "noclose");
    let (code, stdout, stderr) = load(&["-n", "3", "-c", "1", "--timeout", "500ms", "--json", &server.url]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let cell: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(cell["complete"], 3, "{cell}");
    assert_eq!(cell["failed"], 0, "complete, not also a timeout: {cell}");
    let notes = cell["notes"].to_string();
    assert!(notes.contains("3 responses were not followed by the server's close"), "{notes}");
    // Bounded: about a second of waiting per request, not the timeout's forever.
    assert!(cell["time_taken_s"].as_f64().unwrap() < 10.0, "{cell}");
}

/// `--announce-window` (how a sweep on another host learns when to sample the server): one
/// `window open` line once the warm-up is over, then the results.
#[test]
fn the_window_is_announced_after_the_warm_up() {
    if !require(test_name!(the_window_is_announced_after_the_warm_up), &[PYTHON3]) {
        return;
    }
    let scratch = Scratch::new();
    let server = Tiny::start(&scratch, "close");
    let started = std::time::Instant::now();
    let mut child = Command::new(HARNESS)
        .args([
            "load",
            "--rate",
            "100",
            "--connections",
            "2",
            "--warmup-time",
            "600ms",
            "--duration",
            "300ms",
        ])
        .args(["--announce-window", "--json", &server.url])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run harness load");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("the first line");
    let announced = started.elapsed();
    assert_eq!(first.trim(), "window open");
    assert!(
        announced >= Duration::from_millis(600),
        "announced {announced:?} after start, before the warm-up ended"
    );
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).expect("the results");
    assert!(child.wait().expect("exit").success());
    let cell: serde_json::Value = serde_json::from_str(&rest).expect("the results cell after the line");
    assert!(cell["complete"].as_u64().unwrap() > 0, "{cell}");
    assert!(!rest.contains("window open"), "announced once");
}

/// `--server-pid`: the tiny server's own CPU per request beside the load's; a PID with no
/// process is bad input (exit 2), said as such.
#[test]
fn a_server_named_by_pid_is_read_around_the_run() {
    if !require(test_name!(a_server_named_by_pid_is_read_around_the_run), &[PYTHON3]) {
        return;
    }
    let scratch = Scratch::new();
    let server = Tiny::start(&scratch, "close");
    let pid = server.child.id().to_string();
    let (code, stdout, stderr) = load(&["-n", "300", "-c", "2", "--server-pid", &pid, &server.url]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let cpu: f64 = stdout
        .lines()
        .find_map(|line| line.strip_prefix("Server CPU:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("a Server CPU line: {stdout}"));
    // A Python server spends tens of microseconds on a request, never nothing.
    assert!(cpu > 1.0, "{stdout}");
    assert!(!stderr.contains("child processes"), "python3 has none: {stderr}");
    let (code, stdout, stderr) = load(&["-n", "10", "--server-pid", "2147483647", &server.url]);
    assert_eq!(code, Some(2), "{stdout}\n{stderr}");
    assert!(stderr.contains("--server-pid 2147483647: no process to read"), "{stderr}");
}
