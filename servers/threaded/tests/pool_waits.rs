//! The thread pool's nature: with keep-alive and more clients than workers, the extra client
//! waits until the idle timeout frees a worker held by an idle one.

use std::time::{Duration, Instant};

use server_conformance::client::Client;
use server_conformance::ServerProcess;

#[test]
fn an_extra_client_waits_for_the_idle_timeout() {
    let server = ServerProcess::start(
        env!("CARGO_BIN_EXE_thread-pool"),
        &["--workers", "1", "--idle-timeout", "400ms"],
    );
    let mut holder = Client::connect(server.addr);
    holder.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(holder.response(false).status, 200);
    // The only worker now waits on `holder`'s next request; `waiting` queues behind it.
    let started = Instant::now();
    let mut waiting = Client::connect(server.addr);
    waiting.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(waiting.response(false).status, 200);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(300), "answered after {waited:?}, before the idle timeout");
    assert!(holder.closed_cleanly(), "the idle client was closed to free the worker");
    server.stop_cleanly();
}
