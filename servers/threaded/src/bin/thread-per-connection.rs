//! The `thread-per-connection` server: one OS thread per connection.
//!
//! Run: `cargo run --release -p server-threaded --bin thread-per-connection -- --port 46000`

fn main() -> std::process::ExitCode {
    server_common::main(&server_threaded::THREAD_PER_CONNECTION)
}
