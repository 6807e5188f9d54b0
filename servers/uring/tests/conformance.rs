//! The tokio-uring variant against the whole spec, over real TCP, plus ab and curl, and
//! proof that it really uses io_uring.

server_conformance::suite!(tokio_uring, env!("CARGO_BIN_EXE_server-uring"));
server_conformance::uring_suite!(env!("CARGO_BIN_EXE_server-uring"));
server_conformance::sleep_suite!(tokio_uring_sleep, env!("CARGO_BIN_EXE_server-uring"));
server_conformance::files_suite!(tokio_uring_files, env!("CARGO_BIN_EXE_server-uring"));
server_conformance::files_ring_suite!(env!("CARGO_BIN_EXE_server-uring"));
