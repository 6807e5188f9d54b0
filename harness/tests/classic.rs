//! The classic exercise, reproduced: servers like the exercise's (bytes after the body, no
//! `Content-Length`) are measured as ab measures them, strict framing with keep-alive, and the
//! two example Python servers (`examples/python/`) and `examples/classic.toml` that runs them.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::Duration;

use server_conformance::test_name;
use server_conformance::tools::{require, AB, PYTHON3};
use support::{ab, ab_field, cells_of, free_ports, results_dir, results_json, text, Scratch};

/// The workspace root: `examples/classic.toml`'s `command` paths are relative to it.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root").to_path_buf()
}

/// The example servers, as `examples/classic.toml` names them.
const EXAMPLES: [(&str, &str); 2] = [
    ("python-async", "examples/python/async_server.py"),
    ("python-threads", "examples/python/thread_server.py"),
];

/// The spec's `GET /` answer as the example servers send it: 99 bytes of head, 14 of body.
const EXAMPLE_ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 14\r\nConnection: close\r\n\r\nHello, world!\n";

/// A server process started by a test, killed when dropped.
struct Started(Child);

impl Started {
    fn python(args: &[&str], port: u16) -> Started {
        let mut child =
            Command::new("python3").args(args).current_dir(root()).spawn().expect("start python3");
        support::wait_for_own_listener(&mut child, port, Duration::from_secs(10));
        Started(child)
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the harness on `matrix` from the workspace root (as the README's command runs it).
fn sweep(scratch: &Scratch, matrix: &str) -> (Output, String) {
    let file = scratch.matrix(matrix);
    let output = Command::new(support::HARNESS)
        .arg(&file)
        .arg("--out")
        .arg(scratch.out())
        .current_dir(root())
        .env("NO_COLOR", "1")
        .output()
        .expect("run harness");
    let said = format!("exit {}:\n{}\n{}", output.status, text(&output.stdout), text(&output.stderr));
    (output, said)
}

/// The notes on `variant` in `results.json`'s `meta.variants`.
fn variant_notes(json: &serde_json::Value, variant: &str) -> Vec<String> {
    let variants = json["meta"]["variants"].as_array().expect("meta.variants");
    let meta = variants.iter().find(|v| v["name"] == variant).expect("the variant's meta");
    let notes = meta["notes"].as_array().expect("notes");
    notes.iter().map(|n| n.as_str().expect("a note is a string").to_owned()).collect()
}

/// The report's section for `variant` (from its heading to the next one).
fn section<'a>(report: &'a str, variant: &str) -> &'a str {
    let start = report.find(&format!("### {variant} (")).unwrap_or_else(|| panic!("no {variant}: {report}"));
    let rest = &report[start + 4..];
    &report[start..start + 4 + rest.find("\n### ").unwrap_or(rest.len())]
}

/// Servers like the exercise's — HTTP/1.0 with four bytes after the `Content-Length` body, and
/// HTTP/1.0 with no length at all (the body ends with the close) — are measured with 0 failed,
/// "Total transferred" and "HTML transferred" per response are what a real ab reports on the
/// same server, the deviations are notes (once each) in `results.json` and `report.md`, exit 0.
#[test]
fn exercise_style_servers_are_measured_as_ab_measures_them() {
    if !require(test_name!(exercise_style_servers_are_measured_as_ab_measures_them), &[PYTHON3, AB]) {
        return;
    }
    let scratch = Scratch::new();
    let ports = free_ports(2);
    let modes = [("exercise-extra", "extra", ports[0]), ("exercise-nolength", "nolength", ports[1])];
    let (requests, levels) = (200u64, [1usize, 3]);

    // ab first, on the same program on the same port the sweep will start.
    let script = scratch.script();
    let mut by_ab = Vec::new();
    for (_, mode, port) in modes {
        let _server =
            Started::python(&[script.to_str().unwrap(), &port.to_string(), "0", "hello", mode], port);
        let report = ab(requests, 3, &format!("http://127.0.0.1:{port}/"));
        assert_eq!(ab_field::<u64>(&report, "Failed requests:"), 0, "{report}");
        let complete = ab_field::<u64>(&report, "Complete requests:");
        assert_eq!(complete, requests, "{report}");
        by_ab.push((
            ab_field::<u64>(&report, "Total transferred:") / complete,
            ab_field::<u64>(&report, "HTML transferred:") / complete,
        ));
    }
    // 57 bytes of head + 5 of body + 4 after it; 45 bytes of head + 5 of body.
    assert_eq!(by_ab, [(66, 9), (50, 5)], "ab's own figures for these servers");

    let variants: String = modes
        .iter()
        .map(|(name, mode, port)| scratch.tiny_variant_mode(name, *port, 0, "hello", "status", mode))
        .collect::<Vec<_>>()
        .join("\n");
    let matrix =
        format!("[sweep]\nrequests = {requests}\nconcurrency = {levels:?}\nwarmup = 10\n\n{variants}");
    let (output, said) = sweep(&scratch, &matrix);
    assert_eq!(output.status.code(), Some(0), "{said}");
    let json = results_json(&scratch.out());
    assert_eq!(json["problems"], serde_json::json!([]), "{said}");

    let report = std::fs::read_to_string(results_dir(&scratch.out()).join("report.md")).unwrap();
    for ((name, _, _), (total, html)) in modes.iter().zip(&by_ab) {
        let cells = cells_of(&json, name);
        assert_eq!(cells.len(), levels.len(), "{said}");
        for cell in cells {
            assert_eq!(cell["status"], "complete", "{cell}");
            assert_eq!(
                (cell["complete"].as_u64(), cell["failed"].as_u64()),
                (Some(requests), Some(0)),
                "{cell}"
            );
            assert_eq!(
                cell["total_transferred_bytes"].as_u64(),
                Some(requests * total),
                "{name}: ab says {total}/response"
            );
            assert_eq!(
                cell["html_transferred_bytes"].as_u64(),
                Some(requests * html),
                "{name}: ab says {html}/response"
            );
        }
        // The deviations: noted on the variant, each once, not as failures.
        let notes = variant_notes(&json, name);
        assert!(notes.iter().any(|n| n.contains("HTTP/1.0 status line")), "{name}: {notes:?}");
        let expected = if *name == "exercise-extra" {
            "sends 4 bytes after its 5-byte Content-Length body"
        } else {
            "sends no Content-Length: its body ends when it closes the connection"
        };
        assert!(notes.iter().any(|n| n.contains(expected)), "{name}: {notes:?}");
        assert_eq!(notes.len(), 2, "{name}: {notes:?}");
        let section = section(&report, name);
        for note in &notes {
            assert_eq!(
                section.matches(&format!("**Note:** {note}")).count(),
                1,
                "{note:?} once in:\n{section}"
            );
        }
        assert_eq!(report.matches(expected).count(), 1, "only under {name}:\n{report}");
    }
}

/// With keep-alive the same servers cannot be measured: a response must be framed, so each
/// is refused with the framing reason (in `results.json` and the report), and the exit is 1.
#[test]
fn with_keep_alive_the_same_servers_fail_on_framing() {
    if !require(test_name!(with_keep_alive_the_same_servers_fail_on_framing), &[PYTHON3]) {
        return;
    }
    let scratch = Scratch::new();
    let ports = free_ports(2);
    let matrix = format!(
        "[sweep]\nrequests = 20\nconcurrency = [2]\nkeep_alive = true\n\n{}\n{}",
        scratch.tiny_variant_mode("exercise-extra", ports[0], 0, "hello", "status", "extra"),
        scratch.tiny_variant_mode("exercise-nolength", ports[1], 0, "hello", "status", "nolength"),
    );
    let (output, said) = sweep(&scratch, &matrix);
    assert_eq!(output.status.code(), Some(1), "{said}");
    let json = results_json(&scratch.out());
    let report = std::fs::read_to_string(results_dir(&scratch.out()).join("report.md")).unwrap();
    let reasons = [
        ("exercise-extra", "bytes after the response on a keep-alive connection"),
        (
            "exercise-nolength",
            "a response without Content-Length or chunked coding on a keep-alive connection (it cannot be reused)",
        ),
    ];
    for (name, reason) in reasons {
        let problems: Vec<&serde_json::Value> =
            json["problems"].as_array().unwrap().iter().filter(|p| p["variant"] == name).collect();
        assert_eq!(problems.len(), 1, "{name}: {said}");
        assert_eq!(problems[0]["kind"], "failed", "{name}: {said}");
        let problem = problems[0]["problem"].as_str().unwrap();
        assert!(problem.contains(reason), "{name}: {problem}");
        assert!(report.contains(&format!("- **{name}:** {problem}")), "{name} in the report:\n{report}");
        assert!(text(&output.stdout).contains(reason), "{name} said: {said}");
        // Refused before measuring: nothing was timed for it.
        assert!(cells_of(&json, name).is_empty(), "{name}: {said}");
    }
}

/// Both example servers pass verification (with no notes: they speak correct HTTP) and are
/// measured with 0 failed, 113 bytes a response — the same as ab reports on them. The matrix
/// names them by the relative paths `examples/classic.toml` uses, run from the workspace root.
#[test]
fn the_example_servers_pass_and_match_ab() {
    if !require(test_name!(the_example_servers_pass_and_match_ab), &[PYTHON3, AB]) {
        return;
    }
    let scratch = Scratch::new();
    let ports = free_ports(2);
    let requests = 100u64;
    let mut matrix = format!("[sweep]\nrequests = {requests}\nconcurrency = [1, 5]\nwarmup = 10\n");
    for ((name, path), port) in EXAMPLES.iter().zip(&ports) {
        matrix.push_str(&format!(
            "\n[[variant]]\nname = \"{name}\"\ncommand = [\"python3\", \"{path}\", \"{{port}}\"]\nport = {port}\n"
        ));
    }
    let (output, said) = sweep(&scratch, &matrix);
    assert_eq!(output.status.code(), Some(0), "{said}");
    let json = results_json(&scratch.out());
    assert_eq!(json["problems"], serde_json::json!([]), "{said}");
    for (name, _) in EXAMPLES {
        assert_eq!(variant_notes(&json, name), Vec::<String>::new(), "{name} speaks correct HTTP");
        let cells = cells_of(&json, name);
        assert_eq!(cells.len(), 2, "{said}");
        for cell in cells {
            assert_eq!(
                (cell["complete"].as_u64(), cell["failed"].as_u64()),
                (Some(requests), Some(0)),
                "{cell}"
            );
            assert_eq!(cell["non_2xx"], 0, "{cell}");
            assert_eq!(
                cell["total_transferred_bytes"].as_u64(),
                Some(requests * EXAMPLE_ANSWER.len() as u64)
            );
            assert_eq!(cell["html_transferred_bytes"].as_u64(), Some(requests * 14));
        }
    }
    // ab reports the same bytes per response on the same servers.
    for ((_, path), port) in EXAMPLES.iter().zip(&ports) {
        let _server = Started::python(&[path, &port.to_string()], *port);
        let report = ab(requests, 5, &format!("http://127.0.0.1:{port}/"));
        assert_eq!(ab_field::<u64>(&report, "Failed requests:"), 0, "{report}");
        assert_eq!(
            ab_field::<u64>(&report, "Total transferred:"),
            requests * EXAMPLE_ANSWER.len() as u64,
            "{report}"
        );
        assert_eq!(ab_field::<u64>(&report, "HTML transferred:"), requests * 14, "{report}");
    }
}

/// The example servers read the head however it is split, shrug off clients that leave early,
/// answer the spec's body byte for byte, and exit 0 on SIGTERM.
#[test]
fn the_example_servers_are_robust_and_stop_on_sigterm() {
    if !require(test_name!(the_example_servers_are_robust_and_stop_on_sigterm), &[PYTHON3]) {
        return;
    }
    for ((_, path), port) in EXAMPLES.iter().zip(free_ports(2)) {
        let mut server = Started::python(&[path, &port.to_string()], port);
        let addr = ("127.0.0.1", port);
        // Clients that leave: before sending anything, mid-head, right after the head.
        drop(TcpStream::connect(addr).unwrap());
        TcpStream::connect(addr).unwrap().write_all(b"GET / HTTP/1.0\r\nHo").unwrap();
        TcpStream::connect(addr).unwrap().write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        // A head in pieces, the blank line split across writes.
        let mut client = TcpStream::connect(addr).unwrap();
        client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        for piece in [&b"GET / HT"[..], b"TP/1.0\r\nHost: x\r", b"\n\r", b"\n"] {
            client.write_all(piece).unwrap();
            std::thread::sleep(Duration::from_millis(30));
        }
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).expect("the server closes after answering");
        assert_eq!(String::from_utf8_lossy(&answer), String::from_utf8_lossy(EXAMPLE_ANSWER), "{path}");

        support::signal(server.0.id(), libc::SIGTERM);
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(status) = server.0.try_wait().unwrap() {
                break status;
            }
            assert!(started.elapsed() < Duration::from_secs(2), "{path} ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(status.code(), Some(0), "{path}: {status}");
    }
}

/// `examples/classic.toml` is valid and is the exercise's sweep: 1000 requests at 1..5
/// without keep-alive, the two Python models on 45000 and 46000, then every built-in.
#[test]
fn classic_toml_is_the_exercise() {
    let source = std::fs::read_to_string(root().join("examples/classic.toml")).unwrap();
    let plan =
        harness::matrix::parse("examples/classic.toml", &source, 2).unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(plan.scenarios.len(), 1);
    let scenario = &plan.scenarios[0];
    assert_eq!(
        scenario.load,
        harness::plan::Load::Closed { requests: 1000, concurrency: vec![1, 2, 3, 4, 5] }
    );
    assert!(!scenario.keep_alive);
    for ((name, path), (variant, port)) in EXAMPLES.iter().zip(plan.variants.iter().zip([45000, 46000])) {
        assert_eq!((variant.name.as_str(), variant.port), (*name, port));
        let harness::plan::Launch::Command(argv) = &variant.launch else { panic!("{name} runs a command") };
        assert_eq!(argv, &["python3", path, "{port}"]);
        assert!(root().join(path).is_file(), "{path}");
    }
    let builtins: Vec<&str> = plan.variants[2..]
        .iter()
        .map(|variant| {
            assert!(matches!(variant.launch, harness::plan::Launch::Builtin(_)), "{}", variant.name);
            assert_eq!((variant.port, variant.workers), (0, 1), "{}", variant.name);
            variant.name.as_str()
        })
        .collect();
    let mut every: Vec<&str> = harness::registry::VARIANTS.iter().map(|v| v.name).collect();
    let mut listed = builtins.clone();
    every.sort_unstable();
    listed.sort_unstable();
    assert_eq!(listed, every, "every built-in, once");
}
