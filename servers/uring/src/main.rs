//! The `tokio-uring` server: one io_uring runtime per thread, `SO_REUSEPORT` listeners.
//!
//! Run: `cargo run --release -p server-uring -- --port 45000 --workers 1`

fn main() -> std::process::ExitCode {
    server_common::main(&server_uring::VARIANT)
}
