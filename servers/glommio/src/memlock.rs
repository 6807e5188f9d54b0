//! glommio's locked-memory needs: raise `RLIMIT_MEMLOCK` where allowed, or say how.

use std::io;

/// glommio refuses to start below this limit (its `MIN_MEMLOCK_LIMIT`).
const REQUIRED: u64 = 512 * 1024;

/// Raises the soft `RLIMIT_MEMLOCK` as far as allowed: to unlimited when the process may
/// (root, or CAP_SYS_RESOURCE), otherwise to the hard limit. Fails, naming the limit, if the
/// result is still below what glommio needs.
pub fn raise() -> anyhow::Result<()> {
    let (soft, hard) = get().map_err(|err| anyhow::anyhow!("cannot read RLIMIT_MEMLOCK: {err}"))?;
    if soft == libc::RLIM_INFINITY {
        return Ok(());
    }
    if set(libc::RLIM_INFINITY, libc::RLIM_INFINITY).is_err() && soft < hard {
        // Not allowed to lift the hard limit: go as far as it.
        let _ = set(hard, hard);
    }
    let (soft, _) = get().map_err(|err| anyhow::anyhow!("cannot read RLIMIT_MEMLOCK: {err}"))?;
    if soft != libc::RLIM_INFINITY && soft < REQUIRED {
        return Err(error(&format!("RLIMIT_MEMLOCK is {} KiB and may not be raised", soft / 1024)));
    }
    Ok(())
}

/// The start-up error for too little locked memory.
/// This machine cannot run glommio as it is (see `server_common::NotRunnable`).
pub fn error(detail: &str) -> anyhow::Error {
    server_common::NotRunnable(format!(
        "glommio needs locked memory: {detail}; at least {} KiB is needed. Raise RLIMIT_MEMLOCK \
         (`ulimit -l unlimited`, LimitMEMLOCK=infinity under systemd, --ulimit memlock=-1 in docker)",
        REQUIRED / 1024
    ))
    .into()
}

fn get() -> io::Result<(u64, u64)> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit into the struct we pass, which lives on our stack.
    let result = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) };
    if result != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((limit.rlim_cur, limit.rlim_max))
}

fn set(soft: u64, hard: u64) -> io::Result<()> {
    let limit = libc::rlimit { rlim_cur: soft, rlim_max: hard };
    // SAFETY: setrlimit only reads the struct we pass.
    let result = unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &limit) };
    if result != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
