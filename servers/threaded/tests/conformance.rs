//! Both thread variants against the whole spec, over real TCP, plus ab and curl.

server_conformance::suite!(thread_per_connection, env!("CARGO_BIN_EXE_thread-per-connection"));
server_conformance::suite!(thread_pool, env!("CARGO_BIN_EXE_thread-pool"));
