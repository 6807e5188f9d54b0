//! The `smol` server: one async-executor run by N threads, async-io over epoll.
//!
//! Run: `cargo run --release -p server-smol -- --port 45002 --workers 1`

fn main() -> std::process::ExitCode {
    server_common::main(&server_smol::VARIANT)
}
