//! The monoio variant against the whole spec, over real TCP, plus ab and curl, proof that it
//! really uses io_uring, `/sleep` and `/offload` not holding up the runtime, and `/work` on it.

server_conformance::suite!(monoio, env!("CARGO_BIN_EXE_server-monoio"));
server_conformance::uring_suite!(env!("CARGO_BIN_EXE_server-monoio"));
server_conformance::waiting_suite!(monoio_waiting, env!("CARGO_BIN_EXE_server-monoio"));
server_conformance::event_loop_suite!(monoio_event_loop, env!("CARGO_BIN_EXE_server-monoio"));
server_conformance::files_suite!(monoio_files, env!("CARGO_BIN_EXE_server-monoio"));
server_conformance::files_ring_suite!(env!("CARGO_BIN_EXE_server-monoio"));
