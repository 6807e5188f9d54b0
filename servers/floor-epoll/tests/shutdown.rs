//! After SIGTERM the shut-down listener is deregistered: the loops keep serving the request
//! in flight without spinning on the listener's hang-up.

use std::time::Duration;

use server_conformance::client::exchange;
use server_conformance::ServerProcess;

const SERVER: &str = env!("CARGO_BIN_EXE_server-floor-epoll");

/// User plus system CPU time of `pid` so far, in clock ticks (fields 14 and 15 of
/// `/proc/PID/stat`, counted after the command name, which may hold spaces).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/PID/stat");
    let after_name = &stat[stat.rfind(')').expect("command name") + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // The fields after the name start at field 3.
    fields[14 - 3].parse::<u64>().expect("utime") + fields[15 - 3].parse::<u64>().expect("stime")
}

#[test]
fn stopping_does_not_spin_while_a_request_finishes() {
    let server = ServerProcess::start(SERVER, &["--workers", "2"]);
    let (addr, pid) = (server.addr, server.pid());
    let in_flight =
        std::thread::spawn(move || exchange(addr, b"GET /sleep/1800 HTTP/1.1\r\nHost: t\r\n\r\n").status);
    std::thread::sleep(Duration::from_millis(200));
    let before = cpu_ticks(pid);
    // SAFETY: kill(2) has no memory-safety preconditions; the pid is our own child's.
    assert_eq!(unsafe { libc::kill(libc::pid_t::try_from(pid).expect("pid"), libc::SIGTERM) }, 0);
    std::thread::sleep(Duration::from_millis(1000));
    let spent = cpu_ticks(pid) - before;
    // A loop spinning on the listener would burn all of that second on each worker: 100+
    // ticks. Waiting costs none; a few allow for a loaded machine.
    assert!(spent < 20, "{spent} ticks of CPU in the second after SIGTERM: a loop is spinning");
    assert_eq!(in_flight.join().expect("in-flight request"), 200, "the request in flight was finished");
    let (status, _) = server.stop();
    assert!(status.success(), "exit status {status}");
}
