//! The outside programs tests run (`ab`, `curl`, `python3`, …), and what a test does when one
//! is missing: it is skipped, saying so at once and in a summary at the end of the run, or —
//! with `RUNTIME_MATRIX_STRICT=1`, as in CI and in `scripts/test` when everything is installed —
//! it fails, naming what to install. A test that runs one starts with:
//!
//! ```ignore
//! if !require(test_name!(the_example_servers_pass), &[PYTHON3, AB]) {
//!     return;
//! }
//! ```
//!
//! Indirect use counts: a matrix with the tiny Python server or `examples/python` needs
//! [`PYTHON3`], a network-namespace bed needs [`IP`].
//!
//! Every skip is also appended to `$TMPDIR/runtime-matrix-skipped-PID.txt` (`/tmp` by
//! default), PID being the `cargo test` process that runs every test binary of one run; each
//! binary that skipped something prints the summary of that file so far as it exits, and
//! `scripts/test` prints the whole run's after cargo is done, then removes the file.
//!
//! To see it by hand, hide some programs behind a PATH of links to everything else (cargo
//! stays on PATH; build first, so the build itself sees the usual PATH):
//!
//! ```sh
//! cargo test --workspace --no-run
//! hidden=$(mktemp -d)
//! for f in /usr/bin/* /usr/sbin/*; do
//!   case ${f##*/} in ab|nginx|chromium|sshd) ;; *) ln -sf "$f" "$hidden/" ;; esac
//! done
//! PATH=~/.cargo/bin:$hidden cargo test --workspace                          # passes, skipping
//! PATH=~/.cargo/bin:$hidden RUNTIME_MATRIX_STRICT=1 cargo test --workspace  # fails, naming them
//! ```
//!
//! (`sshd` is still found in `/usr/sbin`, where the hosts test runs it from whatever PATH says.)

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};

/// An outside program a test runs, and the Debian package that installs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tool {
    /// The name the test runs it by.
    pub program: &'static str,
    /// The Debian package with it (`apt-get install PACKAGE`).
    pub package: &'static str,
    /// Directories searched after PATH: only for a program the tests run by its full path from
    /// there, so that a PATH without them (a user's on Debian) does not skip the test.
    pub also_in: &'static [&'static str],
}

/// ApacheBench: the conformance suite's `ab_sweep` and the cross-checks against ab.
pub const AB: Tool = Tool { program: "ab", package: "apache2-utils", also_in: &[] };
/// The conformance suite's `curl_agrees`.
pub const CURL: Tool = Tool { program: "curl", package: "curl", also_in: &[] };
/// The tiny test server, the example servers in `examples/python`, the `/proc` sampler tests.
pub const PYTHON3: Tool = Tool { program: "python3", package: "python3", also_in: &[] };
/// The reference variant (`harness/tests/reference.rs`).
pub const NGINX: Tool = Tool { program: "nginx", package: "nginx-light", also_in: &[] };
/// Renders the HTML report headless (`harness/tests/browser.rs`).
pub const CHROMIUM: Tool = Tool { program: "chromium", package: "chromium", also_in: &[] };
/// Makes the network namespaces of the hosts tests.
pub const IP: Tool = Tool { program: "ip", package: "iproute2", also_in: &[] };
/// The throwaway SSH server of the SSH launcher test, run by its full path.
pub const SSHD: Tool =
    Tool { program: "sshd", package: "openssh-server", also_in: &["/usr/sbin", "/usr/local/sbin"] };
/// The SSH launcher itself.
pub const SSH: Tool = Tool { program: "ssh", package: "openssh-client", also_in: &[] };
/// Makes the SSH launcher test's throwaway keys.
pub const SSH_KEYGEN: Tool = Tool { program: "ssh-keygen", package: "openssh-client", also_in: &[] };
/// Drops packets and resets connections on a network-namespace bed (`harness/tests/faults.rs`,
/// `scripts/netns-testbed.sh --drop/--reset`); run inside the namespace, by `ip netns exec`,
/// which looks in PATH, so also searched where Debian installs it.
pub const IPTABLES: Tool =
    Tool { program: "iptables", package: "iptables", also_in: &["/usr/sbin", "/sbin"] };

