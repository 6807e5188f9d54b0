//! The [`Variant`] descriptor and the skeleton every server runs.

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use server_spec::cli::{listening_line, ServerArgs};
use server_spec::Config;

use crate::{net, shutdown, uring};

/// The I/O mechanism a variant's sockets use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Io {
    IoUring,
    Epoll,
    Blocking,
}

impl Io {
    /// How the README and the harness name it.
    pub fn name(self) -> &'static str {
        match self {
            Io::IoUring => "io_uring",
            Io::Epoll => "epoll",
            Io::Blocking => "blocking",
        }
    }
}

/// How many listening sockets a variant wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listeners {
    /// One listener, shared by all workers.
    Shared,
    /// One listener per worker, all bound to the same port with `SO_REUSEPORT`; the kernel
    /// spreads connections across them.
    PerWorker,
}

/// Everything the harness and the README need to know about one server variant.
#[derive(Debug, Clone, Copy)]
pub struct Variant {
    /// The name used by `harness serve`, `matrix.toml` and the results.
    pub name: &'static str,
    /// The runtime (crate) serving it.
    pub runtime: &'static str,
    pub io: Io,
    /// How connections are spread over threads.
    pub threading: &'static str,
    /// What `--workers N` means for this variant.
    pub workers: &'static str,
    /// Whether `--workers N` changes how many threads serve. False for a variant whose threads
    /// follow its connections (thread-per-connection): a sweep with workers as an axis then
    /// changes only the CPUs it is pinned to, and says so.
    pub uses_workers: bool,
    pub listeners: Listeners,
    /// Serves until the process is stopped. It calls [`Ready::arrive`] once per listener
    /// after its runtime is built. When the server stops, accept loops stop (see
    /// [`crate::AfterAcceptError::Stop`]) but runtimes stay up so requests in flight finish;
    /// the shutdown thread then exits the process.
    pub serve: fn(Server) -> anyhow::Result<()>,
}

/// What a variant's `serve` gets: bound listeners and the settings.
#[derive(Debug)]
pub struct Server {
    /// One listener, or one per worker (see [`Listeners`]); already bound and listening.
    pub listeners: Vec<TcpListener>,
    /// `--workers`, resolved.
    pub workers: usize,
    /// Per-connection settings for [`server_spec::Connection`].
    pub config: Config,
    pub ready: Ready,
}

/// Counts down the runtimes still being built; the last one prints the listening line, so
/// the line means "every worker is serving" and a runtime that fails to start fails first.
#[derive(Debug, Clone)]
pub struct Ready {
    remaining: Arc<AtomicUsize>,
    addr: SocketAddr,
    /// The calibrated `/work` rate, which the line states.
    work_rate: f64,
}

impl Ready {
    fn new(count: usize, addr: SocketAddr, work_rate: f64) -> Ready {
        Ready { remaining: Arc::new(AtomicUsize::new(count)), addr, work_rate }
    }

    /// One runtime is built and about to accept.
    pub fn arrive(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            let mut stdout = std::io::stdout().lock();
            // If stdout is gone nobody is waiting for the line; keep serving regardless.
            let _ = writeln!(stdout, "{}", listening_line(self.addr, self.work_rate));
            let _ = stdout.flush();
        }
    }
}

/// The command line of a standalone server binary.
#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    args: ServerArgs,
}

/// The whole `main` of a server binary: parse the shared CLI and [`start`].
pub fn main(variant: &Variant) -> ExitCode {
    let cli = Cli::parse_from(std::env::args_os());
    match start(variant, &cli.args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => report(&err),
    }
}

/// Prints a server's start-up error as one line and picks its exit status:
/// [`EXIT_NOT_RUNNABLE`] when this machine cannot run the variant at all, 1 otherwise.
pub fn report(err: &anyhow::Error) -> ExitCode {
    eprintln!("Error: {err:#}");
    if err.chain().any(|cause| cause.is::<NotRunnable>()) {
        ExitCode::from(EXIT_NOT_RUNNABLE)
    } else {
        ExitCode::FAILURE
    }
}

/// This machine cannot run the variant at all (io_uring denied, too little locked memory), as
/// opposed to the variant failing: the harness reports it as not runnable here, and the
/// sweep's verdict does not depend on it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotRunnable(pub String);

pub use server_spec::cli::EXIT_NOT_RUNNABLE;

/// Binds, calibrates `/work`, installs the signal handler and serves `variant` until the process
/// is stopped.
pub fn start(variant: &Variant, args: &ServerArgs) -> anyhow::Result<()> {
    raise_open_files();
    if variant.io == Io::IoUring {
        uring::deny_if_requested()?;
        uring::probe(variant.name)?;
    }
    crate::files::init(args.files.as_deref())?;
    let workers = args.workers();
    let count = match variant.listeners {
        Listeners::Shared => 1,
        Listeners::PerWorker => workers,
    };
    let addr = args.socket_addr();
    let listeners = net::bind(addr, count).with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listeners[0].local_addr().context("cannot read the bound address")?;
    let mut config = args.config();
    // Before any runtime thread exists, on the CPUs the server was started on (the harness
    // pins it first): `/work/{µs}` computes about µs there.
    config.work_rate = server_spec::work::calibrate();
    shutdown::install(&listeners, config.lifecycle.clone())
        .context("cannot install the SIGINT/SIGTERM handler")?;
    let lifecycle = config.lifecycle.clone();
    let ready = Ready::new(count, bound, config.work_rate);
    let server = Server { listeners, workers, config, ready };
    (variant.serve)(server).with_context(|| variant.name.to_owned())?;
    // A serve that returns while stopping must not end the process before requests in
    // flight finish: the shutdown thread exits it.
    while lifecycle.is_stopping() {
        std::thread::park();
    }
    anyhow::bail!("{} stopped serving unexpectedly", variant.name)
}

/// Raises the soft limit on open files to the hard limit: the soft one is often 1024, and a
/// server holding ten thousand connections needs more. Failing to raise it is not fatal: the
/// accept loop backs off when descriptors run out (see [`crate::accept`]).
fn raise_open_files() {
    let _ = crate::rlimit::raise_to_hard(crate::rlimit::Limit::OpenFiles);
}
