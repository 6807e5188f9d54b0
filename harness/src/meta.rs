//! Facts about the machine, the build and the source, for the report header.

use std::process::Command;

/// The build profile and optimization level, e.g. `release (opt-level 3)`.
pub fn build_profile() -> String {
    format!("{} (opt-level {})", env!("HARNESS_BUILD_PROFILE"), env!("HARNESS_OPT_LEVEL"))
}

/// Whether this harness (and so every built-in server it runs) was built without
/// optimization, which would make every figure meaningless.
pub fn unoptimized() -> bool {
    env!("HARNESS_OPT_LEVEL") == "0"
}

/// The running kernel's release.
pub fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "unknown".into(), |s| s.trim().to_owned())
}

/// The CPU model name.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split(':').nth(1))
                .map(|name| name.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// The source's git commit (short), with `+dirty` for uncommitted changes.
pub fn git_commit() -> String {
    let run = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    match run(&["rev-parse", "--short", "HEAD"]) {
        Some(commit) => {
            let dirty =
                run(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
            format!("{commit}{}", if dirty { "+dirty" } else { "" })
        }
        None => "unknown (not a git checkout)".into(),
    }
}

/// Now, as RFC 3339 UTC (`2026-11-27T05:40:00Z`).
pub fn now_utc() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// Now as Unix milliseconds.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
