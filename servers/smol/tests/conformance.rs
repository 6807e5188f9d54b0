//! The smol variant against the whole spec, over real TCP, plus ab and curl, and `/sleep`
//! waiting on a timer.

server_conformance::suite!(smol, env!("CARGO_BIN_EXE_server-smol"));
server_conformance::sleep_suite!(smol_sleep, env!("CARGO_BIN_EXE_server-smol"));
server_conformance::files_suite!(smol_files, env!("CARGO_BIN_EXE_server-smol"));
