//! The sweep: start the servers, verify them, measure every cell in the planned order, stop
//! them. Each cell is printed and written as soon as its last run is done. A variant that
//! cannot start, answers wrongly or dies is reported and cleaned up, and the sweep goes on;
//! Ctrl-C ends it within a second, whatever the servers do. With workers as an axis, a server
//! is restarted (and verified again) whenever the next run needs it with other workers.

pub mod cell;
pub mod files;
pub mod order;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::export::Output;
use crate::hosts::load::Share;
use crate::load::{self, Job, Shape, Stop};
use crate::machine::calibrate;
use crate::mechanics::{Attached, Counters, Mechanics};
use crate::plan::CpuIdle;
use crate::plan::{Counting, Launch, Load, Order, Plan, Scenario, ServerSetup};
use crate::process::watchdog::Watchdog;
use crate::progress::{Cost, Progress};
use crate::results::summarize::Point;
use crate::results::{Cell, MeasuredRun, Problem, ProblemKind, Reading, Results, Sides, Status};
use crate::target::awake::Keeper;
use crate::target::{self, Server, StartFailure};
use cell::{CellKey, Measuring};
use order::Slot;

/// How the sweep ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Every cell ran; see [`Results::all_clean`] for failures.
    Finished,
    /// SIGINT/SIGTERM: stopped early, servers cleaned up.
    Interrupted,
}

/// What the sweep needs besides the plan.
#[derive(Debug, Clone)]
pub struct Context {
    pub interrupt: Arc<AtomicBool>,
    pub watchdog: Arc<Watchdog>,
}

/// A variant's server over the sweep.
#[derive(Debug)]
enum ServerState {
    NotStarted,
    /// Up, with the workers and CPUs it was started with.
    Running(Box<Server>, ServerSetup),
    /// Stopped, failed or not runnable: its remaining cells are skipped.
    Gone,
}

/// Runs the whole plan into `results`, writing through `output` after every cell.
pub fn run(plan: &Plan, results: &mut Results, output: &mut Output, context: &Context) -> Ending {
    let extents: Vec<order::Extent> = plan
        .scenarios
        .iter()
        .map(|s| order::Extent { levels: s.load.levels(), repeat: s.repeat, workers: s.workers.clone() })
        .collect();
    let slots = order::schedule(plan.order, &extents, plan.variants.len());
    let mut sweep = Sweep {
        plan,
        context,
        results,
        output,
        servers: plan.variants.iter().map(|_| ServerState::NotStarted).collect(),
        open: cell::Open::new(),
        awake: Vec::new(),
        awake_refused: None,
        progress: Progress::new(
            slots.iter().map(|slot| cost(&plan.scenarios[slot.scenario], slot.scenario)).collect(),
        ),
        pending: Vec::new(),
    };
    sweep.progress.eprintln(&sweep.progress.plan_line());
    // About a round: every level of the first scenario for every variant (interleaved), or
    // every level and repeat of the first variant (grouped).
    let first_round = match (plan.order, extents.first()) {
        (Order::Interleaved, Some(first)) => first.levels * plan.variants.len(),
        (Order::Grouped, Some(first)) => first.levels * first.repeat,
        (_, None) => 0,
    };
    let mut estimated = false;
    sweep.calibrate();
    if plan.order == Order::Interleaved {
        for variant in 0..plan.variants.len() {
            if sweep.interrupted() {
                break;
            }
            // Each as its first run needs it.
            let first = slots.iter().find(|slot| slot.variant == variant).and_then(|slot| slot.workers);
            sweep.bring_up(variant, plan.server_setup(variant, first));
        }
    }
    for (index, slot) in slots.iter().enumerate() {
        if sweep.interrupted() {
            break;
        }
        sweep.progress.start_run(index, sweep.describe(*slot));
        sweep.set_up(*slot);
        let made = matches!(sweep.servers[slot.variant], ServerState::Running(..)) && sweep.measure(*slot);
        sweep.progress.end_run(made);
        if !estimated && index + 1 >= first_round {
            if let Some(line) = sweep.progress.estimate_line() {
                sweep.progress.eprintln(&line);
                estimated = true;
            }
        }
        let last_of_variant = !slots[index + 1..].iter().any(|later| later.variant == slot.variant);
        if plan.order == Order::Grouped && last_of_variant {
            sweep.count_pending(&[slot.variant]);
            sweep.stop(&[slot.variant]);
        }
    }
    let all: Vec<usize> = (0..plan.variants.len()).collect();
    sweep.count_pending(&all);
    let interrupted = sweep.interrupted();
    sweep.keep_awake(CpuIdle::Native);
    sweep.finish_partial_cells();
    sweep.stop(&all);
    sweep.progress.finish();
    if interrupted {
        sweep.results.interrupted = true;
        sweep.save(None);
        Ending::Interrupted
    } else {
        Ending::Finished
    }
}

