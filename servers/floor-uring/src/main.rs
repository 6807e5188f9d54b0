//! The `floor-uring` server: no runtime, one hand-driven io_uring per thread.
//!
//! Run: `cargo run --release -p server-floor-uring -- --port 45006 --workers 1`

fn main() -> std::process::ExitCode {
    server_common::main(&server_floor_uring::VARIANT)
}
