//! Records the build profile and optimization level (for the report header and the guard that
//! refuses to report figures from an unoptimized build), and the locked versions of the
//! runtime crates the built-in variants use (for `results.json`'s per-variant facts).

use std::process::Command;

/// The crates whose versions a reader of the results needs: the variants' runtimes.
const RUNTIMES: [&str; 8] =
    ["tokio-uring", "glommio", "smol", "tokio", "monoio", "threadpool", "io-uring", "mio"];

fn main() {
    let profile = std::env::var("PROFILE").unwrap_or_else(|_| "unknown".into());
    let opt_level = std::env::var("OPT_LEVEL").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=HARNESS_BUILD_PROFILE={profile}");
    println!("cargo:rustc-env=HARNESS_OPT_LEVEL={opt_level}");
    println!("cargo:rustc-env=HARNESS_RUNTIME_VERSIONS={}", locked_versions().join(","));
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let rustc_version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_else(|| "rustc (unknown version)".into());
    println!("cargo:rustc-env=HARNESS_RUSTC_VERSION={rustc_version}");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../Cargo.lock");
}

/// `name@version` for each runtime crate in the workspace's Cargo.lock (`[[package]]` blocks
/// of `name = "…"` then `version = "…"`).
fn locked_versions() -> Vec<String> {
    let Ok(lock) = std::fs::read_to_string("../Cargo.lock") else { return Vec::new() };
    let mut found = Vec::new();
    let mut name: Option<&str> = None;
    for line in lock.lines() {
        let quoted = |key: &str| {
            line.strip_prefix(key).map(|rest| rest.trim_start_matches([' ', '=']).trim_matches('"'))
        };
        if let Some(value) = quoted("name") {
            name = Some(value);
        } else if let (Some(version), Some(crate_name)) = (quoted("version"), name.take()) {
            if RUNTIMES.contains(&crate_name) {
                found.push(format!("{crate_name}@{version}"));
            }
        }
    }
    found
}
