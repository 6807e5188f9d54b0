//! Workloads where schedulers differ: pipelined requests (each connection writes a batch, then
//! reads its answers) and request mixes (each request draws its path by weight): every answer
//! of a batch counted, an answer out of order or missing caught with its reason, a mix's paths
//! drawn reproducibly and reported path by path.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use server_conformance::test_name;
use server_conformance::tools::{require, PYTHON3};
use support::{cells_of, results_dir, results_json, text, Scratch, HARNESS};

/// `harness serve NAME` on a free port; its URL.
struct Serve(Child, String);

impl Serve {
    fn start(variant: &str) -> Serve {
        let mut child = Command::new(HARNESS)
            .args(["serve", variant, "--workers", "1", "--port", "0"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("harness serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("its line");
        let addr = server_spec::cli::parse_listening_line(&line).expect("a listening line");
        Serve(child, format!("http://{addr}/"))
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `harness load ARGS… --json URL`: the exit code and the results cell.
fn load(args: &[&str], url: &str) -> (Option<i32>, serde_json::Value, String) {
    let output =
        Command::new(HARNESS).arg("load").args(args).args(["--json", url]).output().expect("harness load");
    let cell = serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null);
    (output.status.code(), cell, text(&output.stderr))
}

#[test]
fn pipelined_batches_are_all_answered_and_counted() {
    for variant in ["floor-epoll", "tokio", "thread-per-connection"] {
        let server = Serve::start(variant);
        let (code, cell, stderr) = load(&["-k", "--pipeline", "16", "-c", "64", "-n", "32000"], &server.1);
        assert_eq!(code, Some(0), "{variant}: {stderr}\n{cell}");
        assert_eq!(
            (cell["complete"].as_u64(), cell["failed"].as_u64()),
            (Some(32000), Some(0)),
            "{variant}: {cell}"
        );
    }
}

/// A server that answers each pipelined batch it reads in one go back to front (`reverse`),
/// or leaves out the batch's last answer (`drop`). `/` is `a`, `/long` ten `b`s.
const MISBEHAVING: &str = r#"
import socket, sys, threading
mode = sys.argv[1]
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", 0))
server.listen(128)
print(server.getsockname()[1], flush=True)
def answer(path):
    body = b"bbbbbbbbbb" if path == b"/long" else b"a"
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
def serve(client):
    data = b""
    while True:
        chunk = client.recv(65536)
        if not chunk:
            return
        data += chunk
        heads = data.split(b"\r\n\r\n")
        data = heads.pop()
        answers = [answer(head.split(b" ")[1]) for head in heads if head]
        if mode == "reverse":
            answers.reverse()
        elif mode == "drop" and len(answers) > 1:
            answers.pop()
        client.sendall(b"".join(answers))
while True:
    client, _ = server.accept()
    threading.Thread(target=serve, args=(client,), daemon=True).start()
"#;

fn misbehaving(scratch: &Scratch, mode: &str) -> (Child, String) {
    let script = scratch.path().join("misbehaving.py");
    std::fs::write(&script, MISBEHAVING).expect("the script");
    let mut child =
        Command::new("python3").arg(&script).arg(mode).stdout(Stdio::piped()).spawn().expect("python3");
    let mut port = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut port).expect("its port");
    (child, format!("http://127.0.0.1:{}/", port.trim()))
}

/// Answers out of order, or one missing from each batch: failures with their reasons, not
/// figures.
#[test]
fn an_answer_out_of_order_or_missing_is_caught() {
    if !require(test_name!(an_answer_out_of_order_or_missing_is_caught), &[PYTHON3]) {
        return;
    }
    let scratch = Scratch::new();
    let (mut reversing, url) = misbehaving(&scratch, "reverse");
    let (code, cell, _) =
        load(&["-k", "--pipeline", "8", "-c", "2", "-n", "400", "--mix", "/=1,/long=1"], &url);
    let _ = reversing.kill();
    assert_eq!(code, Some(1), "{cell}");
    assert!(cell["failures"]["protocol"].as_u64().unwrap_or(0) > 0, "{cell}");
    assert!(cell["notes"].to_string().contains("out of order in a pipelined batch"), "{cell}");

    let (mut dropping, url) = misbehaving(&scratch, "drop");
    let (code, cell, _) = load(&["-k", "--pipeline", "4", "-c", "1", "-n", "40", "--timeout", "300ms"], &url);
    let _ = dropping.kill();
    assert_eq!(code, Some(1), "{cell}");
    assert!(cell["failures"]["timeout"].as_u64().unwrap_or(0) > 0, "{cell}");
    assert!(cell["notes"].to_string().contains("of a pipelined batch of 4, then nothing"), "{cell}");
}

/// A mix: paths drawn by weight, the same draw for the same seed, each path's own figures.
#[test]
fn a_mix_draws_paths_by_weight_and_reports_each() {
    let server = Serve::start("floor-epoll");
    let args = ["-k", "-c", "4", "-n", "8000", "--mix", "/=3,/bytes/64=1", "--seed", "7"];
    let (code, first, stderr) = load(&args, &server.1);
    assert_eq!(code, Some(0), "{stderr}");
    let counts = |cell: &serde_json::Value| -> Vec<u64> {
        cell["paths"].as_array().expect("paths").iter().map(|p| p["complete"].as_u64().unwrap_or(0)).collect()
    };
    let drawn = counts(&first);
    assert_eq!(drawn.iter().sum::<u64>(), 8000, "{first}");
    assert!((5600..=6400).contains(&drawn[0]), "3 in 4 go to /: {drawn:?}");
    let (_, again, _) = load(&args, &server.1);
    assert_eq!(counts(&again), drawn, "the same seed draws the same paths");
    assert!(first["paths"][1]["latency_us"]["p50"].as_f64().unwrap_or(0.0) > 0.0, "{first}");

    // In a sweep: per path in results.json, report.md and report.html.
    let scratch = Scratch::new();
    let matrix = "[sweep]\nrequests = 4000\nconcurrency = [4]\nkeep_alive = true\nmix = { \"/\" = 9, \"/bytes/1000\" = 1 }\n\n\
                  [[variant]]\nname = \"tokio\"\n";
    let (output, out) = scratch.run(matrix, &[]);
    assert!(output.status.success(), "{}\n{}", text(&output.stdout), text(&output.stderr));
    let json = results_json(&out);
    let paths = cells_of(&json, "tokio")[0]["paths"].as_array().expect("paths").clone();
    assert_eq!(paths.len(), 2);
    assert_eq!((paths[0]["path"].as_str(), paths[1]["path"].as_str()), (Some("/"), Some("/bytes/1000")));
    assert!(paths[1]["histogram"].as_str().is_some_and(|h| h.starts_with("HISTF")), "{paths:?}");
    let dir = results_dir(&out);
    let report = std::fs::read_to_string(dir.join("report.md")).expect("report.md");
    assert!(
        report.contains("/bytes/1000") && report.contains("a mix of 9 × `/` + 1 × `/bytes/1000`"),
        "{report}"
    );
    let page = std::fs::read_to_string(dir.join("report.html")).expect("report.html");
    assert!(page.contains("<table class=\"paths\">"), "the page has the paths' table");
}

/// A pipeline without keep-alive, a mix beside a path, a weight of 0: matrix mistakes, all
/// at once with their positions.
#[test]
fn pipeline_and_mix_mistakes_are_named() {
    let source = "[sweep]\npipeline = 16\npath = \"/\"\nmix = { \"/\" = 0, \"nope\" = 1 }\n\n[[variant]]\nname = \"tokio\"\n";
    let mistakes = harness::matrix::parse("m.toml", source, 2).expect_err("mistakes").to_string();
    for expected in [
        "m.toml:2:12: pipeline applies to a closed loop with keep_alive = true",
        "give path (\"/\") or mix, not both",
        "the weight of \"/\" must be from 1 to 1000000, not 0",
        "a path in mix must start with / and be visible ASCII, not \"nope\"",
    ] {
        assert!(mistakes.contains(expected), "missing {expected:?} in:\n{mistakes}");
    }
}
