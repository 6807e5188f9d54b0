//! What an accept loop does when accept fails: one failed accept never stops a server.

use std::io;
use std::time::Duration;

use server_spec::Lifecycle;

/// How long to back off when the process is out of descriptors or memory, so the loop does
/// not spin while connections close and free them.
const EXHAUSTED_BACKOFF: Duration = Duration::from_millis(10);

/// The accept loop's next move after an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterAcceptError {
    /// The server is stopping (the listener was shut down): stop accepting, but keep the
    /// runtime alive so requests in flight finish; the shutdown thread exits the process.
    Stop,
    /// Accept again, after this pause.
    Retry(Duration),
}

/// Classifies (and reports) an accept error.
pub fn after_accept_error(err: &io::Error, lifecycle: &Lifecycle) -> AfterAcceptError {
    if lifecycle.is_stopping() {
        return AfterAcceptError::Stop;
    }
    match err.raw_os_error() {
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => {
            eprintln!("accept failed, backing off: {err}");
            AfterAcceptError::Retry(EXHAUSTED_BACKOFF)
        }
        // The client gave up before we accepted it: nothing to report.
        Some(libc::ECONNABORTED | libc::EPROTO | libc::EINTR) => AfterAcceptError::Retry(Duration::ZERO),
        _ => {
            eprintln!("accept failed: {err}");
            AfterAcceptError::Retry(EXHAUSTED_BACKOFF)
        }
    }
}
