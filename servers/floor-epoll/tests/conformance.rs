//! The floor-epoll variant against the whole spec, over real TCP, plus ab and curl, `/sleep`
//! waiting on its timer heap, `/offload` on its helper thread, and `/work` on the loop.

server_conformance::suite!(floor_epoll, env!("CARGO_BIN_EXE_server-floor-epoll"));
server_conformance::waiting_suite!(floor_epoll_waiting, env!("CARGO_BIN_EXE_server-floor-epoll"));
server_conformance::event_loop_suite!(floor_epoll_event_loop, env!("CARGO_BIN_EXE_server-floor-epoll"));
server_conformance::files_suite!(floor_epoll_files, env!("CARGO_BIN_EXE_server-floor-epoll"));
