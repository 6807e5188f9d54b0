//! The `glommio` server: glommio's io_uring executor pool, one listener per executor.
//!
//! Run: `cargo run --release -p server-glommio -- --port 45001 --workers 1`

fn main() -> std::process::ExitCode {
    server_common::main(&server_glommio::VARIANT)
}
