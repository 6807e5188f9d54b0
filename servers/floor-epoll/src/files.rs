//! `/files/{name}` with `sendfile(2)`: the kernel copies the file's pages straight into the
//! socket, no byte of it in user space; floor-epoll's zero-copy floor. The socket is
//! non-blocking, so a call sends what the send buffer takes and the rest waits for the next
//! edge, like any write. A page not in the page cache is read from the disk inside the call:
//! on a cold file the worker blocks there, the price of having no other thread.

use std::fs::File;
use std::io;
use std::net::TcpStream;
use std::os::fd::AsRawFd;

use server_common::files;
use server_spec::Connection;

/// Most a single `sendfile` may move (the kernel's own cap, `MAX_RW_COUNT`).
const MOST_PER_CALL: u64 = 0x7fff_f000;

/// A file being sent: what is left of it, from where.
#[derive(Debug)]
pub struct Sending {
    /// `None` when the connection asked to send a file it never got (cannot happen with the
    /// spec's steps): the first call fails the connection.
    file: Option<File>,
    offset: libc::off_t,
    left: u64,
}

/// How far one call got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Some bytes went (maybe the last: see [`Sending::is_done`]).
    Some,
    /// The socket's buffer is full: wait for room.
    Full,
    /// The connection failed (the client went away, or the file shrank).
    Failed,
}

/// [`server_spec::Step::OpenFile`]: opens the name, tells `conn`, and keeps the file if its
/// body follows.
pub fn open(conn: &mut Connection) -> Option<File> {
    files::open_for(conn)
}

impl Sending {
    /// [`server_spec::Step::SendFile`]: `len` bytes of `file`, from its start.
    pub fn new(file: Option<File>, len: u64) -> Sending {
        Sending { file, offset: 0, left: len }
    }

    pub fn is_done(&self) -> bool {
        self.left == 0
    }

    /// One `sendfile` of as much as is left.
    pub fn send(&mut self, stream: &TcpStream) -> Sent {
        let Some(file) = &self.file else { return Sent::Failed };
        let count = self.left.min(MOST_PER_CALL) as usize;
        loop {
            // SAFETY: both descriptors are live for the call; `offset` is a live off_t the
            // kernel advances by what it sent.
            let sent =
                unsafe { libc::sendfile(stream.as_raw_fd(), file.as_raw_fd(), &mut self.offset, count) };
            match sent {
                // Nothing sent with bytes left: the file ended early.
                0 => return Sent::Failed,
                1.. => {
                    self.left -= sent as u64;
                    return Sent::Some;
                }
                _ => match io::Error::last_os_error().kind() {
                    io::ErrorKind::WouldBlock => return Sent::Full,
                    io::ErrorKind::Interrupted => {}
                    _ => return Sent::Failed,
                },
            }
        }
    }
}
