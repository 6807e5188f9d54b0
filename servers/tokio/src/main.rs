//! The `tokio` server: tokio's multi-thread runtime over epoll.
//!
//! Run: `cargo run --release -p server-tokio -- --port 45003 --workers 1`

fn main() -> std::process::ExitCode {
    server_common::main(&server_tokio::VARIANT)
}
