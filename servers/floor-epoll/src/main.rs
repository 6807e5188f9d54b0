//! The `floor-epoll` server: no runtime, one raw edge-triggered epoll loop per thread.
//!
//! Run: `cargo run --release -p server-floor-epoll -- --port 45005 --workers 1`

fn main() -> std::process::ExitCode {
    server_common::main(&server_floor_epoll::VARIANT)
}
