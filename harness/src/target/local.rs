//! A server under test: started as a child process in its own process group, pinned to the
//! server CPUs, proven to be the one listening on its port, watched, and always cleaned up.
//!
//! No orphans: the child gets `PR_SET_PDEATHSIG(SIGKILL)`, the [`Watchdog`] kills its whole
//! group (grandchildren included) if the harness dies however it dies, dropping a
//! [`LocalServer`] kills the group, and a normal stop is SIGTERM, then SIGKILL after a grace.

use crate::process::stderr_tail::StderrTail;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::StartFailure;
use crate::mechanics::Counters;
use crate::plan::{Launch, VariantPlan};
use crate::process::gate::Gate;
use crate::process::tied::TiedChild;
use crate::process::watchdog::Watchdog;

/// How long a server may take to announce itself or accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Exit status of a shell that could not find the command (`sh -c missing`).
const SHELL_NOT_FOUND: i32 = 127;

/// What starting a server needs besides its plan.
#[derive(Debug, Clone)]
pub struct Context {
    pub server_cpus: Vec<usize>,
    pub watchdog: Arc<Watchdog>,
    /// Set by Ctrl-C/SIGTERM: waits give up at once.
    pub interrupt: Arc<AtomicBool>,
    /// Count the server's system calls, context switches and migrations (see
    /// [`crate::mechanics`]): it starts behind a [`Gate`] until its counters are attached.
    pub mechanics: bool,
}

/// A started server.
#[derive(Debug)]
pub struct LocalServer {
    process: TiedChild,
    pub addr: SocketAddr,
    /// Its process group (the child leads it).
    pub pgid: i32,
    /// The command line as started.
    pub argv: Vec<String>,
    /// Its mechanics counters, attached before it ran its first instruction; or why not.
    pub counters: Result<Counters, String>,
    /// The CPUs its process may run on, read back after pinning.
    pub cpus_in_force: Vec<usize>,
    stderr: StderrTail,
    /// The filled-in config file it was started with, removed when it is stopped.
    config: Option<std::path::PathBuf>,
}

/// The command line that starts `plan`'s server on `port` (for a `command` that leaves
/// `port` out, `None` until the harness has picked one: `{port}` is then left as written).
pub fn command_line(plan: &VariantPlan, port: Option<u16>) -> Vec<String> {
    let port = port.map_or_else(|| "{port}".to_owned(), |port| port.to_string());
    match &plan.launch {
        Launch::Builtin(variant) => {
            let harness = std::env::current_exe()
                .map_or_else(|_| "harness".to_owned(), |exe| exe.to_string_lossy().into_owned());
            let mut argv = vec![
                harness,
                "serve".into(),
                variant.name.into(),
                "--port".into(),
                port.clone(),
                "--workers".into(),
                plan.workers.to_string(),
            ];
            if let Some(dir) = &plan.files {
                argv.extend(["--files".into(), dir.display().to_string()]);
            }
            argv
        }
        Launch::Command(args) => {
            let config = config_copy_path(plan).map(|p| p.display().to_string()).unwrap_or_default();
            args.iter()
                .map(|arg| {
                    arg.replace("{port}", &port)
                        .replace("{workers}", &plan.workers.to_string())
                        .replace("{config}", &config)
                        .replace("{files}", &files_dir(plan))
                })
                .collect()
        }
    }
}

/// What `{files}` becomes: the corpus directory, or, with no files scenario, a directory that
/// does not exist (so `/files/` is 404 there too, as in a built-in without `--files`).
fn files_dir(plan: &VariantPlan) -> String {
    plan.files.as_ref().map_or_else(|| NO_FILES.to_owned(), |dir| dir.display().to_string())
}

/// `{files}` of a sweep without files.
const NO_FILES: &str = "/nonexistent/runtime-matrix-files";

/// Where the filled-in copy of a variant's `config` template goes (`{config}`).
fn config_copy_path(plan: &VariantPlan) -> Option<std::path::PathBuf> {
    let template = plan.config.as_ref()?;
    let safe: String = plan.name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    let file = template.file_name().map_or_else(|| "config".into(), |n| n.to_string_lossy().into_owned());
    Some(std::env::temp_dir().join(format!("runtime-matrix-{}-{safe}-{file}", std::process::id())))
}

