//! A sleeping request holds no thread: one worker sleeps 100 requests at once, on its timer
//! heap, and answers them all about 200 ms later.

use std::time::{Duration, Instant};

use server_conformance::client::Client;
use server_conformance::ServerProcess;

#[test]
fn one_worker_sleeps_a_hundred_requests_at_once() {
    let server = ServerProcess::start(env!("CARGO_BIN_EXE_server-floor-uring"), &["--workers", "1"]);
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
    assert!(took < Duration::from_secs(1), "took {took:?}: the sleeps ran one after another");
    server.stop_cleanly();
}
