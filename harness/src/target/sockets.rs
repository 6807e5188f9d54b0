//! Who listens on a port: the listening TCP sockets of `/proc/net/tcp{,6}` and the processes
//! whose descriptors hold them. The harness measures a server only once it knows the port's
//! listeners are that server's own, not another program that was there first.

use std::collections::HashSet;

/// `st` of a listening socket in `/proc/net/tcp`.
const LISTEN: &str = "0A";
/// `st` of a socket in TIME_WAIT, which a listener with `SO_REUSEADDR` binds over.
const TIME_WAIT: &str = "06";

/// Inodes of the TCP sockets listening on `port`, on any address, IPv4 or IPv6.
pub fn listening_inodes(port: u16) -> Vec<u64> {
    tables().flat_map(|text| parse_listeners(&text, port)).collect()
}

/// Connections (not listeners, not TIME_WAIT) whose local port is `port`: on a loopback
/// machine, usually a client that drew `port` as its ephemeral port.
pub fn connections_on(port: u16) -> usize {
    tables()
        .map(|text| {
            local_sockets(&text, port).filter(|state| *state != LISTEN && *state != TIME_WAIT).count()
        })
        .sum()
}

/// Sockets in TIME_WAIT whose local port is `port`: connections already closed that the kernel
/// keeps for up to a minute. On a loopback machine, usually clients that drew `port` as their
/// ephemeral port and closed first; unlike a server's own TIME_WAIT (which `SO_REUSEADDR`
/// binds over), a client's blocks a listener on that port until it expires.
pub fn time_waits_on(port: u16) -> usize {
    tables().map(|text| local_sockets(&text, port).filter(|state| *state == TIME_WAIT).count()).sum()
}

/// Whether any TCP socket at all — listening, connected or in TIME_WAIT — has `port` as its
/// local port.
pub fn anything_on(port: u16) -> bool {
    tables().any(|text| local_sockets(&text, port).next().is_some())
}

fn tables() -> impl Iterator<Item = String> {
    ["/proc/net/tcp", "/proc/net/tcp6"].into_iter().filter_map(|table| std::fs::read_to_string(table).ok())
}

/// The states of the sockets on local port `port` in one `/proc/net/tcp` table.
fn local_sockets(table: &str, port: u16) -> impl Iterator<Item = &str> {
    table.lines().skip(1).filter_map(move |line| {
        let mut fields = line.split_whitespace();
        let local_port = fields.nth(1)?.rsplit(':').next()?;
        let state = fields.nth(1)?;
        (u16::from_str_radix(local_port, 16).ok()? == port).then_some(state)
    })
}

/// The listening sockets on `port` in one `/proc/net/tcp` table.
fn parse_listeners(table: &str, port: u16) -> Vec<u64> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local_port = fields.get(1)?.rsplit(':').next()?;
            let listening = *fields.get(3)? == LISTEN;
            let matches = u16::from_str_radix(local_port, 16).ok()? == port;
            (listening && matches).then(|| fields.get(9)?.parse().ok()).flatten()
        })
        .collect()
}

/// The socket inodes process `pid` holds open (`socket:[INODE]` links in `/proc/PID/fd`).
pub fn socket_inodes_of(pid: i32) -> HashSet<u64> {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return HashSet::new() };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| std::fs::read_link(entry.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            target.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
        })
        .collect()
}

/// The processes (pid and command name) that hold socket `inode`, for messages.
pub fn holders_of(inode: u64) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| socket_inodes_of(*pid).contains(&inode))
        .map(|pid| {
            let name = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            format!("{} (pid {pid})", name.trim())
        })
        .collect()
}

/// Who holds the listeners on `port` that none of `members` holds, in words; empty when every
/// listener is theirs.
pub fn foreign_listeners(port: u16, members: &[i32]) -> Vec<String> {
    let ours: HashSet<u64> = members.iter().flat_map(|pid| socket_inodes_of(*pid)).collect();
    listening_inodes(port)
        .into_iter()
        .filter(|inode| !ours.contains(inode))
        .map(|inode| {
            let holders = holders_of(inode);
            if holders.is_empty() {
                format!("socket {inode} (holder not visible)")
            } else {
                holders.join(", ")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_listeners() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:AFC8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 123456 1 0000000000000000 100 0 0 10 0
   1: 0100007F:AFC8 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 223344 1 0000000000000000 20 4 30 10 -1
   2: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0000000000000000 100 0 0 10 0
";
        assert_eq!(parse_listeners(table, 45000), [123456]);
        assert_eq!(parse_listeners(table, 80), [777]);
        assert!(parse_listeners(table, 1).is_empty());
    }

    #[test]
    fn finds_our_own_listener() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let inodes = listening_inodes(port);
        assert_eq!(inodes.len(), 1);
        let me = i32::try_from(std::process::id()).unwrap();
        assert!(socket_inodes_of(me).contains(&inodes[0]));
        assert!(foreign_listeners(port, &[me]).is_empty());
        let foreign = foreign_listeners(port, &[]);
        assert_eq!(foreign.len(), 1);
        assert!(foreign[0].contains(&format!("pid {me}")), "{foreign:?}");
    }
}