/// Writes the variant's config template with `{port}` and `{workers}` filled in.
fn write_config(plan: &VariantPlan, port: u16) -> Result<Option<std::path::PathBuf>, StartFailure> {
    let (Some(template), Some(copy)) = (plan.config.as_ref(), config_copy_path(plan)) else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(template).map_err(|err| {
        StartFailure::Failed(format!("cannot read the config template {}: {err}", template.display()))
    })?;
    let filled = text
        .replace("{port}", &port.to_string())
        .replace("{workers}", &plan.workers.to_string())
        .replace("{files}", &files_dir(plan));
    std::fs::write(&copy, filled)
        .map_err(|err| StartFailure::Failed(format!("cannot write {}: {err}", copy.display())))?;
    Ok(Some(copy))
}

/// Starts `plan`'s server and waits until it is ready and proven to own its port.
pub fn start(plan: &VariantPlan, context: &Context) -> Result<LocalServer, StartFailure> {
    // A command that leaves `port` out gets one picked below the ephemeral range; a built-in
    // on port 0 picks its own and announces it.
    let port = match (&plan.launch, plan.port) {
        (Launch::Command(_), 0) => super::ports::pick()
            .map_err(|why| StartFailure::Failed(format!("cannot pick a port for it: {why}")))?,
        (_, port) => port,
    };
    let argv = command_line(plan, Some(port));
    let shown = argv.join(" ");
    if port != 0 {
        if let Err(taken) = port_is_free(port) {
            return Err(StartFailure::Failed(taken));
        }
    }
    let config = write_config(plan, port)?;
    let (program, args) = argv.split_first().ok_or_else(|| StartFailure::Failed("empty command".into()))?;
    let mut command = Command::new(program);
    command.args(args);
    let mut gate = None;
    if context.mechanics {
        // Behind a gate, the program's absence shows only after the start: say so before.
        if !on_path(program) {
            let err = std::io::Error::from(std::io::ErrorKind::NotFound);
            return Err(StartFailure::NotRunnable(format!(
                "`{program}` is not installed ({err}){}",
                install_hint(program)
            )));
        }
        let opened = Gate::new().and_then(|g| g.wrap(&command).map(|gated| (g, gated)));
        match opened {
            Ok((g, gated)) => {
                command = gated;
                gate = Some(g);
            }
            Err(err) => {
                return Err(StartFailure::Failed(format!("cannot start `{shown}` behind a gate: {err}")))
            }
        }
    }
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let cpus = context.server_cpus.clone();
    // sched_setaffinity only, async-signal-safe; a pin that cannot be applied is read back
    // and reported after the start.
    let pin = move || {
        let _ = crate::affinity::set_affinity(0, &cpus);
    };
    let mut process = TiedChild::spawn(command, &context.watchdog, pin).map_err(|err| {
        if let Some(config) = &config {
            let _ = std::fs::remove_file(config);
        }
        match err.kind() {
            std::io::ErrorKind::NotFound => StartFailure::NotRunnable(format!(
                "`{program}` is not installed ({err}){}",
                install_hint(program)
            )),
            _ => StartFailure::Failed(format!("cannot start `{shown}`: {err}")),
        }
    })?;
    let pgid = process.pgid;
    // Attached while the program waits at the gate: every thread and child it will start is
    // counted from the first.
    let counters = match gate.as_mut() {
        Some(gate) => {
            let counters = Counters::inherited(pgid);
            gate.open();
            counters
        }
        None => Err("not counted (mechanics = false)".to_owned()),
    };
    let stderr = StderrTail::follow(&mut process.child);
    let (line_tx, line_rx) = mpsc::channel();
    if let Some(pipe) = process.child.stdout.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                // Only the first listening line matters; keep draining so the child never blocks.
                let _ = line_tx.send(line);
            }
        });
    }
    let mut server = LocalServer {
        cpus_in_force: crate::affinity::affinity_of(pgid).unwrap_or_default(),
        process,
        addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        pgid,
        argv,
        counters,
        stderr,
        config,
    };
    let ready = match plan.launch {
        Launch::Builtin(_) => server.await_listening_line(&line_rx, port, &context.interrupt),
        Launch::Command(_) => server.await_accepting(&context.interrupt),
    }
    .and_then(|()| server.owns_its_port());
    if let Err(reason) = ready {
        server.kill();
        return Err(server.start_failure(&shown, &reason));
    }
    Ok(server)
}

