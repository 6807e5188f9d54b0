//! Beyond one machine, tested on network namespaces: servers on one "host", load from another,
//! through `ip netns exec` launchers and through a real sshd; nothing left behind after a
//! SIGKILL; two load hosts' results merged exactly. Each test skips, saying so, where network
//! namespaces cannot be made, or where a program it runs (`ip`, `sshd`, …) is missing, naming
//! the package (with `RUNTIME_MATRIX_STRICT=1`, as in CI, a missing program fails it instead).

mod netns;
mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use netns::{bed_or_skip, Bed};
use server_conformance::test_name;
use server_conformance::tools::{find, require, IP, PYTHON3, SSH, SSHD, SSH_KEYGEN};
use support::{cells_of, results_dir, results_json, signal, text, Scratch, HARNESS};

/// A matrix with the servers in the bed's srv namespace and the load from `load_hosts`.
fn matrix(bed: &Bed, sweep: &str, load_hosts: &str, extra_hosts: &str) -> String {
    format!(
        "[sweep]\n{sweep}\n\n[placement]\nserver_host = \"srv\"\nload_hosts = {load_hosts}\n\n\
         [[host]]\nname = \"srv\"\nlauncher = {}\naddress = \"{}\"\nharness = \"{HARNESS}\"\n\n\
         [[host]]\nname = \"cli\"\nlauncher = {}\naddress = \"{}\"\nharness = \"{HARNESS}\"\n\n{extra_hosts}\
         [[variant]]\nname = \"tokio\"\nport = 45003\n\n[[variant]]\nname = \"floor-epoll\"\nport = 45005\n",
        Bed::launcher(&bed.srv),
        bed.srv_addr,
        Bed::launcher(&bed.cli),
        bed.cli_addr
    )
}

