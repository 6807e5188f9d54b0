//! The few raw calls the loop makes, behind a safe interface: an epoll instance, its event
//! buffer, and `accept4`.
//!
//! Reads, writes and shutdowns go through `std::net::TcpStream` on the non-blocking socket
//! (`recv`, `send` with `MSG_NOSIGNAL`, `shutdown`): std already makes those safe, so only
//! what std lacks is here.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// Interest in input, for a listener: a pending connection. Level-triggered, unlike the
/// connections: the worker accepts one connection per report, as nginx does by default, and
/// the next `epoll_wait` reports the listener again while the backlog holds more. Edge
/// triggering would oblige it to accept until `EAGAIN`, one failed `accept4` per burst.
pub const LISTEN: u32 = libc::EPOLLIN as u32;

/// Interest in the offload helper's eventfd: level-triggered input. The worker resets the
/// counter each time it is reported, so it is reported once per batch of finished jobs.
pub const WAKE: u32 = libc::EPOLLIN as u32;

/// Interest for a connection, registered once and never modified: edge-triggered input,
/// output and the peer's half-close. The loop remembers readiness between edges itself, so
/// switching between "wants to read" and "wants to write" costs no `epoll_ctl`.
pub const CONNECTION: u32 =
    libc::EPOLLIN as u32 | libc::EPOLLOUT as u32 | libc::EPOLLRDHUP as u32 | libc::EPOLLET as u32;

/// Readiness bits that mean a read will not block (data, the peer's FIN, a reset or error).
pub const READABLE: u32 =
    libc::EPOLLIN as u32 | libc::EPOLLRDHUP as u32 | libc::EPOLLHUP as u32 | libc::EPOLLERR as u32;

/// Readiness bits that mean a write will not block (room, or an error it will report).
pub const WRITABLE: u32 = libc::EPOLLOUT as u32 | libc::EPOLLHUP as u32 | libc::EPOLLERR as u32;

/// Readiness bits after which input ends: reads return what is left, then 0 or an error,
/// and never block again.
pub const HANG_UP: u32 = libc::EPOLLRDHUP as u32 | libc::EPOLLHUP as u32 | libc::EPOLLERR as u32;

/// One readiness report: the token given at registration, and the `EPOLL*` bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub token: u64,
    pub flags: u32,
}

/// The buffer `epoll_wait` fills.
pub struct Events {
    list: Box<[libc::epoll_event]>,
    len: usize,
}

impl Events {
    /// Room for `capacity` events per wait.
    pub fn with_capacity(capacity: usize) -> Events {
        Events { list: vec![libc::epoll_event { events: 0, u64: 0 }; capacity.max(1)].into(), len: 0 }
    }

    /// The `index`th event of the last wait.
    pub fn get(&self, index: usize) -> Event {
        // `epoll_event` is packed on x86-64: copy it out instead of borrowing its fields.
        let event = self.list[..self.len][index];
        Event { token: event.u64, flags: event.events }
    }
}

/// An epoll instance, closed on drop.
#[derive(Debug)]
pub struct Epoll {
    fd: OwnedFd,
}

impl Epoll {
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: epoll_create1 takes no pointers; a non-negative result is a new descriptor.
        let fd = check(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: `fd` was just created and nothing else owns it.
        Ok(Epoll { fd: unsafe { OwnedFd::from_raw_fd(fd) } })
    }

    /// Registers `fd` for `interest`; its events carry `token`.
    pub fn add(&self, fd: BorrowedFd<'_>, token: u64, interest: u32) -> io::Result<()> {
        let mut event = libc::epoll_event { events: interest, u64: token };
        // SAFETY: both descriptors are open (owned or borrowed for the call) and `event` is a
        // valid epoll_event the kernel only reads.
        check(unsafe {
            libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd.as_raw_fd(), &mut event)
        })?;
        Ok(())
    }

    /// Removes `fd`. Closing a descriptor removes it too, unless another descriptor (a `dup`,
    /// such as the one the shutdown thread holds of each listener) keeps its socket open.
    pub fn delete(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        // SAFETY: both descriptors are open; EPOLL_CTL_DEL ignores the event pointer.
        check(unsafe {
            libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_DEL, fd.as_raw_fd(), std::ptr::null_mut())
        })?;
        Ok(())
    }

    /// Waits at most `timeout_ms` (-1: no limit) for events; returns how many arrived. A
    /// signal interrupting the wait is zero events, not an error.
    pub fn wait(&self, events: &mut Events, timeout_ms: i32) -> io::Result<usize> {
        let capacity = i32::try_from(events.list.len()).unwrap_or(i32::MAX);
        // SAFETY: the kernel writes at most `capacity` events into the buffer, which holds
        // that many initialized `epoll_event`s and is borrowed mutably for the call.
        let count =
            unsafe { libc::epoll_wait(self.fd.as_raw_fd(), events.list.as_mut_ptr(), capacity, timeout_ms) };
        events.len = match check(count) {
            Ok(count) => usize::try_from(count).unwrap_or(0),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => 0,
            Err(err) => return Err(err),
        };
        Ok(events.len)
    }
}

/// Accepts one pending connection as a non-blocking, close-on-exec socket, in one call (std's
/// `accept` would need a second one to make it non-blocking).
pub fn accept(listener: &TcpListener) -> io::Result<TcpStream> {
    let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: the listener is open for the call; null address pointers ask for no address.
    let fd = check(unsafe {
        libc::accept4(listener.as_raw_fd(), std::ptr::null_mut(), std::ptr::null_mut(), flags)
    })?;
    // SAFETY: accept4 returned a new connected socket that nothing else owns.
    Ok(TcpStream::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// Turns a libc return value into an `io::Result`, reading `errno` on -1.
fn check(result: libc::c_int) -> io::Result<libc::c_int> {
    if result < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsFd;

    #[test]
    fn reports_a_connection_then_its_input_once_per_edge() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let epoll = Epoll::new().unwrap();
        let mut events = Events::with_capacity(8);
        epoll.add(listener.as_fd(), 7, LISTEN).unwrap();
        assert_eq!(epoll.wait(&mut events, 0).unwrap(), 0);
        assert_eq!(accept(&listener).unwrap_err().kind(), io::ErrorKind::WouldBlock);

        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        assert_eq!(epoll.wait(&mut events, 1000).unwrap(), 1);
        assert_eq!(events.get(0).token, 7);
        let server = accept(&listener).unwrap();
        epoll.add(server.as_fd(), 1, CONNECTION).unwrap();
        // A fresh socket is writable: one edge.
        assert_eq!(epoll.wait(&mut events, 1000).unwrap(), 1);
        assert_eq!(events.get(0), Event { token: 1, flags: libc::EPOLLOUT as u32 });

        client.write_all(b"hi").unwrap();
        assert_eq!(epoll.wait(&mut events, 1000).unwrap(), 1);
        assert_ne!(events.get(0).flags & READABLE, 0);
        // Edge-triggered: unread input is not reported again.
        assert_eq!(epoll.wait(&mut events, 0).unwrap(), 0);

        drop(client);
        assert_eq!(epoll.wait(&mut events, 1000).unwrap(), 1);
        assert_ne!(events.get(0).flags & HANG_UP, 0);
        epoll.delete(server.as_fd()).unwrap();
    }
}
