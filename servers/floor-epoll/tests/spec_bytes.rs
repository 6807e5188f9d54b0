//! floor-epoll answers with the spec's own bytes (apart from `Date`): the requests of the
//! harness's cross-variant byte-identity test, compared with `server_spec::reference` here,
//! so the check runs before the variant is in the harness's registry.

use server_conformance::client::{mask_date, Client};
use server_conformance::ServerProcess;

const SERVER: &str = env!("CARGO_BIN_EXE_server-floor-epoll");

/// The byte-identity test's requests (`harness/tests/cross_variant.rs`); each is sent on its
/// own connection, which the client half-closes so the whole answer can be read to the end.
const REQUESTS: &[&[u8]] = &[
    b"GET / HTTP/1.1\r\nHost: t\r\n\r\n",
    b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET / HTTP/1.0\r\n\r\n",
    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET /bytes/1000 HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET /sleep/1 HTTP/1.1\r\nHost: t\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nping",
    b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
    b"GET /missing HTTP/1.1\r\nHost: t\r\n\r\n",
    b"DELETE / HTTP/1.1\r\nHost: t\r\n\r\n",
    b"BREW / HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET / HTTP/1.1\r\n\r\n",
    b"GET / HTTP/2.0\r\nHost: t\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: t\r\n\r\nGET /bytes/3 HTTP/1.1\r\nHost: t\r\n\r\n",
];

#[test]
fn answers_are_the_specs_byte_for_byte() {
    let server = ServerProcess::start(SERVER, &["--workers", "2"]);
    for request in REQUESTS {
        let mut client = Client::connect(server.addr);
        client.send(request);
        client.stream.shutdown(std::net::Shutdown::Write).expect("half-close");
        let got = mask_date(&client.read_to_close().expect("read the answer"));
        let want = server_spec::reference::answer(request);
        assert!(
            got == want,
            "answer to {:?} differs from the spec:\n got: {:?}\nwant: {:?}",
            String::from_utf8_lossy(request),
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want)
        );
    }
    server.stop_cleanly();
}
