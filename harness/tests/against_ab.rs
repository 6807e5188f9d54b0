//! A sanity cross-check, not a timed test: real `ab` and the harness's load generator,
//! against the same server, both report no failures and requests per second of the same
//! order.

mod support;

use server_conformance::test_name;
use server_conformance::tools::{require, AB};
use server_conformance::ServerProcess;
use support::{ab_field, run_tool, HARNESS};

#[test]
fn harness_and_ab_agree() {
    if !require(test_name!(harness_and_ab_agree), &[AB]) {
        return;
    }
    let server = ServerProcess::start(HARNESS, &["serve", "tokio", "--workers", "1"]);
    let url = format!("http://{}/", server.addr);
    for keep_alive in [false, true] {
        let mut args = vec!["-q", "-n", "3000", "-c", "4"];
        if keep_alive {
            args.push("-k");
        }
        let ab = run_tool("ab", &[&args[..], &[url.as_str()]].concat());
        let ours = run_tool(HARNESS, &[&["load"], &args[1..], &[url.as_str()]].concat());
        assert_eq!(ab_field::<f64>(&ab, "Failed requests:"), 0.0, "{ab}");
        assert_eq!(ab_field::<f64>(&ours, "Failed requests:"), 0.0, "{ours}");
        assert_eq!(ab_field::<f64>(&ab, "Complete requests:"), 3000.0, "{ab}");
        assert_eq!(ab_field::<f64>(&ours, "Complete requests:"), 3000.0, "{ours}");
        let (theirs, mine) =
            (ab_field::<f64>(&ab, "Requests per second:"), ab_field::<f64>(&ours, "Requests per second:"));
        let ratio = mine / theirs;
        assert!((0.2..5.0).contains(&ratio), "keep-alive {keep_alive}: ab {theirs}/s, harness {mine}/s");
    }
    server.stop_cleanly();
}
