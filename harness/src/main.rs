//! `harness`: see the crate docs, or run `harness --help`.

fn main() -> std::process::ExitCode {
    harness::cli::run()
}
