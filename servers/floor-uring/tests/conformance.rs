//! The floor-uring variant against the whole spec, over real TCP, plus ab and curl, proof that
//! it really uses io_uring, `/sleep` and `/offload` not holding up the loop, and `/work` on it.

server_conformance::suite!(floor_uring, env!("CARGO_BIN_EXE_server-floor-uring"));
server_conformance::uring_suite!(env!("CARGO_BIN_EXE_server-floor-uring"));
server_conformance::waiting_suite!(floor_uring_waiting, env!("CARGO_BIN_EXE_server-floor-uring"));
server_conformance::event_loop_suite!(floor_uring_event_loop, env!("CARGO_BIN_EXE_server-floor-uring"));
server_conformance::files_suite!(floor_uring_files, env!("CARGO_BIN_EXE_server-floor-uring"));
server_conformance::files_ring_suite!(env!("CARGO_BIN_EXE_server-floor-uring"));
