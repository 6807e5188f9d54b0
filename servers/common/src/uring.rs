//! io_uring preflight: one clear line when io_uring is unavailable, and a switch that makes
//! it unavailable on purpose so that line can be tested.
//!
//! The io_uring variants never fall back to epoll. When the kernel refuses a ring (the
//! `kernel.io_uring_disabled` sysctl, a seccomp filter as in many containers, an old kernel,
//! too little locked memory) the variant fails at start with [`unavailable`]'s message.
//!
//! [`probe`] runs before the runtime is built, so the failure is the same one line whatever
//! the runtime would have done with it.
//!
//! Setting [`DENY_ENV`]`=1` makes the server install a seccomp filter on itself that fails
//! `io_uring_setup`, `io_uring_enter` and `io_uring_register` with `EPERM`, exactly as a
//! container runtime's filter does, before its runtime starts.

use std::collections::BTreeMap;
use std::io;

use anyhow::Context;
use seccompiler::{BpfProgram, SeccompAction, SeccompFilter};

/// The environment switch that denies io_uring to this process.
pub const DENY_ENV: &str = "RUNTIME_MATRIX_DENY_IO_URING";

/// Installs the denying seccomp filter if [`DENY_ENV`] is `1`.
pub fn deny_if_requested() -> anyhow::Result<()> {
    if !deny_requested() {
        return Ok(());
    }
    let denied = [libc::SYS_io_uring_setup, libc::SYS_io_uring_enter, libc::SYS_io_uring_register];
    let rules = denied.into_iter().map(|syscall| (syscall, Vec::new())).collect::<BTreeMap<_, _>>();
    let arch = std::env::consts::ARCH
        .try_into()
        .map_err(|err| anyhow::anyhow!("{DENY_ENV}: unsupported architecture: {err:?}"))?;
    let filter =
        SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(libc::EPERM as u32), arch)
            .with_context(|| format!("{DENY_ENV}: cannot build the seccomp filter"))?;
    let program: BpfProgram =
        filter.try_into().with_context(|| format!("{DENY_ENV}: cannot compile the seccomp filter"))?;
    seccompiler::apply_filter_all_threads(&program)
        .with_context(|| format!("{DENY_ENV}: cannot install the seccomp filter"))?;
    Ok(())
}

/// Sets up (and drops) a small ring, the way every io_uring runtime starts, so an unavailable
/// io_uring is reported as one clear line before any runtime can panic over it (glommio does).
pub fn probe(runtime: &str) -> anyhow::Result<()> {
    io_uring::IoUring::new(8).map(drop).map_err(|err| unavailable(runtime, &err))
}

fn deny_requested() -> bool {
    std::env::var(DENY_ENV).is_ok_and(|value| value == "1")
}

/// The error a variant returns when its io_uring runtime cannot be built: this machine
/// cannot run it (see [`crate::NotRunnable`]).
pub fn unavailable(runtime: &str, err: &io::Error) -> anyhow::Error {
    crate::NotRunnable(format!("io_uring is unavailable to {runtime}: {}", explain(err))).into()
}

/// Names the likely cause of an io_uring setup error.
pub fn explain(err: &io::Error) -> String {
    let sysctl = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .map(|value| value.trim().to_owned())
        .unwrap_or_default();
    match err.raw_os_error() {
        Some(libc::ENOSYS) => format!("this kernel has no io_uring ({err}); Linux 5.11 or newer is needed"),
        Some(libc::EPERM) if deny_requested() => {
            format!("denied on purpose by {DENY_ENV}=1, a seccomp filter this process installed ({err})")
        }
        Some(libc::EPERM) if sysctl == "2" => {
            format!("disabled by the sysctl kernel.io_uring_disabled=2 ({err}); set it to 0")
        }
        Some(libc::EPERM) if sysctl == "1" => format!(
            "restricted by the sysctl kernel.io_uring_disabled=1 to kernel.io_uring_group ({err}); \
             set it to 0 or run in that group"
        ),
        Some(libc::EPERM) => format!(
            "the kernel denied io_uring_setup ({err}), most likely a seccomp filter (container \
             runtimes often block io_uring); run with a profile that allows it"
        ),
        Some(libc::ENOMEM) => {
            format!("not enough locked memory for the rings ({err}); raise RLIMIT_MEMLOCK (ulimit -l)")
        }
        _ => format!("io_uring setup failed: {err}"),
    }
}

/// Whether this process has printed its ring-setup fallback line.
static FALLBACK_REPORTED: std::sync::Once = std::sync::Once::new();

/// One way to set a ring up: its name (for the line printed on fallback) and the flags.
pub type RingSetup = (&'static str, fn(&mut io_uring::Builder));

/// Builds with the first of `setups` (best first) that the kernel accepts. The next is tried
/// only when the kernel refuses one as unknown (`EINVAL`: flags newer than the kernel); any
/// other error is final. A fallback is never silent: it prints one line naming what was
/// refused and what is used instead — once per process, since every worker thread builds its
/// own ring and the kernel answers each the same.
pub fn with_first_accepted<T>(
    runtime: &str,
    setups: &[RingSetup],
    mut build: impl FnMut(io_uring::Builder) -> io::Result<T>,
) -> io::Result<T> {
    let mut refused: Option<(&str, io::Error)> = None;
    for (name, setup) in setups {
        let mut ring = io_uring::IoUring::builder();
        setup(&mut ring);
        match build(ring) {
            Err(err) if err.raw_os_error() == Some(libc::EINVAL) => {
                refused.get_or_insert((name, err));
            }
            Ok(built) => {
                if let Some((best, _)) = refused {
                    FALLBACK_REPORTED.call_once(|| {
                        eprintln!("{runtime}: this kernel refuses a ring set up {best}; using {name}");
                    });
                }
                return Ok(built);
            }
            Err(err) => return Err(err),
        }
    }
    Err(refused.map_or_else(|| io::ErrorKind::Unsupported.into(), |(_, err)| err))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explains_common_causes() {
        let nosys = explain(&io::Error::from_raw_os_error(libc::ENOSYS));
        assert!(nosys.contains("no io_uring"), "{nosys}");
        let nomem = explain(&io::Error::from_raw_os_error(libc::ENOMEM));
        assert!(nomem.contains("RLIMIT_MEMLOCK"), "{nomem}");
        let perm = explain(&io::Error::from_raw_os_error(libc::EPERM));
        assert!(perm.contains("io_uring"), "{perm}");
    }

    const SETUPS: [RingSetup; 3] = [("best", |_| {}), ("next", |_| {}), ("last", |_| {})];

    #[test]
    fn falls_back_only_past_unknown_flags() {
        let mut tried = 0;
        let built = with_first_accepted("test", &SETUPS, |_| {
            tried += 1;
            if tried < 3 {
                Err(io::Error::from_raw_os_error(libc::EINVAL))
            } else {
                Ok(tried)
            }
        });
        assert_eq!(built.ok(), Some(3));

        let mut tried = 0;
        let denied = with_first_accepted("test", &SETUPS, |_| -> io::Result<()> {
            tried += 1;
            Err(io::Error::from_raw_os_error(libc::EPERM))
        });
        assert_eq!((tried, denied.err().and_then(|e| e.raw_os_error())), (1, Some(libc::EPERM)));

        let refused = with_first_accepted("test", &SETUPS, |_| -> io::Result<()> {
            Err(io::Error::from_raw_os_error(libc::EINVAL))
        });
        assert_eq!(refused.err().and_then(|e| e.raw_os_error()), Some(libc::EINVAL));
    }
}
