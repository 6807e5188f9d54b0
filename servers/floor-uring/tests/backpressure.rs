//! The recv stays armed while a response is written, so input that keeps arriving meanwhile
//! must be bounded (the recv pauses) and yet never lost (it resumes at the next read).

use std::io::Write;
use std::time::Duration;

use server_conformance::client::Client;
use server_conformance::ServerProcess;

/// Far more pipelined input than a connection takes while it is busy writing (64 KiB).
const REQUESTS: usize = 5000;

#[test]
fn a_pipelining_flood_is_answered_in_order() {
    let server = ServerProcess::start(env!("CARGO_BIN_EXE_server-floor-uring"), &["--workers", "1"]);
    let mut client = Client::connect(server.addr);
    let mut writer = client.stream.try_clone().expect("clone the stream");
    // Written from another thread, all at once, while responses are read here: the server
    // sees input arrive during its writes.
    let flood = std::thread::spawn(move || {
        let mut batch = Vec::new();
        for i in 0..REQUESTS {
            batch.extend_from_slice(format!("GET /bytes/{} HTTP/1.1\r\nHost: t\r\n\r\n", i % 300).as_bytes());
        }
        writer.write_all(&batch).expect("send the flood");
    });
    for i in 0..REQUESTS {
        let response = client.response(false);
        assert_eq!((response.status, response.body.len()), (200, i % 300), "response {i}");
    }
    flood.join().expect("writer thread");
    server.stop_cleanly();
}

/// A client that sends without ever reading is closed by the write timeout, however much it
/// keeps sending; the server keeps serving others.
#[test]
fn a_client_that_never_reads_is_closed() {
    let server = ServerProcess::start(
        env!("CARGO_BIN_EXE_server-floor-uring"),
        &["--workers", "1", "--write-timeout", "300ms"],
    );
    let mut client = Client::connect_with_receive_buffer(server.addr, 4096);
    client.stream.set_write_timeout(Some(Duration::from_secs(5))).expect("write timeout");
    // 42 KB a batch; 1000 batches are far more than the kernel's socket buffers hold.
    let batch = b"GET /bytes/1000000 HTTP/1.1\r\nHost: t\r\n\r\n".repeat(1000);
    // The server stops taking input once its recv pauses, so these writes stall, then fail
    // when the server closes the connection.
    let result = (0..1000).try_for_each(|_| client.stream.write_all(&batch));
    let err = result.expect_err("the server took 42 MB of requests it could not answer");
    assert!(
        !matches!(err.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
        "the stalled connection was not closed: {err}"
    );
    let mut other = Client::connect(server.addr);
    other.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(other.response(false).status, 200);
    server.stop_cleanly();
}
