//! Helpers for the harness's end-to-end tests: matrix files, runs of the harness binary,
//! and a tiny external server in Python.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const HARNESS: &str = env!("CARGO_BIN_EXE_harness");

/// A tiny external HTTP server: answers every request with `BODY` (argv 3) and closes;
/// exits with status 3 after LIMIT (argv 2, 0 = never) connections.
pub const TINY_SERVER: &str = r#"
import os, socket, sys
port, limit, body = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].encode()
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", port))
server.listen(128)
served = 0
while True:
    client, _ = server.accept()
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = client.recv(4096)
        if not chunk:
            break
        data += chunk
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
    try:
        client.sendall(head + body)
    except OSError:
        pass
    client.close()
    served += 1
    if limit and served >= limit:
        os._exit(3)
"#;

/// A scratch directory with the tiny server's script in it.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Scratch {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("tiny_server.py"), TINY_SERVER).expect("write script");
        Scratch { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A `[[variant]]` running the tiny server on `port`.
    pub fn tiny_variant(&self, name: &str, port: u16, limit: u32, body: &str, verify: &str) -> String {
        let script = self.path().join("tiny_server.py");
        format!(
            "[[variant]]\nname = \"{name}\"\ncommand = [\"python3\", \"{}\", \"{{port}}\", \"{limit}\", \"{body}\"]\nport = {port}\nverify = \"{verify}\"\n",
            script.display()
        )
    }

    /// Writes `matrix.toml` and runs `harness run` on it with `--out` in this directory.
    pub fn run(&self, matrix: &str, extra: &[&str]) -> (Output, PathBuf) {
        let file = self.path().join("matrix.toml");
        std::fs::write(&file, matrix).expect("write matrix");
        let out = self.path().join("results");
        let output = Command::new(HARNESS)
            .arg(&file)
            .arg("--out")
            .arg(&out)
            .args(extra)
            .env("NO_COLOR", "1")
            .output()
            .expect("run harness");
        (output, out)
    }
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// The single results directory under `out`.
pub fn results_dir(out: &Path) -> PathBuf {
    let mut dirs: Vec<PathBuf> =
        std::fs::read_dir(out).expect("results dir").map(|entry| entry.expect("entry").path()).collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.remove(0)
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs a command and returns its stdout; panics (naming the package) if it cannot run.
pub fn run_tool(program: &str, args: &[&str], package: &str) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("cannot run {program} ({err}): apt-get install {package}"));
    text(&output.stdout)
}