/// Whether `program` can be run: a path that exists, or a name found on PATH.
fn on_path(program: &str) -> bool {
    if program.contains('/') {
        return std::path::Path::new(program).exists();
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// Whether `port` on loopback is free to bind, or who holds it.
fn port_is_free(port: u16) -> Result<(), String> {
    match TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
        Ok(_) => Ok(()),
        Err(err) => {
            let holders: Vec<String> = super::sockets::listening_inodes(port)
                .into_iter()
                .flat_map(super::sockets::holders_of)
                .collect();
            let avoid = format!(
                "Fixed ports inside Linux's ephemeral range can be reserved: sysctl -w \
                 net.ipv4.ip_local_reserved_ports={port}; or leave `port` out (a built-in then takes any free port, \
                 a command one the harness picks below the ephemeral range)"
            );
            if holders.is_empty() && super::sockets::connections_on(port) > 0 {
                // No listener: a connection drew it as its ephemeral port, and keeps it until it closes.
                return Err(format!(
                    "port {port} is in use by a connection that drew it as its ephemeral port ({err}); it is free again \
                     once that connection closes (under a minute). {avoid}"
                ));
            }
            let time_waits = super::sockets::time_waits_on(port);
            if holders.is_empty() && time_waits > 0 {
                // No listener, no open connection: closed clients that drew it, kept by the kernel.
                return Err(format!(
                    "port {port} is held by {time_waits} socket(s) in TIME_WAIT ({err}): closed client connections that \
                     drew it as their ephemeral port, which the kernel keeps for up to a minute after they close; it is \
                     free again within a minute. {avoid}"
                ));
            }
            let by = if holders.is_empty() { String::new() } else { format!(" by {}", holders.join(", ")) };
            Err(format!(
                "port {port} is already in use{by} ({err}): refusing to start a server there and measure another program"
            ))
        }
    }
}

/// What to install for a missing program, when known.
fn install_hint(program: &str) -> &'static str {
    match program.rsplit('/').next().unwrap_or(program) {
        "nginx" => "; apt-get install nginx-light",
        "python3" | "python" => "; apt-get install python3",
        _ => "",
    }
}

