//! The `/proc` sampler on real processes: a forked child's CPU counts for its group, and
//! threads that already exited still count (summing `/proc/PID/task/*` would miss them).

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use harness::cost::{sample_group, GroupSample, Spent};
use server_conformance::test_name;
use server_conformance::tools::{require, PYTHON3};

/// Burns about `seconds` of CPU in Python.
const BURN: &str = "import time\ndef burn(s):\n    end = time.process_time() + s\n    while time.process_time() < end: pass\n";

/// Starts `python3 -c SCRIPT` as the leader of its own process group (the test requires it).
fn group_of(script: &str) -> Child {
    Command::new("python3")
        .args(["-c", script])
        .stdout(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("start python3")
}

/// Reads the child's stdout until it prints `line`.
fn wait_for_line(child: &mut Child, line: &str) {
    use std::io::BufRead;
    let stdout = child.stdout.as_mut().expect("stdout");
    let mut reader = std::io::BufReader::new(stdout);
    let mut got = String::new();
    let started = Instant::now();
    while got.trim() != line {
        got.clear();
        assert!(reader.read_line(&mut got).expect("read") > 0, "the child ended before {line:?}");
        assert!(started.elapsed() < Duration::from_secs(30));
    }
}

/// A group running `script` (which prints `ready`, burns, prints `burnt`, then sleeps),
/// sampled at `ready` and at `burnt`.
struct Burnt {
    child: Child,
    pgid: i32,
    before: GroupSample,
    after: GroupSample,
}

fn sampled_around_burn(script: &str) -> Burnt {
    let mut child = group_of(&format!("{BURN}{script}"));
    let pgid = i32::try_from(child.id()).expect("pid fits");
    wait_for_line(&mut child, "ready");
    let before = sample_group(pgid).expect("sample at ready");
    wait_for_line(&mut child, "burnt");
    let after = sample_group(pgid).expect("sample at burnt");
    Burnt { child, pgid, before, after }
}

#[test]
fn a_forked_childs_cpu_counts_for_its_group() {
    if !require(test_name!(a_forked_childs_cpu_counts_for_its_group), &[PYTHON3]) {
        return;
    }
    // The leader only waits; its forked child burns 0.4 s of CPU, then both sleep.
    let Burnt { mut child, pgid, before, after } = sampled_around_burn(
        "import os, sys, time\nprint('ready', flush=True)\nif os.fork() == 0:\n    burn(0.4)\n    print('burnt', flush=True)\n    time.sleep(30)\nelse:\n    time.sleep(30)\n",
    );
    // SAFETY: kill(2) on the process group this test started.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
    let _ = child.wait();
    let spent = Spent::between(&before, &after);
    assert_eq!(after.processes, 2, "{after:?}");
    assert!(spent.cpu >= Duration::from_millis(350), "the child's CPU counts: {spent:?}");
    assert!(spent.cpu < Duration::from_millis(1500), "{spent:?}");
}

#[test]
fn threads_that_exited_still_count() {
    if !require(test_name!(threads_that_exited_still_count), &[PYTHON3]) {
        return;
    }
    // A thread burns 0.4 s of CPU and exits; only then is the group sampled again. `join`
    // returns before the OS thread is gone from /proc, so the script also waits (at most 10 s)
    // for its task list to shrink to the main thread.
    let Burnt { mut child, pgid, before, after } = sampled_around_burn(
        "import os, threading, time\nprint('ready', flush=True)\nt = threading.Thread(target=burn, args=(0.4,))\nt.start()\nt.join()\nend = time.monotonic() + 10\nwhile len(os.listdir('/proc/self/task')) > 1 and time.monotonic() < end:\n    time.sleep(0.001)\nprint('burnt', flush=True)\ntime.sleep(30)\n",
    );
    // The thread is gone: what /proc/PID/task/* would sum now misses its CPU.
    let tasks = std::fs::read_dir(format!("/proc/{pgid}/task")).unwrap().count();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(tasks, 1, "the burning thread has exited");
    let spent = Spent::between(&before, &after);
    assert!(spent.cpu >= Duration::from_millis(350), "the exited thread's CPU counts: {spent:?}");
}
