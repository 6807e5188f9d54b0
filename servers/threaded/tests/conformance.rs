//! Both thread variants against the whole spec, over real TCP, plus ab and curl;
//! thread-per-connection also sleeps and offloads many connections at once (the pool holds a
//! worker per waiting connection, by design: see `pool_waits.rs`).

server_conformance::suite!(thread_per_connection, env!("CARGO_BIN_EXE_thread-per-connection"));
server_conformance::suite!(thread_pool, env!("CARGO_BIN_EXE_thread-pool"));
server_conformance::waiting_suite!(
    thread_per_connection_waiting,
    env!("CARGO_BIN_EXE_thread-per-connection")
);
server_conformance::files_suite!(thread_per_connection_files, env!("CARGO_BIN_EXE_thread-per-connection"));
server_conformance::files_suite!(thread_pool_files, env!("CARGO_BIN_EXE_thread-pool"));
