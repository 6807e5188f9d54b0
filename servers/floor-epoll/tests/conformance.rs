//! The floor-epoll variant against the whole spec, over real TCP, plus ab and curl, and
//! `/sleep` waiting on its timer heap.

server_conformance::suite!(floor_epoll, env!("CARGO_BIN_EXE_server-floor-epoll"));
server_conformance::sleep_suite!(floor_epoll_sleep, env!("CARGO_BIN_EXE_server-floor-epoll"));
server_conformance::files_suite!(floor_epoll_files, env!("CARGO_BIN_EXE_server-floor-epoll"));
