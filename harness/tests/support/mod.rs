//! Helpers for the harness's end-to-end tests: matrix files, runs of the harness binary,
//! and a tiny external server in Python that can misbehave on purpose.
//!
//! A test that runs an outside program, itself or through a matrix (the tiny server runs on
//! `python3`), starts with `server_conformance::tools::require`, naming it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const HARNESS: &str = env!("CARGO_BIN_EXE_harness");

/// A tiny external HTTP server (a test using it requires `tools::PYTHON3`):
/// `tiny_server.py PORT LIMIT BODY [MODE]` answers every request
/// with BODY and exits with status 3 after LIMIT (0 = never) connections; it prints the port it
/// bound (PORT 0 picks a free one). MODE:
/// - `close` (default): HTTP/1.1, `Content-Length`, `Connection: close`, then close;
/// - `extra`: like the classic exercise's servers: HTTP/1.0, `Content-Length`, four more
///   bytes (`\r\n\r\n`), then close;
/// - `nolength`: HTTP/1.0 without `Content-Length`; the body ends with the close;
/// - `noclose`: HTTP/1.0 with `Content-Length`, then keeps the connection open (for 30 s);
/// - `silent`: accepts and never answers;
/// - `stall`: answers LIMIT connections, then holds every later one without answering (and
///   does not exit).
pub const TINY_SERVER: &str = r#"
import os, socket, sys, threading, time
port, limit, body = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].encode()
mode = sys.argv[4] if len(sys.argv) > 4 else "close"
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", port))
server.listen(128)
print(server.getsockname()[1], flush=True)
held = []
served = 0
while True:
    client, _ = server.accept()
    if mode == "silent" or (mode == "stall" and served >= limit):
        held.append(client)
        continue
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = client.recv(4096)
        if not chunk:
            break
        data += chunk
    if mode == "extra":
        answer = b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body + b"\r\n\r\n"
    elif mode == "nolength":
        answer = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n" + body
    elif mode == "noclose":
        answer = b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    else:
        answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body
    try:
        client.sendall(answer)
    except OSError:
        pass
    if mode == "noclose":
        held.append(client)
    else:
        client.close()
    served += 1
    if limit and served >= limit and mode != "stall":
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

    /// The tiny server's script.
    pub fn script(&self) -> PathBuf {
        self.path().join("tiny_server.py")
    }

    /// A `[[variant]]` running the tiny server on `port` (the test requires `tools::PYTHON3`).
    pub fn tiny_variant(&self, name: &str, port: u16, limit: u32, body: &str, verify: &str) -> String {
        self.tiny_variant_mode(name, port, limit, body, verify, "close")
    }

    /// A `[[variant]]` running the tiny server on `port` in `mode` (the test requires
    /// `tools::PYTHON3`).
    pub fn tiny_variant_mode(
        &self,
        name: &str,
        port: u16,
        limit: u32,
        body: &str,
        verify: &str,
        mode: &str,
    ) -> String {
        format!(
            "[[variant]]\nname = \"{name}\"\ncommand = [\"python3\", \"{}\", \"{{port}}\", \"{limit}\", \"{body}\", \"{mode}\"]\nport = {port}\nverify = \"{verify}\"\n",
            self.script().display()
        )
    }

    /// Writes `matrix.toml` and returns its path.
    pub fn matrix(&self, matrix: &str) -> PathBuf {
        let file = self.path().join("matrix.toml");
        std::fs::write(&file, matrix).expect("write matrix");
        file
    }

    /// The results parent directory used by [`Scratch::run`] and [`Scratch::spawn`].
    pub fn out(&self) -> PathBuf {
        self.path().join("results")
    }

    /// Writes `matrix.toml` and runs `harness run` on it with `--out` in this directory.
    pub fn run(&self, matrix: &str, extra: &[&str]) -> (Output, PathBuf) {
        self.run_with_env(matrix, extra, &[])
    }

    /// [`Scratch::run`] with environment variables.
    pub fn run_with_env(&self, matrix: &str, extra: &[&str], env: &[(&str, &str)]) -> (Output, PathBuf) {
        let file = self.matrix(matrix);
        let output = Command::new(HARNESS)
            .arg(&file)
            .arg("--out")
            .arg(self.out())
            .args(extra)
            .envs(env.iter().copied())
            .env("NO_COLOR", "1")
            .output()
            .expect("run harness");
        (output, self.out())
    }

    /// Starts `harness run` on `matrix` in the background (stdout and stderr piped).
    pub fn spawn(&self, matrix: &str) -> Child {
        let file = self.matrix(matrix);
        Command::new(HARNESS)
            .arg(&file)
            .arg("--out")
            .arg(self.out())
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start harness")
    }
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    free_ports(1)[0]
}

/// The single results directory under `out`.
pub fn results_dir(out: &Path) -> PathBuf {
    // `latest` links to the newest stamped directory; the stamped one is the run.
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(out)
        .expect("results dir")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| {
            path.file_name()
                .is_some_and(|name| name != harness::export::LATEST && name != harness::baselines::DIR)
        })
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.remove(0)
}