/// Records a server's stacks for its flame graph (`profile = true`).
pub const PERF: Tool = Tool { program: "perf", package: "linux-perf", also_in: &[] };

/// Watches a server's system calls: its file reads go through the ring, not `read(2)`.
pub const STRACE: Tool = Tool { program: "strace", package: "strace", also_in: &[] };

/// Every tool above: the list `scripts/test` installs from (a test keeps the two equal).
pub const ALL: &[Tool] =
    &[AB, CURL, PYTHON3, NGINX, CHROMIUM, IP, SSHD, SSH, SSH_KEYGEN, PERF, IPTABLES, STRACE];

/// The environment variable that turns a skip into a failure: CI sets it, and `scripts/test`
/// does when every program is installed, so nothing that could run is silently skipped.
pub const STRICT_ENV: &str = "RUNTIME_MATRIX_STRICT";

/// The full name of test `$name` in the calling test binary, `package::binary::name` (e.g.
/// `harness::answer_first::the_verdict_comes_first`): what [`require`] calls it.
#[macro_export]
macro_rules! test_name {
    ($name:ident) => {
        concat!(env!("CARGO_PKG_NAME"), "::", module_path!(), "::", stringify!($name))
    };
}

/// True when every one of `tools` is installed. Otherwise `test` cannot run here: with
/// `RUNTIME_MATRIX_STRICT=1` this panics naming the missing programs and their packages;
/// without, it says `SKIPPED test: needs …` on stderr (uncaptured) and in the run's log, and
/// returns false, and the caller returns at once.
pub fn require(test: &str, tools: &[Tool]) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let missing = missing_in(&path, tools);
    if missing.is_empty() {
        return true;
    }
    let needs = needs(&missing);
    if std::env::var_os(STRICT_ENV).is_some_and(|v| v == "1") {
        panic!("{test} {needs}; {STRICT_ENV}=1 makes that a failure instead of a skip");
    }
    let line = format!("SKIPPED {test}: {needs}\n");
    // Not eprintln!: libtest captures the print macros, and a skip must be seen.
    let _ = std::io::stderr().write_all(line.as_bytes());
    let log = log_path();
    let logged = std::fs::OpenOptions::new().create(true).append(true).open(&log);
    // One write of one short line: lines from tests running at once do not interleave.
    if let Err(err) = logged.and_then(|mut file| file.write_all(line.as_bytes())) {
        let _ =
            std::io::stderr().write_all(format!("cannot append to {}: {err}\n", log.display()).as_bytes());
    }
    summarize_at_exit();
    false
}

/// Where `program` of `tool` is installed: the first executable file of that name in PATH or
/// in the tool's own directories.
pub fn find(tool: &Tool) -> Option<PathBuf> {
    find_in(&std::env::var_os("PATH").unwrap_or_default(), tool)
}

