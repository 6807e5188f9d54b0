//! Files from disk, end to end: `harness files make` writes the same bytes every time, a
//! matrix's files mistakes are named at once with their positions, a cold sweep drops the
//! corpus before every run and checks each variant's bytes first, a server whose bytes differ
//! is refused, and a file deleted during a run is 404s while the run goes on.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use harness::corpus;
use server_conformance::test_name;
use server_conformance::tools::{require, PYTHON3};
use support::{cells_of, free_port, results_json, text, Scratch, HARNESS};

/// `harness files make DIR ARGS…`, which must succeed.
fn make(dir: &Path, args: &[&str]) -> String {
    let output =
        Command::new(HARNESS).args(["files", "make"]).arg(dir).args(args).output().expect("files make");
    assert!(output.status.success(), "{}\n{}", text(&output.stdout), text(&output.stderr));
    text(&output.stdout)
}

#[test]
fn files_make_writes_the_same_bytes_every_time() {
    let scratch = Scratch::new();
    let dir = scratch.path().join("corpus");
    let said = make(&dir, &["--sizes", "4KiB,100000", "--count", "3"]);
    assert!(said.contains("3 files of each of 4KiB, 100000B"), "{said}");
    let first: Vec<(String, Vec<u8>)> = ["4KiB-0000", "4KiB-0002", "100000B-0001"]
        .iter()
        .map(|name| (name.to_string(), std::fs::read(dir.join(name)).expect("a corpus file")))
        .collect();
    assert_eq!(first[0].1, corpus::content("4KiB-0000", 4096));
    assert_eq!(first[2].1, corpus::content("100000B-0001", 100_000));
    assert_ne!(first[0].1[..4096], first[1].1[..4096], "no two files alike");
    // A damaged file is rewritten; the others are left as they are.
    std::fs::write(dir.join("4KiB-0002"), b"damaged").expect("damage");
    make(&dir, &["--sizes", "4KiB,100000", "--count", "3"]);
    for (name, bytes) in &first {
        assert_eq!(&std::fs::read(dir.join(name)).expect("a corpus file"), bytes, "{name}");
    }
    let bad = Command::new(HARNESS)
        .args(["files", "make"])
        .arg(&dir)
        .args(["--sizes", "4KB", "--count", "1"])
        .output();
    let bad = bad.expect("files make");
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("\"4KB\" is not a size"), "{}", text(&bad.stderr));
}

#[test]
fn files_mistakes_are_named_at_once() {
    let scratch = Scratch::new();
    let dir = scratch.path().join("corpus");
    make(&dir, &["--sizes", "4KiB", "--count", "2"]);
    let dir = dir.display();
    let source = format!(
        "[sweep]\nkeep_alive = true\n\n\
         [[scenario]]\nname = \"a\"\nfiles = {{ dir = \"/nonexistent/corpus\", size = \"4KiB\" }}\n\n\
         [[scenario]]\nname = \"b\"\nfiles = {{ dir = \"{dir}\", size = \"4KB\" }}\ncache = \"tepid\"\n\n\
         [[scenario]]\nname = \"c\"\ncache = \"cold\"\n\n\
         [[scenario]]\nname = \"d\"\nfiles = {{ dir = \"{dir}\", size = \"4KiB\", count = 5 }}\n\n\
         [[scenario]]\nname = \"e\"\nfiles = {{ dir = \"{dir}\", size = \"4KiB\", sise = 1 }}\npath = \"/\"\n\n\
         [[variant]]\nname = \"tokio\"\n"
    );
    let mistakes = harness::matrix::parse("m.toml", &source, 2).expect_err("mistakes").to_string();
    for expected in [
        "m.toml:6:17: files.dir: cannot read \"/nonexistent/corpus\"",
        "harness files make /nonexistent/corpus --sizes 4KiB,64KiB,1MiB,16MiB --count N",
        "m.toml:10:",
        "files.size: \"4KB\" is not a size",
        "m.toml:11:9: cache must be \"warm\" (read once before each run) or \"cold\" (dropped from the page cache before each run), not \"tepid\"",
        "m.toml:15:9: cache applies to a scenario with files",
        "has 2 files of 4KiB, 5 wanted: `harness files make",
        "unknown key `sise` in files",
        "give path (\"/\") or files, not both",
    ] {
        assert!(mistakes.contains(expected), "missing {expected:?} in:\n{mistakes}");
    }
    // Through the command: exit 2, every mistake printed.
    let (output, _) = scratch.run(&source, &[]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("cache applies to a scenario with files"));
}

