//! The glommio variant against the whole spec, over real TCP, plus ab and curl, proof that
//! it really uses io_uring, its locked-memory message, `/sleep` and `/offload` not holding up
//! the executor, and `/work` on it.

server_conformance::suite!(glommio, env!("CARGO_BIN_EXE_server-glommio"));
server_conformance::uring_suite!(env!("CARGO_BIN_EXE_server-glommio"));
server_conformance::waiting_suite!(glommio_waiting, env!("CARGO_BIN_EXE_server-glommio"));
server_conformance::event_loop_suite!(glommio_event_loop, env!("CARGO_BIN_EXE_server-glommio"));
server_conformance::files_suite!(glommio_files, env!("CARGO_BIN_EXE_server-glommio"));
server_conformance::files_ring_suite!(env!("CARGO_BIN_EXE_server-glommio"));
