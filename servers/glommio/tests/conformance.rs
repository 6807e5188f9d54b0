//! The glommio variant against the whole spec, over real TCP, plus ab and curl, proof that
//! it really uses io_uring, and its locked-memory message.

server_conformance::suite!(glommio, env!("CARGO_BIN_EXE_server-glommio"));
server_conformance::uring_suite!(env!("CARGO_BIN_EXE_server-glommio"));
server_conformance::sleep_suite!(glommio_sleep, env!("CARGO_BIN_EXE_server-glommio"));
server_conformance::files_suite!(glommio_files, env!("CARGO_BIN_EXE_server-glommio"));
server_conformance::files_ring_suite!(env!("CARGO_BIN_EXE_server-glommio"));
