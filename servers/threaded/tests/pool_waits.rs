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

/// Slow clients hold a pool's workers for one header timeout, counted from accept, not once
/// per client: connections that waited in the queue past their deadline are closed when a
/// worker reaches them, without holding it for another timeout.
#[test]
fn queued_connections_expire_from_accept() {
    let timeout = Duration::from_millis(800);
    let server = ServerProcess::start(
        env!("CARGO_BIN_EXE_thread-pool"),
        &["--workers", "1", "--header-timeout", "800ms"],
    );
    let started = Instant::now();
    // Five silent clients: the first holds the only worker, four wait in the queue.
    let silent: Vec<Client> = (0..5).map(|_| Client::connect(server.addr)).collect();
    // Half a timeout later, so this client's own deadline falls well after the first one's.
    std::thread::sleep(timeout / 2);
    let mut client = Client::connect(server.addr);
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(client.response(false).status, 200);
    let waited = started.elapsed();
    // Had each silent client held the worker for its own timeout, the answer would come
    // after 5 × 800 ms (and the client itself would have expired in the queue).
    assert!(waited < 3 * timeout, "answered after {waited:?}: queued clients each held the worker");
    assert!(
        waited >= timeout - Duration::from_millis(100),
        "answered after {waited:?}, before the first timeout"
    );
    for mut client in silent {
        assert!(client.closed_cleanly(), "a silent client is closed");
    }
    server.stop_cleanly();
}
