//! SIGINT/SIGTERM: stop accepting, let requests in flight finish for at most
//! [`SHUTDOWN_GRACE`], exit 0.
//!
//! The handler runs on its own thread (signal-hook), so it works the same under every runtime.
//! It stops accepting by shutting down the listening sockets, which on Linux both refuses new
//! connections and wakes any accept (epoll or io_uring) with an error.

use std::io::{self, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use server_spec::limits::SHUTDOWN_GRACE;
use server_spec::Lifecycle;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use socket2::Socket;

/// How often the stopping server checks whether requests in flight have finished.
const POLL_INTERVAL: Duration = Duration::from_millis(5);

/// Starts the thread that waits for SIGINT or SIGTERM.
pub fn install(listeners: &[TcpListener], lifecycle: Arc<Lifecycle>) -> io::Result<()> {
    let sockets = listeners
        .iter()
        .map(|listener| listener.try_clone().map(Socket::from))
        .collect::<io::Result<Vec<_>>>()?;
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new().name("shutdown".into()).spawn(move || {
        if signals.forever().next().is_some() {
            stop(&sockets, &lifecycle);
        }
    })?;
    Ok(())
}

fn stop(sockets: &[Socket], lifecycle: &Lifecycle) -> ! {
    lifecycle.stop();
    for socket in sockets {
        // An error here means the socket is already shut: nothing more to stop.
        let _ = socket.shutdown(std::net::Shutdown::Both);
    }
    let deadline = Instant::now() + SHUTDOWN_GRACE;
    while lifecycle.in_flight() > 0 && Instant::now() < deadline {
        std::thread::sleep(POLL_INTERVAL);
    }
    let _ = io::stdout().flush();
    std::process::exit(0);
}
