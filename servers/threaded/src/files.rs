//! `/files/{name}` with `std::fs`: the thread opens the file and blocks on each read, as it
//! blocks on its socket.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use server_common::files;
use server_spec::files::CHUNK;

/// [`server_spec::Step::SendFile`]: reads `len` bytes of `file` a chunk at a time into `buf`
/// (the connection's empty output buffer) and writes each to the socket. `write_timeout` is
/// the send timeout in force, set (as `SO_SNDTIMEO`) only when it changes.
pub fn send(
    stream: &mut TcpStream,
    file: Option<File>,
    len: u64,
    timeout: Duration,
    write_timeout: &mut Option<Duration>,
    buf: &mut Vec<u8>,
) -> io::Result<()> {
    let mut file = file.ok_or_else(files::ended_early)?;
    if *write_timeout != Some(timeout) {
        stream.set_write_timeout(Some(timeout))?;
        *write_timeout = Some(timeout);
    }
    let mut left = len;
    while left > 0 {
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(CHUNK);
        buf.resize(want, 0);
        let got = match file.read(&mut buf[..want]) {
            Ok(0) => return Err(files::ended_early()),
            Ok(got) => got,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        stream.write_all(&buf[..got])?;
        left -= got as u64;
    }
    buf.clear();
    Ok(())
}