#[test]
fn a_cold_sweep_drops_the_corpus_before_every_run_and_checks_the_bytes_first() {
    let scratch = Scratch::new();
    let dir = scratch.path().join("corpus");
    make(&dir, &["--sizes", "64KiB", "--count", "40"]);
    let matrix = format!(
        "[sweep]\nrequests = 60\nconcurrency = [2]\nkeep_alive = true\nrepeat = 2\n\n\
         [[scenario]]\nname = \"cold\"\nfiles = {{ dir = \"{}\", size = \"64KiB\" }}\ncache = \"cold\"\n\n\
         [[scenario]]\nname = \"warm\"\nfiles = {{ dir = \"{}\", size = \"64KiB\", count = 10 }}\n\n\
         [[variant]]\nname = \"floor-uring\"\n\n[[variant]]\nname = \"tokio\"\n",
        dir.display(),
        dir.display()
    );
    let (output, out) = scratch.run(&matrix, &[]);
    assert!(output.status.success(), "{}\n{}", text(&output.stdout), text(&output.stderr));
    let json = results_json(&out);
    assert_eq!(json["meta"]["scenarios"][0]["files"]["cache"], "cold");
    assert_eq!(json["meta"]["scenarios"][1]["files"]["count"], 10);
    for variant in ["floor-uring", "tokio"] {
        let command =
            json["meta"]["variants"].as_array().expect("variants").iter().find(|v| v["name"] == variant);
        let command = command.expect("the variant")["command"].to_string();
        assert!(command.contains("\"--files\""), "{command}");
        for cell in cells_of(&json, variant) {
            assert_eq!(
                (cell["complete"].as_u64(), cell["failed"].as_u64(), cell["non_2xx"].as_u64()),
                (Some(60), Some(0), Some(0)),
                "{cell}"
            );
            let bytes = cell["total_transferred_bytes"].as_u64().expect("bytes");
            assert!(bytes > 60 * 65536, "every body whole: {bytes}");
            let notes = cell["notes"].to_string();
            match cell["scenario"].as_str() {
                Some("cold") => assert!(notes.contains("dropped from the page cache before each of 2 runs; mincore then found at most 0 of their 640 pages"), "{notes}"),
                _ => assert!(notes.contains("read whole before each of 2 runs; mincore then found at least 160 of their 160 pages"), "{notes}"),
            }
            assert!(!notes.contains("WARNING"), "{notes}");
        }
    }
    let report = std::fs::read_to_string(support::results_dir(&out).join("report.md")).expect("report");
    assert!(report.contains("files: 40 of 64KiB from"), "{report}");
}

/// A server whose files differ from the corpus (a Python file server with other bytes under
/// the same names) is refused before it is measured, saying where its bytes differ.
#[test]
fn a_server_whose_bytes_differ_is_refused() {
    if !require(test_name!(a_server_whose_bytes_differ_is_refused), &[PYTHON3]) {
        return;
    }
    let scratch = Scratch::new();
    let dir = scratch.path().join("corpus");
    make(&dir, &["--sizes", "4KiB", "--count", "4"]);
    let other = scratch.path().join("other");
    std::fs::create_dir_all(other.join("files")).expect("mkdir");
    for index in 0..4 {
        let name = corpus::file_name(4096, index);
        let mut bytes = corpus::content(&name, 4096);
        bytes[4000] ^= 0xff;
        std::fs::write(other.join("files").join(name), bytes).expect("write");
    }
    let port = free_port();
    let matrix = format!(
        "[sweep]\nrequests = 10\nconcurrency = [1]\n\n[[scenario]]\nname = \"f\"\nfiles = {{ dir = \"{}\", size = \"4KiB\" }}\n\n\
         [[variant]]\nname = \"other-bytes\"\ncommand = [\"python3\", \"-m\", \"http.server\", \"{{port}}\", \"--bind\", \"127.0.0.1\", \"--directory\", \"{}\"]\nport = {port}\nverify = \"body\"\n\n\
         [[variant]]\nname = \"smol\"\n",
        dir.display(),
        other.display()
    );
    let (output, out) = scratch.run(&matrix, &[]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{}", text(&output.stderr));
    let json = results_json(&out);
    let problem = json["problems"].to_string();
    assert!(
        problem.contains("other-bytes")
            && problem.contains("refused before measuring")
            && problem.contains("differs from the spec's")
            && problem.contains("at byte 4000"),
        "{problem}"
    );
    assert_eq!(cells_of(&json, "smol").len(), 1, "the right server is measured");
}

/// A file deleted while a run requests it: its requests are answered 404 (non-2xx) from then
/// on, the server goes on serving the others, and the run completes every request.
#[test]
fn a_file_deleted_during_a_run_is_404_and_the_run_goes_on() {
    let scratch = Scratch::new();
    let dir = scratch.path().join("corpus");
    make(&dir, &["--sizes", "4KiB", "--count", "2"]);
    let mut server = Command::new(HARNESS)
        .args(["serve", "tokio", "--workers", "1", "--port", "0", "--files"])
        .arg(&dir)
        .stdout(Stdio::piped())
        .spawn()
        .expect("harness serve");
    let mut line = String::new();
    BufReader::new(server.stdout.take().expect("stdout")).read_line(&mut line).expect("its line");
    let addr = server_spec::cli::parse_listening_line(&line).expect("a listening line");
    let url = format!("http://{addr}/");
    let doomed = dir.join("4KiB-0001");
    let deleter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        std::fs::remove_file(doomed).expect("delete the file mid-run");
    });
    let output = Command::new(HARNESS)
        .args([
            "load",
            "-k",
            "-c",
            "2",
            "-n",
            "200000",
            "--mix",
            "/files/4KiB-0000=1,/files/4KiB-0001=1",
            "--json",
            &url,
        ])
        .output()
        .expect("harness load");
    deleter.join().expect("deleter");
    let _ = server.kill();
    let _ = server.wait();
    let cell: serde_json::Value = serde_json::from_slice(&output.stdout).expect("a cell in JSON");
    assert_eq!(cell["complete"].as_u64(), Some(200_000), "every request answered: {cell}");
    let non_2xx = cell["non_2xx"].as_u64().expect("non_2xx");
    assert!(non_2xx > 0, "the deleted file's requests are 404s: {cell}");
    let paths = cell["paths"].as_array().expect("paths");
    assert_eq!(paths[0]["non_2xx"], 0, "the other file is still served");
    assert_eq!(paths[1]["non_2xx"].as_u64(), Some(non_2xx));
}
