//! `/files/{name}` with tokio's own file API, [`tokio::fs::File`]: tokio has no asynchronous
//! file I/O, so the open and every read are a `spawn_blocking` each, run on its blocking
//! thread pool while the worker serves other connections.

use std::io;
use std::time::Duration;

use server_common::files;
use server_spec::files::CHUNK;
use server_spec::Connection;
use tokio::fs::File;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// [`server_spec::Step::OpenFile`]: opens the name on the blocking pool (through the one safe
/// opener), tells `conn`, and keeps the file if its body follows.
pub async fn open(conn: &mut Connection) -> Option<File> {
    let name = conn.file_name().to_vec();
    let found = tokio::task::spawn_blocking(move || files::open(&name)).await.ok().flatten();
    files::opened(conn, found).map(File::from_std)
}

/// [`server_spec::Step::SendFile`]: reads `len` bytes of `file` a chunk at a time into `buf`
/// (the connection's empty output buffer) and writes each to the socket.
pub async fn send(
    stream: &TcpStream,
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