impl LocalServer {
    fn await_listening_line(
        &mut self,
        lines: &mpsc::Receiver<String>,
        port: u16,
        interrupt: &AtomicBool,
    ) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            self.still_running()?;
            if interrupt.load(Ordering::Relaxed) {
                return Err("interrupted".into());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!("no `listening on` line within {READY_TIMEOUT:?}"));
            }
            match lines.recv_timeout(left.min(Duration::from_millis(50))) {
                Ok(line) => {
                    if let Some(addr) = server_spec::cli::parse_listening_line(&line) {
                        if port != 0 && addr.port() != port {
                            return Err(format!("asked for port {port}, got {addr}"));
                        }
                        self.addr = addr;
                        return Ok(());
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(Duration::from_millis(50));
                    self.still_running()?;
                    return Err("closed its stdout without a `listening on` line".into());
                }
            }
        }
    }

    fn await_accepting(&mut self, interrupt: &AtomicBool) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            self.still_running()?;
            if interrupt.load(Ordering::Relaxed) {
                return Err("interrupted".into());
            }
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!("nothing accepted on {} within {READY_TIMEOUT:?}", self.addr));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every listener on the server's port must belong to its process group: otherwise the
    /// load would go (partly) to another program.
    fn owns_its_port(&mut self) -> Result<(), String> {
        let port = self.addr.port();
        let members = crate::cost::group_members(self.pgid);
        let foreign = super::sockets::foreign_listeners(port, &members);
        if !foreign.is_empty() {
            return Err(format!(
                "port {port} is also listened on by {}, outside this server's processes: the load would not all reach it",
                foreign.join(", ")
            ));
        }
        let ours = super::sockets::listening_inodes(port);
        if ours.is_empty() {
            return Err(format!("no listening socket on port {port} belongs to the server"));
        }
        Ok(())
    }

    /// An error if the server has exited.
    fn still_running(&mut self) -> Result<(), String> {
        match self.exit_status() {
            Some(status) => Err(format!("exited ({status})")),
            None => Ok(()),
        }
    }

    /// One line saying why the start failed: the reason, then the server's last words.
    fn start_failure(&mut self, shown: &str, reason: &str) -> StartFailure {
        let said = self.last_words();
        let status = self.process.exited().and_then(|s| s.code());
        if status == Some(i32::from(server_common::EXIT_NOT_RUNNABLE)) || status == Some(SHELL_NOT_FOUND) {
            let why = said.strip_prefix("Error: ").unwrap_or(&said).to_owned();
            return StartFailure::NotRunnable(if why.is_empty() {
                format!("`{shown}` {reason}")
            } else {
                why
            });
        }
        let said = if said.is_empty() { String::new() } else { format!(": {said}") };
        StartFailure::Failed(format!("did not start: {reason}{said} (command: {shown})"))
    }

    /// The server's last stderr lines, as one line.
    pub fn last_words(&self) -> String {
        self.stderr.last_words()
    }

    /// The exit status, if the server has exited.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.process.exit_status()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.process.child.id()
    }

    /// SIGTERM to the process group, SIGKILL after `grace`. Returns how it exited.
    pub fn stop(mut self, grace: Duration) -> Option<ExitStatus> {
        if self.exit_status().is_none() {
            self.process.signal(libc::SIGTERM);
            self.process.wait_for_exit(grace);
        }
        self.kill();
        self.process.exited()
    }

    /// SIGKILL to the whole process group, reap the child, remove its config file.
    fn kill(&mut self) {
        self.process.kill();
        if let Some(config) = self.config.take() {
            let _ = std::fs::remove_file(config);
        }
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A port a client connection drew as its ephemeral port is refused, saying so and how to
    /// reserve it, not blamed on a listener.
    #[test]
    fn a_port_held_by_a_client_connection_is_explained() {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let port = client.local_addr().unwrap().port();
        // At least ours: Linux lets connections to other destinations (other tests' clients)
        // draw the same ephemeral port.
        assert!(crate::target::sockets::connections_on(port) >= 1);
        let refused = port_is_free(port).unwrap_err();
        assert!(
            refused.contains("ephemeral port") && refused.contains("ip_local_reserved_ports"),
            "{refused}"
        );
        drop(client);
    }

    /// A port held only by a closed client's TIME_WAIT (the client closed first, as a load
    /// generator's connections would if it did not wait for the server's FIN) is named as
    /// such, not as "already in use" with no holder.
    #[test]
    fn a_port_held_by_client_time_waits_is_named() {
        use std::io::Read;
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let port = client.local_addr().unwrap().port();
        let (mut accepted, _) = listener.accept().unwrap();
        // The client closes first: its side ends in TIME_WAIT once the server closes too.
        drop(client);
        let _ = accepted.read(&mut [0u8; 16]);
        drop(accepted);
        drop(listener);
        let deadline = Instant::now() + Duration::from_secs(2);
        while crate::target::sockets::time_waits_on(port) == 0 {
            assert!(Instant::now() < deadline, "no TIME_WAIT on {port}");
            std::thread::sleep(Duration::from_millis(5));
        }
        let refused = port_is_free(port).unwrap_err();
        assert!(refused.contains("TIME_WAIT") && refused.contains("closed client connections"), "{refused}");
        assert!(refused.contains("leave `port` out"), "{refused}");
    }
}