#[test]
fn a_sweep_with_the_server_on_one_host_and_the_load_on_another() {
    let test = test_name!(a_sweep_with_the_server_on_one_host_and_the_load_on_another);
    if !require(test, &[IP]) {
        return;
    }
    let Some(bed) = bed_or_skip(test) else { return };
    let scratch = Scratch::new();
    let sweep = "requests = 2000\nconcurrency = [1, 4]\nkeep_alive = true\nrepeat = 2";
    let (output, out) = scratch.run(&matrix(&bed, sweep, "[\"cli\"]", ""), &[]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", text(&output.stderr));
    assert!(stdout.contains("servers on host `srv`") && stdout.contains("load from hosts `cli`"), "{stdout}");
    assert!(
        stdout.contains(&format!("- **host srv:** {} via `ip netns exec {}`", bed.srv_addr, bed.srv)),
        "{stdout}"
    );
    let json = results_json(&out);
    assert_eq!(json["meta"]["server_host"], "srv");
    for cell in json["cells"].as_array().expect("cells") {
        assert_eq!(cell["failed"], 0, "{cell}");
        assert_eq!(cell["complete"], 2000, "{cell}");
        // The server's cost was read in its own namespace.
        assert!(cell["server"]["cpu_us_per_request"].as_f64().expect("server cost") > 0.0, "{cell}");
        assert!(cell["notes"].to_string().contains("load split over hosts `cli`"), "{cell}");
    }
    // The servers answered on the srv namespace's address, not on loopback.
    let command = json["meta"]["variants"][0]["command"].to_string();
    assert!(command.contains(&bed.srv_addr) && command.contains("--lifeline"), "{command}");
    assert!(Bed::pids(&bed.srv).is_empty() && Bed::pids(&bed.cli).is_empty(), "nothing is left running");
}

#[test]
fn sigkill_of_the_harness_leaves_nothing_in_either_namespace() {
    let test = test_name!(sigkill_of_the_harness_leaves_nothing_in_either_namespace);
    if !require(test, &[IP]) {
        return;
    }
    let Some(bed) = bed_or_skip(test) else { return };
    let scratch = Scratch::new();
    let sweep = "requests = 100000000\nconcurrency = [2]\nkeep_alive = true\nmax_run_time = \"60s\"";
    let mut harness = scratch.spawn(&matrix(&bed, sweep, "[\"cli\"]", ""));
    // Wait until the server runs in srv and the load in cli.
    let started = Instant::now();
    while Bed::pids(&bed.srv).is_empty() || Bed::pids(&bed.cli).is_empty() {
        assert!(started.elapsed() < Duration::from_secs(30), "the sweep never got going");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    signal(harness.id(), libc::SIGKILL);
    let _ = harness.wait();
    let started = Instant::now();
    while !Bed::pids(&bed.srv).is_empty() || !Bed::pids(&bed.cli).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "left running: srv {:?}, cli {:?}",
            Bed::pids(&bed.srv),
            Bed::pids(&bed.cli)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Two load hosts against one server: each takes a share, the counts add up, and the
/// percentiles come from the merged histogram.
#[test]
fn two_load_hosts_add_up() {
    let test = test_name!(two_load_hosts_add_up);
    if !require(test, &[IP]) {
        return;
    }
    let Some(bed) = bed_or_skip(test) else { return };
    let scratch = Scratch::new();
    let second = format!(
        "[[host]]\nname = \"cli-2\"\nlauncher = {}\naddress = \"{}\"\nharness = \"{HARNESS}\"\n\n",
        Bed::launcher(&bed.cli),
        bed.cli_addr
    );
    let sweep = "requests = 900\nconcurrency = [3]\nkeep_alive = true";
    let (output, out) = scratch.run(&matrix(&bed, sweep, "[\"cli\", \"cli-2\"]", &second), &[]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", text(&output.stderr));
    let json = results_json(&out);
    let cell = cells_of(&json, "tokio")[0];
    assert_eq!(cell["complete"], 900, "{cell}");
    let notes = cell["notes"].to_string();
    assert!(
        notes.contains("`cli` (c=2, 600 requests a run")
            && notes.contains("`cli-2` (c=1, 300 requests a run"),
        "{notes}"
    );
    let results = harness::results::Results::read(&results_dir(&out)).expect("results read back");
    let tokio = results.cells.iter().find(|c| c.variant == "tokio").expect("tokio");
    let merged = &tokio.histograms.latency.0;
    assert_eq!(merged.len(), 900, "one histogram holds both hosts' requests");
    assert_eq!(
        merged.value_at_quantile(0.99) as f64 / 1000.0,
        tokio.latency_us.p99,
        "p99 from the merged histogram"
    );
}

/// A throwaway sshd inside the server's namespace, reached from the load namespace: the SSH
/// launcher, for real.
#[test]
fn the_ssh_launcher_runs_a_remote_server() {
    let test = test_name!(the_ssh_launcher_runs_a_remote_server);
    if !require(test, &[IP, SSHD, SSH, SSH_KEYGEN]) {
        return;
    }
    let Some(bed) = bed_or_skip(test) else { return };
    let sshd = Sshd::start(&bed);
    let scratch = Scratch::new();
    let launcher = format!(
        "[\"ip\", \"netns\", \"exec\", \"{}\", \"ssh\", \"-i\", \"{}\", \"-p\", \"{}\", \"-o\", \"BatchMode=yes\", \
         \"-o\", \"StrictHostKeyChecking=no\", \"-o\", \"UserKnownHostsFile=/dev/null\", \"-o\", \"LogLevel=ERROR\", \"root@{}\"]",
        bed.cli,
        sshd.key.display(),
        sshd.port,
        bed.srv_addr
    );
    let sweep = "requests = 1000\nconcurrency = [2]\nkeep_alive = true";
    let source = matrix(&bed, sweep, "[\"cli\"]", "").replacen(
        &format!("launcher = {}", Bed::launcher(&bed.srv)),
        &format!("launcher = {launcher}"),
        1,
    );
    assert!(source.contains("\"ssh\""), "{source}");
    let (output, out) = scratch.run(&source, &[]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", text(&output.stderr));
    let json = results_json(&out);
    let command = json["meta"]["variants"][0]["command"].to_string();
    assert!(command.contains("\"ssh\""), "started through ssh: {command}");
    for cell in json["cells"].as_array().expect("cells") {
        assert_eq!((cell["complete"].as_u64(), cell["failed"].as_u64()), (Some(1000), Some(0)), "{cell}");
        assert!(cell["server"]["cpu_us_per_request"].as_f64().expect("sampled over ssh") > 0.0, "{cell}");
    }
    // The servers went when their ssh sessions closed: only sshd is left in srv.
    let started = Instant::now();
    while Bed::pids(&bed.srv).len() > 1 {
        assert!(started.elapsed() < Duration::from_secs(5), "a server outlived its ssh session");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(sshd);
}

/// Names are data: a variant and hosts whose names hold spaces, both kinds of quotes, `;`,
/// `$(…)`, backquotes and a newline go through the real ssh launcher (which joins its
/// arguments into one shell command line) and arrive as one argument each: the remote server
/// and the remote load say back the names they were started with, the sweep checks them, and
/// nothing in them ran.
#[test]
fn names_with_shell_characters_cross_ssh_as_one_argument() {
    let test = test_name!(names_with_shell_characters_cross_ssh_as_one_argument);
    if !require(test, &[IP, SSHD, SSH, SSH_KEYGEN]) {
        return;
    }
    let Some(bed) = bed_or_skip(test) else { return };
    let sshd = Sshd::start(&bed);
    let scratch = Scratch::new();
    let marker = scratch.path().join("ran");
    let evil = |what: &str| {
        format!(
            "{what} \\\"q\\\" it's; touch {m}; $(touch {m}) `touch {m}`\\nnext line",
            m = marker.display()
        )
    };
    let (server_host, load_host, variant) = (evil("srv"), evil("cli"), evil("tokio"));
    let ssh = |from: &str| {
        format!(
            "[\"ip\", \"netns\", \"exec\", \"{from}\", \"ssh\", \"-i\", \"{}\", \"-p\", \"{}\", \"-o\", \"BatchMode=yes\", \
             \"-o\", \"StrictHostKeyChecking=no\", \"-o\", \"UserKnownHostsFile=/dev/null\", \"-o\", \"LogLevel=ERROR\", \"root@{}\"]",
            sshd.key.display(),
            sshd.port,
            bed.srv_addr
        )
    };
    // Both hosts are reached through ssh into the server's namespace: the load runs there too.
    let source = format!(
        "[sweep]\nrequests = 500\nconcurrency = [2]\nkeep_alive = true\n\n\
         [placement]\nserver_host = \"{server_host}\"\nload_hosts = [\"{load_host}\"]\n\n\
         [[host]]\nname = \"{server_host}\"\nlauncher = {}\naddress = \"{}\"\nharness = \"{HARNESS}\"\n\n\
         [[host]]\nname = \"{load_host}\"\nlauncher = {}\naddress = \"{}\"\nharness = \"{HARNESS}\"\n\n\
         [[variant]]\nname = \"{variant}\"\nbuiltin = \"tokio\"\nport = 45003\n",
        ssh(&bed.cli),
        bed.srv_addr,
        ssh(&bed.cli),
        bed.srv_addr,
    );
    let (output, out) = scratch.run(&source, &[]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", text(&output.stderr));
    let json = results_json(&out);
    let cell = &json["cells"][0];
    let decoded = |name: &str| name.replace("\\\"", "\"").replace("\\n", "\n");
    assert_eq!(cell["variant"].as_str(), Some(decoded(&variant).as_str()), "{cell}");
    assert_eq!((cell["complete"].as_u64(), cell["failed"].as_u64()), (Some(500), Some(0)), "{cell}");
    assert!(cell["notes"].to_string().contains("load split over hosts"), "{cell}");
    assert_eq!(json["meta"]["server_host"].as_str(), Some(decoded(&server_host).as_str()));
    // The ssh command line holds the name quoted, as one word for the remote shell.
    let command: Vec<String> =
        serde_json::from_value(json["meta"]["variants"][0]["command"].clone()).expect("the command line");
    assert!(command.contains(&harness::hosts::shell_quote(&decoded(&variant))), "{command:?}");
    assert!(!marker.exists(), "a name ran as shell on the remote side");
    drop(sshd);
}

/// The project's own test bed script makes the namespaces, runs a sweep through them and
/// removes them.
#[test]
fn the_test_bed_script_runs_a_sweep() {
    let test = test_name!(the_test_bed_script_runs_a_sweep);
    if !require(test, &[IP]) {
        return;
    }
    // Only to learn whether namespaces can be made here; the script makes its own.
    let Some(probe) = bed_or_skip(test) else { return };
    drop(probe);
    let scratch = Scratch::new();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let example = std::fs::read_to_string(root.join("examples/two-namespaces.toml")).expect("the example");
    let small = example
        .replace("requests = 20000", "requests = 500")
        .replace("warmup = 1000", "warmup = 50")
        .replace("repeat = 5", "repeat = 1")
        .replace("harness = \"target/debug/harness\"", &format!("harness = \"{HARNESS}\""));
    let file = scratch.matrix(&small);
    let output = Command::new(root.join("scripts/netns-testbed.sh"))
        .arg("run")
        .arg(&file)
        .arg("--out")
        .arg(scratch.out())
        .env("HARNESS", HARNESS)
        .stdin(Stdio::null())
        .output()
        .expect("run the script");
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", text(&output.stderr));
    assert!(stdout.contains("test bed up: rm-srv (10.77.0.1) <-> rm-cli (10.77.0.2)"), "{stdout}");
    let json = results_json(&scratch.out());
    assert_eq!(json["cells"].as_array().expect("cells").len(), 6);
    let namespaces = text(&Command::new("ip").args(["netns", "list"]).output().expect("ip").stdout);
    assert!(
        !namespaces.contains("rm-srv") && !namespaces.contains("rm-cli"),
        "the bed is removed: {namespaces}"
    );
}

/// sshd in the server's namespace with throwaway keys, stopped when dropped.
struct Sshd {
    child: std::process::Child,
    key: std::path::PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Sshd {
    /// Starts sshd in `bed`'s server namespace (the test requires sshd, ssh and ssh-keygen);
    /// fails the test when it cannot.
    fn start(bed: &Bed) -> Sshd {
        const INSTALL: &str = "apt-get install openssh-server openssh-client";
        let sshd = find(&SSHD).expect("sshd, found by require");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let key = dir.path().join("client_key");
        let host_key = dir.path().join("host_key");
        for path in [&key, &host_key] {
            let made = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(path)
                .stdin(Stdio::null())
                .output();
            assert!(
                made.as_ref().is_ok_and(|out| out.status.success()),
                "ssh-keygen failed ({INSTALL}): {made:?}"
            );
        }
        let public = std::fs::read_to_string(key.with_extension("pub")).expect("the public key");
        let authorized = dir.path().join("authorized_keys");
        std::fs::write(&authorized, public).expect("authorized_keys");
        // sshd insists on its privilege-separation directory.
        let _ = std::fs::create_dir_all("/run/sshd");
        let port = 2222;
        let config = dir.path().join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress {}\nHostKey {}\nAuthorizedKeysFile {}\nPermitRootLogin yes\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPidFile none\n",
                bed.srv_addr,
                host_key.display(),
                authorized.display()
            ),
        )
        .expect("sshd_config");
        let mut child = Command::new("ip")
            .args(["netns", "exec", &bed.srv])
            .arg(&sshd)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sshd");
        // Wait until it accepts, from the load namespace.
        let started = Instant::now();
        loop {
            let probe = Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &bed.cli,
                    "bash",
                    "-c",
                    &format!("exec 3<>/dev/tcp/{}/{port}", bed.srv_addr),
                ])
                .output();
            if probe.is_ok_and(|out| out.status.success()) {
                break;
            }
            if started.elapsed() > Duration::from_secs(10) || child.try_wait().is_ok_and(|s| s.is_some()) {
                let _ = child.kill();
                let output = child.wait_with_output().expect("sshd's output");
                panic!("sshd did not start within 10 s: {}", text(&output.stderr));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Sshd { child, key, port, _dir: dir }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two load hosts send back their whole runs: the counts a results cell has no column for —
/// bytes after bodies, responses the server did not close, requests abandoned when the run was
/// stopped — arrive as counts and add up, not only as words in a note. Both hosts are the load
/// namespace, and the server (the tiny Python one) runs there on its loopback.
#[test]
fn two_load_hosts_send_their_whole_runs() {
    use harness::hosts::load::run_load;
    use harness::load::{Job, Shape, Stop};
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    let test = test_name!(two_load_hosts_send_their_whole_runs);
    if !require(test, &[IP, PYTHON3]) {
        return;
    }
    let Some(bed) = bed_or_skip(test) else { return };
    let scratch = Scratch::new();
    let watchdog =
        Arc::new(harness::process::watchdog::Watchdog::start_with(HARNESS.as_ref()).expect("watchdog"));
    let host = |name: &str| harness::plan::Host {
        name: name.into(),
        launcher: ["ip", "netns", "exec", &bed.cli].iter().map(|s| (*s).to_owned()).collect(),
        address: bed.cli_addr.parse().expect("an address"),
        harness: HARNESS.into(),
        shell: false,
    };
    let (one, two) = (host("cli"), host("cli-2"));
    // A server in the load namespace, in `mode`, on a port it picks and prints.
    let serve = |mode: &str| {
        let mut server = Command::new("ip")
            .args(["netns", "exec", &bed.cli, "python3"])
            .arg(scratch.script())
            .args(["0", "0", "hello", mode])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 in the load namespace");
        let mut port = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(server.stdout.take().expect("stdout")),
            &mut port,
        )
        .expect("its port");
        (server, port.trim().parse::<u16>().expect("a port"))
    };
    let job = |port: u16, shape: Shape| Job {
        addr: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        path: "/".into(),
        shape,
        keep_alive: false,
        timeout: Duration::from_secs(10),
        max_duration: Duration::from_secs(30),
        cpus: Vec::new(),
        allowed: Vec::new(),
        mechanics: false,
        mix: Vec::new(),
        pipeline: 1,
        seed: 1,
        interval: None,
    };
    let never = Stop::default();

    // Four bytes after every body, like the classic exercise's servers.
    let (mut extra, port) = serve("extra");
    let (load, shares) = run_load(
        &job(port, Shape::Closed { requests: 30, concurrency: 3 }),
        &[&one, &two],
        &never,
        &watchdog,
        &mut || {},
        None,
    )
    .expect("the load ran");
    assert_eq!(shares.len(), 2, "{shares:?}");
    assert_eq!((load.complete, load.failures.total()), (30, 0));
    assert_eq!(load.extra_bytes, 4 * 30, "bytes after the bodies, summed over both hosts");
    let _ = extra.kill();

    // Answers without closing: each response waits a second for a close that never comes.
    let (mut noclose, port) = serve("noclose");
    let (load, _) = run_load(
        &job(port, Shape::Closed { requests: 4, concurrency: 2 }),
        &[&one, &two],
        &never,
        &watchdog,
        &mut || {},
        None,
    )
    .expect("the load ran");
    assert_eq!((load.complete, load.unclosed), (4, 4), "unclosed responses, summed: {load:?}");
    let _ = noclose.kill();

    // Never answers; the run is stopped after a moment: what was in progress is abandoned.
    let (mut silent, port) = serve("silent");
    let stop_flag = Arc::new(AtomicBool::new(false));
    let stopper = {
        let flag = stop_flag.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1500));
            flag.store(true, std::sync::atomic::Ordering::Relaxed);
        })
    };
    let (load, _) = run_load(
        &job(port, Shape::Closed { requests: 100, concurrency: 3 }),
        &[&one, &two],
        &Stop::any(&[&stop_flag]),
        &watchdog,
        &mut || {},
        None,
    )
    .expect("the load ran");
    let _ = stopper.join();
    assert_eq!(
        (load.complete, load.abandoned),
        (0, 3),
        "one abandoned per connection of both hosts: {load:?}"
    );
    assert_eq!(load.cut, Some(harness::load::Cut::Stopped));
    let _ = silent.kill();
}
