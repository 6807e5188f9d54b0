//! The floor-epoll variant against the whole spec, over real TCP, plus ab and curl.

server_conformance::suite!(floor_epoll, env!("CARGO_BIN_EXE_server-floor-epoll"));
