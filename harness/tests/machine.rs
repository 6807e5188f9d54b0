//! The machine's own floor: the calibration every sweep measures first (below every variant),
//! CPUs kept awake on request and never left spinning (after a sweep, Ctrl-C or SIGKILL), and a
//! single-threaded server with a listen backlog of 1 measured as ab measures it, its listen
//! overflows counted.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use server_conformance::test_name;
use server_conformance::tools::{require, AB, PYTHON3};
use support::{
    free_ports, processes_matching, results_json, signal, text, wait_for_measuring, Scratch, HARNESS,
};

/// One test at a time in this file: a sweep that keeps the CPUs awake would make another's
/// latency (and its floor) look like the machine's with awake CPUs.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn alone() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The environment variable that marks the processes of one test's sweep (children inherit it):
/// other tests running at the same time keep CPUs awake too.
const TAG: &str = "RUNTIME_MATRIX_TEST_TAG";

/// How many `harness awake` processes of the sweep tagged `tag` are running.
fn spinners(tag: &str) -> usize {
    let marker = format!("{TAG}={tag}");
    processes_matching(" awake --cpus ")
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .map(|environ| environ.split(|b| *b == 0).any(|var| var == marker.as_bytes()))
                .unwrap_or(false)
        })
        .count()
}

/// Waits (at most 5 s) until no `harness awake` of sweep `tag` is left.
fn no_spinner_left(tag: &str, when: &str) {
    let started = Instant::now();
    while spinners(tag) > 0 {
        assert!(started.elapsed() < Duration::from_secs(5), "a busy loop outlived the harness {when}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_floor_is_measured_first_and_lies_below_every_variant() {
    let _alone = alone();
    let matrix = "[sweep]\nrequests = 2000\nconcurrency = [1]\nkeep_alive = true\n\n\
                  [[variant]]\nname = \"tokio\"\n[[variant]]\nname = \"floor-epoll\"\n";
    // The floor lies below every variant's p50 by what a runtime and the spec add to the same
    // round trip: a few µs. A burst from another process during the floor's 300 ms (or during
    // a variant's run) can tip one sweep, so a sweep that does not show it earns up to two more;
    // a floor that is not below a variant in any of three sweeps is a fault.
    let mut attempts = Vec::new();
    let (stdout, out, _scratch) = loop {
        // Each sweep in a directory of its own: one results directory each.
        let scratch = Scratch::new();
        let (output, out) = scratch.run(matrix, &[]);
        let stdout = text(&output.stdout);
        assert!(output.status.success(), "{stdout}\n{}", text(&output.stderr));
        let json = results_json(&out);
        let calibration = &json["calibration"][0];
        assert_eq!(calibration["cpu_idle"], "native", "{json}");
        let floor = calibration["keep_alive"]["p50_us"].as_f64().expect("a keep-alive floor");
        assert!(calibration["connection_per_request"]["p50_us"].as_f64().expect("a second floor") > 0.0);
        let mut above = Vec::new();
        for cell in json["cells"].as_array().expect("cells") {
            let p50 = cell["latency_us"]["p50"].as_f64().expect("p50");
            if p50 <= floor {
                above.push(format!("the floor {floor} µs is not below {} {p50} µs", cell["variant"]));
            }
            assert_eq!(cell["meta"]["floor_p50_us"].as_f64(), Some(floor), "{cell}");
        }
        attempts.push(above.join("; "));
        if above.is_empty() {
            break (stdout, out, scratch);
        }
        assert!(attempts.len() < 3, "in three sweeps: {attempts:?}");
    };
    let json = results_json(&out);
    assert!(
        stdout.contains("floor: a loopback ping-pong between two harness threads"),
        "said at once: {stdout}"
    );
    assert!(stdout.contains("| p50 above floor µs |"), "{stdout}");
    let report = std::fs::read_to_string(support::results_dir(&out).join("report.md")).expect("report.md");
    assert!(report.contains("- **machine floor, CPUs native:** a loopback ping-pong"), "{report}");
    assert_eq!(json["meta"]["scenarios"][0]["cpu_idle"], "native");
}

/// `cpu_idle = "awake"`: recorded as in force, said how, and no busy loop is left after the
/// sweep, after Ctrl-C, or after SIGKILL of the harness (the watchdog's work).
#[test]
fn awake_is_recorded_and_no_busy_loop_outlives_the_harness() {
    let _alone = alone();
    let scratch = Scratch::new();
    let matrix = "[sweep]\nrequests = 3000\nconcurrency = [1]\nkeep_alive = true\n\n[placement]\ncpu_idle = \"awake\"\n\n\
                  [[variant]]\nname = \"tokio\"\n";
    let (output, out) = scratch.run_with_env(matrix, &[], &[(TAG, "finished")]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", text(&output.stderr));
    let json = results_json(&out);
    assert_eq!(json["meta"]["scenarios"][0]["cpu_idle"], "awake", "{}", json["meta"]);
    assert_eq!(json["calibration"][0]["cpu_idle"], "awake");
    let how = json["meta"]["cpu_awake"][0].as_str().expect("how the CPUs were kept awake");
    assert!(how.contains("busy loop") || how.contains("cpu_dma_latency"), "{how}");
    assert!(stdout.contains("CPUs kept awake (`cpu_idle = \"awake\"`)"), "{stdout}");
    no_spinner_left("finished", "after a sweep");
    for (signal_number, tag) in [(libc::SIGINT, "ctrl-c"), (libc::SIGKILL, "sigkill")] {
        let scratch = Scratch::new();
        let port = free_ports(1)[0];
        let matrix = format!(
            "[sweep]\nrequests = 100000000\nconcurrency = [1]\nkeep_alive = true\nmax_run_time = \"60s\"\n\n\
             [placement]\ncpu_idle = \"awake\"\n\n[[variant]]\nname = \"tokio\"\nport = {port}\n"
        );
        let mut harness = Command::new(HARNESS)
            .arg(scratch.matrix(&matrix))
            .arg("--out")
            .arg(scratch.out())
            .env(TAG, tag)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the harness");
        wait_for_measuring(port, 1, Duration::from_secs(30));
        assert!(spinners(tag) > 0, "the CPUs are kept awake while measuring");
        signal(harness.id(), signal_number);
        let _ = harness.wait();
        no_spinner_left(tag, &format!("after {tag}"));
    }
}

/// The single-threaded Python server with `listen(1)` (examples/python), on `port`.
struct Backlog1(Child);

impl Backlog1 {
    fn start(port: u16) -> Backlog1 {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/python/backlog1_server.py");
        // On the server CPU, as a sweep would place it (the load goes on the other).
        let mut child = Command::new("taskset")
            .args(["-c", "0", "python3"])
            .arg(script)
            .arg(port.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("its line");
        assert!(line.starts_with("listening on"), "{line}");
        Backlog1(child)
    }
}

impl Drop for Backlog1 {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The load's CPU: the second, where there is one (the server runs on the first).
fn load_cpu() -> &'static str {
    if support::available_cpus() > 1 {
        "1"
    } else {
        "0"
    }
}

/// `harness load --json` against `url` from the load CPU: (requests per second, max latency in
/// ms, the cell).
fn harness_load(requests: u64, concurrency: usize, url: &str) -> (f64, f64, serde_json::Value) {
    let output = Command::new(HARNESS)
        .args([
            "load",
            "-n",
            &requests.to_string(),
            "-c",
            &concurrency.to_string(),
            "--cpus",
            load_cpu(),
            "--json",
            url,
        ])
        .output()
        .expect("harness load");
    let cell: serde_json::Value =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|_| panic!("{}", text(&output.stderr)));
    let rate = cell["requests_per_second"].as_f64().expect("a rate");
    (rate, cell["latency_us"]["max"].as_f64().expect("a max") / 1000.0, cell)
}

/// `ab -n N -c C url` from the load CPU: (requests per second, longest request in ms).
fn ab(requests: u64, concurrency: usize, url: &str) -> (f64, f64) {
    let report = support::run_tool(
        "taskset",
        &["-c", load_cpu(), "ab", "-q", "-n", &requests.to_string(), "-c", &concurrency.to_string(), url],
    );
    let rate: f64 = support::ab_field(&report, "Requests per second:");
    let longest = report
        .lines()
        .find(|l| l.contains("(longest request)"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no longest request in:\n{report}"));
    (rate, longest)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// ab's classic sweep against the classic exercise's kind of server at its most fragile: the
/// harness gets ab's answer (0.8–1.25× its rate, its longest request within 2×), because a
/// connect the server leaves unanswered takes no request, as in ab.
#[test]
fn a_backlog_of_one_is_measured_as_ab_measures_it() {
    if !require(test_name!(a_backlog_of_one_is_measured_as_ab_measures_it), &[PYTHON3, AB]) {
        return;
    }
    let _alone = alone();
    let port = free_ports(1)[0];
    let _server = Backlog1::start(port);
    let url = format!("http://127.0.0.1:{port}/");
    for concurrency in 1..=5 {
        // Alternating, medians of five each: this machine's noise hits both alike. Another
        // process's burst still can tip five pairs (the harness, with more threads, loses more
        // to it), so a ratio outside the bounds earns up to two more sets of five, and the
        // medians of all of them decide. The fault this guards against is a tenth of ab's rate.
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        let (mut rate, mut max, mut ab_rate, mut ab_longest) = (0.0, 0.0, 0.0, 0.0);
        for _set in 0..3 {
            for _ in 0..5 {
                ours.push(harness_load(1000, concurrency, &url));
                theirs.push(ab(1000, concurrency, &url));
            }
            (rate, max) =
                (median(ours.iter().map(|o| o.0).collect()), median(ours.iter().map(|o| o.1).collect()));
            (ab_rate, ab_longest) =
                (median(theirs.iter().map(|t| t.0).collect()), median(theirs.iter().map(|t| t.1).collect()));
            if (0.8..=1.25).contains(&(rate / ab_rate)) {
                break;
            }
        }
        let ratio = rate / ab_rate;
        assert!(
            (0.8..=1.25).contains(&ratio),
            "c={concurrency}: harness {rate:.0}/s against ab {ab_rate:.0}/s (×{ratio:.2}, medians of {} pairs)",
            ours.len()
        );
        // ab prints whole milliseconds (often 0 or 1 here), and one scheduling hiccup on a
        // shared machine is a few: within 2× of its figure plus 5 ms. What this tells apart is
        // a connect waiting out a dropped SYN: a second.
        assert!(
            max <= 2.0 * ab_longest + 5.0,
            "c={concurrency}: harness's longest {max:.2} ms against ab's {ab_longest} ms"
        );
    }
}

/// Twenty connections at once against a backlog of one: the listen queue overflows, and the
/// cell says so, with the count.
#[test]
fn listen_overflows_are_counted_and_said() {
    if !require(test_name!(listen_overflows_are_counted_and_said), &[PYTHON3]) {
        return;
    }
    let _alone = alone();
    let port = free_ports(1)[0];
    let _server = Backlog1::start(port);
    let (_, _, cell) = harness_load(500, 20, &format!("http://127.0.0.1:{port}/"));
    let notes = cell["notes"].to_string();
    assert!(notes.contains("the server's listen queue overflowed"), "{notes}");
    let overflows = cell["tcp"]["listen_overflows"].as_u64().expect("counted");
    assert!(overflows > 0, "{cell}");
    assert_eq!(cell["failed"], 0, "overflows delay requests, they do not fail them: {cell}");
}
