//! The `thread-pool` server: `--workers` pool threads, one connection per job.
//!
//! Run: `cargo run --release -p server-threaded --bin thread-pool -- --port 46001 --workers 4`

fn main() -> std::process::ExitCode {
    server_common::main(&server_threaded::THREAD_POOL)
}
