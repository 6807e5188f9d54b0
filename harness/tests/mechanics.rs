//! Why a request costs what it does: system calls and context switches per request for every
//! variant (and the load generator), counted by the kernel's perf events; a profiled run's flame
//! graph; the kernel's memory per idle connection beside RSS; and a machine where perf events are
//! denied still measuring everything else, saying once what is missing.

mod support;

use std::process::Command;

use server_conformance::test_name;
use server_conformance::tools::{require, PERF, STRACE};
use support::{
    cells_of, free_port, results_dir, results_json, signal, text, wait_for_port, Scratch, HARNESS,
};

/// The server's top system calls of a cell, as `name → per request`.
fn top(cell: &serde_json::Value) -> Vec<(String, f64)> {
    cell["mechanics"]["server"]["top_syscalls"]
        .as_array()
        .map(|calls| {
            calls
                .iter()
                .filter_map(|c| Some((c["name"].as_str()?.to_owned(), c["per_request"].as_f64()?)))
                .collect()
        })
        .unwrap_or_default()
}

fn per_request(cell: &serde_json::Value, call: &str) -> f64 {
    top(cell).into_iter().find(|(name, _)| name == call).map_or(0.0, |(_, n)| n)
}

/// A keep-alive sweep of three loops that differ in how they wait: floor-epoll's one
/// `epoll_wait` a turn and a `recvfrom` and `sendto` a request; smol's `epoll_ctl` re-arming;
/// tokio-uring's two waits a turn (`epoll_wait` on the ring's fd, then `io_uring_enter`).
#[test]
fn system_calls_and_switches_per_request_read_off_the_report() {
    let scratch = Scratch::new();
    let matrix = "[sweep]\nrequests = 5000\nconcurrency = [5]\nkeep_alive = true\nmechanics = true\n\n\
                  [[variant]]\nname = \"floor-epoll\"\n[[variant]]\nname = \"smol\"\n[[variant]]\nname = \"tokio-uring\"\n";
    let (output, out) = scratch.run(matrix, &[]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", text(&output.stderr));
    let json = results_json(&out);
    for variant in ["floor-epoll", "smol", "tokio-uring"] {
        let cell = cells_of(&json, variant)[0];
        let server = &cell["mechanics"]["server"];
        let calls = server["syscalls_per_request"].as_f64().expect("system calls counted");
        assert!(calls > 0.5, "{variant}: {server}");
        assert!(server["voluntary_switches_per_request"].as_f64().is_some(), "{server}");
        let load = &cell["mechanics"]["load"];
        assert!(load["syscalls_per_request"].as_f64().expect("the load's too") >= 1.0, "{load}");
    }
    let floor = cells_of(&json, "floor-epoll")[0];
    for call in ["recvfrom", "sendto"] {
        let n = per_request(floor, call);
        assert!((0.95..=1.05).contains(&n), "floor-epoll: one {call} a request, not {n}: {:?}", top(floor));
    }
    assert!(
        per_request(cells_of(&json, "smol")[0], "epoll_ctl") > 0.5,
        "smol re-arms: {:?}",
        top(cells_of(&json, "smol")[0])
    );
    let uring = cells_of(&json, "tokio-uring")[0];
    assert!(
        per_request(uring, "epoll_wait") > 0.05 && per_request(uring, "io_uring_enter") > 0.05,
        "tokio-uring waits twice a turn: {:?}",
        top(uring)
    );
    for expected in [
        "| server syscalls/req |",
        "top server syscalls (per request) |",
        "#### Server system calls per request (lower is better)",
        "#### Server context switches per request (lower is better)",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?} in:\n{stdout}");
    }
}