/// [`find`] with `path` as PATH.
fn find_in(path: &OsStr, tool: &Tool) -> Option<PathBuf> {
    std::env::split_paths(path)
        // An empty entry would mean the current directory: never where a tool is installed.
        .filter(|dir| !dir.as_os_str().is_empty())
        .chain(tool.also_in.iter().map(PathBuf::from))
        .map(|dir| dir.join(tool.program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// The tools among `tools` not found with `path` as PATH.
fn missing_in(path: &OsStr, tools: &[Tool]) -> Vec<Tool> {
    tools.iter().filter(|tool| find_in(path, tool).is_none()).copied().collect()
}

/// ``needs `ab` (apt-get install apache2-utils), `curl` (apt-get install curl)``.
fn needs(missing: &[Tool]) -> String {
    let each: Vec<String> =
        missing.iter().map(|tool| format!("`{}` (apt-get install {})", tool.program, tool.package)).collect();
    format!("needs {}", each.join(", "))
}

/// This run's log: named after the parent process, the `cargo test` that runs every test
/// binary of the run (or the shell, for a test binary run by hand).
fn log_path() -> PathBuf {
    // SAFETY: getppid(2) has no preconditions and cannot fail.
    let parent = unsafe { libc::getppid() };
    std::env::temp_dir().join(format!("runtime-matrix-skipped-{parent}.txt"))
}

/// Registers, once per process, the summary printed at exit.
fn summarize_at_exit() {
    static REGISTERED: std::sync::Once = std::sync::Once::new();
    REGISTERED.call_once(|| {
        // SAFETY: atexit(3) with a plain function that lives as long as the program and never
        // unwinds (see `print_summary`).
        let failed = unsafe { libc::atexit(print_summary) } != 0;
        if failed {
            let _ = std::io::stderr().write_all(b"cannot register the summary of skipped tests\n");
        }
    });
}

/// At exit: the summary of this run's log so far, on stderr. It runs after `main`, maybe after
/// this thread's thread-locals are gone, so it writes with write(2) (std's stderr handle uses
/// them), and a panic, which cannot unwind out of an `extern "C"` function, is caught.
extern "C" fn print_summary() {
    let _ = std::panic::catch_unwind(|| {
        let log = log_path();
        let Ok(lines) = std::fs::read_to_string(&log) else { return };
        if let Some(text) = summary(&lines, &log) {
            write_stderr(text.as_bytes());
        }
    });
}

/// Writes all of `bytes` to file descriptor 2, giving up on an error.
fn write_stderr(mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: the pointer and length describe `bytes`, which outlives the call.
        let written = unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
        match usize::try_from(written) {
            Ok(n) if n > 0 => bytes = &bytes[n..],
            _ if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted => {}
            _ => return,
        }
    }
}

/// The summary of a log's `SKIPPED` lines: how many tests, grouped by missing program with its
/// package, and the one command that installs them all. None when nothing was skipped.
fn summary(log: &str, path: &Path) -> Option<String> {
    let skips: Vec<Vec<(&str, &str)>> = log.lines().filter_map(parse_line).collect();
    if skips.is_empty() {
        return None;
    }
    // (program, package) → how many tests need it, sorted by program.
    let mut groups: Vec<((&str, &str), usize)> = Vec::new();
    for tool in skips.iter().flatten() {
        match groups.iter_mut().find(|(seen, _)| seen == tool) {
            Some((_, count)) => *count += 1,
            None => groups.push((*tool, 1)),
        }
    }
    groups.sort();
    let tests = |n: usize| if n == 1 { "1 test".to_owned() } else { format!("{n} tests") };
    let mut text = format!(
        "\nruntime-matrix: {} skipped so far in this `cargo test` run (listed in {}):\n",
        tests(skips.len()),
        path.display()
    );
    let mut packages: Vec<&str> = Vec::new();
    for ((program, package), count) in &groups {
        let need = if *count == 1 { "needs" } else { "need" };
        text.push_str(&format!("  {} {need} `{program}` ({package})\n", tests(*count)));
        if !packages.contains(package) {
            packages.push(package);
        }
    }
    text.push_str(&format!(
        "To run them: sudo apt-get install -y {}\n({STRICT_ENV}=1 fails them instead of skipping.)\n",
        packages.join(" ")
    ));
    Some(text)
}

/// The missing (program, package) pairs of a `SKIPPED test: needs …` line.
fn parse_line(line: &str) -> Option<Vec<(&str, &str)>> {
    let (_, needs) = line.strip_prefix("SKIPPED ")?.split_once(": needs ")?;
    needs
        .split(", ")
        .map(|one| {
            let (program, package) = one.strip_prefix('`')?.split_once("` (apt-get install ")?;
            Some((program, package.strip_suffix(')')?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;

    /// A scratch directory, removed when dropped.
    struct Dir(PathBuf);

    impl Dir {
        fn new(name: &str) -> Dir {
            let dir = std::env::temp_dir().join(format!("runtime-matrix-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("a scratch directory");
            Dir(dir)
        }

        fn file(&self, name: &str, mode: u32) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, "#!/bin/sh\n").expect("write");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
            path
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_program_is_found_in_path_order_if_executable() {
        let (first, second) = (Dir::new("path-first"), Dir::new("path-second"));
        second.file("ab", 0o755);
        first.file("ab", 0o644);
        std::fs::create_dir(first.0.join("curl")).expect("a directory named curl");
        let path = std::env::join_paths([&first.0, &second.0]).expect("a PATH");
        assert_eq!(find_in(&path, &AB), Some(second.0.join("ab")), "not the one that cannot run");
        assert_eq!(find_in(&path, &CURL), None, "a directory is not a program");
        assert_eq!(missing_in(&path, &[AB, CURL, PYTHON3]), [CURL, PYTHON3]);
        assert!(missing_in(OsStr::new(""), &[]).is_empty(), "nothing needed, nothing missing");
    }

    #[test]
    fn a_tools_own_directories_come_after_path() {
        let (on_path, own) = (Dir::new("own-path"), Dir::new("own-sbin"));
        let sbin: &'static str = Box::leak(own.0.display().to_string().into_boxed_str());
        let tool = Tool { program: "sshd", package: "openssh-server", also_in: Box::leak(Box::new([sbin])) };
        let path = on_path.0.as_os_str();
        assert_eq!(find_in(path, &tool), None);
        own.file("sshd", 0o755);
        assert_eq!(find_in(path, &tool), Some(own.0.join("sshd")));
        on_path.file("sshd", 0o755);
        assert_eq!(find_in(path, &tool), Some(on_path.0.join("sshd")), "PATH first");
        assert_eq!(find_in(OsStr::new("::"), &AB), None, "empty entries are not the current directory");
    }

    #[test]
    fn a_skip_line_reads_back() {
        let line = format!("SKIPPED harness::x::y: {}", needs(&[SSHD, SSH]));
        assert_eq!(
            line,
            "SKIPPED harness::x::y: needs `sshd` (apt-get install openssh-server), `ssh` (apt-get install openssh-client)"
        );
        assert_eq!(parse_line(&line), Some(vec![("sshd", "openssh-server"), ("ssh", "openssh-client")]));
        assert_eq!(parse_line("SKIPPED x: network namespaces cannot be made here"), None);
        assert_eq!(parse_line("SKIPPED x: needs `ab` (apt-get install"), None);
    }

    #[test]
    fn the_summary_groups_by_program() {
        let log = [
            "SKIPPED harness::load::a: needs `python3` (apt-get install python3)",
            "SKIPPED harness::load::b: needs `python3` (apt-get install python3), `ab` (apt-get install apache2-utils)",
            "a line that is not a skip",
            "SKIPPED harness::hosts::c: needs `ssh` (apt-get install openssh-client), `ssh-keygen` (apt-get install openssh-client)",
            "SKIPPED server-tokio::conformance::tokio::ab_sweep: needs `ab` (apt-get install apache2-utils)",
        ]
        .join("\n");
        let text = summary(&log, Path::new("/tmp/runtime-matrix-skipped-7.txt")).expect("a summary");
        assert_eq!(
            text,
            "\nruntime-matrix: 4 tests skipped so far in this `cargo test` run (listed in /tmp/runtime-matrix-skipped-7.txt):\n\
             \x20 2 tests need `ab` (apache2-utils)\n\
             \x20 2 tests need `python3` (python3)\n\
             \x20 1 test needs `ssh` (openssh-client)\n\
             \x20 1 test needs `ssh-keygen` (openssh-client)\n\
             To run them: sudo apt-get install -y apache2-utils python3 openssh-client\n\
             (RUNTIME_MATRIX_STRICT=1 fails them instead of skipping.)\n"
        );
        assert_eq!(summary("", Path::new("x")), None);
        assert_eq!(summary("SKIPPED x: network namespaces cannot be made here\n", Path::new("x")), None);
    }

    /// `scripts/test` installs exactly the packages of [`ALL`].
    #[test]
    fn scripts_test_lists_every_tool() {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/test");
        let text = std::fs::read_to_string(script).expect("scripts/test");
        let list = text.split_once("\nTOOLS=(\n").and_then(|(_, rest)| rest.split_once("\n)\n"));
        let (list, _) = list.expect("a TOOLS=( … ) list in scripts/test");
        let mut listed: Vec<(&str, &str)> = list
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| l.split_once(':').unwrap_or((l, "")))
            .collect();
        let mut want: Vec<(&str, &str)> = ALL.iter().map(|t| (t.program, t.package)).collect();
        listed.sort_unstable();
        want.sort_unstable();
        assert_eq!(listed, want);
    }

    /// Set only in the child process of `a_missing_program_skips_or_fails_in_a_real_process`.
    const PROBE_ENV: &str = "RUNTIME_MATRIX_TOOLS_PROBE";

    #[test]
    #[ignore = "run in a child process by a_missing_program_skips_or_fails_in_a_real_process"]
    fn probe() {
        if std::env::var_os(PROBE_ENV).is_some() {
            assert!(!require("probe", &[AB]), "ab was found on PATH {:?}", std::env::var_os("PATH"));
        }
    }

    /// The real thing, in a child process (this test binary running only `probe`) with an empty
    /// directory as PATH: it skips, saying so at once, in the log named after its parent (this
    /// process) and in the summary as it exits; with RUNTIME_MATRIX_STRICT=1 it fails instead.
    #[test]
    fn a_missing_program_skips_or_fails_in_a_real_process() {
        let empty = Dir::new("empty-path");
        let log = std::env::temp_dir().join(format!("runtime-matrix-skipped-{}.txt", std::process::id()));
        let _ = std::fs::remove_file(&log);
        let probe = |strict: bool| {
            let mut command = Command::new(std::env::current_exe().expect("this test binary"));
            command.args(["--exact", "tools::tests::probe", "--ignored", "--test-threads=1"]);
            command.env("PATH", &empty.0).env(PROBE_ENV, "1").env_remove(STRICT_ENV);
            if strict {
                command.env(STRICT_ENV, "1");
            }
            let output = command.output().expect("run the probe");
            let said = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            (output.status, String::from_utf8_lossy(&output.stderr).into_owned(), said)
        };

        let (status, stderr, said) = probe(false);
        let logged = std::fs::read_to_string(&log).unwrap_or_default();
        let _ = std::fs::remove_file(&log);
        assert!(status.success(), "require returned false and the probe passed: {said}");
        let line = "SKIPPED probe: needs `ab` (apt-get install apache2-utils)\n";
        assert!(stderr.starts_with(line), "said at once, uncaptured: {said}");
        assert_eq!(logged, line, "logged once under the parent's pid");
        assert!(stderr.contains("runtime-matrix: 1 test skipped so far"), "the summary at exit: {said}");
        assert!(stderr.contains("  1 test needs `ab` (apache2-utils)\n"), "{said}");
        assert!(stderr.contains("sudo apt-get install -y apache2-utils\n"), "{said}");

        let (status, _, said) = probe(true);
        assert!(!status.success(), "strict: the probe fails: {said}");
        assert!(said.contains("probe needs `ab` (apt-get install apache2-utils)"), "{said}");
        assert!(said.contains("RUNTIME_MATRIX_STRICT=1"), "{said}");
        assert!(!said.contains("SKIPPED"), "{said}");
        assert!(!log.exists(), "nothing logged when strict");
    }
}
