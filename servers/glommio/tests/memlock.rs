//! Without enough locked memory, and without the right to raise the limit, glommio fails at
//! start with one line naming RLIMIT_MEMLOCK and how to raise it, and the "not runnable here"
//! exit status.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

/// `CAP_SYS_RESOURCE` from linux/capability.h: the right to raise a hard limit.
const CAP_SYS_RESOURCE: libc::c_ulong = 24;

#[test]
fn too_little_locked_memory_is_named() {
    let mut command = Command::new(env!("CARGO_BIN_EXE_server-glommio"));
    command.args(["--port", "0", "--workers", "1"]).stdout(Stdio::null()).stderr(Stdio::piped());
    // SAFETY: between fork and exec the closure only makes two async-signal-safe system calls
    // and touches no memory the parent shares.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit { rlim_cur: 64 * 1024, rlim_max: 64 * 1024 };
            if libc::setrlimit(libc::RLIMIT_MEMLOCK, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // Drop the right to raise it back (root has it). Failing to drop it (not root)
            // means the process never had it.
            libc::prctl(libc::PR_CAPBSET_DROP, CAP_SYS_RESOURCE, 0, 0, 0);
            Ok(())
        });
    }
    let output = command.output().expect("run server-glommio");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(i32::from(server_common::EXIT_NOT_RUNNABLE)), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("RLIMIT_MEMLOCK is 64 KiB"), "{stderr}");
    assert!(stderr.contains("ulimit -l"), "{stderr}");
}
