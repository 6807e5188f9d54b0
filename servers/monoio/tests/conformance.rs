//! The monoio variant against the whole spec, over real TCP, plus ab and curl, and proof
//! that it really uses io_uring.

server_conformance::suite!(monoio, env!("CARGO_BIN_EXE_server-monoio"));
server_conformance::uring_suite!(env!("CARGO_BIN_EXE_server-monoio"));
server_conformance::sleep_suite!(monoio_sleep, env!("CARGO_BIN_EXE_server-monoio"));
server_conformance::files_suite!(monoio_files, env!("CARGO_BIN_EXE_server-monoio"));
server_conformance::files_ring_suite!(env!("CARGO_BIN_EXE_server-monoio"));
