//! Real clients against the server: ApacheBench (`ab`) and `curl` must agree it works.

use std::net::SocketAddr;
use std::process::Command;

/// Runs `ab -n REQUESTS -c CONCURRENCY [-k]` and asserts every request completed, none
/// failed and none was non-2xx. The caller has required [`crate::tools::AB`].
pub fn ab(addr: SocketAddr, requests: usize, concurrency: usize, keep_alive: bool) {
    let mut command = Command::new("ab");
    command.args(["-q", "-s", "10", "-n", &requests.to_string(), "-c", &concurrency.to_string()]);
    if keep_alive {
        command.arg("-k");
    }
    command.arg(format!("http://{addr}/"));
    let output = command.output().unwrap_or_else(|err| panic!("cannot run ab: {err}"));
    let report = String::from_utf8_lossy(&output.stdout);
    let what = format!("ab -n {requests} -c {concurrency}{}", if keep_alive { " -k" } else { "" });
    assert!(output.status.success(), "{what} failed: {report}{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(field(&report, "Complete requests:"), Some(requests as u64), "{what}: {report}");
    assert_eq!(field(&report, "Failed requests:"), Some(0), "{what}: {report}");
    assert_eq!(field(&report, "Non-2xx responses:"), None, "{what}: {report}");
    if keep_alive {
        assert_eq!(field(&report, "Keep-Alive requests:"), Some(requests as u64), "{what}: {report}");
    }
}

fn field(report: &str, name: &str) -> Option<u64> {
    report
        .lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|value| value.parse().ok())
}

/// Runs curl for a GET, a HEAD, a POST and a chunked upload, and compares what it received.
/// The caller has required [`crate::tools::CURL`].
pub fn curl(addr: SocketAddr) {
    let base = format!("http://{addr}");
    let run = |args: &[&str]| -> String {
        let output = Command::new("curl")
            .args(["--silent", "--show-error", "--fail", "--max-time", "10"])
            .args(args)
            .output()
            .unwrap_or_else(|err| panic!("cannot run curl: {err}"));
        assert!(output.status.success(), "curl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    assert_eq!(run(&[&format!("{base}/")]), "Hello, world!\n");
    let head = run(&["--head", &format!("{base}/")]);
    assert!(head.starts_with("HTTP/1.1 200 OK") && head.contains("Content-Length: 14"), "{head}");
    assert_eq!(run(&["--http1.0", &format!("{base}/")]), "Hello, world!\n");
    assert_eq!(run(&["--data-binary", "ping", &format!("{base}/echo")]), "ping");
    let chunked =
        run(&["-H", "Transfer-Encoding: chunked", "--data-binary", "chunky", &format!("{base}/echo")]);
    assert_eq!(chunked, "chunky");
    assert_eq!(run(&[&format!("{base}/bytes/10")]), "ABCDEFGHIJ");
    // Two URLs in one invocation reuse the keep-alive connection.
    assert_eq!(run(&[&format!("{base}/"), &format!("{base}/bytes/2")]), "Hello, world!\nAB");
}
