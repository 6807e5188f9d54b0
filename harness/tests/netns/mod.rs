//! Two network namespaces joined by a veth pair (a private /30), made for one test and removed
//! after it (killing anything still running inside): a server host and a load host on one
//! machine, with no mocks.

#![allow(dead_code)]

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Beds made by this test process so far, for unique names and subnets.
static MADE: AtomicU32 = AtomicU32::new(0);

/// A server namespace and a load namespace, joined.
#[derive(Debug)]
pub struct Bed {
    pub srv: String,
    pub cli: String,
    pub srv_addr: String,
    pub cli_addr: String,
    /// The veth ends: the server's (in `srv`) and the load's (in `cli`).
    pub srv_if: String,
    pub cli_if: String,
}

fn ip(args: &[&str]) -> Result<(), String> {
    // A missing `ip` is a missing package, not a machine that cannot make namespaces: every
    // test requires `tools::IP` before it makes a bed, so here `ip` runs.
    let output = Command::new("ip").args(args).output().unwrap_or_else(|err| panic!("cannot run ip: {err}"));
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim()))
    }
}

impl Bed {
    /// Makes a bed, or says why it cannot be made here (the test then skips, saying so).
    pub fn create() -> Result<Bed, String> {
        let n = MADE.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let tag = format!("rmt{}{n}", pid % 100_000);
        // A /30 of its own: 10.(100 + pid % 100).(4 n).0/30.
        let (a, b) = (100 + pid % 100, (n * 4) % 256);
        let (srv_if, cli_if) = (format!("{tag}s"), format!("{tag}c"));
        let bed = Bed {
            srv: format!("{tag}-srv"),
            cli: format!("{tag}-cli"),
            srv_addr: format!("10.{a}.{b}.1"),
            cli_addr: format!("10.{a}.{b}.2"),
            srv_if: srv_if.clone(),
            cli_if: cli_if.clone(),
        };
        ip(&["netns", "add", &bed.srv])?;
        ip(&["netns", "add", &bed.cli])?;
        ip(&["link", "add", &srv_if, "type", "veth", "peer", "name", &cli_if])?;
        ip(&["link", "set", &srv_if, "netns", &bed.srv])?;
        ip(&["link", "set", &cli_if, "netns", &bed.cli])?;
        ip(&["-n", &bed.srv, "addr", "add", &format!("{}/30", bed.srv_addr), "dev", &srv_if])?;
        ip(&["-n", &bed.cli, "addr", "add", &format!("{}/30", bed.cli_addr), "dev", &cli_if])?;
        for (ns, dev) in [(&bed.srv, &srv_if), (&bed.cli, &cli_if)] {
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
        }
        Ok(bed)
    }

    /// Faults on the server's veth, as `scripts/netns-testbed.sh --drop P --reset P` makes
    /// them (iptables' `statistic` match in the server's namespace): `drop` loses that share
    /// of the packets both ways, `reset` answers that share of the TCP packets arriving at the
    /// server with a reset. `iptables` is the program's path (the test requires it).
    pub fn faults(
        &self,
        iptables: &std::path::Path,
        drop: Option<f64>,
        reset: Option<f64>,
    ) -> Result<(), String> {
        let iptables = iptables.to_string_lossy();
        let rule = |rule: &[&str]| {
            let mut args = vec!["netns", "exec", &self.srv, &*iptables, "-w", "-A"];
            args.extend(rule);
            ip(&args)
        };
        if let Some(p) = reset {
            let p = p.to_string();
            rule(&[
                "INPUT",
                "-i",
                &self.srv_if,
                "-p",
                "tcp",
                "-m",
                "statistic",
                "--mode",
                "random",
                "--probability",
                &p,
                "-j",
                "REJECT",
                "--reject-with",
                "tcp-reset",
            ])?;
        }
        if let Some(p) = drop {
            let p = p.to_string();
            rule(&[
                "INPUT",
                "-i",
                &self.srv_if,
                "-m",
                "statistic",
                "--mode",
                "random",
                "--probability",
                &p,
                "-j",
                "DROP",
            ])?;
            rule(&[
                "OUTPUT",
                "-o",
                &self.srv_if,
                "-m",
                "statistic",
                "--mode",
                "random",
                "--probability",
                &p,
                "-j",
                "DROP",
            ])?;
        }
        Ok(())
    }

    /// Removes the faults: every rule of the server namespace's firewall.
    pub fn heal(&self, iptables: &std::path::Path) -> Result<(), String> {
        ip(&["netns", "exec", &self.srv, &iptables.to_string_lossy(), "-w", "-F"])
    }

    /// `ip netns exec NS` as a launcher.
    pub fn launcher(ns: &str) -> String {
        format!("[\"ip\", \"netns\", \"exec\", \"{ns}\"]")
    }

    /// The processes running in namespace `ns`.
    pub fn pids(ns: &str) -> Vec<u32> {
        Command::new("ip")
            .args(["netns", "pids", ns])
            .output()
            .map(|out| {
                String::from_utf8_lossy(&out.stdout)
                    .split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        for ns in [&self.srv, &self.cli] {
            for pid in Bed::pids(ns) {
                // SAFETY: kill(2) on a process left in this test's own namespace.
                unsafe {
                    libc::kill(pid as libc::pid_t, libc::SIGKILL);
                }
            }
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

/// Makes a bed, or prints why the calling test is skipped and returns `None`: only where
/// namespaces cannot be made (not root, or a sandbox that forbids them). The test has required
/// `tools::IP` already.
pub fn bed_or_skip(test: &str) -> Option<Bed> {
    match Bed::create() {
        Ok(bed) => Some(bed),
        Err(why) => {
            eprintln!(
                "SKIPPED {test}: network namespaces cannot be made here ({why}); run as root with iproute2"
            );
            None
        }
    }
}