struct Sweep<'a> {
    plan: &'a Plan,
    context: &'a Context,
    results: &'a mut Results,
    output: &'a mut Output,
    servers: Vec<ServerState>,
    /// Cells with some of their runs made.
    open: cell::Open,
    /// The processes keeping the measured CPUs awake, while a scenario asks for it.
    awake: Vec<Keeper>,
    /// Why the CPUs cannot be kept awake here, once that is known.
    awake_refused: Option<String>,
    progress: Progress,
    /// Finished cells whose counted run is still to be made (`mechanics = "extra-run"`).
    pending: Vec<Pending>,
}

/// A finished cell's counted run, to be made before its server stops (see `count_pending`).
struct Pending {
    variant: usize,
    /// Its index in the results' cells.
    cell: usize,
    job: Job,
}

impl Sweep<'_> {
    fn interrupted(&self) -> bool {
        self.context.interrupt.load(Ordering::Relaxed)
    }

    /// Makes sure `slot`'s variant runs as the slot needs it: started if it is not yet,
    /// restarted if it runs with other workers or CPUs.
    fn set_up(&mut self, slot: Slot) {
        let wanted = self.plan.server_setup(slot.variant, slot.workers);
        match &self.servers[slot.variant] {
            ServerState::NotStarted => self.bring_up(slot.variant, wanted),
            ServerState::Running(_, setup) if *setup != wanted => {
                let why = format!(
                    "for workers = {} on CPUs {}",
                    wanted.workers,
                    crate::affinity::cpu_list(&wanted.cpus)
                );
                self.restart(slot.variant, wanted, &why);
            }
            ServerState::Running(..) | ServerState::Gone => {}
        }
    }

    /// Starts and verifies `variant`'s server as `setup` says; on failure records the problem
    /// and gives up on the variant.
    fn bring_up(&mut self, variant: usize, setup: ServerSetup) {
        // The plan's variant with this setup's workers: `--workers`, `{workers}`, its config.
        let plan =
            &crate::plan::VariantPlan { workers: setup.workers, ..self.plan.variants[variant].clone() };
        self.progress.set_message(format!("{}: starting", plan.name));
        let context = target::local::Context {
            server_cpus: setup.cpus.clone(),
            watchdog: self.context.watchdog.clone(),
            interrupt: self.context.interrupt.clone(),
            mechanics: self.plan.mechanics == Counting::EveryRun,
        };
        let started = match (self.plan.placement.server_host, &plan.launch) {
            (Some(host), Launch::Builtin(builtin)) => target::RemoteServer::start(
                &plan.name,
                builtin.name,
                plan.port,
                plan.workers,
                &setup.cpus,
                &self.plan.hosts[host],
                &self.context.watchdog,
                &self.context.interrupt,
            )
            .map(Server::Remote),
            _ => target::local::start(plan, &context).map(Server::Local),
        };
        let server = match started {
            Ok(server) => server,
            Err(StartFailure::NotRunnable(why)) => {
                return self.give_up(variant, ProblemKind::NotRunnable, why)
            }
            Err(StartFailure::Failed(why)) => return self.give_up(variant, ProblemKind::Failed, why),
        };
        self.note_placement(variant, &server, &setup.cpus);
        if let (Counting::EveryRun, Server::Local(local)) = (self.plan.mechanics, &server) {
            if let Err(why) = &local.counters {
                self.warn(format!("system calls and context switches are not counted: {why}"));
            }
        }
        // Each distinct request the scenarios send is checked before anything is measured,
        // from where the load will come from.
        let mut checked: Vec<Vec<u8>> = Vec::new();
        let jobs = self.plan.scenarios.iter().flat_map(|scenario| {
            // Every path of a mix is a request of its own to check; of a corpus, a sample of
            // its files (each checked byte for byte against the disk).
            let job = self.job(scenario, 0, server.addr());
            let paths = match &scenario.files {
                Some(files) => files::sample_paths(files, scenario.seed),
                None => job.paths(),
            };
            paths.into_iter().map(move |(path, _)| Job { path, mix: Vec::new(), ..job.clone() })
        });
        let jobs: Vec<Job> = jobs.collect();
        for job in jobs {
            let request = job.request();
            if checked.contains(&request) {
                continue;
            }
            let verified = match self.load_hosts().first() {
                Some(host) => target::remote::verify_from(host, &job, plan.verify),
                None => crate::verify::verify_with_files(
                    server.addr(),
                    &request,
                    job.keep_alive,
                    plan.verify,
                    plan.files.as_deref(),
                    &self.context.interrupt,
                ),
            };
            match verified {
                Ok(notes) => self.note(variant, notes),
                Err(err) => {
                    let _ = server.stop(target::INTERRUPTED_GRACE);
                    return self.give_up(
                        variant,
                        ProblemKind::Failed,
                        format!("refused before measuring: {err:#}"),
                    );
                }
            }
            checked.push(request);
        }
        self.servers[variant] = ServerState::Running(Box::new(server), setup);
    }

    /// Replaces `variant`'s server with a fresh one as `setup` says, started and verified as
    /// at the start; `why` ends the progress message (`for a scale run`).
    fn restart(&mut self, variant: usize, setup: ServerSetup, why: &str) {
        self.count_pending(&[variant]);
        let ServerState::Running(server, _) =
            std::mem::replace(&mut self.servers[variant], ServerState::Gone)
        else {
            return;
        };
        self.progress.set_message(format!("{}: restarting {why}", self.plan.variants[variant].name));
        let status = server.stop(target::STOP_GRACE);
        let builtin = matches!(self.plan.variants[variant].launch, Launch::Builtin(_));
        if let Err(why) = target::stopped_cleanly(status, builtin) {
            return self.give_up(variant, ProblemKind::Failed, why);
        }
        self.bring_up(variant, setup);
    }

    /// The hosts the load comes from (empty: this machine).
    fn load_hosts(&self) -> Vec<&crate::plan::Host> {
        self.plan.placement.load_hosts.iter().map(|i| &self.plan.hosts[*i]).collect()
    }

    /// Runs `job` from the load hosts, or here; `probe` is called while a scale run holds
    /// its connections idle. Returns the load and, from load hosts, how it was split.
    fn run_load(
        &self,
        job: &Job,
        stop: &Stop,
        hooks: load::Hooks<'_>,
    ) -> std::io::Result<(load::LoadResult, Option<Vec<Share>>)> {
        let hosts = self.load_hosts();
        if hosts.is_empty() {
            return load::run_scale(job, stop, hooks).map(|load| (load, None));
        }
        let (load, shares) = crate::hosts::load::run_load(
            job,
            &hosts,
            stop,
            &self.context.watchdog,
            hooks.at_window,
            hooks.ticks,
        )?;
        Ok((load, Some(shares)))
    }

    /// Records what the variant's process really runs on, and warns if that is not `wanted`.
    fn note_placement(&mut self, variant: usize, server: &Server, wanted: &[usize]) {
        let name = &self.plan.variants[variant].name;
        if let Some(meta) = self.results.meta.variants.iter_mut().find(|v| &v.name == name) {
            meta.cpus_in_force = server.cpus_in_force().to_vec();
            meta.command = server.argv().to_vec();
        }
        let in_force = server.cpus_in_force();
        // A remote server's CPUs are pinned on its host, where they cannot be read back here.
        if !in_force.is_empty() && in_force != wanted {
            let warning = format!(
                "{name}: asked to run on CPUs {} but allowed on {} (the pin could not be applied; a cgroup may restrict it)",
                crate::affinity::cpu_list(wanted),
                crate::affinity::cpu_list(in_force)
            );
            self.warn(warning);
        }
    }

    fn warn(&mut self, warning: String) {
        if !self.results.meta.warnings.contains(&warning) {
            self.progress.eprintln(&format!("warning: {warning}"));
            self.results.meta.warnings.push(warning);
        }
    }

    /// Adds notes to the variant's facts, each once.
    fn note(&mut self, variant: usize, notes: Vec<String>) {
        let name = &self.plan.variants[variant].name;
        if let Some(meta) = self.results.meta.variants.iter_mut().find(|v| &v.name == name) {
            for note in notes {
                if !meta.notes.contains(&note) {
                    meta.notes.push(note);
                }
            }
        }
    }

    /// Records a problem with `variant` and skips its remaining cells.
    fn give_up(&mut self, variant: usize, kind: ProblemKind, problem: String) {
        let name = self.plan.variants[variant].name.clone();
        let line =
            crate::report::problem_line(&Problem { variant: name.clone(), kind, problem: problem.clone() });
        self.progress.println(&line);
        self.results.problems.push(Problem { variant: name, kind, problem });
        self.servers[variant] = ServerState::Gone;
        self.save(None);
    }

    /// The load of `scenario` at level `level` against `addr`.
    fn job(&self, scenario: &Scenario, level: usize, addr: SocketAddr) -> Job {
        let shape = match &scenario.load {
            Load::Closed { requests, concurrency } => Shape::Closed {
                requests: *requests,
                concurrency: concurrency.get(level).copied().unwrap_or(1),
            },
            Load::Open { rates, connections, duration, warmup_time } => Shape::Open {
                rate: rates.get(level).copied().unwrap_or(1.0),
                connections: *connections,
                warmup: *warmup_time,
                duration: *duration,
            },
            Load::Scale { connections, requests, .. } => Shape::Scale {
                connections: connections.get(level).copied().unwrap_or(1),
                requests: *requests,
            },
        };
        Job {
            addr,
            path: scenario.path.clone(),
            shape,
            keep_alive: scenario.keep_alive,
            timeout: scenario.timeout,
            max_duration: scenario.max_run_time,
            cpus: self.plan.placement.load_cpus.clone(),
            allowed: self.plan.hosts.iter().map(|h| h.address).collect(),
            mechanics: self.plan.mechanics == Counting::EveryRun,
            mix: scenario.request_mix(),
            pipeline: scenario.pipeline,
            seed: scenario.seed,
            // A scale run's window is its idle hold: no drift to follow.
            interval: (!matches!(scenario.load, Load::Scale { .. })).then_some(scenario.interval),
        }
    }

    /// The warm-up before a measured run: `warmup` requests of a closed loop at the same
    /// concurrency (an open loop warms up on its own schedule, a scale run not at all).
    fn warmup_job(&self, scenario: &Scenario, job: &Job) -> Option<Job> {
        match job.shape {
            Shape::Closed { concurrency, .. } if scenario.warmup > 0 => {
                let requests = scenario.warmup.max(concurrency as u64);
                Some(Job { shape: Shape::Closed { requests, concurrency }, interval: None, ..job.clone() })
            }
            _ => None,
        }
    }

    /// Makes one measured run (with its warm-up) and finishes the cell if it was the last;
    /// whether a run was made.
    fn measure(&mut self, slot: Slot) -> bool {
        // A scale run's memory per connection is how much the server's RSS grows while it
        // holds the connections; a server that held as many before has kept that memory
        // (allocators seldom return it to the kernel), so on it the growth would read as
        // nothing: every scale run gets a fresh server.
        if matches!(self.plan.scenarios[slot.scenario].load, Load::Scale { .. }) && !self.interrupted() {
            let setup = self.plan.server_setup(slot.variant, slot.workers);
            self.restart(slot.variant, setup, "for a scale run");
        }
        let key = CellKey {
            scenario: slot.scenario,
            workers: slot.workers,
            level: slot.level,
            variant: slot.variant,
        };
        let scenario = &self.plan.scenarios[slot.scenario];
        let variant = &self.plan.variants[slot.variant];
        let ServerState::Running(server, _) = &self.servers[slot.variant] else { return false };
        let job = self.job(scenario, slot.level, server.addr());
        let level = level_name(&job.shape, slot.workers);
        let ServerState::Running(server, _) = &mut self.servers[slot.variant] else { return false };
        if let Some(status) = server.exit_status() {
            let why = format!(
                "the server exited ({status}) before {} {level}; its remaining cells were not run{}",
                scenario.name,
                last_words(server)
            );
            self.server_lost(slot.variant, why);
            return false;
        }
        self.progress.set_message(format!("{} {} {level}", scenario.name, variant.name));
        let in_force = self.keep_awake(scenario.cpu_idle);
        if let Some(meta) = self.results.meta.scenarios.get_mut(slot.scenario) {
            meta.cpu_idle = in_force;
        }
        let ServerState::Running(server, _) = &self.servers[slot.variant] else { return false };
        let watch = server.watch();
        let stop = Stop::any(&[&self.context.interrupt, &watch.died]);
        // Interleaved runs of other variants come between a cell's runs, so each run gets
        // its own warm-up; grouped runs follow each other, so the cell's first does.
        let warm = self.plan.order == Order::Interleaved || slot.round == 0;
        if let Some(warmup) = self.warmup_job(scenario, &job).filter(|_| warm) {
            let nothing = load::Hooks {
                at_window: &mut || {},
                idle: std::time::Duration::ZERO,
                probe: &mut || {},
                ticks: None,
            };
            if let Err(err) = self.run_load(&warmup, &stop, nothing) {
                self.give_up_running(slot.variant, format!("the load generator failed: {err}"));
                return false;
            }
        }
        // The files in or out of the page cache, after the warm-up and just before the run.
        let cache = scenario.files.as_ref().filter(|_| !stop.is_set()).map(files::prepare);
        let slow = (scenario.slow_clients > 0 && !stop.is_set())
            .then(|| crate::slow_clients::SlowClients::start(job.addr, scenario.slow_clients));
        // Sampled as the measured window opens: an open loop's warm-up is not charged.
        let mut before = None;
        let started_at = crate::meta::unix_ms();
        let idle = match scenario.load {
            Load::Scale { idle_time, .. } => idle_time,
            _ => std::time::Duration::ZERO,
        };
        let mut idle_sample = None;
        // The server (and the harness, when the load runs here) read as the window opens, at
        // each interval boundary and as it ends: the run's figures over time.
        let readings = std::cell::RefCell::new(Vec::new());
        let local_load = self.load_hosts().is_empty();
        let read = |boundary: usize, server: Option<crate::cost::GroupSample>| {
            let harness = if local_load { crate::cost::own_footprint() } else { None };
            readings.borrow_mut().push(Reading { boundary, server, harness });
        };
        let outcome = if stop.is_set() {
            None
        } else {
            let mut probe = || idle_sample = self.sample(slot.variant);
            let mut at_window = || {
                before = self.sample(slot.variant);
                read(0, before.clone());
            };
            let mut at_boundary = |boundary: usize| read(boundary, self.sample(slot.variant));
            let ticks = job.interval.map(|every| load::Ticks { every, at: &mut at_boundary });
            Some(self.run_load(
                &job,
                &stop,
                load::Hooks { at_window: &mut at_window, idle, probe: &mut probe, ticks },
            ))
        };
        let after = self.sample(slot.variant);
        read(Reading::END, after.clone());
        let readings = readings.into_inner();
        let trickled = slow.map(crate::slow_clients::SlowClients::stop);
        let exited = match &mut self.servers[slot.variant] {
            ServerState::Running(server, _) => server.exit_status().is_some(),
            _ => true,
        };
        let died = watch.died.load(Ordering::Relaxed) || exited;
        drop(watch);
        let (load, shares) = match outcome {
            None if died => (load::LoadResult::empty(), None),
            None => return false,
            Some(Ok(measured)) => measured,
            Some(Err(err)) => {
                self.give_up_running(slot.variant, format!("the load generator failed: {err}"));
                return false;
            }
        };
        let status = Status::of_run(load.cut, died);
        for failure in &load.pin_failures {
            let warning = format!(
                "a load thread could not be pinned ({failure}); the load ran on CPUs {}",
                crate::affinity::cpu_list(&load.cpus_in_force)
            );
            self.warn(warning);
        }
        let mut server_spent =
            before.as_ref().zip(after.as_ref()).map(|(b, a)| crate::cost::Spent::between(b, a));
        // A scale run's memory and threads are those with its connections open and idle.
        if let (Some(spent), Some(idle)) = (server_spent.as_mut(), idle_sample.as_ref()) {
            spent.rss_kib = idle.rss_kib;
            spent.threads = idle.threads;
        }
        let idle_rss_kib =
            before.as_ref().zip(idle_sample.as_ref()).map(|(b, idle)| (b.rss_kib, idle.rss_kib));
        // On loopback the kernel holds both ends of every connection: the server's is half of
        // what grew. (A server on another host would need its own host's reading.)
        let idle_kernel_kib = before
            .as_ref()
            .zip(idle_sample.as_ref())
            .filter(|_| self.plan.placement.server_host.is_none())
            .and_then(|(b, idle)| {
                Some(idle.socket_bytes?.saturating_sub(b.socket_bytes?) as f64 / 2.0 / 1024.0)
            });
        let tcp = before.as_ref().zip(after.as_ref()).and_then(|(b, a)| Some(a.tcp?.since(&b.tcp?)));
        if !self.open.contains_key(&key) {
            let point = self.point(key, &job);
            // With workers as an axis the placement differs from cell to cell: a cell whose
            // server CPUs include the load's says so itself (and the sweep's warnings once).
            let notes: Vec<String> =
                key.workers.and_then(|n| self.plan.placement.overlap(Some(n))).into_iter().collect();
            for note in &notes {
                self.warn(note.clone());
            }
            self.open.insert(key, Measuring::new(point, notes));
        }
        let Some(measuring) = self.open.get_mut(&key) else { return false };
        measuring.trickled.extend(trickled);
        measuring.cache.extend(cache);
        measuring.splits.extend(shares);
        measuring.runs.push(MeasuredRun {
            load,
            started_at,
            server: server_spent,
            idle_rss_kib,
            idle_kernel_kib,
            status,
            tcp,
            readings,
        });
        let runs = measuring.runs.len();
        if died {
            let (status, said) = match &mut self.servers[slot.variant] {
                ServerState::Running(server, _) => (
                    server.exit_status().map_or_else(|| "killed".to_owned(), |s| s.to_string()),
                    last_words(server),
                ),
                _ => ("gone".to_owned(), String::new()),
            };
            let why = format!(
                "the server died ({status}) during {} {level}; its remaining cells were not run{said}",
                scenario.name,
            );
            self.finish_cell(key);
            self.server_lost(slot.variant, why);
            return true;
        }
        if runs == scenario.repeat {
            if scenario.profile && !self.interrupted() {
                let profile = self.profile_run(key, &job, &stop);
                if let Some(measuring) = self.open.get_mut(&key) {
                    measuring.profile = Some(profile);
                }
            }
            let cell = self.finish_cell(key);
            // Counted later, in one more run while the server still runs (see `count_pending`).
            if let (Counting::ExtraRun, Some(cell), Shape::Closed { .. }) =
                (self.plan.mechanics, cell, &job.shape)
            {
                self.pending.push(Pending { variant: key.variant, cell, job });
            }
        }
        true
    }

    /// One extra run of cell `key` under `perf record` on its server's processes: the flame
    /// graph goes beside the results (`profiles/…svg`), the top symbols into the cell.
    fn profile_run(
        &mut self,
        key: CellKey,
        job: &Job,
        stop: &Stop,
    ) -> Result<crate::profile::Profile, String> {
        let ServerState::Running(server, _) = &self.servers[key.variant] else {
            return Err("the server is gone".into());
        };
        let Server::Local(local) = server.as_ref() else {
            return Err("a server on another host is not profiled".into());
        };
        let pids = crate::cost::group_members(local.pgid);
        let Some(point) = self.open.get(&key).map(|m| m.point.clone()) else { return Err("no cell".into()) };
        let workers = point.workers_axis.then_some(point.workers);
        let stem = crate::export::file_stem(
            &point.scenario,
            &point.variant,
            workers,
            point.rate,
            point.concurrency,
            point.keep_alive,
        );
        let dir = self.output.dir.path.join("profiles");
        std::fs::create_dir_all(&dir).map_err(|err| format!("{}: {err}", dir.display()))?;
        self.progress.set_message(format!("{} {}: profiling", point.scenario, point.variant));
        let recorder = crate::profile::Recorder::start(&pids, &dir.join(format!(".{stem}.data")))?;
        let nothing = load::Hooks {
            at_window: &mut || {},
            idle: std::time::Duration::ZERO,
            probe: &mut || {},
            ticks: None,
        };
        self.run_load(job, stop, nothing).map_err(|err| format!("the profiled run failed: {err}"))?;
        let title = format!(
            "{} — {} {}{}",
            point.variant,
            point.scenario,
            workers.map_or_else(String::new, |w| format!("w={w} ")),
            crate::results::level_label(point.rate, point.concurrency)
        );
        recorder.finish(&dir.join(format!("{stem}.svg")), &format!("profiles/{stem}.svg"), &title)
    }

    /// The extra, counted runs (`mechanics = "extra-run"`) of the finished closed-loop cells of
    /// `variants`, made while their servers still run and before they stop or restart: one more
    /// run of each cell's load, its server's processes and threads counted as they are then (and
    /// what they start) and its load threads too; the counts become the cell's mechanics. The
    /// measured runs never carry the counters. Each server's processes are attached once for all
    /// its cells, and a set of counters on this thread holds the kernel's tracepoints for the
    /// whole phase: the last counter of a tracepoint to close waits for the kernel to
    /// synchronize (about a second for a set closed alone), so that is paid once.
    fn count_pending(&mut self, variants: &[usize]) {
        let (todo, rest): (Vec<Pending>, Vec<Pending>) =
            std::mem::take(&mut self.pending).into_iter().partition(|p| variants.contains(&p.variant));
        self.pending = rest;
        if todo.is_empty() || self.interrupted() {
            return;
        }
        let _anchor = match Counters::this_thread() {
            Ok(anchor) => anchor,
            Err(why) => {
                return self.warn(format!("system calls and context switches are not counted: {why}"))
            }
        };
        for &variant in variants {
            let cells: Vec<&Pending> = todo.iter().filter(|p| p.variant == variant).collect();
            if cells.is_empty() || self.interrupted() {
                continue;
            }
            let ServerState::Running(server, _) = &self.servers[variant] else { continue };
            let Server::Local(local) = server.as_ref() else {
                self.warn("a server on another host is counted only with mechanics = \"every-run\"".into());
                continue;
            };
            let attached = Attached::to_all(crate::cost::group_members(local.pgid));
            let watch = server.watch();
            let counters = match attached {
                Ok(counters) => counters,
                Err(why) => {
                    self.warn(format!("system calls and context switches are not counted: {why}"));
                    continue;
                }
            };
            let stop = Stop::any(&[&self.context.interrupt, &watch.died]);
            for pending in cells {
                if stop.is_set() {
                    break;
                }
                self.progress
                    .set_message(format!("{}: counting system calls", self.plan.variants[variant].name));
                match self.counted_run(&counters, &pending.job, &stop) {
                    Ok(sides) => {
                        if let Some(cell) = self.results.cells.get_mut(pending.cell) {
                            cell.mechanics.get_or_insert(sides);
                        }
                        self.save(Some(pending.cell));
                    }
                    Err(why) => self.warn(format!("a counted run failed: {why}")),
                }
            }
        }
    }

    /// One more run of `job` with `counters` on its server and its load threads counting
    /// themselves: their mechanics per request.
    fn counted_run(&self, counters: &Attached, job: &Job, stop: &Stop) -> Result<Sides, String> {
        let before = counters.read();
        let counted = Job { mechanics: true, ..job.clone() };
        let nothing = load::Hooks {
            at_window: &mut || {},
            idle: std::time::Duration::ZERO,
            probe: &mut || {},
            ticks: None,
        };
        let (load, _) = self.run_load(&counted, stop, nothing).map_err(|err| err.to_string())?;
        let server =
            before.zip(counters.read()).and_then(|(b, a)| Mechanics::of(&a.since(&b), load.complete));
        let load_side = load.mechanics.as_ref().and_then(|tally| Mechanics::of(tally, load.complete));
        Ok(Sides { server, load: load_side })
    }
    /// What run `slot` measures, for the progress line.
    fn describe(&self, slot: Slot) -> String {
        let scenario = &self.plan.scenarios[slot.scenario];
        let level = match &scenario.load {
            Load::Closed { concurrency, .. } => {
                format!("c={}", concurrency.get(slot.level).copied().unwrap_or(1))
            }
            Load::Open { rates, .. } => format!("{:.0}/s", rates.get(slot.level).copied().unwrap_or(0.0)),
            Load::Scale { connections, .. } => {
                format!("{} connections", connections.get(slot.level).copied().unwrap_or(0))
            }
        };
        let workers = slot.workers.map_or_else(String::new, |w| format!("w={w} "));
        format!(
            "{} {} {workers}{level}, round {}",
            scenario.name,
            self.plan.variants[slot.variant].name,
            slot.round + 1
        )
    }

    /// What cell `key` is, for the load `job` its runs make.
    fn point(&self, key: CellKey, job: &Job) -> Point {
        let scenario = &self.plan.scenarios[key.scenario];
        let setup = self.plan.server_setup(key.variant, key.workers);
        let server_cpus_in_force = match &self.servers[key.variant] {
            ServerState::Running(server, _) => server.cpus_in_force().to_vec(),
            _ => Vec::new(),
        };
        Point {
            scenario: scenario.name.clone(),
            variant: self.plan.variants[key.variant].name.clone(),
            workers: setup.workers,
            workers_axis: key.workers.is_some(),
            mode: scenario.load.mode(),
            concurrency: job.shape.connections(),
            rate: match job.shape {
                Shape::Open { rate, .. } => Some(rate),
                _ => None,
            },
            keep_alive: job.keep_alive,
            requests: match &scenario.load {
                Load::Closed { requests, .. } | Load::Scale { requests, .. } => *requests,
                // An open loop's requests are those its schedule held: known once it ran.
                Load::Open { .. } => 0,
            },
            server_cpus: setup.cpus,
            server_cpus_in_force,
            // A corpus's files are one workload, not a mix to report path by path.
            mix: scenario.mix.clone(),
        }
    }

    /// What `variant`'s server has spent so far, read on its host.
    fn sample(&self, variant: usize) -> Option<crate::cost::GroupSample> {
        match &self.servers[variant] {
            ServerState::Running(server, _) => server.sample(),
            _ => None,
        }
    }

    /// The server is gone: finish what it measured, record why, stop what is left of it.
    fn server_lost(&mut self, variant: usize, why: String) {
        let keys: Vec<CellKey> = self.open.keys().filter(|k| k.variant == variant).copied().collect();
        for key in keys {
            self.finish_cell(key);
        }
        if let ServerState::Running(server, _) =
            std::mem::replace(&mut self.servers[variant], ServerState::Gone)
        {
            server.stop(target::INTERRUPTED_GRACE);
        }
        self.give_up(variant, ProblemKind::Failed, why);
    }

    fn give_up_running(&mut self, variant: usize, why: String) {
        if let ServerState::Running(server, _) =
            std::mem::replace(&mut self.servers[variant], ServerState::Gone)
        {
            server.stop(target::INTERRUPTED_GRACE);
        }
        self.give_up(variant, ProblemKind::Failed, why);
    }

    /// Summarizes a cell's runs into the results, prints its line and writes the files.
    /// Closes cell `key`: its runs summarized into `results` and saved. Its index there.
    fn finish_cell(&mut self, key: CellKey) -> Option<usize> {
        let mut measuring = self.open.remove(&key)?;
        if measuring.runs.is_empty() {
            return None;
        }
        let scenario = &self.plan.scenarios[key.scenario];
        if let Load::Open { .. } = scenario.load {
            measuring.point.requests = measuring.runs.iter().map(|r| r.load.scheduled).max().unwrap_or(0);
        }
        let made = measuring.runs.len();
        let keep_alive = measuring.point.keep_alive;
        let mut cell = measuring.finish(scenario.slow_clients, scenario.files.as_ref());
        let in_force =
            self.results.meta.scenarios.get(key.scenario).map_or(scenario.cpu_idle, |s| s.cpu_idle);
        cell.meta.floor_p50_us = self
            .results
            .calibration
            .iter()
            .find(|c| c.cpu_idle == in_force)
            .map(|c| c.floor(keep_alive).p50_us);
        if made < scenario.repeat {
            // Fewer runs is not a run cut short: the status stays what the runs say.
            let why = if self.interrupted() { "the sweep was stopped" } else { "its server was lost" };
            cell.notes.push(format!("kept {made} of {} runs: {why} before the others", scenario.repeat));
        }
        let line = crate::report::cell_line(&cell);
        self.progress.println(&line);
        self.results.cells.push(cell);
        let index = self.results.cells.len().checked_sub(1);
        self.save(index);
        index
    }

    /// Finishes cells that got some runs but not all (an interrupt, a server lost).
    fn finish_partial_cells(&mut self) {
        let keys: Vec<CellKey> = self.open.keys().copied().collect();
        for key in keys {
            self.finish_cell(key);
        }
    }

    /// Keeps the measured CPUs awake (or lets them sleep) as `wanted`; what is in force. The
    /// CPUs are the servers' and the load's, on whichever hosts they run. Asked for and not to
    /// be had, it is said once and the runs are native.
    fn keep_awake(&mut self, wanted: CpuIdle) -> CpuIdle {
        match wanted {
            CpuIdle::Native => {
                self.awake.clear();
                return CpuIdle::Native;
            }
            CpuIdle::Awake if !self.awake.is_empty() => return CpuIdle::Awake,
            CpuIdle::Awake if self.awake_refused.is_some() => return CpuIdle::Native,
            CpuIdle::Awake => {}
        }
        let placement = &self.plan.placement;
        let mut here: Vec<usize> = Vec::new();
        let mut there: Vec<(&crate::plan::Host, &[usize])> = Vec::new();
        match placement.server_host {
            None => here.extend(&placement.server_cpus),
            Some(host) => there.push((&self.plan.hosts[host], &placement.server_cpus)),
        }
        if placement.load_hosts.is_empty() {
            here.extend(
                placement.load_cpus.iter().filter(|cpu| !here.contains(cpu)).copied().collect::<Vec<_>>(),
            );
        }
        there.extend(
            placement.load_hosts.iter().map(|i| (&self.plan.hosts[*i], placement.load_cpus.as_slice())),
        );
        let mut started = Vec::new();
        let mut said = Vec::new();
        let mut outcome = Ok(());
        if !here.is_empty() {
            match Keeper::here(&here, &self.context.watchdog) {
                Ok(keeper) => {
                    said.push(format!("this machine: {}", keeper.how));
                    started.push(keeper);
                }
                Err(why) => outcome = Err(format!("this machine: {why}")),
            }
        }
        for (host, cpus) in there {
            if outcome.is_err() {
                break;
            }
            let args = vec!["awake".to_owned(), "--cpus".into(), crate::hosts::cpu_args(cpus)];
            match Keeper::start(host.harness(&args), &self.context.watchdog) {
                Ok(keeper) => {
                    said.push(format!("host `{}`: {}", host.name, keeper.how));
                    started.push(keeper);
                }
                Err(why) => outcome = Err(format!("host `{}`: {why}", host.name)),
            }
        }
        match outcome {
            Ok(()) => {
                for how in said {
                    if !self.results.meta.cpu_awake.contains(&how) {
                        self.results.meta.cpu_awake.push(how);
                    }
                }
                self.awake = started;
                CpuIdle::Awake
            }
            Err(why) => {
                self.warn(format!(
                    "cpu_idle = \"awake\" asked, but the CPUs cannot be kept awake ({why}): those runs are native"
                ));
                self.awake_refused = Some(why);
                CpuIdle::Native
            }
        }
    }

    /// The machine's floor under each CPU sleep policy the scenarios use, before any variant
    /// (see [`calibrate`]): a loopback ping-pong between a thread on the first server CPU and
    /// one on the first load CPU.
    fn calibrate(&mut self) {
        let placement = &self.plan.placement;
        let server_cpu = placement.server_cpus.first().copied().filter(|_| placement.server_host.is_none());
        let load_cpu = placement.load_cpus.first().copied().filter(|_| placement.load_hosts.is_empty());
        let mut policies: Vec<CpuIdle> = Vec::new();
        for scenario in &self.plan.scenarios {
            if !policies.contains(&scenario.cpu_idle) {
                policies.push(scenario.cpu_idle);
            }
        }
        for wanted in policies {
            if self.interrupted() {
                break;
            }
            self.progress.set_message(format!("the machine's floor (CPUs {})", wanted.name()));
            let in_force = self.keep_awake(wanted);
            if self.results.calibration.iter().any(|c| c.cpu_idle == in_force) {
                continue;
            }
            match calibrate::measure(server_cpu, load_cpu, in_force, CALIBRATION_TIME) {
                Ok(floor) => {
                    self.progress.println(&format!("floor: {}", floor.describe()));
                    self.results.calibration.push(floor);
                }
                Err(err) => self.warn(format!("the machine's floor could not be measured: {err}")),
            }
        }
        self.keep_awake(CpuIdle::Native);
    }

    /// Stops the servers of `variants` at once (SIGTERM to all, one grace, SIGKILL), so a
    /// sweep with many servers still stops within the grace; an unclean stop is a problem.
    fn stop(&mut self, variants: &[usize]) {
        let grace = if self.interrupted() { target::INTERRUPTED_GRACE } else { target::STOP_GRACE };
        let mut stopping = Vec::new();
        for &variant in variants {
            if let ServerState::Running(server, _) =
                std::mem::replace(&mut self.servers[variant], ServerState::Gone)
            {
                stopping.push((variant, server));
            }
        }
        let handles: Vec<_> = stopping
            .into_iter()
            .map(|(variant, server)| (variant, std::thread::spawn(move || server.stop(grace))))
            .collect();
        for (variant, handle) in handles {
            let status = handle.join().ok().flatten();
            let builtin = matches!(self.plan.variants[variant].launch, Launch::Builtin(_));
            if self.interrupted() {
                continue;
            }
            if let Err(why) = target::stopped_cleanly(status, builtin) {
                self.give_up(variant, ProblemKind::Failed, why);
            }
        }
    }

    /// Writes every file; a failure is reported once by [`Output`], and the sweep goes on.
    fn save(&mut self, cell: Option<usize>) {
        let cell: Option<&Cell> = cell.and_then(|i| self.results.cells.get(i));
        let progress = &self.progress;
        self.output.save(self.results, cell, &|message| progress.eprintln(message));
    }
}

/// How long each floor is measured (after a warm-up): long enough for a steady p99.
const CALIBRATION_TIME: std::time::Duration = std::time::Duration::from_millis(300);

/// What a run of `scenario` costs in time, for the estimate: an open loop's is in its plan.
fn cost(scenario: &Scenario, index: usize) -> Cost {
    match scenario.load {
        Load::Open { duration, warmup_time, .. } => Cost::Known(duration + warmup_time),
        Load::Closed { .. } | Load::Scale { .. } => Cost::Learned { scenario: index },
    }
}

/// `c=5`, `1000/s`; `w=2 c=5` at a workers value of the scenario's axis.
fn level_name(shape: &Shape, workers: Option<usize>) -> String {
    let load = match shape {
        Shape::Open { rate, .. } => crate::results::level_label(Some(*rate), 0),
        other => crate::results::level_label(None, other.connections()),
    };
    match workers {
        Some(workers) => format!("w={workers} {load}"),
        None => load,
    }
}

fn last_words(server: &Server) -> String {
    let said = server.last_words();
    if said.is_empty() {
        String::new()
    } else {
        format!("; its stderr: {said}")
    }
}
