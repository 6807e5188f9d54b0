//! The checks. Each takes a function that starts the server under test with extra
//! arguments, runs against it over real TCP, and stops it with SIGTERM, asserting exit 0.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use server_spec::response::pattern_byte;

use crate::client::{exchange, mask_date, Client};
use crate::ServerProcess;

/// Starts the server under test with extra arguments.
pub type Start<'a> = &'a dyn Fn(&[&str]) -> ServerProcess;

/// Runs `check` against a fresh server, then stops it cleanly.
fn with_server(start: Start<'_>, args: &[&str], check: impl FnOnce(SocketAddr)) {
    let server = start(args);
    check(server.addr);
    // The server survived whatever the check sent: it still answers.
    assert_eq!(get(server.addr, "/").status, 200, "server stopped serving");
    server.stop_cleanly();
}

/// Sends each request on one kept-alive connection and expects its refusal — the status and
/// `Allow` given — with the connection left open for the next.
fn refused_and_kept_open(client: &mut Client, cases: &[(&[u8], u16, Option<&str>)]) {
    for &(request, status, allow) in cases {
        client.send(request);
        let response = client.response(false);
        assert_eq!(response.status, status, "{:?}", String::from_utf8_lossy(request));
        assert_eq!(response.header("Allow"), allow);
        assert_eq!(response.header("Connection"), None, "the connection stays open");
    }
}

fn get(addr: SocketAddr, path: &str) -> crate::client::Response {
    exchange(addr, format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
}

/// Asserts the server's answer to `request` is the spec's, byte for byte apart from Date.
fn assert_spec_bytes(addr: SocketAddr, request: &[u8]) {
    let mut client = Client::connect(addr);
    client.send(request);
    // Ask the server to close after answering, so everything it sends can be read to the end.
    client.stream.shutdown(std::net::Shutdown::Write).expect("shutdown");
    let got = mask_date(&client.read_to_close().expect("read to close"));
    let want = server_spec::reference::answer(request);
    assert!(
        got == want,
        "answer to {:?} differs from the spec:\n got: {:?}\nwant: {:?}",
        String::from_utf8_lossy(request),
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&want)
    );
}

pub fn hello_is_byte_exact(start: Start<'_>) {
    with_server(start, &[], |addr| {
        let response = get(addr, "/");
        assert_eq!(response.status, 200);
        assert_eq!(response.body, b"Hello, world!\n");
        assert_eq!(response.header("Server"), Some("runtime-matrix"));
        assert_eq!(response.header("Content-Type"), Some("text/plain; charset=utf-8"));
        let date = response.header("Date").expect("Date field");
        assert!(date.ends_with(" GMT") && date.len() == 29, "{date}");
        assert!((120..=160).contains(&response.raw.len()), "{} bytes", response.raw.len());
        for request in [
            &b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"[..],
            b"GET /?q=1 HTTP/1.1\r\nHost: t\r\n\r\n",
            b"GET http://t/ HTTP/1.1\r\nHost: t\r\n\r\n",
            b"GET / HTTP/1.0\r\n\r\n",
            b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n",
            b"GET /bytes/100 HTTP/1.1\r\nHost: t\r\n\r\n",
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
            b"DELETE / HTTP/1.1\r\nHost: t\r\n\r\n",
            b"BREW / HTTP/1.1\r\nHost: t\r\n\r\n",
            b"GET /missing HTTP/1.1\r\nHost: t\r\n\r\n",
            b"GET / HTTP/1.1\r\n\r\n",
        ] {
            assert_spec_bytes(addr, request);
        }
    });
}

