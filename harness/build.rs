//! Records the build profile and optimization level, for the report header and the guard
//! that refuses to report figures from an unoptimized build.

fn main() {
    let profile = std::env::var("PROFILE").unwrap_or_else(|_| "unknown".into());
    let opt_level = std::env::var("OPT_LEVEL").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=HARNESS_BUILD_PROFILE={profile}");
    println!("cargo:rustc-env=HARNESS_OPT_LEVEL={opt_level}");
    println!("cargo:rerun-if-changed=build.rs");
}
