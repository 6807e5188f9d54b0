//! The `/files/{name}` group: every variant serves a directory's files byte for byte, answers
//! HEAD with the size, refuses every name that is not a regular file in the directory (404),
//! refuses to start on a directory it cannot serve, and streams a 1 GiB file with its memory
//! flat. For the io_uring variants, one more check: the file's bytes are read through the
//! ring, never with `read(2)` or `pread(2)` (under `strace`).
//!
//! A variant's tests are one more line in its `tests/conformance.rs`:
//!
//! ```ignore
//! server_conformance::files_suite!(tokio_files, env!("CARGO_BIN_EXE_server-tokio"));
//! ```

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::checks::Start;
use crate::client::{mask_date, Client};
use crate::process::run_to_exit;
use crate::ServerProcess;

/// Expands to the `/files` checks, as `#[test]`s in a module `$name`, for the server binary
/// `$program` (with any extra arguments).
#[macro_export]
macro_rules! files_suite {
    ($name:ident, $program:expr $(, $arg:expr)* $(,)?) => {
        $crate::files_suite!(@module $name, $program, [$($arg),*];
            files_byte_exact, files_head_and_404s, files_traversal_refused, files_without_dir_are_404,
            files_deleted_during_a_run, files_sparse_gigabyte_keeps_rss_flat);
    };
    // As `suite!`'s own `@module`, with the checks of this module.
    (@module $name:ident, $program:expr, [$($arg:expr),*]; $($check:ident),*) => {
        mod $name {
            fn start(extra: &[&str]) -> $crate::ServerProcess {
                let mut args: Vec<&str> = vec![$($arg),*];
                args.extend_from_slice(extra);
                $crate::ServerProcess::start($program, &args)
            }
            $(
                #[test]
                fn $check() {
                    $crate::files::$check(&start);
                }
            )*
        }
    };
}

/// Expands to the check that the io_uring variant `$program` reads files through its ring
/// (needs `strace`; skipped, saying so, without it).
#[macro_export]
macro_rules! files_ring_suite {
    ($program:expr) => {
        #[test]
        fn files_read_through_the_ring() {
            if !$crate::tools::require(
                $crate::test_name!(files_read_through_the_ring),
                &[$crate::tools::STRACE],
            ) {
                return;
            }
            $crate::files::files_read_through_the_ring($program);
        }
    };
}

/// A directory of test files, removed when dropped, beside a file outside it that no request
/// may reach.
#[derive(Debug)]
pub struct Corpus {
    root: PathBuf,
    /// The directory the server is given.
    pub dir: PathBuf,
}

/// Sizes of the regular files every check can fetch, by name: below, at and across the
/// variants' 64 KiB chunks, and empty.
pub const FILES: &[(&str, usize)] =
    &[("small", 1000), ("chunk", 64 * 1024), ("big", 3 * 1024 * 1024 + 17), ("empty", 0), ("with space", 10)];

