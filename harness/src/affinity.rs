//! CPU placement: pinning load threads and server processes to CPUs.

use std::io;

/// The CPUs this process may run on.
pub fn available_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn cpu_set(cpus: &[usize]) -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is a plain bit array; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        // SAFETY: CPU_SET writes one bit inside `set`; callers validate `cpu` against the
        // machine's CPUs, far below CPU_SETSIZE.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    set
}

/// Pins the calling thread to `cpu`.
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    set_affinity(0, &[cpu])
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
