//! `/files/{name}` through async-fs (`smol::fs`), smol's own file API: async-fs has no
//! asynchronous file I/O either, so the open runs on the `blocking` thread pool
//! (`smol::unblock`) and a [`smol::fs::File`] reads on that pool, into a pipe the connection
//! drains (async-fs's pipe holds up to 8 MiB of read-ahead per open file).

use std::io;
use std::net::TcpStream;
use std::time::Duration;

use server_common::files;
use server_spec::files::CHUNK;
use server_spec::Connection;
use smol::fs::File;
use smol::io::AsyncReadExt;
use smol::Async;

/// [`server_spec::Step::OpenFile`]: opens the name on the blocking pool (through the one safe
/// opener), tells `conn`, and keeps the file if its body follows.
pub async fn open(conn: &mut Connection) -> Option<File> {
    let name = conn.file_name().to_vec();
    let found = smol::unblock(move || files::open(&name)).await;
    files::opened(conn, found).map(File::from)
}

/// [`server_spec::Step::SendFile`]: reads `len` bytes of `file` a chunk at a time into `buf`
/// (the connection's empty output buffer) and writes each to the socket.
pub async fn send(
    stream: &Async<TcpStream>,
    file: Option<File>,
    len: u64,
    timeout: Duration,
    buf: &mut Vec<u8>,
) -> io::Result<()> {
    let mut file = file.ok_or_else(files::ended_early)?;
    let mut left = len;
    while left > 0 {
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(CHUNK);
        buf.resize(want, 0);
        let got = file.read(&mut buf[..want]).await?;
        if got == 0 {
            return Err(files::ended_early());
        }
        super::write_all(stream, &buf[..got], timeout).await?;
        left -= got as u64;
    }
    buf.clear();
    Ok(())
}
