//! The tokio variant against the whole spec, over real TCP, plus ab and curl, `/sleep` waiting
//! on a timer, `/offload` on the blocking pool, and `/work` on the worker.

server_conformance::suite!(tokio, env!("CARGO_BIN_EXE_server-tokio"));
server_conformance::waiting_suite!(tokio_waiting, env!("CARGO_BIN_EXE_server-tokio"));
server_conformance::event_loop_suite!(tokio_event_loop, env!("CARGO_BIN_EXE_server-tokio"));
server_conformance::files_suite!(tokio_files, env!("CARGO_BIN_EXE_server-tokio"));
