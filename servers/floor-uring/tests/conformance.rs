//! The floor-uring variant against the whole spec, over real TCP, plus ab and curl, and proof
//! that it really uses io_uring.

server_conformance::suite!(floor_uring, env!("CARGO_BIN_EXE_server-floor-uring"));
server_conformance::uring_suite!(env!("CARGO_BIN_EXE_server-floor-uring"));
server_conformance::sleep_suite!(floor_uring_sleep, env!("CARGO_BIN_EXE_server-floor-uring"));
server_conformance::files_suite!(floor_uring_files, env!("CARGO_BIN_EXE_server-floor-uring"));
server_conformance::files_ring_suite!(env!("CARGO_BIN_EXE_server-floor-uring"));
