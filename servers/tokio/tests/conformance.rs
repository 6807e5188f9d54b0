//! The tokio variant against the whole spec, over real TCP, plus ab and curl, and `/sleep`
//! waiting on a timer.

server_conformance::suite!(tokio, env!("CARGO_BIN_EXE_server-tokio"));
server_conformance::sleep_suite!(tokio_sleep, env!("CARGO_BIN_EXE_server-tokio"));
server_conformance::files_suite!(tokio_files, env!("CARGO_BIN_EXE_server-tokio"));
