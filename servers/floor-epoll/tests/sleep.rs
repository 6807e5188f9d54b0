//! `/sleep` waits on the worker's timer heap, never in the loop: on one worker, a hundred
//! sleeping connections sleep together, not one after another.

use std::time::{Duration, Instant};

use server_conformance::client::Client;
use server_conformance::ServerProcess;

const SERVER: &str = env!("CARGO_BIN_EXE_server-floor-epoll");

#[test]
fn a_hundred_sleeps_on_one_worker_overlap() {
    let server = ServerProcess::start(SERVER, &["--workers", "1"]);
    let mut clients: Vec<Client> = (0..100).map(|_| Client::connect(server.addr)).collect();
    let started = Instant::now();
    for client in &mut clients {
        client.send(b"GET /sleep/200 HTTP/1.1\r\nHost: t\r\n\r\n");
    }
    for client in &mut clients {
        let response = client.response(false);
        assert_eq!((response.status, response.body.as_slice()), (200, &b"Hello, world!\n"[..]));
    }
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(200), "answered after {took:?}, before the sleep ended");
    // One after another they would take 20 s.
    assert!(took < Duration::from_secs(1), "100 sleeps of 200 ms took {took:?}: they did not overlap");
    server.stop_cleanly();
}

#[test]
fn a_sleeping_connection_does_not_delay_others() {
    let server = ServerProcess::start(SERVER, &["--workers", "1"]);
    let mut sleeper = Client::connect(server.addr);
    sleeper.send(b"GET /sleep/1000 HTTP/1.1\r\nHost: t\r\n\r\n");
    let started = Instant::now();
    let mut other = Client::connect(server.addr);
    for _ in 0..10 {
        other.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(other.response(false).status, 200);
    }
    let took = started.elapsed();
    assert!(took < Duration::from_millis(500), "10 requests beside a sleep took {took:?}");
    assert_eq!(sleeper.response(false).status, 200);
    server.stop_cleanly();
}
