//! CPU placement: pinning load threads and server processes to CPUs, and reading back where
//! they may really run, so a report never claims a placement that was not in force.

use std::io;

/// The CPUs this process may run on (its affinity mask), e.g. for thread counts.
pub fn available_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The CPUs online on this machine. Placement is validated against these, not against this
/// process's affinity: a pin outside what a cgroup allows then fails at run time, and is
/// reported as such, instead of being silently reshaped.
pub fn online_cpus() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(online).ok().filter(|n| *n > 0).unwrap_or_else(available_cpus)
}

fn cpu_set(cpus: &[usize]) -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is a plain bit array; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        if cpu < libc::CPU_SETSIZE as usize {
            // SAFETY: CPU_SET writes one bit inside `set`; `cpu` is below CPU_SETSIZE.
            unsafe { libc::CPU_SET(cpu, &mut set) };
        }
    }
    set
}

/// Restricts process (or thread) `pid` (0: the caller) to `cpus`. Async-signal-safe, so it
/// may run between fork and exec.
pub fn set_affinity(pid: libc::pid_t, cpus: &[usize]) -> io::Result<()> {
    let set = cpu_set(cpus);
    // SAFETY: sched_setaffinity reads `size_of::<cpu_set_t>()` bytes from a valid set.
    let result = unsafe { libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The CPUs process (or thread) `pid` (0: the caller) may run on.
pub fn affinity_of(pid: libc::pid_t) -> io::Result<Vec<usize>> {
    // SAFETY: cpu_set_t is a plain bit array; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: sched_getaffinity writes at most `size_of::<cpu_set_t>()` bytes into `set`.
    let result = unsafe { libc::sched_getaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if result != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: CPU_ISSET reads one bit of a valid set, below CPU_SETSIZE.
    Ok((0..libc::CPU_SETSIZE as usize).filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) }).collect())
}

/// Where a thread ended up after asking to be pinned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placed {
    /// The CPUs it may run on, read back (empty if that failed too).
    pub in_force: Vec<usize>,
    /// Why the pin was not applied, if it was not.
    pub failure: Option<String>,
}

/// Pins the calling thread to `cpu` (if given) and reads back what is in force.
pub fn pin_this_thread(cpu: Option<usize>) -> Placed {
    let failure = cpu.and_then(|cpu| set_affinity(0, &[cpu]).err().map(|err| format!("CPU {cpu}: {err}")));
    Placed { in_force: affinity_of(0).unwrap_or_default(), failure }
}

/// `0-1`, `0,2`, `3`: a CPU list the way taskset prints it.
pub fn cpu_list(cpus: &[usize]) -> String {
    let mut parts = Vec::new();
    let mut at = 0;
    while at < cpus.len() {
        let start = cpus[at];
        let mut end = start;
        while at + 1 < cpus.len() && cpus[at + 1] == end + 1 {
            at += 1;
            end = cpus[at];
        }
        parts.push(if end == start { start.to_string() } else { format!("{start}-{end}") });
        at += 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_its_own_pin() {
        let allowed = affinity_of(0).unwrap();
        let cpu = allowed[0];
        let handle = std::thread::spawn(move || pin_this_thread(Some(cpu)));
        let placed = handle.join().unwrap();
        assert_eq!(placed, Placed { in_force: vec![cpu], failure: None });
    }

    #[test]
    fn an_impossible_pin_is_reported_with_what_is_in_force() {
        let handle = std::thread::spawn(|| pin_this_thread(Some(libc::CPU_SETSIZE as usize + 5)));
        let placed = handle.join().unwrap();
        assert!(placed.failure.is_some(), "{placed:?}");
        assert!(!placed.in_force.is_empty());
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(cpu_list(&[0, 1, 2, 5, 7, 8]), "0-2,5,7-8");
        assert_eq!(cpu_list(&[3]), "3");
        assert_eq!(cpu_list(&[]), "");
    }
}