/// By default (no `mechanics` key) every closed-loop cell gets one extra, counted run after its
/// measured runs: the cells carry the counts, the measured runs none (they ran without the
/// counters), the report shows both matrices and says how they were counted; `mechanics =
/// "off"` counts nothing.
#[test]
fn by_default_one_extra_run_per_cell_is_counted() {
    let scratch = Scratch::new();
    let matrix = "[sweep]\nrequests = 3000\nconcurrency = [1, 5]\nkeep_alive = true\nrepeat = 2\n\n\
                  [[variant]]\nname = \"floor-epoll\"\n[[variant]]\nname = \"smol\"\n";
    let (output, out) = scratch.run(matrix, &[]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", text(&output.stderr));
    let json = results_json(&out);
    for cell in json["cells"].as_array().expect("cells") {
        let runs = cell["runs"].as_array().expect("runs");
        assert_eq!(runs.len(), 2, "the counted run is not one of the measured runs: {cell}");
        assert!(runs.iter().all(|run| run["mechanics"].is_null()), "measured runs carry no counts: {cell}");
        let calls = cell["mechanics"]["server"]["syscalls_per_request"].as_f64().expect("counted once");
        assert!(calls >= 2.0, "at least a recvfrom and a sendto a request: {cell}");
        assert!(cell["mechanics"]["load"]["syscalls_per_request"].as_f64().is_some(), "{cell}");
    }
    let smol = cells_of(&json, "smol")[0];
    assert!(per_request(smol, "epoll_ctl") > 0.5, "smol re-arms: {:?}", top(smol));
    for expected in [
        "#### Server system calls per request (lower is better)",
        "#### Server context switches per request (lower is better)",
        "counted in one extra run per cell after its measured runs",
        "| server syscalls/req |",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?} in:\n{stdout}");
    }
    // Grouped, each server stops after its cells: they are counted before it does.
    let grouped = Scratch::new();
    let (output, out) =
        grouped.run(&matrix.replace("repeat = 2\n", "repeat = 1\norder = \"grouped\"\n"), &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    for cell in results_json(&out)["cells"].as_array().expect("cells") {
        assert!(cell["mechanics"]["server"]["syscalls_per_request"].as_f64().is_some(), "grouped: {cell}");
    }
    let off = Scratch::new();
    let (output, out) = off.run(&matrix.replace("repeat = 2\n", "repeat = 1\nmechanics = \"off\"\n"), &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    for cell in results_json(&out)["cells"].as_array().expect("cells") {
        assert!(cell["mechanics"].is_null(), "nothing counted: {cell}");
    }
    assert!(!text(&output.stdout).contains("#### Server system calls per request"));
}

/// `profile = true`: one flame graph per variant beside the results, linked from the page,
/// and the top symbols in the report.
#[test]
fn a_profiled_run_draws_a_flame_graph_per_variant() {
    if !require(test_name!(a_profiled_run_draws_a_flame_graph_per_variant), &[PERF]) {
        return;
    }
    let scratch = Scratch::new();
    let matrix = "[sweep]\nrequests = 20000\nconcurrency = [5]\nkeep_alive = true\nprofile = true\n\n\
                  [[variant]]\nname = \"tokio\"\n[[variant]]\nname = \"floor-epoll\"\n";
    let (output, out) = scratch.run(matrix, &[]);
    assert!(output.status.success(), "{}\n{}", text(&output.stdout), text(&output.stderr));
    let dir = results_dir(&out);
    for (variant, stem) in [("tokio", "tokio-c5-k"), ("floor-epoll", "floor-epoll-c5-k")] {
        let svg =
            std::fs::read_to_string(dir.join("profiles").join(format!("{stem}.svg"))).expect("a flame graph");
        assert!(svg.contains("<svg") && svg.contains(&format!("{variant} — classic c=5")), "{stem}");
    }
    let report = std::fs::read_to_string(dir.join("report.md")).expect("report.md");
    assert!(report.contains("### Where the time goes (classic)"), "{report}");
    assert!(report.contains("[k]"), "kernel symbols are named: {report}");
    let page = std::fs::read_to_string(dir.join("report.html")).expect("report.html");
    assert!(page.contains("<a href=\"profiles/tokio-c5-k.svg\">flame graph</a>"), "the page links them");
}

/// Scale cells: the kernel's memory per idle connection beside the server's RSS.
#[test]
fn kernel_memory_per_idle_connection_beside_rss() {
    let scratch = Scratch::new();
    let matrix = "[sweep]\nconnections = [400]\nrequests = 800\nidle_time = \"500ms\"\n\n\
                  [[variant]]\nname = \"floor-epoll\"\n[[variant]]\nname = \"thread-per-connection\"\n";
    let (output, out) = scratch.run(matrix, &[]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", text(&output.stderr));
    let json = results_json(&out);
    for variant in ["floor-epoll", "thread-per-connection"] {
        let server = &cells_of(&json, variant)[0]["server"];
        let kernel = server["kernel_kib_per_connection"]
            .as_f64()
            .expect("kernel memory per connection (root reads slabinfo)");
        // A TCP socket and its inode, file, dentry and epoll entry: a few KiB.
        assert!((1.0..64.0).contains(&kernel), "{variant}: {kernel} KiB: {server}");
    }
    assert!(stdout.contains("| kernel per idle connection KiB |"), "{stdout}");
}

/// Where perf events are denied (not root, `kernel.perf_event_paranoid` 2), the sweep measures
/// everything else, exits 0, and says once what is missing.
#[test]
fn without_perf_events_the_sweep_still_runs_and_says_so() {
    // Counted in every run (the servers start behind a gate) and, by default, in an extra run
    // per cell (counters attached to the running servers): both must carry on without.
    for setting in ["mechanics = true\n", ""] {
        let scratch = Scratch::new();
        // Nobody can write the scratch directory's results and read its matrix.
        let matrix = scratch.matrix(&format!(
            "[sweep]\nrequests = 500\nconcurrency = [2]\nkeep_alive = true\n{setting}\n[[variant]]\nname = \"tokio\"\n[[variant]]\nname = \"smol\"\n"
        ));
        let _ = Command::new("chmod").args(["-R", "a+rwX"]).arg(scratch.path()).status();
        let _ = Command::new("chmod").arg("a+x").arg(scratch.path().parent().expect("a parent")).status();
        let output = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", HARNESS])
            .arg(&matrix)
            .arg("--out")
            .arg(scratch.out())
            .env("NO_COLOR", "1")
            .output()
            .expect("setpriv (util-linux)");
        let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
        let paranoid = std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid").unwrap_or_default();
        if paranoid.trim().parse::<i32>().is_ok_and(|level| level < 2) {
            eprintln!("perf events are open to everyone here (paranoid {paranoid}): nothing to check");
            return;
        }
        assert_eq!(output.status.code(), Some(0), "{setting}{stdout}\n{stderr}");
        assert_eq!(
            stderr.matches("system calls and context switches are not counted").count(),
            1,
            "{setting}said once: {stderr}"
        );
        let json = results_json(&scratch.out());
        for cell in json["cells"].as_array().expect("cells") {
            assert!(cell["mechanics"].is_null() || cell["mechanics"]["server"].is_null(), "{cell}");
            assert!(cell["server"]["cpu_us_per_request"].as_f64().is_some(), "CPU is still measured: {cell}");
        }
    }
}

/// The voluntary and involuntary context switches of every living thread of `pid`, from
/// `/proc/PID/task/*/status`.
fn proc_switches(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return 0 };
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("status")).ok())
        .flat_map(|status| {
            status
                .lines()
                .filter(|line| {
                    line.starts_with("voluntary_ctxt_switches")
                        || line.starts_with("nonvoluntary_ctxt_switches")
                })
                .filter_map(|line| line.split_whitespace().last()?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

/// The figure after `label` in `harness load`'s output (`Server system calls:   3.00/request …`).
fn per_request_line(stdout: &str, label: &str) -> f64 {
    stdout
        .lines()
        .find_map(|line| line.strip_prefix(label))
        .and_then(|rest| rest.trim().split(|c: char| c == '/' || c.is_whitespace()).next()?.parse().ok())
        .unwrap_or_else(|| panic!("no `{label}` line: {stdout}"))
}

/// A server started by hand, counted by `harness load --server-pid --mechanics` in the very
/// run that `strace -c -f -p` and `/proc/PID/task/*/status` count too: the three agree.
/// thread-pool's threads live through the run (so `/proc` sees all of them) and each request
/// costs it a `recvfrom` and a `sendto`, and a switch on its pool's queue.
#[test]
fn a_server_started_by_hand_counted_as_strace_and_proc_count_it() {
    if !require(test_name!(a_server_started_by_hand_counted_as_strace_and_proc_count_it), &[STRACE]) {
        return;
    }
    let port = free_port();
    let mut server = Command::new(HARNESS)
        .args(["serve", "thread-pool", "--workers", "4", "--port", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("harness serve");
    wait_for_port(port, std::time::Duration::from_secs(10));
    let pid = server.id();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let counts = dir.path().join("strace.txt");
    let mut strace = Command::new("strace")
        .args(["-c", "-f", "-p", &pid.to_string(), "-o"])
        .arg(&counts)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("strace");
    // Attached once every thread of the server names a tracer.
    let traced = || {
        std::fs::read_dir(format!("/proc/{pid}/task")).is_ok_and(|tasks| {
            tasks.filter_map(Result::ok).all(|task| {
                std::fs::read_to_string(task.path().join("status")).is_ok_and(|s| {
                    s.lines().any(|l| l.starts_with("TracerPid:") && l.split_whitespace().last() != Some("0"))
                })
            })
        })
    };
    let started = std::time::Instant::now();
    while !traced() && started.elapsed() < std::time::Duration::from_secs(10) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let requests = 4000u64;
    let before = proc_switches(pid);
    let output = Command::new(HARNESS)
        .args([
            "load",
            "-k",
            "-c",
            "4",
            "-n",
            &requests.to_string(),
            "--mechanics",
            "--server-pid",
            &pid.to_string(),
        ])
        .arg(format!("http://127.0.0.1:{port}/"))
        .output()
        .expect("harness load");
    let after = proc_switches(pid);
    signal(strace.id(), libc::SIGINT);
    let _ = strace.wait();
    signal(pid, libc::SIGTERM);
    let _ = server.wait();
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    if stderr.contains("mechanics are not counted") {
        return eprintln!("perf events are not open here: {stderr}");
    }
    let strace_calls: f64 = std::fs::read_to_string(&counts)
        .expect("strace's counts")
        .lines()
        .find(|line| line.ends_with("total"))
        .and_then(|line| line.split_whitespace().nth(3)?.parse().ok())
        .expect("strace's total line");
    let calls = per_request_line(&stdout, "Server system calls:");
    let by_strace = strace_calls / requests as f64;
    // strace also saw the idle server for a moment before and after the run: a few calls.
    assert!((calls / by_strace - 1.0).abs() < 0.15, "harness {calls}/request, strace {by_strace}: {stdout}");
    assert!((1.9..2.2).contains(&calls), "recvfrom, sendto: {stdout}");
    let switches = per_request_line(&stdout, "Server switches:");
    let by_proc = (after - before) as f64 / requests as f64;
    assert!(by_proc > 0.5, "a switch a request at least (the pool's queue): {by_proc}");
    assert!((switches / by_proc - 1.0).abs() < 0.15, "harness {switches}/request, /proc {by_proc}: {stdout}");
    assert!(per_request_line(&stdout, "Server CPU:") > 0.0, "{stdout}");
}
