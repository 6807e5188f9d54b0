//! Every registered variant answers the same requests with the same bytes, apart from `Date`.

use server_conformance::client::{mask_date, Client};
use server_conformance::ServerProcess;

const HARNESS: &str = env!("CARGO_BIN_EXE_harness");

/// Requests covering every route, refusal and connection rule; each is sent on its own
/// connection, which the client half-closes so the whole answer can be read to the end.
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

fn answers(variant: &str) -> Vec<Vec<u8>> {
    let server = ServerProcess::start(HARNESS, &["serve", variant, "--workers", "2"]);
    let answers = REQUESTS
        .iter()
        .map(|request| {
            let mut client = Client::connect(server.addr);
            client.send(request);
            client.stream.shutdown(std::net::Shutdown::Write).expect("half-close");
            mask_date(&client.read_to_close().expect("read the answer"))
        })
        .collect();
    server.stop_cleanly();
    answers
}

#[test]
fn every_variant_answers_byte_identically() {
    let variants = harness::registry::VARIANTS;
    let reference = answers(variants[0].name);
    for variant in &variants[1..] {
        let got = answers(variant.name);
        for ((request, want), got) in REQUESTS.iter().zip(&reference).zip(&got) {
            assert!(
                want == got,
                "{} and {} differ on {:?}:\n{:?}\n{:?}",
                variants[0].name,
                variant.name,
                String::from_utf8_lossy(request),
                String::from_utf8_lossy(want),
                String::from_utf8_lossy(got)
            );
        }
    }
}
