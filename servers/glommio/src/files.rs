//! `/files/{name}` with glommio's own file API: a [`BufferedFile`], whose every read is an
//! `IORING_OP_READ` on the executor's ring, into a buffer glommio allocates for it.
//!
//! Not its `DmaFile`: direct I/O bypasses the page cache, so a "warm" file would be read from
//! the disk on every request, and it needs a filesystem that takes `O_DIRECT` (tmpfs does
//! not); every other variant reads through the page cache. And glommio opens only by path,
//! which cannot say "beneath this directory, no symlinks": the name is opened through the one
//! safe opener, on this thread (a lookup in an already-cached directory, no disk read), and
//! the descriptor handed to glommio (`BufferedFile::from_raw_fd`).

use std::io;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::time::Duration;

use futures_lite::AsyncWriteExt;
use glommio::io::BufferedFile;
use glommio::net::TcpStream;
use server_common::files;
use server_spec::files::CHUNK;
use server_spec::Connection;

/// [`server_spec::Step::OpenFile`]: opens the name, tells `conn`, and keeps the file if its
/// body follows.
pub fn open(conn: &mut Connection) -> Option<BufferedFile> {
    let file = files::open_for(conn)?;
    // SAFETY: the descriptor comes out of a `File` that gives up owning it; glommio's file
    // owns (and closes) it from here on.
    Some(unsafe { BufferedFile::from_raw_fd(file.into_raw_fd()) })
}

/// [`server_spec::Step::SendFile`]: reads `len` bytes of `file` through the ring a chunk at a
/// time and writes each to the socket. `write_timeout` is the socket's write timeout in
/// force, set only when it changes.
pub async fn send(
    stream: &mut TcpStream,
    file: Option<BufferedFile>,
    len: u64,
    timeout: Duration,
    write_timeout: &mut Option<Duration>,
) -> io::Result<()> {
    let file = file.ok_or_else(files::ended_early)?;
    if *write_timeout != Some(timeout) {
        stream.set_write_timeout(Some(timeout))?;
        *write_timeout = Some(timeout);
    }
    let mut at = 0;
    while at < len {
        let want = usize::try_from(len - at).unwrap_or(usize::MAX).min(CHUNK);
        let chunk = file.read_at(at, want).await.map_err(io::Error::from)?;
        if chunk.is_empty() {
            return Err(files::ended_early());
        }
        stream.write_all(&chunk).await?;
        at += chunk.len() as u64;
    }
    // An explicit close, as glommio asks of its files (a dropped one is closed a turn later).
    file.close().await.map_err(io::Error::from)
}
