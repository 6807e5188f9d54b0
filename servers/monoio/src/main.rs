//! The `monoio` server: monoio's io_uring driver, one runtime per thread.
//!
//! Run: `cargo run --release -p server-monoio -- --port 45004 --workers 1`

fn main() -> std::process::ExitCode {
    server_common::main(&server_monoio::VARIANT)
}