impl Corpus {
    /// Makes the directory, its files (deterministic bytes, different per file), a
    /// subdirectory, a FIFO, a symlink inside and one out of it, and a `secret` beside it.
    pub fn new(test: &str) -> Corpus {
        // Unique within the process too: one test binary runs several variants' checks at once.
        static MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let made = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let root = std::env::temp_dir().join(format!("rm-files-{test}-{}-{made}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dir = root.join("served");
        std::fs::create_dir_all(dir.join("subdir")).expect("make the test directory");
        for (name, size) in FILES {
            std::fs::write(dir.join(name), content(name, *size)).expect("write a test file");
        }
        std::fs::write(root.join("secret"), b"never served\n").expect("write the secret");
        std::os::unix::fs::symlink(root.join("secret"), dir.join("escape")).expect("symlink");
        std::os::unix::fs::symlink("small", dir.join("link")).expect("symlink");
        let fifo = std::ffi::CString::new(dir.join("fifo").as_os_str().as_encoded_bytes()).expect("path");
        // SAFETY: `fifo` is a NUL-terminated path that outlives the call.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0, "mkfifo");
        Corpus { root, dir }
    }

    /// The `--files DIR` arguments.
    pub fn arg(&self) -> &str {
        self.dir.to_str().expect("a UTF-8 temp path")
    }

    /// The bytes of file `name`, or `None` if it is not a regular file there (what the server
    /// must answer 404 to).
    pub fn file(&self, name: &[u8]) -> Option<Vec<u8>> {
        let name = std::str::from_utf8(name).ok()?;
        FILES.iter().find(|(n, _)| *n == name).map(|(n, size)| content(n, *size))
    }
}

impl Drop for Corpus {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Deterministic bytes for a test file: an xorshift stream seeded by its name, so two files
/// never share content and a chunk served from the wrong offset shows.
pub fn content(name: &str, size: usize) -> Vec<u8> {
    let mut state =
        name.bytes().fold(0x9E37_79B9_7F4A_7C15_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01B3));
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Runs `check` against a fresh server given `corpus`, then stops it cleanly.
fn with_files(start: Start<'_>, corpus: &Corpus, check: impl FnOnce(SocketAddr, &ServerProcess)) {
    let server = start(&["--files", corpus.arg()]);
    check(server.addr, &server);
    let mut client = Client::connect(server.addr);
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(client.response(false).status, 200, "server stopped serving");
    server.stop_cleanly();
}

/// Sends `requests` on one connection, half-closes, and asserts the answer is the spec's for
/// these files, byte for byte apart from `Date`.
fn assert_files_answer(addr: SocketAddr, corpus: &Corpus, requests: &[u8]) {
    let mut client = Client::connect(addr);
    client.send(requests);
    client.stream.shutdown(std::net::Shutdown::Write).expect("shutdown");
    let got = mask_date(&client.read_to_close().expect("read to close"));
    let want = server_spec::reference::answer_with_files(requests, &|name| corpus.file(name));
    assert!(
        got.len() == want.len(),
        "{} bytes, the spec says {}, for {:?}",
        got.len(),
        want.len(),
        shown(requests)
    );
    if let Some(at) = got.iter().zip(&want).position(|(a, b)| a != b) {
        panic!(
            "answer to {:?} differs from the spec at byte {at}:\n got: {:?}\nwant: {:?}",
            shown(requests),
            String::from_utf8_lossy(&got[at.saturating_sub(40)..(at + 40).min(got.len())]),
            String::from_utf8_lossy(&want[at.saturating_sub(40)..(at + 40).min(want.len())]),
        );
    }
}

fn shown(requests: &[u8]) -> String {
    String::from_utf8_lossy(requests).chars().take(300).collect()
}

fn request(method: &str, target: &str) -> String {
    format!("{method} {target} HTTP/1.1\r\nHost: t\r\n\r\n")
}

/// Every file, alone and pipelined on one connection with HEADs and other routes between
/// them, exactly as the spec's reference answers with the files' bytes.
pub fn files_byte_exact(start: Start<'_>) {
    let corpus = Corpus::new("exact");
    with_files(start, &corpus, |addr, _| {
        for (name, _) in FILES {
            let target = format!("/files/{}", name.replace(' ', "%20"));
            assert_files_answer(addr, &corpus, request("GET", &target).as_bytes());
            assert_files_answer(addr, &corpus, format!("GET {target} HTTP/1.0\r\n\r\n").as_bytes());
        }
        let pipelined = [
            request("GET", "/files/small"),
            request("GET", "/files/big"),
            request("HEAD", "/files/big"),
            request("GET", "/"),
            request("GET", "/files/missing"),
            request("GET", "/files/chunk"),
            request("GET", "/files/empty"),
            request("GET", "/bytes/100"),
        ]
        .concat();
        assert_files_answer(addr, &corpus, pipelined.as_bytes());
        let big = Client::connect(addr);
        let mut big = big;
        big.send(request("GET", "/files/big?x=1").as_bytes());
        let response = big.response(false);
        assert_eq!(response.header("Content-Length"), Some("3145745"));
        assert_eq!(response.header("Content-Type"), Some("application/octet-stream"));
        assert!(response.body == content("big", 3 * 1024 * 1024 + 17), "the big file's bytes");
    });
}

/// HEAD gives the size and no body; every name that is not a regular file in the directory is
/// 404 and leaves the connection usable; other methods are 405.
pub fn files_head_and_404s(start: Start<'_>) {
    let corpus = Corpus::new("head");
    with_files(start, &corpus, |addr, _| {
        let mut client = Client::connect(addr);
        client.send(request("HEAD", "/files/big").as_bytes());
        let head = client.response(true);
        assert_eq!((head.status, head.header("Content-Length")), (200, Some("3145745")));
        assert!(head.body.is_empty());
        for name in ["missing", "subdir", "fifo", "link", "escape", "", "..", "."] {
            client.send(request("GET", &format!("/files/{name}")).as_bytes());
            let response = client.response(false);
            assert_eq!(response.status, 404, "/files/{name}");
            assert_eq!(response.body, b"404 Not Found\r\n", "/files/{name}");
        }
        client.send(request("POST", "/files/small").as_bytes());
        let refused = client.response(false);
        assert_eq!((refused.status, refused.header("Allow")), (405, Some("GET, HEAD")));
        client.send(request("GET", "/files/small").as_bytes());
        assert!(client.response(false).body == content("small", 1000), "the connection still serves");
    });
}

/// No spelling of a path out of the directory reaches the file beside it.
pub fn files_traversal_refused(start: Start<'_>) {
    let corpus = Corpus::new("traversal");
    with_files(start, &corpus, |addr, _| {
        let mut client = Client::connect(addr);
        for target in [
            "/files/../secret",
            "/files/..%2Fsecret",
            "/files/%2e%2e%2fsecret",
            "/files/%2E%2E/secret",
            "/files/subdir/../../secret",
            "/files/small%00",
            "/files/%00",
            "/files//etc/passwd",
            "/files/%2Fetc%2Fpasswd",
            "http://t/files/..%2fsecret",
        ] {
            client.send(request("GET", target).as_bytes());
            let response = client.response(false);
            assert_eq!(response.status, 404, "{target}");
            assert!(!response.raw.windows(12).any(|w| w == b"never served"), "{target} leaked the secret");
        }
    });
}

/// Without `--files`, every file is 404; with a directory it cannot serve, the server refuses
/// to start, saying why in one line.
pub fn files_without_dir_are_404(start: Start<'_>) {
    let server = start(&[]);
    let mut client = Client::connect(server.addr);
    client.send(request("GET", "/files/small").as_bytes());
    assert_eq!(client.response(false).status, 404);
    let program = std::fs::read_link(format!("/proc/{}/exe", server.pid())).expect("the server's program");
    server.stop_cleanly();
    let program = program.to_str().expect("a UTF-8 program path");
    let corpus = Corpus::new("refusal");
    for (dir, reason) in [
        ("/nonexistent/runtime-matrix-files", "No such file or directory"),
        (corpus.dir.join("small").to_str().expect("path"), "Not a directory"),
    ] {
        let (status, stderr) = run_to_exit(program, &["--files", dir], &[]);
        assert_eq!(status.code(), Some(1), "exit status {status}, stderr: {stderr}");
        let lines: Vec<&str> = stderr.lines().filter(|line| !line.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "one line expected, got: {stderr}");
        assert!(
            lines[0].contains(&format!("cannot serve files from {dir}")) && lines[0].contains(reason),
            "{stderr}"
        );
    }
}

/// A file deleted between two requests is 404 on the same connection, and the server goes on.
pub fn files_deleted_during_a_run(start: Start<'_>) {
    let corpus = Corpus::new("deleted");
    with_files(start, &corpus, |addr, _| {
        let mut client = Client::connect(addr);
        client.send(request("GET", "/files/small").as_bytes());
        assert_eq!(client.response(false).status, 200);
        std::fs::remove_file(corpus.dir.join("small")).expect("delete the file");
        client.send(request("GET", "/files/small").as_bytes());
        assert_eq!(client.response(false).status, 404);
        client.send(request("GET", "/files/chunk").as_bytes());
        assert!(client.response(false).body == content("chunk", 64 * 1024), "the next file is served");
    });
}

/// Peak resident memory of process `pid` (`VmHWM`), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/PID/status");
    let line = status.lines().find(|line| line.starts_with("VmHWM:")).expect("a VmHWM line");
    line.split_whitespace().nth(1).and_then(|kib| kib.parse().ok()).expect("VmHWM in kB")
}

/// The size of the sparse file: 1 GiB, streamed, never loaded.
const SPARSE: u64 = 1 << 30;

/// A 1 GiB sparse file is served whole (every byte zero, the length exact) while the server's
/// peak resident memory grows by at most 16 MiB.
pub fn files_sparse_gigabyte_keeps_rss_flat(start: Start<'_>) {
    let corpus = Corpus::new("sparse");
    let sparse = std::fs::File::create(corpus.dir.join("sparse")).expect("create the sparse file");
    sparse.set_len(SPARSE).expect("make it 1 GiB of hole");
    with_files(start, &corpus, |addr, server| {
        // Once warm (a small file served), the peak so far is the baseline.
        let mut client = Client::connect(addr);
        client.send(request("GET", "/files/chunk").as_bytes());
        assert_eq!(client.response(false).status, 200);
        let before = peak_rss_kib(server.pid());
        client.send(request("GET", "/files/sparse").as_bytes());
        let mut head = Vec::new();
        let mut byte = [0; 1];
        while !head.ends_with(b"\r\n\r\n") {
            client.stream.read_exact(&mut byte).expect("the head");
            head.push(byte[0]);
        }
        assert!(String::from_utf8_lossy(&head).contains(&format!("Content-Length: {SPARSE}\r\n")));
        let started = Instant::now();
        let mut left = SPARSE;
        let mut buf = vec![0; 1 << 20];
        while left > 0 {
            let want = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
            let n = client.stream.read(&mut buf[..want]).expect("the body");
            assert_ne!(n, 0, "closed with {left} bytes to go");
            assert!(buf[..n].iter().all(|b| *b == 0), "a hole reads as zeros");
            left -= n as u64;
        }
        let growth = peak_rss_kib(server.pid()).saturating_sub(before);
        assert!(growth <= 16 * 1024, "peak RSS grew {growth} KiB serving 1 GiB (at most 16 MiB)");
        assert!(started.elapsed() < Duration::from_secs(120));
        client.send(request("GET", "/files/small").as_bytes());
        assert!(client.response(false).body == content("small", 1000), "the connection goes on");
    });
}

/// Under `strace -f -y`, serving files makes no `read`/`pread`-family call on a file of the
/// served directory (the reads went through the ring), while the trace did see the file being
/// opened (so it was watching).
pub fn files_read_through_the_ring(program: &str) {
    let corpus = Corpus::new("ring");
    let server = ServerProcess::start(program, &["--files", corpus.arg(), "--workers", "1"]);
    let trace = corpus.root.join("strace.out");
    let (strace, _log) = attach_strace(server.pid(), &trace);
    let mut client = Client::connect(server.addr);
    for name in ["small", "big", "chunk"] {
        client.send(request("GET", &format!("/files/{name}")).as_bytes());
        let response = client.response(false);
        assert!(response.body == corpus.file(name.as_bytes()).expect("a test file"), "{name}'s bytes");
    }
    drop(client);
    let text = detach(strace, &trace);
    server.stop_cleanly();
    let dir = corpus.dir.to_str().expect("path");
    let opened = text.lines().filter(|line| line.contains("open") && line.contains("\"big\"")).count();
    assert!(opened >= 1, "strace never saw `big` opened, so it proves nothing:\n{text}");
    let reads: Vec<&str> = text
        .lines()
        .filter(|line| {
            let call = line.split_once(' ').map_or(*line, |(_, rest)| rest.trim_start());
            ["read(", "pread64(", "readv(", "preadv(", "preadv2("].iter().any(|c| call.starts_with(c))
                && line.contains(&format!("<{dir}/"))
        })
        .collect();
    assert!(reads.is_empty(), "file reads by system call, not through the ring:\n{}", reads.join("\n"));
}

/// Attaches `strace -f -y` to every thread of `pid`, tracing opens and reads into `out`;
/// returns once it is attached.
fn attach_strace(pid: u32, out: &Path) -> (std::process::Child, PathBuf) {
    let log = out.with_extension("log");
    let mut child = Command::new("strace")
        .args(["-f", "-y", "-qq", "-e", "trace=openat,openat2,read,pread64,readv,preadv,preadv2", "-o"])
        .arg(out)
        .args(["-p", &pid.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("strace log"))
        .spawn()
        .expect("start strace");
    // strace has attached once the threads show it as their tracer.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let traced = std::fs::read_dir(format!("/proc/{pid}/task"))
            .expect("tasks")
            .filter_map(Result::ok)
            .all(|task| {
                std::fs::read_to_string(task.path().join("status")).is_ok_and(|status| {
                    status.lines().any(|l| l.starts_with("TracerPid:") && !l.ends_with("\t0"))
                })
            });
        if traced {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("strace exited ({status}): {}", std::fs::read_to_string(&log).unwrap_or_default());
        }
        assert!(Instant::now() < deadline, "strace did not attach to {pid}");
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, log)
}

/// Detaches strace (SIGINT) and returns its trace.
fn detach(mut strace: std::process::Child, trace: &Path) -> String {
    // Give strace a moment to write out the last calls.
    std::thread::sleep(Duration::from_millis(200));
    let pid = libc::pid_t::try_from(strace.id()).expect("pid");
    // SAFETY: kill(2) has no memory-safety preconditions; the pid is our own child's.
    unsafe { libc::kill(pid, libc::SIGINT) };
    let _ = strace.wait();
    let mut text = String::new();
    std::fs::File::open(trace).and_then(|mut f| f.read_to_string(&mut text)).expect("read the trace");
    let _ = std::io::stdout().flush();
    text
}
