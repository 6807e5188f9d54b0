//! `/files/{name}` with monoio's own file API, [`monoio::fs::File`]: every read is an
//! `IORING_OP_READ` on the runtime's ring, into the connection's owned buffer.
//!
//! The open is not: monoio opens only by path (`IORING_OP_OPENAT` from the working
//! directory), which cannot say "beneath this directory, no symlinks". So the name is opened
//! through the one safe opener, on this thread (a lookup in an already-cached directory, no
//! disk read), and the descriptor handed to monoio with `File::from_std`.

use std::io;
use std::pin::Pin;
use std::time::Duration;

use monoio::buf::IoBufMut;
use monoio::fs::File;
use monoio::net::TcpStream;
use monoio::time::Sleep;
use server_common::files;
use server_spec::files::CHUNK;
use server_spec::Connection;

/// [`server_spec::Step::OpenFile`]: opens the name, tells `conn`, and keeps the file if its
/// body follows.
pub fn open(conn: &mut Connection) -> Option<File> {
    files::open_for(conn).and_then(|file| File::from_std(file).ok())
}

/// [`server_spec::Step::SendFile`]: reads `len` bytes of `file` through the ring a chunk at a
/// time into `buf` (the connection's empty output buffer) and writes each to the socket;
/// gives the buffer back.
pub async fn send(
    stream: &mut TcpStream,
    file: Option<File>,
    len: u64,
    timeout: Duration,
    mut timer: Pin<&mut Sleep>,
    mut buf: Vec<u8>,
) -> io::Result<Vec<u8>> {
    let file = file.ok_or_else(files::ended_early)?;
    let mut at = 0;
    while at < len {
        let want = usize::try_from(len - at).unwrap_or(usize::MAX).min(CHUNK);
        buf.clear();
        buf.reserve(want);
        let (result, slice) = file.read_at(buf.slice_mut(0..want), at).await;
        buf = slice.into_inner();
        match result? {
            0 => return Err(files::ended_early()),
            got => at += got as u64,
        }
        buf = super::write_all(stream, buf, timeout, timer.as_mut()).await?;
    }
    buf.clear();
    Ok(buf)
}
