//! `harness serve` runs every registered variant, and `harness list` names them all.

use std::process::Command;

use server_conformance::{client, ServerProcess};

const HARNESS: &str = env!("CARGO_BIN_EXE_harness");

#[test]
fn list_names_every_variant() {
    let output = Command::new(HARNESS).arg("list").output().unwrap();
    assert!(output.status.success());
    let listed = String::from_utf8(output.stdout).unwrap();
    for variant in harness::registry::VARIANTS {
        assert!(listed.contains(variant.name), "{} missing from:\n{listed}", variant.name);
    }
}

#[test]
fn serve_runs_every_variant() {
    for variant in harness::registry::VARIANTS {
        let server = ServerProcess::start(HARNESS, &["serve", variant.name, "--workers", "2"]);
        let response = client::exchange(server.addr, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(response.body, b"Hello, world!\n", "{}", variant.name);
        server.stop_cleanly();
    }
}

#[test]
fn serve_refuses_an_unknown_variant() {
    let output = Command::new(HARNESS).args(["serve", "nope"]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no variant `nope`"), "{stderr}");
}