/// `results.json` of the single results directory under `out`.
pub fn results_json(out: &Path) -> serde_json::Value {
    let path = results_dir(out).join("results.json");
    serde_json::from_str(&std::fs::read_to_string(&path).expect("read results.json"))
        .expect("results.json is JSON")
}

/// The cells of `variant` in `json`.
pub fn cells_of<'a>(json: &'a serde_json::Value, variant: &str) -> Vec<&'a serde_json::Value> {
    json["cells"].as_array().expect("cells").iter().filter(|c| c["variant"] == variant).collect()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs a command and returns its stdout; panics if it cannot run (a test requires an outside
/// program before it runs it: see `server_conformance::tools`).
pub fn run_tool(program: &str, args: &[&str]) -> String {
    let output =
        Command::new(program).args(args).output().unwrap_or_else(|err| panic!("cannot run {program}: {err}"));
    // What the tool said on stderr (ab's reason for stopping early, say) comes after its
    // report, so a failed assertion on the report shows why.
    let said = text(&output.stderr);
    if said.trim().is_empty() {
        text(&output.stdout)
    } else {
        format!("{}\n[{program} exited {}; stderr:]\n{said}", text(&output.stdout), output.status)
    }
}

/// Waits (at most `within`) until something accepts on `port`.
pub fn wait_for_port(port: u16, within: Duration) {
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < within, "nothing listened on {port} within {within:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `signal` to process `pid`.
pub fn signal(pid: u32, signal: i32) {
    // SAFETY: kill(2) has no memory-safety preconditions; the pid is a child of this test.
    unsafe {
        libc::kill(pid as libc::pid_t, signal);
    }
}

/// The pids of processes whose command line contains `needle` (other than this test).
pub fn processes_matching(needle: &str) -> Vec<u32> {
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|cmdline| String::from_utf8_lossy(&cmdline).replace('\0', " ").contains(needle))
                .unwrap_or(false)
        })
        .collect()
}

/// Waits (at most `within`) for `child` to exit; returns its status and how long it took.
pub fn wait_with_timeout(child: &mut Child, within: Duration) -> (std::process::ExitStatus, Duration) {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return (status, started.elapsed());
        }
        if started.elapsed() > within {
            let _ = child.kill();
            panic!("the harness did not exit within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// CPUs online on this machine.
pub fn available_cpus() -> usize {
    harness::affinity::online_cpus()
}

/// How many connections to `port` on loopback are established (a measurement in progress
/// holds some; verification's are closed again at once).
pub fn established_to(port: u16) -> usize {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .flat_map(|text| {
            text.lines()
                .skip(1)
                .filter(|line| {
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    let remote = fields.get(2).and_then(|r| r.rsplit(':').next());
                    let remote_port = remote.and_then(|p| u16::from_str_radix(p, 16).ok());
                    fields.get(3) == Some(&"01") && remote_port == Some(port)
                })
                .map(|_| ())
                .collect::<Vec<_>>()
        })
        .count()
}

/// Waits (at most `within`) until at least `count` connections to `port` are established:
/// the harness is measuring the server on it.
pub fn wait_for_measuring(port: u16, count: usize, within: Duration) {
    let started = Instant::now();
    while established_to(port) < count {
        assert!(started.elapsed() < within, "no measurement on port {port} within {within:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A numeric field of an `ab` report, e.g. `ab_field(&report, "Total transferred:")`.
pub fn ab_field<T: std::str::FromStr>(report: &str, name: &str) -> T {
    report
        .lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{report}"))
}

/// Runs `ab -q -n N -c C URL` and returns its report (the test requires `tools::AB`).
pub fn ab(requests: u64, concurrency: usize, url: &str) -> String {
    run_tool("ab", &["-q", "-n", &requests.to_string(), "-c", &concurrency.to_string(), url])
}

/// Distinct ports that were free a moment ago, none handed out before in this test process:
/// the tests of one binary run at once, and each binding port 0 and letting it go again can be
/// given the port another test has just been given (then one test's server fails to bind and
/// the other's answers its client).
pub fn free_ports(n: usize) -> Vec<u16> {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    // Held until all are chosen, so the kernel does not give the same one twice here either.
    let mut held = Vec::new();
    while held.len() < n {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        if !given.contains(&port) {
            given.push(port);
            held.push((port, listener));
        }
    }
    held.into_iter().map(|(port, _)| port).collect()
}

/// Waits (at most `within`) until `child` itself listens on `port`; panics saying who does if
/// `child` exits first (it could not bind) or another program holds the port.
pub fn wait_for_own_listener(child: &mut Child, port: u16, within: Duration) {
    let started = Instant::now();
    let pid = child.id() as i32;
    loop {
        let listeners = harness::target::sockets::listening_inodes(port);
        let own = harness::target::sockets::socket_inodes_of(pid);
        if !listeners.is_empty() && listeners.iter().all(|inode| own.contains(inode)) {
            return;
        }
        // Who is there instead is worked out only for the message.
        let others = || harness::target::sockets::foreign_listeners(port, &[pid]);
        if let Some(status) = child.try_wait().expect("wait") {
            panic!("pid {pid} exited ({status}) before listening on {port}; listening there: {:?}", others());
        }
        if started.elapsed() > within {
            let _ = child.kill();
            panic!("pid {pid} not alone on {port} within {within:?}: {:?}", others());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
