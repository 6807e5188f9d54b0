//! The kernel's memory for TCP sockets, which a server's RSS does not show: each connection is a
//! `struct sock` (the `TCP` slab), its inode and file (`sock_inode_cache`, `filp`, `dentry`), an
//! epoll entry (`eventpoll_epi`), and whatever its buffers hold (`/proc/net/sockstat`'s TCP
//! `mem`, in pages). Read from `/proc/slabinfo` (root only) and `/proc/net/sockstat`; the
//! difference between two readings is what the sockets opened between them cost the kernel —
//! on loopback both ends of each connection, client and server alike.

/// The slab caches a TCP socket (and the descriptor that holds it) lives in.
const CACHES: [&str; 7] =
    ["TCP", "TCPv6", "sock_inode_cache", "filp", "dentry", "eventpoll_epi", "eventpoll_pwq"];

/// Bytes the kernel holds for sockets now: the caches' active objects, and TCP's buffer pages.
pub fn socket_bytes() -> std::io::Result<u64> {
    let slabinfo = std::fs::read_to_string("/proc/slabinfo")?;
    let sockstat = std::fs::read_to_string("/proc/net/sockstat")?;
    Ok(slab_bytes(&slabinfo) + buffer_pages(&sockstat) * page_size())
}

/// Σ active objects × object size over [`CACHES`].
fn slab_bytes(slabinfo: &str) -> u64 {
    slabinfo
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let name = fields.next()?;
            if !CACHES.contains(&name) {
                return None;
            }
            let active: u64 = fields.next()?.parse().ok()?;
            let _total = fields.next()?;
            let size: u64 = fields.next()?.parse().ok()?;
            Some(active * size)
        })
        .sum()
}

/// `TCP: … mem N`: pages of socket buffers.
fn buffer_pages(sockstat: &str) -> u64 {
    sockstat
        .lines()
        .find_map(|line| line.strip_prefix("TCP:"))
        .and_then(|rest| {
            let fields: Vec<&str> = rest.split_whitespace().collect();
            fields.windows(2).find(|w| w[0] == "mem").and_then(|w| w[1].parse().ok())
        })
        .unwrap_or(0)
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_the_socket_caches_and_buffers() {
        let slabinfo = "slabinfo - version: 2.1\n\
                        # name <active_objs> <num_objs> <objsize> ...\n\
                        TCP                   10     13   2368   13    8 : tunables 0 0 0 : slabdata 1 1 0\n\
                        filp                 100    120    192   21    1 : tunables 0 0 0 : slabdata 5 5 0\n\
                        kmalloc-64          9999   9999     64   64    1 : tunables 0 0 0 : slabdata 1 1 0\n";
        assert_eq!(slab_bytes(slabinfo), 10 * 2368 + 100 * 192);
        let sockstat =
            "sockets: used 17\nTCP: inuse 1 orphan 0 tw 2091 alloc 1 mem 191\nUDP: inuse 0 mem 0\n";
        assert_eq!(buffer_pages(sockstat), 191);
        // Root reads /proc/slabinfo; elsewhere the reading is simply unavailable.
        if let Ok(bytes) = socket_bytes() {
            assert!(bytes > 0);
        }
    }
}
