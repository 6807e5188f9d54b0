//! The smol variant against the whole spec, over real TCP, plus ab and curl.

server_conformance::suite!(smol, env!("CARGO_BIN_EXE_server-smol"));
