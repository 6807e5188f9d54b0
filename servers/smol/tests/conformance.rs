//! The smol variant against the whole spec, over real TCP, plus ab and curl, `/sleep` waiting
//! on a timer, `/offload` on the blocking pool, and `/work` on the executor.

server_conformance::suite!(smol, env!("CARGO_BIN_EXE_server-smol"));
server_conformance::waiting_suite!(smol_waiting, env!("CARGO_BIN_EXE_server-smol"));
server_conformance::event_loop_suite!(smol_event_loop, env!("CARGO_BIN_EXE_server-smol"));
server_conformance::files_suite!(smol_files, env!("CARGO_BIN_EXE_server-smol"));
