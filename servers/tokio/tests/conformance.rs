//! The tokio variant against the whole spec, over real TCP, plus ab and curl.

server_conformance::suite!(tokio, env!("CARGO_BIN_EXE_server-tokio"));
