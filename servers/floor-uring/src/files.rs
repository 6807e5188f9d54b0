//! `/files/{name}` through the ring: each chunk of the file is an `IORING_OP_READ` into the
//! connection's own output buffer, then sent from there like any response bytes (a send per
//! chunk, resubmitted while partial). No `read(2)` or `pread(2)`: the kernel reads the file
//! (from the page cache inline, or from the disk in its io-wq workers) while this thread
//! serves the other connections.
//!
//! Only the open is a system call on this thread, through the one safe opener (a lookup in
//! an already-cached directory, no disk read).

use std::fs::File;
use std::os::fd::AsRawFd;

use io_uring::{opcode, squeue, types};
use server_common::files;
use server_spec::files::CHUNK;
use server_spec::Connection;

/// [`server_spec::Step::OpenFile`]: opens the name, tells `conn`, and keeps the file if its
/// body follows.
pub fn open(conn: &mut Connection) -> Option<File> {
    files::open_for(conn)
}

/// A file being sent: what is left of it, from where.
#[derive(Debug)]
pub struct Sending {
    /// `None` when the connection asked to send a file it never got (cannot happen with the
    /// spec's steps): the first read fails the connection.
    file: Option<File>,
    at: u64,
    len: u64,
}

impl Sending {
    /// [`server_spec::Step::SendFile`]: `len` bytes of `file`, from its start.
    pub fn new(file: Option<File>, len: u64) -> Sending {
        Sending { file, at: 0, len }
    }

    /// Whether every byte has been read (and handed to a send).
    pub fn is_done(&self) -> bool {
        self.at >= self.len
    }

    /// The read of the next chunk into `out` (emptied, and grown to hold it), as `user_data`;
    /// `None` if there is no file to read.
    ///
    /// # Safety
    /// The kernel writes into `out`'s buffer until the read completes: the caller must neither
    /// touch, grow nor drop `out` until then.
    pub unsafe fn read(&self, out: &mut Vec<u8>, user_data: u64) -> Option<squeue::Entry> {
        let file = self.file.as_ref()?;
        let want = usize::try_from(self.len - self.at).unwrap_or(usize::MAX).min(CHUNK);
        out.clear();
        out.reserve(want);
        Some(
            opcode::Read::new(types::Fd(file.as_raw_fd()), out.as_mut_ptr(), want as u32)
                .offset(self.at)
                .build()
                .user_data(user_data),
        )
    }

    /// A read completed with `result`: the bytes it put in `out` become its length. `false`
    /// if it failed or found the file ended early (it shrank): the connection must close.
    ///
    /// # Safety
    /// `out` is the buffer the completed read was given, not touched since.
    pub unsafe fn on_read(&mut self, result: i32, out: &mut Vec<u8>) -> bool {
        let Ok(read @ 1..) = usize::try_from(result) else { return false };
        // SAFETY: the kernel initialised `read` bytes at the start of `out`'s buffer, no more
        // than the capacity `read` reserved (the caller's promise).
        unsafe { out.set_len(read) };
        self.at += read as u64;
        true
    }
}
