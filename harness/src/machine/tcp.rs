//! TCP's own trouble during a run, from the kernel's counters of the network namespace it is
//! read in (`/proc/net/netstat`'s `TcpExt`, `/proc/net/snmp`'s `Tcp`): a listen queue that
//! overflowed, SYNs dropped and retransmitted (each costs a second: the initial retransmission
//! timeout), segments retransmitted. Read before and after a run; the difference is the run's.
//! The counters belong to the whole namespace, so other traffic there counts too.

use serde::{Deserialize, Serialize};

/// The counters, or a run's share of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpCounters {
    /// Connections that completed the handshake while the listener's accept queue was full
    /// (`TcpExt: ListenOverflows`).
    pub listen_overflows: u64,
    /// SYNs dropped at a listener, overflows included (`TcpExt: ListenDrops`).
    pub listen_drops: u64,
    /// SYNs a client sent again because no SYN-ACK came (`TcpExt: TCPSynRetrans`): one second
    /// each, at first.
    pub syn_retransmits: u64,
    /// Segments retransmitted, SYNs included (`Tcp: RetransSegs`).
    pub retransmitted_segments: u64,
}

impl TcpCounters {
    /// The counters now, in this process's network namespace.
    pub fn read() -> std::io::Result<TcpCounters> {
        let netstat = std::fs::read_to_string("/proc/net/netstat")?;
        let snmp = std::fs::read_to_string("/proc/net/snmp")?;
        Ok(TcpCounters::parse(&netstat, &snmp))
    }

    /// From the text of `/proc/net/netstat` and `/proc/net/snmp`; a counter missing is 0.
    pub fn parse(netstat: &str, snmp: &str) -> TcpCounters {
        let ext = |name: &str| field(netstat, "TcpExt:", name);
        TcpCounters {
            listen_overflows: ext("ListenOverflows"),
            listen_drops: ext("ListenDrops"),
            syn_retransmits: ext("TCPSynRetrans"),
            retransmitted_segments: field(snmp, "Tcp:", "RetransSegs"),
        }
    }

    /// What happened between `before` and these counters.
    pub fn since(&self, before: &TcpCounters) -> TcpCounters {
        TcpCounters {
            listen_overflows: self.listen_overflows.saturating_sub(before.listen_overflows),
            listen_drops: self.listen_drops.saturating_sub(before.listen_drops),
            syn_retransmits: self.syn_retransmits.saturating_sub(before.syn_retransmits),
            retransmitted_segments: self.retransmitted_segments.saturating_sub(before.retransmitted_segments),
        }
    }

    /// Adds another run's.
    pub fn add(&mut self, other: &TcpCounters) {
        self.listen_overflows += other.listen_overflows;
        self.listen_drops += other.listen_drops;
        self.syn_retransmits += other.syn_retransmits;
        self.retransmitted_segments += other.retransmitted_segments;
    }

    /// Whether anything went wrong.
    pub fn any(&self) -> bool {
        *self != TcpCounters::default()
    }

    /// The trouble in words, for a cell's notes; `None` when there was none.
    pub fn note(&self) -> Option<String> {
        if !self.any() {
            return None;
        }
        let mut parts = Vec::new();
        if self.listen_overflows > 0 || self.listen_drops > 0 {
            parts.push(format!(
                "the server's listen queue overflowed {} times ({} SYNs dropped)",
                self.listen_overflows, self.listen_drops
            ));
        }
        if self.syn_retransmits > 0 {
            parts.push(format!("{} SYNs were retransmitted, 1 s each at first", self.syn_retransmits));
        }
        if self.retransmitted_segments > self.syn_retransmits {
            parts.push(format!("{} segments were retransmitted in all", self.retransmitted_segments));
        }
        Some(format!(
            "TCP during the runs: {} (kernel counters of the server's network namespace)",
            parts.join("; ")
        ))
    }
}

/// The value of `name` in the `prefix` table of a `/proc/net` file: a line of names, then a
/// line of values, both starting with `prefix`.
fn field(text: &str, prefix: &str, name: &str) -> u64 {
    let mut lines = text.lines().filter(|l| l.starts_with(prefix));
    while let (Some(names), Some(values)) = (lines.next(), lines.next()) {
        if let Some(at) = names.split_whitespace().position(|n| n == name) {
            return values.split_whitespace().nth(at).and_then(|v| v.parse().ok()).unwrap_or(0);
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_kernels_tables() {
        let netstat = "TcpExt: SyncookiesSent ListenOverflows ListenDrops TCPSynRetrans\nTcpExt: 0 5 7 3\n\
                       IpExt: InNoRoutes\nIpExt: 9\n";
        let snmp = "Ip: Forwarding\nIp: 1\nTcp: RtoAlgorithm RetransSegs InErrs\nTcp: 1 11 0\n";
        let counters = TcpCounters::parse(netstat, snmp);
        assert_eq!(
            counters,
            TcpCounters {
                listen_overflows: 5,
                listen_drops: 7,
                syn_retransmits: 3,
                retransmitted_segments: 11
            }
        );
        let later = TcpCounters { listen_overflows: 6, ..counters };
        assert_eq!(later.since(&counters), TcpCounters { listen_overflows: 1, ..TcpCounters::default() });
        let note = later.since(&TcpCounters::default()).note().expect("trouble");
        assert!(
            note.contains("overflowed 6 times (7 SYNs dropped)")
                && note.contains("3 SYNs were retransmitted"),
            "{note}"
        );
        assert_eq!(TcpCounters::default().note(), None);
        assert!(TcpCounters::read().is_ok(), "this machine's counters read");
    }
}
