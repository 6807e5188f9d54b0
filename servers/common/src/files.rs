//! `--files DIR`: the served directory, opened once at start, and the one safe way every
//! variant opens a name in it.
//!
//! The spec has already refused names with `/`, `..` or NUL ([`server_spec::files`]); here
//! a name is opened relative to the directory's descriptor with `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS)` (on a kernel without `openat2`, `openat(O_NOFOLLOW)`, which is as
//! safe for a single component), so nothing outside the directory is ever opened and no
//! symlink is followed, in it or out of it. Only a regular file is served: a directory, a
//! device, a FIFO or a socket is answered as a missing file. `O_NONBLOCK` keeps the open of a
//! FIFO from waiting for a writer; it is cleared again once the file is known to be regular.
//!
//! Every variant opens through [`open`], so they all refuse exactly the same names; each then
//! reads the file with its own runtime's file API. The directory is process-wide, like the
//! signal handler: it is set once by [`init`], before any worker starts, and read by every
//! worker without being passed through each variant's accept loop.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::Context;
use server_spec::Connection;

/// The served directory: its descriptor, opened once, and the path it was given as.
#[derive(Debug)]
struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

/// `None` inside: the server was started without `--files`.
static DIR: OnceLock<Option<Dir>> = OnceLock::new();

/// Opens the `--files` directory (if any) for the whole process. A directory that is missing,
/// not a directory, or not readable and searchable by this process is an error: the server
/// refuses to start rather than answer every file with 404.
pub fn init(path: Option<&Path>) -> anyhow::Result<()> {
    let dir = path.map(open_dir).transpose()?;
    if DIR.set(dir).is_err() {
        anyhow::bail!("the files directory was already set");
    }
    Ok(())
}

fn open_dir(path: &Path) -> anyhow::Result<Dir> {
    let shown = path.display();
    let c_path = CString::new(path.as_os_str().as_bytes())
        .with_context(|| format!("cannot serve files from {shown}: the path holds a NUL"))?;
    // SAFETY: `c_path` is a NUL-terminated string that outlives the call.
    let fd = unsafe { libc::open(c_path.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error()).with_context(|| format!("cannot serve files from {shown}"));
    }
    // SAFETY: `fd` was just opened and is owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // Root passes the open above whatever the mode; searching it (to open names) and reading
    // it are what serving needs, for any user.
    // SAFETY: `fd` is a live directory descriptor and "." a static NUL-terminated string.
    let usable =
        unsafe { libc::faccessat(fd.as_raw_fd(), c".".as_ptr(), libc::R_OK | libc::X_OK, libc::AT_EACCESS) };
    if usable != 0 {
        return Err(io::Error::last_os_error()).with_context(|| format!("cannot serve files from {shown}"));
    }
    Ok(Dir { fd, path: path.to_owned() })
}

/// The served directory as it was given, if any.
pub fn dir() -> Option<&'static Path> {
    DIR.get()?.as_ref().map(|dir| dir.path.as_path())
}

/// Opens the regular file `name` (as [`Connection::file_name`] gives it) in the served
/// directory: the file and its size, or `None` if there is no directory, no such name, or the
/// name is not a regular file. Blocking: the async variants that keep file work off their
/// threads call it where their runtime runs blocking work.
pub fn open(name: &[u8]) -> Option<(File, u64)> {
    let dir = DIR.get()?.as_ref()?;
    let name = CString::new(name).ok()?;
    let fd = open_beneath(&dir.fd, &name).ok()?;
    let file = File::from(fd);
    let meta = file.metadata().ok()?;
    if !meta.file_type().is_file() {
        return None;
    }
    // SAFETY: `file` owns a live descriptor; F_SETFL with plain flags touches no memory.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETFL, 0) } != 0 {
        return None;
    }
    Some((file, meta.len()))
}

/// Tells `conn` what [`open`] found, and keeps the file only if its body is to be sent.
pub fn opened(conn: &mut Connection, opened: Option<(File, u64)>) -> Option<File> {
    let size = opened.as_ref().map(|(_, size)| *size);
    if conn.file_opened(size) {
        opened.map(|(file, _)| file)
    } else {
        None
    }
}

/// [`open`] the file `conn` asks for and tell it ([`opened`]), on this thread.
pub fn open_for(conn: &mut Connection) -> Option<File> {
    let found = open(conn.file_name());
    opened(conn, found)
}

/// The error a variant ends a connection with when the file ends before the length its head
/// promised (the file shrank while it was sent): the client sees the connection close early.
pub fn ended_early() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "the file ended before its Content-Length")
}

/// `openat2(dir, name, O_RDONLY | O_NONBLOCK, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`, or
/// `openat(O_NOFOLLOW)` where the kernel has no `openat2` (before Linux 5.6).
fn open_beneath(dir: &OwnedFd, name: &CString) -> io::Result<OwnedFd> {
    let flags = libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK | libc::O_NOFOLLOW;
    // SAFETY: `open_how` is plain data; all-zero is its "nothing asked" value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = flags as u64;
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS;
    // SAFETY: `name` is NUL-terminated and `how` a live `open_how` of the size passed; both
    // outlive the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            name.as_ptr(),
            &raw const how,
            size_of::<libc::open_how>(),
        )
    };
    let fd = if fd < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
        // SAFETY: as above; `openat` reads only `name`.
        i64::from(unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags) })
    } else {
        fd
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `open` reads the process-wide directory; these tests open through a `Dir` of their own.
    fn open_in(dir: &Dir, name: &[u8]) -> Option<u64> {
        let fd = open_beneath(&dir.fd, &CString::new(name).ok()?).ok()?;
        let meta = File::from(fd).metadata().ok()?;
        meta.file_type().is_file().then_some(meta.len())
    }

    #[test]
    fn only_regular_files_beneath_the_directory() {
        let root = std::env::temp_dir().join(format!("rm-files-{}", std::process::id()));
        let served = root.join("served");
        std::fs::create_dir_all(served.join("sub")).unwrap();
        std::fs::write(served.join("a"), b"12345").unwrap();
        std::fs::write(root.join("secret"), b"no").unwrap();
        std::os::unix::fs::symlink(root.join("secret"), served.join("out")).unwrap();
        std::os::unix::fs::symlink("a", served.join("in")).unwrap();
        let dir = open_dir(&served).unwrap();
        assert_eq!(open_in(&dir, b"a"), Some(5));
        assert_eq!(open_in(&dir, b"missing"), None);
        assert_eq!(open_in(&dir, b"sub"), None, "a directory");
        assert_eq!(open_in(&dir, b"out"), None, "a symlink out of the directory");
        assert_eq!(open_in(&dir, b"in"), None, "no symlink at all");
        assert_eq!(open_in(&dir, b"../secret"), None, "RESOLVE_BENEATH, had the spec let it by");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_missing_or_plain_file_directory_is_refused_with_its_reason() {
        let err = open_dir(Path::new("/nonexistent/files")).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "cannot serve files from /nonexistent/files: No such file or directory (os error 2)"
        );
        let err = open_dir(Path::new("/etc/hostname")).unwrap_err();
        assert!(format!("{err:#}").contains("Not a directory"), "{err:#}");
    }
}
