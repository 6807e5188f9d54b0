//! Resource limits the servers and the harness raise: open files (ten thousand connections
//! need more than the usual soft 1024) and locked memory (glommio's rings).

use std::io;

/// A resource limit this project raises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// `RLIMIT_NOFILE`.
    OpenFiles,
    /// `RLIMIT_MEMLOCK`.
    LockedMemory,
}

impl Limit {
    fn resource(self) -> libc::__rlimit_resource_t {
        match self {
            Limit::OpenFiles => libc::RLIMIT_NOFILE,
            Limit::LockedMemory => libc::RLIMIT_MEMLOCK,
        }
    }
}

/// The limit's (soft, hard) values.
pub fn get(limit: Limit) -> io::Result<(u64, u64)> {
    let mut value = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit into the struct we pass, which lives on our stack.
    if unsafe { libc::getrlimit(limit.resource(), &mut value) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((value.rlim_cur, value.rlim_max))
}

/// Sets the limit's soft and hard values.
pub fn set(limit: Limit, soft: u64, hard: u64) -> io::Result<()> {
    let value = libc::rlimit { rlim_cur: soft, rlim_max: hard };
    // SAFETY: setrlimit only reads the struct we pass.
    if unsafe { libc::setrlimit(limit.resource(), &value) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Raises the soft limit to the hard one (allowed to any process) and returns (soft, hard)
/// as they then are.
pub fn raise_to_hard(limit: Limit) -> io::Result<(u64, u64)> {
    let (soft, hard) = get(limit)?;
    if soft < hard {
        set(limit, hard, hard)?;
    }
    get(limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raising_to_the_hard_limit_reaches_it() {
        let (soft, hard) = raise_to_hard(Limit::OpenFiles).unwrap();
        assert_eq!(soft, hard);
    }
}
