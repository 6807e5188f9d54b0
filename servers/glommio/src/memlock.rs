//! glommio's locked-memory needs: raise `RLIMIT_MEMLOCK` where allowed, or say how.

use server_common::rlimit::{self, Limit};

/// glommio refuses to start below this limit (its `MIN_MEMLOCK_LIMIT`).
const REQUIRED: u64 = 512 * 1024;

/// Raises the soft `RLIMIT_MEMLOCK` as far as allowed: to unlimited when the process may
/// (root, or CAP_SYS_RESOURCE), otherwise to the hard limit. Fails, naming the limit, if the
/// result is still below what glommio needs.
pub fn raise() -> anyhow::Result<()> {
    let (soft, hard) = rlimit::get(Limit::LockedMemory)
        .map_err(|err| anyhow::anyhow!("cannot read RLIMIT_MEMLOCK: {err}"))?;
    if soft == libc::RLIM_INFINITY {
        return Ok(());
    }
    if rlimit::set(Limit::LockedMemory, libc::RLIM_INFINITY, libc::RLIM_INFINITY).is_err() && soft < hard {
        // Not allowed to lift the hard limit: go as far as it.
        let _ = rlimit::set(Limit::LockedMemory, hard, hard);
    }
    let (soft, _) = rlimit::get(Limit::LockedMemory)
        .map_err(|err| anyhow::anyhow!("cannot read RLIMIT_MEMLOCK: {err}"))?;
    if soft != libc::RLIM_INFINITY && soft < REQUIRED {
        return Err(error(&format!("RLIMIT_MEMLOCK is {} KiB and may not be raised", soft / 1024)));
    }
    Ok(())
}

/// The start-up error for too little locked memory: this machine cannot run glommio as it is
/// (see `server_common::NotRunnable`).
pub fn error(detail: &str) -> anyhow::Error {
    server_common::NotRunnable(format!(
        "glommio needs locked memory: {detail}; at least {} KiB is needed. Raise RLIMIT_MEMLOCK \
         (`ulimit -l unlimited`, LimitMEMLOCK=infinity under systemd, --ulimit memlock=-1 in docker)",
        REQUIRED / 1024
    ))
    .into()
}
