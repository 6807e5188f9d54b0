//! A sanity cross-check, not a timed test: real `ab` and the harness's load generator,
//! against the same server, both report no failures and requests per second of the same
//! order.

mod support;

use server_conformance::ServerProcess;
use support::{run_tool, HARNESS};

fn field(report: &str, name: &str) -> f64 {
    report
        .lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{report}"))
}

#[test]
fn harness_and_ab_agree() {
    let server = ServerProcess::start(HARNESS, &["serve", "tokio", "--workers", "1"]);
    let url = format!("http://{}/", server.addr);
    for keep_alive in [false, true] {
        let mut args = vec!["-q", "-n", "3000", "-c", "4"];
        if keep_alive {
            args.push("-k");
        }
        let ab = run_tool("ab", &[&args[..], &[url.as_str()]].concat(), "apache2-utils");
        let ours = run_tool(HARNESS, &[&["load"], &args[1..], &[url.as_str()]].concat(), "(the harness)");
        assert_eq!(field(&ab, "Failed requests:"), 0.0, "{ab}");
        assert_eq!(field(&ours, "Failed requests:"), 0.0, "{ours}");
        assert_eq!(field(&ab, "Complete requests:"), 3000.0, "{ab}");
        assert_eq!(field(&ours, "Complete requests:"), 3000.0, "{ours}");
        let (theirs, mine) = (field(&ab, "Requests per second:"), field(&ours, "Requests per second:"));
        let ratio = mine / theirs;
        assert!((0.2..5.0).contains(&ratio), "keep-alive {keep_alive}: ab {theirs}/s, harness {mine}/s");
    }
    server.stop_cleanly();
}
