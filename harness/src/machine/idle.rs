//! Keeping the measured CPUs awake. An idle CPU halts, and waking it takes tens of
//! microseconds on a VM guest: at low concurrency every request waits for a sleeping peer to
//! wake, so latency and rate measure the machine's wake-up more than the runtime. With
//! `cpu_idle = "awake"` the harness keeps the measured CPUs out of their idle states for the
//! runs, one of two ways:
//!
//! - hold `/dev/cpu_dma_latency` at 0, where a cpuidle driver honours it (bare metal, or a
//!   guest with `haltpoll`): the CPUs then poll instead of halting;
//! - otherwise (a guest whose cpuidle driver is `none`: the kernel halts regardless) a busy loop
//!   per CPU at `SCHED_IDLE` priority, which runs only when nothing else on that CPU can, so it
//!   takes no time from the server or the load and only keeps the CPU from halting.
//!
//! Either runs in `harness awake` ([`crate::target::awake`]), a process of its own (never in a
//! server's process group, so never counted in its CPU), tied to the harness like a server.

use std::io::Write;

use serde::{Deserialize, Serialize};

/// Whether the measured CPUs may sleep between requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CpuIdle {
    /// As the machine does (ab-like): CPUs halt when idle.
    #[default]
    Native,
    /// Kept out of their idle states for the runs.
    Awake,
}

impl CpuIdle {
    pub const ALL: [CpuIdle; 2] = [CpuIdle::Native, CpuIdle::Awake];

    /// Its name in `matrix.toml`.
    pub fn name(self) -> &'static str {
        match self {
            CpuIdle::Native => "native",
            CpuIdle::Awake => "awake",
        }
    }

    pub fn named(name: &str) -> Option<CpuIdle> {
        CpuIdle::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// Whether a cpuidle driver is in charge of this machine's idle states (and so honours
/// `/dev/cpu_dma_latency`); on a guest without one the kernel simply halts.
fn cpuidle_driver() -> Option<String> {
    let driver = std::fs::read_to_string("/sys/devices/system/cpu/cpuidle/current_driver").ok()?;
    let driver = driver.trim().to_owned();
    (!driver.is_empty() && driver != "none").then_some(driver)
}

/// Starts keeping `cpus` awake in this process, for as long as it lives; how, in words.
pub fn keep_awake(cpus: &[usize]) -> Result<String, String> {
    if let Some(driver) = cpuidle_driver() {
        match hold_latency() {
            Ok(file) => {
                // Held for the life of the process: the request ends when the file closes.
                std::mem::forget(file);
                return Ok(format!(
                    "/dev/cpu_dma_latency held at 0 (cpuidle driver {driver}): CPUs poll, never halt"
                ));
            }
            Err(err) => eprintln!("note: /dev/cpu_dma_latency: {err}; spinning instead"),
        }
    }
    let (ready_tx, ready) = std::sync::mpsc::channel();
    for &cpu in cpus {
        let ready_tx = ready_tx.clone();
        std::thread::Builder::new()
            .name(format!("awake-{cpu}"))
            .spawn(move || {
                let pinned = crate::affinity::pin_this_thread(Some(cpu));
                // SAFETY: sched_setscheduler on the calling thread (0) with a valid param.
                let idle = unsafe {
                    let param = libc::sched_param { sched_priority: 0 };
                    libc::sched_setscheduler(0, libc::SCHED_IDLE, &param)
                };
                let outcome = match (pinned.failure, idle) {
                    (Some(failure), _) => Err(format!("CPU {cpu}: {failure}")),
                    (None, 0) => Ok(()),
                    (None, _) => Err(format!("SCHED_IDLE: {}", std::io::Error::last_os_error())),
                };
                let spin = outcome.is_ok();
                let _ = ready_tx.send(outcome);
                if spin {
                    // Until the process ends: nothing else to do on this thread.
                    loop {
                        std::hint::spin_loop();
                    }
                }
            })
            .map_err(|err| err.to_string())?;
    }
    drop(ready_tx);
    // One outcome a CPU (each thread keeps its sender while it spins, so count them).
    for _ in cpus {
        ready.recv().map_err(|_| "a spinning thread ended before it started".to_owned())??;
    }
    Ok(format!(
        "a SCHED_IDLE busy loop on CPU {} (no cpuidle driver honours /dev/cpu_dma_latency here)",
        crate::affinity::cpu_list(cpus)
    ))
}

fn hold_latency() -> std::io::Result<std::fs::File> {
    let mut file = std::fs::OpenOptions::new().write(true).open("/dev/cpu_dma_latency")?;
    file.write_all(&0i32.to_ne_bytes())?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(CpuIdle::named("awake"), Some(CpuIdle::Awake));
        assert_eq!(CpuIdle::named("native"), Some(CpuIdle::Native));
        assert_eq!(CpuIdle::named("sleepy"), None);
        assert_eq!(CpuIdle::default().name(), "native");
    }
}