pub fn head_has_no_body(start: Start<'_>) {
    with_server(start, &[], |addr| {
        let mut client = Client::connect(addr);
        client.send(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\nHEAD /bytes/1000 HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n");
        let head = client.response(true);
        assert_eq!((head.status, head.header("Content-Length")), (200, Some("14")));
        assert!(head.body.is_empty());
        let head = client.response(true);
        assert_eq!(head.header("Content-Length"), Some("1000"));
        // Had HEAD sent a body, it would be read here instead of the GET's response.
        assert_eq!(client.response(false).body, b"Hello, world!\n");
    });
}

pub fn every_route(start: Start<'_>) {
    with_server(start, &[], |addr| {
        assert_eq!(get(addr, "/bytes/0").body.len(), 0);
        let bytes = get(addr, "/bytes/100000");
        assert_eq!(bytes.header("Content-Type"), Some("application/octet-stream"));
        assert_eq!(bytes.body.len(), 100_000);
        assert!(bytes.body.iter().enumerate().all(|(i, b)| *b == pattern_byte(i as u64)));
        let started = Instant::now();
        assert_eq!(get(addr, "/sleep/100").status, 200);
        assert!(started.elapsed() >= Duration::from_millis(100), "slept {:?}", started.elapsed());
        let echo = exchange(addr, b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world");
        assert_eq!(echo.body, b"hello world");
        let echo = exchange(addr, b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
        assert_eq!((echo.status, echo.body.len()), (200, 0));
        let absolute = exchange(addr, b"GET http://t/bytes/3?x HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(absolute.body, b"ABC");
    });
}

pub fn refusals_keep_the_connection(start: Start<'_>) {
    with_server(start, &[], |addr| {
        let mut client = Client::connect(addr);
        let cases: [(&[u8], u16, Option<&str>); 7] = [
            (b"GET /missing HTTP/1.1\r\nHost: t\r\n\r\n", 404, None),
            (b"PUT / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi", 405, Some("GET, HEAD, POST")),
            (b"GET /echo HTTP/1.1\r\nHost: t\r\n\r\n", 405, Some("POST")),
            (b"POST /bytes/1 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", 405, Some("GET, HEAD")),
            (b"BREW / HTTP/1.1\r\nHost: t\r\n\r\n", 501, None),
            (b"GET /bytes/abc HTTP/1.1\r\nHost: t\r\n\r\n", 400, None),
            (b"GET /bytes/16777217 HTTP/1.1\r\nHost: t\r\n\r\n", 413, None),
        ];
        refused_and_kept_open(&mut client, &cases);
        client.send(b"GET /sleep/10001 HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(client.response(false).status, 400);
        assert_eq!(client.response(false).status, 200);
    });
}

pub fn keep_alive_http11(start: Start<'_>) {
    with_server(start, &[], |addr| {
        let mut client = Client::connect(addr);
        for _ in 0..3 {
            client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
            let response = client.response(false);
            assert_eq!((response.status, response.header("Connection")), (200, None));
        }
    });
}

pub fn http10_closes(start: Start<'_>) {
    with_server(start, &[], |addr| {
        let mut client = Client::connect(addr);
        client.send(b"GET / HTTP/1.0\r\n\r\n");
        let response = client.response(false);
        assert_eq!(response.header("Connection"), Some("close"));
        assert!(client.closed_cleanly(), "HTTP/1.0 without keep-alive must close");
    });
}

pub fn http10_keep_alive(start: Start<'_>) {
    with_server(start, &[], |addr| {
        let mut client = Client::connect(addr);
        for _ in 0..3 {
            client.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
            assert_eq!(client.response(false).header("Connection"), Some("keep-alive"));
        }
        client.send(b"GET / HTTP/1.0\r\n\r\n");
        assert_eq!(client.response(false).header("Connection"), Some("close"));
        assert!(client.closed_cleanly());
    });
}

pub fn close_stops_answering(start: Start<'_>) {
    with_server(start, &[], |addr| {
        let mut client = Client::connect(addr);
        client
            .send(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(client.response(false).header("Connection"), Some("close"));
        let rest = client.read_to_close().expect("a clean close, not a reset");
        assert!(rest.is_empty(), "answered after Connection: close: {:?}", String::from_utf8_lossy(&rest));
    });
}

pub fn pipelined_in_order(start: Start<'_>) {
    with_server(start, &[], |addr| {
        let mut client = Client::connect(addr);
        let mut batch = Vec::new();
        for n in [5, 0, 300, 7] {
            batch.extend_from_slice(format!("GET /bytes/{n} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        }
        batch.extend_from_slice(
            b"GET /sleep/20 HTTP/1.1\r\nHost: t\r\n\r\nGET /missing HTTP/1.1\r\nHost: t\r\n\r\n",
        );
        client.send(&batch);
        for n in [5, 0, 300, 7] {
            assert_eq!(client.response(false).body.len(), n);
        }
        assert_eq!(client.response(false).body, b"Hello, world!\n");
        assert_eq!(client.response(false).status, 404);
    });
}

/// `/work/{µs}` and `/offload/{µs}`: the spec's bytes (the greeting), HEAD, their refusals
/// (which keep the connection), and answers in order when pipelined between others.
pub fn work_and_offload(start: Start<'_>) {
    with_server(start, &[], |addr| {
        for request in [
            &b"GET /work/0 HTTP/1.1\r\nHost: t\r\n\r\n"[..],
            b"GET /work/100 HTTP/1.1\r\nHost: t\r\n\r\n",
            b"GET /offload/100 HTTP/1.1\r\nHost: t\r\n\r\n",
            b"HEAD /work/10 HTTP/1.1\r\nHost: t\r\n\r\n",
            b"HEAD /offload/10 HTTP/1.1\r\nHost: t\r\n\r\n",
            b"GET /offload/10 HTTP/1.0\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: t\r\n\r\nGET /offload/50 HTTP/1.1\r\nHost: t\r\n\r\nGET /work/50 HTTP/1.1\r\nHost: t\r\n\r\nGET /bytes/3 HTTP/1.1\r\nHost: t\r\n\r\n",
        ] {
            assert_spec_bytes(addr, request);
        }
        let mut client = Client::connect(addr);
        let cases: [(&[u8], u16, Option<&str>); 6] = [
            (b"GET /work/1000001 HTTP/1.1\r\nHost: t\r\n\r\n", 400, None),
            (b"GET /offload/1000001 HTTP/1.1\r\nHost: t\r\n\r\n", 400, None),
            (b"GET /work/ten HTTP/1.1\r\nHost: t\r\n\r\n", 400, None),
            (b"GET /offload/-1 HTTP/1.1\r\nHost: t\r\n\r\n", 400, None),
            (b"POST /work/1 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", 405, Some("GET, HEAD")),
            (b"GET /work HTTP/1.1\r\nHost: t\r\n\r\n", 404, None),
        ];
        refused_and_kept_open(&mut client, &cases);
        client.send(b"GET /offload/1000 HTTP/1.1\r\nHost: t\r\n\r\nGET /work/1000 HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n");
        for _ in 0..3 {
            assert_eq!(client.response(false).body, b"Hello, world!\n");
        }
    });
}

pub fn byte_at_a_time(start: Start<'_>) {
    with_server(start, &[], |addr| {
        let mut client = Client::connect(addr);
        let request = b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n";
        for byte in request {
            client.send(&[*byte]);
        }
        assert_eq!(client.response(false).body, b"abcd");
        assert_eq!(client.response(false).body, b"Hello, world!\n");
    });
}

pub fn expect_continue(start: Start<'_>) {
    with_server(start, &[], |addr| {
        let mut client = Client::connect(addr);
        client.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
        let interim = client.response(false);
        assert_eq!(interim.status, 100, "100 Continue before the body");
        client.send(b"hello");
        assert_eq!(client.response(false).body, b"hello");
        client
            .send(b"POST /missing HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
        assert_eq!(client.response(false).status, 404, "a refusal needs no body");
        assert!(client.closed_cleanly());
    });
}

pub fn chunked_bodies(start: Start<'_>) {
    with_server(start, &[], |addr| {
        let mut client = Client::connect(addr);
        client.send(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n");
        assert_eq!(client.response(false).body, b"hello world");
        client.send(b"POST /missing HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nGET\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(client.response(false).status, 404);
        assert_eq!(client.response(false).status, 200, "a discarded body is never a request");
    });
}

/// Sends `request` and asserts the status, `Connection: close`, and a clean close after it.
fn assert_refused_and_closed(addr: SocketAddr, request: &[u8], status: u16) {
    let mut client = Client::connect(addr);
    client.send(request);
    let response = client.response(false);
    let shown = String::from_utf8_lossy(&request[..request.len().min(80)]);
    assert_eq!(response.status, status, "{shown:?}");
    assert_eq!(response.header("Connection"), Some("close"), "{shown:?}");
    assert!(client.read_to_close().is_ok(), "{shown:?}: reset instead of a clean close");
}

pub fn malformed_requests(start: Start<'_>) {
    with_server(start, &[], |addr| {
        for (request, status) in [
            (&b"G@T / HTTP/1.1\r\nHost: t\r\n\r\n"[..], 400),
            (b"GET / HTTP/1.1\r\nHost : t\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: t\rX: y\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: t\x00\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: t\x7f\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: t\r\n folded\r\n\r\n", 400),
            (b"GET /\xc3\xa9 HTTP/1.1\r\nHost: t\r\n\r\n", 400),
            (b"GET /\r\nHost: t\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
            (b"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505),
            (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc", 400),
            (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: -3\r\n\r\n", 400),
            (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
            (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY", 400),
        ] {
            assert_refused_and_closed(addr, request, status);
        }
    });
}

/// Bytes that cannot be a request are answered 400 at once, not after the header timeout
/// (10 s here): a TLS hello, an SSH banner, a binary blob.
pub fn garbage_is_refused_at_once(start: Start<'_>) {
    with_server(start, &["--header-timeout", "10s"], |addr| {
        let blob: Vec<u8> = (0..1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        for garbage in
            [&b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"[..], b"SSH-2.0-OpenSSH_9.2\r\n", &blob]
        {
            let started = Instant::now();
            assert_refused_and_closed(addr, garbage, 400);
            let took = started.elapsed();
            assert!(took < Duration::from_secs(5), "answered after {took:?}, as if waiting for a timeout");
        }
    });
}

/// A client that asks for a large body and never reads it is closed once the server's writes
/// make no progress for the write timeout; others are served meanwhile.
pub fn stalled_reader_is_closed(start: Start<'_>) {
    with_server(start, &["--write-timeout", "300ms", "--workers", "2"], |addr| {
        let mut stalled = Client::connect_with_receive_buffer(addr, 4096);
        stalled.send(b"GET /bytes/16777216 HTTP/1.1\r\nHost: t\r\n\r\n");
        // Long enough for the server's send buffer to fill and the timeout to pass.
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(get(addr, "/").status, 200, "others are served meanwhile");
        let (received, end) = stalled.drain_to_end();
        assert!(received < 16 << 20, "the whole body arrived ({received} bytes): nothing was cut");
        assert!(
            matches!(end.kind(), std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset),
            "after {received} bytes the connection is still open ({end}): the stalled write was not closed"
        );
    });
}

pub fn oversized_requests(start: Start<'_>) {
    with_server(start, &[], |addr| {
        let long_target = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(9000));
        assert_refused_and_closed(addr, long_target.as_bytes(), 414);
        let big_field = format!("GET / HTTP/1.1\r\nHost: t\r\nX: {}\r\n\r\n", "a".repeat(9000));
        assert_refused_and_closed(addr, big_field.as_bytes(), 431);
        let mut many = String::from("GET / HTTP/1.1\r\nHost: t\r\n");
        for i in 0..101 {
            many.push_str(&format!("X-{i}: v\r\n"));
        }
        many.push_str("\r\n");
        assert_refused_and_closed(addr, many.as_bytes(), 431);
    });
}

pub fn body_limits(start: Start<'_>) {
    with_server(start, &[], |addr| {
        // Declared over the limit: answered at once, without waiting for (or allocating) it.
        assert_refused_and_closed(
            addr,
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1048577\r\n\r\n",
            413,
        );
        assert_refused_and_closed(
            addr,
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            413,
        );
        assert_refused_and_closed(
            addr,
            b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n100001\r\n",
            413,
        );
        // Exactly at the limit is accepted.
        let mut client = Client::connect(addr);
        client.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1048576\r\n\r\n");
        client.send(&vec![b'x'; 1 << 20]);
        let echo = client.response(false);
        assert_eq!((echo.status, echo.body.len()), (200, 1 << 20));
    });
}

pub fn large_body(start: Start<'_>) {
    with_server(start, &[], |addr| {
        let response = get(addr, "/bytes/16777216");
        assert_eq!(response.body.len(), 16 << 20);
        let step = 4093;
        assert!((0..response.body.len()).step_by(step).all(|i| response.body[i] == pattern_byte(i as u64)));
    });
}

pub fn header_timeout_spares_others(start: Start<'_>) {
    with_server(start, &["--header-timeout", "300ms", "--workers", "4"], |addr| {
        let started = Instant::now();
        let mut silent = Client::connect(addr);
        let mut slow = Client::connect(addr);
        slow.send(b"GET / HTTP/1.1\r\n");
        // Meanwhile other clients are served.
        for _ in 0..5 {
            assert_eq!(get(addr, "/").status, 200);
        }
        assert!(silent.read_to_close().is_ok(), "a silent connection is closed");
        assert!(slow.read_to_close().is_ok(), "an incomplete head is closed");
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(250) && took < Duration::from_secs(5), "{took:?}");
    });
}

pub fn idle_timeout(start: Start<'_>) {
    with_server(start, &["--idle-timeout", "300ms", "--workers", "4"], |addr| {
        let mut client = Client::connect(addr);
        client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(client.response(false).status, 200);
        let idle_since = Instant::now();
        assert!(client.closed_cleanly(), "idle keep-alive connection is closed");
        let idle = idle_since.elapsed();
        assert!(idle >= Duration::from_millis(250) && idle < Duration::from_secs(5), "{idle:?}");
    });
}

pub fn concurrent_clients(start: Start<'_>) {
    with_server(start, &["--workers", "4"], |addr| {
        let clients: Vec<_> = (0..32)
            .map(|i| {
                std::thread::spawn(move || {
                    let mut client = Client::connect(addr);
                    for _ in 0..20 {
                        client.send(format!("GET /bytes/{i} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
                        assert_eq!(client.response(false).body.len(), i);
                    }
                })
            })
            .collect();
        for client in clients {
            client.join().expect("client thread");
        }
    });
}

pub fn sigterm_finishes_in_flight(start: Start<'_>) {
    let server = start(&[]);
    let addr = server.addr;
    let in_flight = std::thread::spawn(move || get(addr, "/sleep/500"));
    std::thread::sleep(Duration::from_millis(150));
    let (status, took) = server.stop();
    assert!(status.success(), "exit status {status}");
    assert!(took < Duration::from_millis(2500), "took {took:?}");
    let response = in_flight.join().expect("in-flight request");
    assert_eq!(response.status, 200, "the request in flight was finished");
    assert!(std::net::TcpStream::connect(addr).is_err(), "still accepting after exit");
}

pub fn ab_sweep(start: Start<'_>) {
    // Enough workers for -c 5 with keep-alive: see the thread-pool variant's documentation
    // for what happens with fewer.
    with_server(start, &["--workers", "8"], |addr| {
        for keep_alive in [false, true] {
            for concurrency in 1..=5 {
                crate::real_clients::ab(addr, 1000, concurrency, keep_alive);
            }
        }
    });
}

pub fn curl_agrees(start: Start<'_>) {
    with_server(start, &[], crate::real_clients::curl);
}

/// On one worker, a hundred connections each asking for `/sleep/200` sleep together, on the
/// runtime's timer, not one after another (which would take 20 s).
pub fn sleeps_overlap_on_one_worker(start: Start<'_>) {
    with_server(start, &["--workers", "1"], |addr| {
        let mut clients: Vec<Client> = (0..100).map(|_| Client::connect(addr)).collect();
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
        assert!(took < Duration::from_secs(1), "100 sleeps of 200 ms took {took:?}: they did not overlap");
    });
}

/// On one worker, a connection sleeping in `/sleep/1000` does not delay another's requests.
pub fn a_sleep_does_not_delay_others(start: Start<'_>) {
    with_server(start, &["--workers", "1"], |addr| {
        let mut sleeper = Client::connect(addr);
        sleeper.send(b"GET /sleep/1000 HTTP/1.1\r\nHost: t\r\n\r\n");
        let started = Instant::now();
        let mut other = Client::connect(addr);
        for _ in 0..10 {
            other.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
            assert_eq!(other.response(false).status, 200);
        }
        let took = started.elapsed();
        assert!(took < Duration::from_millis(500), "10 requests beside a sleep took {took:?}");
        assert_eq!(sleeper.response(false).status, 200);
    });
}

/// How long the computation beside the others runs, in the two checks below: long enough that
/// being held up by it shows through any noise of a shared machine.
const COMPUTE_US: u64 = 500_000;

/// On one worker, `client` asks for `path` (a computation of [`COMPUTE_US`]) while another,
/// already connected, makes ten requests; returns how long those ten took. The computing
/// client's answer is checked too.
fn beside_a_computation(addr: SocketAddr, path: &str) -> Duration {
    // Served once first, so its connection is open on the worker before the computation starts.
    let mut other = Client::connect(addr);
    other.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(other.response(false).status, 200);
    let mut computing = Client::connect(addr);
    let asked = Instant::now();
    computing.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
    // Let the computation start.
    std::thread::sleep(Duration::from_millis(50));
    let started = Instant::now();
    for _ in 0..10 {
        other.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(other.response(false).status, 200);
    }
    let took = started.elapsed();
    assert_eq!(computing.response(false).body, b"Hello, world!\n");
    let computed = asked.elapsed();
    // A lower bound only (a shared machine can only slow it down), and loose: the calibration
    // itself may have been slowed by others.
    assert!(computed >= Duration::from_micros(COMPUTE_US / 2), "{path} answered after {computed:?}");
    took
}

/// On one worker, a connection computing in `/offload` does not hold up another's requests:
/// the computation runs on the runtime's blocking facility, not on the worker.
pub fn an_offload_does_not_delay_others(start: Start<'_>) {
    with_server(start, &["--workers", "1"], |addr| {
        let took = beside_a_computation(addr, &format!("/offload/{COMPUTE_US}"));
        assert!(took < Duration::from_micros(COMPUTE_US / 2), "10 requests beside an offload took {took:?}");
    });
}

/// On one worker, a connection computing in `/work` holds up another's requests until it is
/// done: it computes on the worker itself.
pub fn work_holds_its_worker(start: Start<'_>) {
    with_server(start, &["--workers", "1"], |addr| {
        let took = beside_a_computation(addr, &format!("/work/{COMPUTE_US}"));
        assert!(
            took >= Duration::from_micros(COMPUTE_US / 2),
            "10 requests beside /work took only {took:?}: it did not compute on the worker"
        );
    });
}
