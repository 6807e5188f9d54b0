//! A pin that cannot be applied is reported with what was really in force, never claimed.
//!
//! The harness runs inside a cpuset cgroup (v1) that allows only CPU 0 while the matrix asks
//! for CPU 1: every pin fails, and the results must say so and record CPU 0.

mod support;

use std::path::PathBuf;
use std::process::Command;

use support::{results_json, text, Scratch, HARNESS};

/// A cpuset cgroup allowing only CPU 0, removed when dropped.
struct CpuZeroOnly {
    path: PathBuf,
}

impl CpuZeroOnly {
    fn create() -> Result<CpuZeroOnly, String> {
        let root = PathBuf::from("/sys/fs/cgroup/cpuset");
        if !root.join("cpuset.cpus").exists() {
            return Err("no cgroup v1 cpuset hierarchy at /sys/fs/cgroup/cpuset".into());
        }
        let path = root.join(format!("runtime-matrix-test-{}", std::process::id()));
        std::fs::create_dir(&path).map_err(|err| format!("cannot create {}: {err}", path.display()))?;
        let cgroup = CpuZeroOnly { path };
        for (file, value) in [("cpuset.cpus", "0"), ("cpuset.mems", "0")] {
            std::fs::write(cgroup.path.join(file), value)
                .map_err(|err| format!("cannot set {file}: {err}"))?;
        }
        Ok(cgroup)
    }
}

impl Drop for CpuZeroOnly {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.path);
    }
}

#[test]
fn a_pin_that_cannot_be_applied_is_reported_as_it_was() {
    if support::available_cpus() < 2 {
        eprintln!("SKIPPED: this machine has one CPU, so no pin can be refused");
        return;
    }
    let cgroup = match CpuZeroOnly::create() {
        Ok(cgroup) => cgroup,
        Err(why) => {
            eprintln!("SKIPPED: cannot make a cpuset cgroup to refuse a pin ({why})");
            return;
        }
    };
    let scratch = Scratch::new();
    let matrix = scratch.matrix(
        "[sweep]\nrequests = 30\nconcurrency = [1]\n\n[placement]\nserver_cpus = [1]\nload_cpus = [1]\n\n[[variant]]\nname = \"tokio\"\n",
    );
    let tasks = cgroup.path.join("tasks");
    let script = format!("echo $$ > {} && exec \"$0\" \"$@\"", tasks.display());
    let output = Command::new("sh")
        .args(["-c", &script, HARNESS])
        .arg(&matrix)
        .arg("--out")
        .arg(scratch.out())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("tokio: asked to run on CPUs 1 but allowed on 0"), "{stderr}");
    assert!(stderr.contains("a load thread could not be pinned (CPU 1"), "{stderr}");
    let json = results_json(&scratch.out());
    assert_eq!(json["meta"]["variants"][0]["cpus_in_force"], serde_json::json!([0]));
    assert_eq!(json["cells"][0]["meta"]["load_cpus_in_force"], serde_json::json!([0]));
    let warnings = json["meta"]["warnings"].to_string();
    assert!(warnings.contains("could not be pinned"), "{warnings}");
    let report = std::fs::read_to_string(support::results_dir(&scratch.out()).join("report.md")).unwrap();
    assert!(report.contains("- **warning:** tokio: asked to run on CPUs 1 but allowed on 0"), "{report}");
}
