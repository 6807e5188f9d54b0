//! The report, rendered from the results model as Markdown: what the terminal prints at the
//! end and `report.md` holds. The header; per scenario, ab's classic table and a percentile
//! table for each variant, then the comparison matrices against the baseline; problems.
//!
//! # Layout
//! - [`table`]: padded Markdown tables.
//! - [`matrices`]: variants × levels, each against the baseline with significance marks.
//! - [`scaling`]: with workers as an axis, each variant's scaling efficiency.
//! - [`compare`]: `harness compare`'s tables; [`gate`]: its `--fail-on` verdict and breaches;
//!   [`summary`]: the comparison for a CI job's summary page; [`bmf`]: Bencher Metric Format.
//! - [`verdict`]: the answer first: cheapest, tied, client-bound, steadiest.

pub mod bmf;
pub mod compare;
pub mod gate;
pub mod matrices;
pub mod scaling;
pub mod summary;
pub mod table;
pub mod verdict;

use std::borrow::Cow;
use std::fmt::Write;

use table::{render, Align};

use crate::results::{Cell, Mode, Problem, ProblemKind, Results, Status};

/// The classic table's columns, exactly as the exercise (and ab) name them.
pub const CLASSIC_COLUMNS: [&str; 9] = [
    "No Test",
    "Concurrency Level",
    "Time taken for test",
    "Complete requests",
    "Failed requests",
    "Total transferred",
    "Requests per second",
    "Time per request",
    "Transfer rate",
];

/// The header: where and how the figures were measured.
pub fn header(results: &Results) -> String {
    let mut out = title(results);
    out.push_str(&facts_list(results));
    out
}

/// The title, and what an interrupted sweep kept.
fn title(results: &Results) -> String {
    let mut out = String::from("# runtime-matrix report\n\n");
    if let Some(interruption) = results.interruption() {
        let _ = writeln!(out, "**Interrupted:** {interruption}.\n");
    }
    out
}

/// The header facts as a Markdown list.
fn facts_list(results: &Results) -> String {
    let mut out = String::new();
    for (name, value) in facts(results) {
        let _ = writeln!(out, "- **{name}:** {value}");
    }
    out.push('\n');
    out
}

/// The header's facts as (name, value) pairs, for every renderer of the report.
pub fn facts(results: &Results) -> Vec<(String, String)> {
    let m = &results.meta;
    let mut facts = Vec::new();
    let mut fact = |name: &str, value: String| facts.push((name.to_owned(), value));
    fact("started", m.started_utc.clone());
    fact("matrix", m.matrix.clone());
    for scenario in &m.scenarios {
        fact(&format!("scenario {}", scenario.name), scenario_description(scenario));
    }
    fact("order", format!("{}; baseline `{}`", m.order, m.baseline));
    let server_host = m.server_host.as_ref().map_or_else(String::new, |h| format!("host `{}` ", h));
    let load_hosts = if m.load_hosts.is_empty() {
        String::new()
    } else {
        let names: Vec<String> = m.load_hosts.iter().map(|h| format!("`{h}`")).collect();
        format!("hosts {} ", names.join(", "))
    };
    fact(
        "placement",
        format!(
            "servers on {server_host}CPU {:?}, load from {load_hosts}CPU {:?} (this machine: {} CPUs online)",
            m.server_cpus, m.load_cpus, m.cpus
        ),
    );
    for host in &m.hosts {
        fact(&format!("host {}", host.name), format!("{} via `{}`", host.address, host.launcher.join(" ")));
    }
    fact("load generator", m.load_generator.clone());
    for floor in &results.calibration {
        fact(&format!("machine floor, CPUs {}", floor.cpu_idle.name()), floor.describe());
    }
    for how in &m.cpu_awake {
        fact("CPUs kept awake", how.clone());
    }
    fact("build", format!("{} (harness {})", m.build_profile, m.harness_version));
    fact("git commit", m.git_commit.clone());
    fact("kernel", m.kernel.clone());
    fact("CPU", m.cpu_model.clone());
    for warning in &m.warnings {
        fact("warning", warning.clone());
    }
    facts
}

/// What a scenario does, in words.
pub fn scenario_description(s: &crate::results::ScenarioMeta) -> String {
    let connection =
        if s.keep_alive { "keep-alive (HTTP/1.1)" } else { "a connection per request (HTTP/1.0, like ab)" };
    let mut text = match (s.mode, s.idle_time_s) {
        (Mode::Open, _) => format!(
            "open loop at {:?} requests/s over {} connections, {} s measured after {} s, {connection}",
            s.rate,
            s.connections.unwrap_or(0),
            s.duration_s.unwrap_or(0.0),
            s.warmup_time_s.unwrap_or(0.0)
        ),
        (_, Some(idle)) => format!(
            "{:?} connections opened first, {} requests over them, then held idle {idle} s; keep-alive (HTTP/1.1)",
            s.concurrency, s.requests
        ),
        _ => format!("{} requests × concurrency {:?}, {connection}", s.requests, s.concurrency),
    };
    text.push_str(&format!(
        ", path `{}`, warmup {}, repeat {}, timeout {} s",
        s.path, s.warmup, s.repeat, s.timeout_s
    ));
    if s.slow_clients > 0 {
        text.push_str(&format!(", {} slow clients", s.slow_clients));
    }
    if s.pipeline > 1 {
        text.push_str(&format!(", pipelined {} requests at a time", s.pipeline));
    }
    if !s.mix.is_empty() {
        let mix: Vec<String> = s.mix.iter().map(|(path, weight)| format!("{weight} × `{path}`")).collect();
        text.push_str(&format!(", a mix of {} (seed {})", mix.join(" + "), s.seed));
    }
    if let Some(files) = &s.files {
        text.push_str(&format!(
            ", files: {} of {} from `{}`, {} (seed {})",
            files.count,
            crate::corpus::size_label(files.size),
            files.dir,
            files.cache.name(),
            s.seed
        ));
    }
    if s.cpu_idle == crate::plan::CpuIdle::Awake {
        text.push_str(", CPUs kept awake (`cpu_idle = \"awake\"`)");
    }
    if !s.workers.is_empty() {
        text.push_str(&format!(
            ", workers {:?} (each variant at each, `--workers N`, pinned to the first N server CPUs)",
            s.workers
        ));
    }
    text
}

/// One of a variant's tables, as every renderer draws it.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// What kind of table (`classic`, `percentiles`, `open-loop`, `scale`): the HTML class.
    pub kind: &'static str,
    /// The columns' names: fixed ones, or made from the data (a workers axis's values).
    pub headers: Vec<Cow<'static, str>>,
    pub rows: Vec<Vec<String>>,
    /// What its marks mean, in Markdown (inline code only), when it shows any.
    pub legend: Option<String>,
}

impl Table {
    /// A table of fixed columns.
    fn of(
        kind: &'static str,
        headers: Vec<&'static str>,
        rows: Vec<Vec<String>>,
        legend: Option<String>,
    ) -> Table {
        Table { kind, headers: headers.into_iter().map(Cow::Borrowed).collect(), rows, legend }
    }

    /// The columns' names, as renderers take them.
    pub fn header_names(&self) -> Vec<&str> {
        self.headers.iter().map(|h| h.as_ref()).collect()
    }

    /// The table in Markdown, its legend below it.
    pub fn markdown(&self) -> String {
        let mut out = render(&self.header_names(), &vec![Align::Right; self.headers.len()], &self.rows);
        if let Some(legend) = &self.legend {
            let _ = write!(out, "\n{legend}\n");
        }
        out
    }
}

/// A variant's section in one scenario: its heading, its tables and its notes.
#[derive(Debug, Clone, PartialEq)]
pub struct VariantSection {
    /// `tokio (workers 1)`.
    pub heading: String,
    pub tables: Vec<Table>,
    /// Notes as (label, text): a cell's under its level, the variant's own under `Note`.
    pub notes: Vec<(String, String)>,
}

/// What `report.md` and `report.html` show for `variant` in `scenario`: one section, or with
/// workers as an axis one per workers value (`tokio (workers 2)`), so that ab's table keeps
/// its columns and a row is one load level.
pub fn variant_sections(results: &Results, scenario: &str, variant: &str) -> Vec<VariantSection> {
    let cells: Vec<&Cell> = results.scenario_cells(scenario).filter(|c| c.variant == variant).collect();
    let mut workers: Vec<Option<usize>> = cells.iter().map(|c| c.workers_on_axis()).collect();
    workers.sort_unstable();
    workers.dedup();
    workers
        .into_iter()
        .enumerate()
        .map(|(i, at)| {
            let mut cells: Vec<&Cell> = cells.iter().copied().filter(|c| c.workers_on_axis() == at).collect();
            cells.sort_by(|a, b| a.level_order(b));
            // The variant's own notes once, under its first section.
            variant_section(results, variant, &cells, i == 0)
        })
        .collect()
}

/// A variant's section from its `cells` (all at one workers value): ab's classic table, the
/// percentiles and server cost, and the open loop's and scale's tables where they apply.
fn variant_section(results: &Results, variant: &str, cells: &[&Cell], own_notes: bool) -> VariantSection {
    let cells = cells.to_vec();
    let workers = cells.first().map_or(String::new(), |c| format!(" (workers {})", c.workers));
    let mut tables = vec![classic(&cells), percentiles(&cells)];
    if cells.iter().any(|c| c.mode == Mode::Open) {
        tables.push(open_loop(&cells));
    }
    if cells.iter().any(|c| c.server.is_some_and(|s| s.rss_per_connection_kib.is_some())) {
        tables.push(scale(&cells));
    }
    if cells.iter().any(|c| c.mechanics.is_some()) {
        tables.push(mechanics(&cells));
    }
    if cells.iter().any(|c| !c.paths.is_empty()) {
        tables.push(paths(&cells));
    }
    tables.extend(over_time(&cells));
    let mut notes: Vec<(String, String)> = cells
        .iter()
        .flat_map(|cell| cell.notes.iter().map(|note| (cell.level_label(), note.clone())))
        .collect();
    if let Some(meta) = results.meta.variants.iter().find(|v| v.name == variant).filter(|_| own_notes) {
        notes.extend(meta.notes.iter().map(|note| ("Note".to_owned(), note.clone())));
    }
    VariantSection { heading: format!("{variant}{workers}"), tables, notes }
}

/// A variant's section in Markdown.
fn variant_markdown(section: &VariantSection) -> String {
    let mut out = format!("### {}\n\n", section.heading);
    for (i, table) in section.tables.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&table.markdown());
    }
    for (label, note) in &section.notes {
        let _ = writeln!(out, "\n**{label}:** {note}");
    }
    out.push('\n');
    out
}

/// A rate, or a dash where none is reported (the server died).
fn figure(value: Option<f64>, digits: usize, unit: &str) -> String {
    value.map_or_else(|| "—".to_owned(), |v| format!("{v:.digits$}{unit}"))
}

/// ab's table, one row per level, with what its marks mean. An open loop's has no "Time per
/// request": ab's C × T / n is a closed loop's figure, meaningless at a fixed offered rate.
pub fn classic(cells: &[&Cell]) -> Table {
    let mut marks = Vec::new();
    if cells.iter().any(|c| c.noisy && c.status == Status::Complete) {
        marks.push("`±` noisy: requests per second varied by more than 20% over the repeats.");
    }
    if cells.iter().any(|c| matches!(c.status, Status::CutShort | Status::Interrupted)) {
        marks.push("`†` cut short: a run was stopped midway; its rate is over the whole window, the requests unanswered then counted as failed or abandoned.");
    }
    if cells.iter().any(|c| c.client_bound()) {
        marks.push("`‡` client-bound: the load generator's CPU was ≥ 90% busy; the rate measures it, not the server.");
    }
    let mut headers = CLASSIC_COLUMNS.to_vec();
    let mut rows = classic_rows(cells);
    if !cells.is_empty() && cells.iter().all(|c| c.mode == Mode::Open) {
        let at = headers.iter().position(|h| *h == "Time per request").unwrap_or(headers.len());
        headers.remove(at);
        for row in &mut rows {
            row.remove(at);
        }
    }
    Table::of("classic", headers, rows, (!marks.is_empty()).then(|| marks.join(" ")))
}

/// ab's table in Markdown (as `harness load` prints it).
pub fn classic_table(cells: &[&Cell]) -> String {
    classic(cells).markdown()
}

/// The rows of ab's table, one per level, as every renderer shows them.
pub fn classic_rows(cells: &[&Cell]) -> Vec<Vec<String>> {
    cells
        .iter()
        .enumerate()
        .map(|(i, c)| {
            vec![
                (i + 1).to_string(),
                c.concurrency.to_string(),
                format!("{:.3} seconds", c.time_taken_s),
                c.complete.to_string(),
                c.failed.to_string(),
                format!("{} bytes", c.total_transferred_bytes),
                format!("{}{}", figure(c.requests_per_second, 2, " [#/sec]"), mark(c)),
                figure(c.time_per_request_ms, 3, " ms"),
                figure(c.transfer_rate_kb_s, 2, " Kbytes/sec"),
            ]
        })
        .collect()
}

/// What marks a cell's rate: noisy (±), cut short (†), no rate (server died); client-bound (‡).
fn mark(cell: &Cell) -> String {
    let status = match cell.status {
        Status::Complete if cell.noisy => " ±",
        Status::Complete => "",
        Status::CutShort | Status::Interrupted => " †",
        Status::ServerDied => " (server died)",
    };
    let bound = if cell.client_bound() && cell.requests_per_second.is_some() { " ‡" } else { "" };
    format!("{status}{bound}")
}

/// The percentile table's columns.
pub const PERCENTILE_COLUMNS: [&str; 11] = [
    "Concurrency",
    "mean µs",
    "p50 µs",
    "p50 above floor µs",
    "p90 µs",
    "p99 µs",
    "p99.9 µs",
    "max µs",
    "p99 runs' median µs",
    "non-2xx",
    "server CPU µs/req",
];

/// Latency percentiles in microseconds, from the merged histograms: p50 also above the
/// machine's floor (a column where the sweep measured it), beside the median of the runs' own
/// p99s (an outlier run shows as the two apart), and what the server spent per request (a
/// column only where a server was sampled). An open loop's are from the intended send times
/// (corrected).
pub fn percentiles(cells: &[&Cell]) -> Table {
    let mut headers = PERCENTILE_COLUMNS.to_vec();
    if cells.iter().any(|c| c.mode == Mode::Open) {
        headers[0] = "Rate";
    }
    let mut rows = percentile_rows(cells);
    let mut drop_column = |name: &str, rows: &mut Vec<Vec<String>>| {
        if let Some(at) = headers.iter().position(|h| *h == name) {
            headers.remove(at);
            for row in rows.iter_mut() {
                row.remove(at);
            }
        }
    };
    if !cells.iter().any(|c| c.server.is_some()) {
        drop_column("server CPU µs/req", &mut rows);
    }
    if !cells.iter().any(|c| c.meta.floor_p50_us.is_some()) {
        drop_column("p50 above floor µs", &mut rows);
    }
    let legend = cells.iter().any(|c| c.p99_from_one_run()).then(|| {
        format!(
            "`◊` one run's outlier: the merged p99 is more than {:.0}× the median of the runs' p99s.",
            crate::results::OUTLIER_P99
        )
    });
    Table::of("percentiles", headers, rows, legend)
}

/// The percentile table in Markdown (as `harness load` prints it).
pub fn percentile_table(cells: &[&Cell]) -> String {
    percentiles(cells).markdown()
}

/// The rows of the percentile table, one per level.
pub fn percentile_rows(cells: &[&Cell]) -> Vec<Vec<String>> {
    cells
        .iter()
        .map(|c| {
            let level = if c.mode == Mode::Open { c.level_label() } else { c.concurrency.to_string() };
            let mut columns = c.latency_us.columns();
            if c.p99_from_one_run() {
                columns[3].push_str(" ◊");
            }
            let above = figure(
                c.meta.floor_p50_us.filter(|_| c.complete > 0).map(|floor| c.latency_us.p50 - floor),
                1,
                "",
            );
            std::iter::once(level)
                .chain(columns[..2].iter().cloned())
                .chain([above])
                .chain(columns[2..].iter().cloned())
                .chain([
                    figure(c.p99_of_runs().filter(|_| c.complete > 0), 1, ""),
                    c.non_2xx.to_string(),
                    figure(c.server.and_then(|s| s.cpu_us_per_request), 2, ""),
                ])
                .collect()
        })
        .collect()
}

/// An open loop's figures: the rate offered and achieved, latency from the intended send
/// (corrected) beside latency from the actual send (uncorrected), and the generator's own
/// lateness.
pub fn open_loop(cells: &[&Cell]) -> Table {
    let headers = vec![
        "Offered /s",
        "Achieved /s",
        "connections",
        "corrected p50 µs",
        "p90",
        "p99",
        "max",
        "uncorrected p50 µs",
        "p90",
        "p99",
        "send lag p99 µs",
    ];
    let rows: Vec<Vec<String>> = cells
        .iter()
        .filter(|c| c.mode == Mode::Open)
        .map(|c| {
            let (p, u, lag) = (&c.latency_us, c.uncorrected_latency_us, c.send_lag_us);
            let under = if c.under_offered_rate() { " !" } else { "" };
            vec![
                figure(c.rate, 0, ""),
                format!("{}{under}", figure(c.achieved_rate, 0, "")),
                c.concurrency.to_string(),
                format!("{:.1}", p.p50),
                format!("{:.1}", p.p90),
                format!("{:.1}", p.p99),
                format!("{:.1}", p.max),
                figure(u.map(|u| u.p50), 1, ""),
                figure(u.map(|u| u.p90), 1, ""),
                figure(u.map(|u| u.p99), 1, ""),
                figure(lag.map(|l| l.p99), 1, ""),
            ]
        })
        .collect();
    let legend = cells.iter().any(|c| c.under_offered_rate()).then(|| {
        "`!` achieved under 99% of the offered rate: the server (or the generator) could not keep up."
            .to_owned()
    });
    Table::of("open-loop", headers, rows, legend)
}

/// The open loop's table in Markdown (as `harness load` prints it).
pub fn open_loop_table(cells: &[&Cell]) -> String {
    open_loop(cells).markdown()
}

/// Many connections: how long they took to open, and the server's memory per idle one.
pub fn scale(cells: &[&Cell]) -> Table {
    let headers = vec![
        "Connections",
        "connect p50 µs",
        "connect p99 µs",
        "server RSS KiB",
        "RSS per idle connection KiB",
        "kernel per idle connection KiB",
        "user + kernel per idle connection KiB",
        "threads",
    ];
    let rows: Vec<Vec<String>> = cells
        .iter()
        .map(|c| {
            let server = c.server.as_ref();
            vec![
                c.concurrency.to_string(),
                format!("{:.1}", c.connect_us.p50),
                format!("{:.1}", c.connect_us.p99),
                server.map_or_else(|| "—".to_owned(), |s| s.rss_kib.to_string()),
                figure(server.and_then(|s| s.rss_per_connection_kib), 2, ""),
                figure(server.and_then(|s| s.kernel_kib_per_connection), 2, ""),
                figure(
                    server.and_then(|s| Some(s.rss_per_connection_kib? + s.kernel_kib_per_connection?)),
                    2,
                    "",
                ),
                server.map_or_else(|| "—".to_owned(), |s| s.threads.to_string()),
            ]
        })
        .collect();
    let legend = cells.iter().any(|c| c.server.is_some_and(|s| s.kernel_kib_per_connection.is_some())).then(|| {
        "Kernel: what the kernel's socket caches (`TCP`, `sock_inode_cache`, `filp`, `dentry`, `eventpoll_epi`) and \
         TCP's buffer pages grew by while the connections were held, halved (on loopback each connection is two \
         sockets, one a side); RSS does not show it."
            .to_owned()
    });
    Table::of("scale", headers, rows, legend)
}

/// A request mix, path by path: each path's requests and its own latency percentiles, so a
/// cheap path held up behind an expensive one (head-of-line blocking) shows in its p99.
pub fn paths(cells: &[&Cell]) -> Table {
    let headers = vec![
        "Level",
        "path",
        "weight",
        "complete",
        "failed",
        "mean µs",
        "p50 µs",
        "p90 µs",
        "p99 µs",
        "p99.9 µs",
        "max µs",
    ];
    let rows = cells
        .iter()
        .flat_map(|c| {
            c.paths.iter().map(move |p| {
                [
                    c.level_label(),
                    p.path.clone(),
                    p.weight.to_string(),
                    p.complete.to_string(),
                    p.failed.to_string(),
                ]
                .into_iter()
                .chain(p.latency_us.columns())
                .collect()
            })
        })
        .collect();
    Table::of(
        "paths",
        headers,
        rows,
        Some("Each path of the mix over all runs, from its own merged histogram.".to_owned()),
    )
}

/// Why a request costs what it does: the server's system calls per request (and the most
/// frequent by name), its context switches and migrations, and the load generator's calls and
/// switches beside them (see [`crate::mechanics`]).
pub fn mechanics(cells: &[&Cell]) -> Table {
    let headers = vec![
        "Level",
        "server syscalls/req",
        "top server syscalls (per request)",
        "voluntary switches/req",
        "involuntary switches/req",
        "migrations/req",
        "load syscalls/req",
        "load switches/req",
    ];
    let rows = cells
        .iter()
        .map(|c| {
            let server = c.mechanics.as_ref().and_then(|m| m.server.as_ref());
            let load = c.mechanics.as_ref().and_then(|m| m.load.as_ref());
            vec![
                c.level_label(),
                figure(server.map(|m| m.syscalls_per_request), 2, ""),
                server.map_or_else(|| "—".to_owned(), crate::mechanics::Mechanics::top_in_words),
                figure(server.map(|m| m.voluntary_switches_per_request), 3, ""),
                figure(server.map(|m| m.involuntary_switches_per_request), 3, ""),
                figure(server.map(|m| m.migrations_per_request), 3, ""),
                figure(load.map(|m| m.syscalls_per_request), 2, ""),
                figure(load.map(crate::mechanics::Mechanics::switches_per_request), 3, ""),
            ]
        })
        .collect();
    Table::of(
        "mechanics",
        headers,
        rows,
        Some(
            "Per complete request, from the kernel's perf events: every thread and child of the server counted \
             (exited ones too), and the load generator's threads. Voluntary: it blocked; involuntary: it was \
             preempted (or yielded)."
                .to_owned(),
        ),
    )
}

/// Where each variant's server spent its time, from its profile at the highest level profiled:
/// the symbols the most samples ended in, kernel (`[k]`) and user. `None` without profiles.
pub fn time_goes(results: &Results, scenario: &str) -> Option<Table> {
    let cells: Vec<&Cell> = results.scenario_cells(scenario).filter(|c| c.profile.is_some()).collect();
    if cells.is_empty() {
        return None;
    }
    let rows: Vec<Vec<String>> = matrices::variants(results, &cells)
        .into_iter()
        .filter_map(|variant| {
            let cell = cells.iter().filter(|c| c.variant == variant).max_by(|a, b| a.level_order(b))?;
            let profile = cell.profile.as_ref()?;
            Some(vec![
                variant.to_owned(),
                cell.level_label(),
                format!("{:.0}", profile.cpu_ms_sampled),
                profile.top_in_words(crate::profile::TOP),
                format!("`{}`", profile.flame_graph),
            ])
        })
        .collect();
    Some(Table::of(
        "profile",
        vec!["variant", "level", "CPU sampled ms", "top symbols (share of samples; [k]: kernel)", "flame graph"],
        rows,
        Some(
            "One extra run per cell under `perf record -e cpu-clock -g` on every process of the server; a sample's \
             symbol is where its stack ended (self time)."
                .to_owned(),
        ),
    ))
}

/// A long run's drift: per run with two or more intervals, its first interval against its
/// last — rate, p99, the server's memory and descriptors, the harness's own — and whether the
/// server stayed flat (see [`crate::results::Drift::flat`]). `None` when no run has intervals.
pub fn over_time(cells: &[&Cell]) -> Option<Table> {
    let headers = vec![
        "Level",
        "intervals",
        "req/s first → last",
        "p99 µs first → last",
        "server RSS KiB first → last",
        "server fds first → last",
        "harness RSS KiB first → last",
        "harness fds first → last",
        "failed",
        "flat",
    ];
    let pair = |first: Option<f64>, last: Option<f64>, digits: usize| match (first, last) {
        (Some(a), Some(b)) => format!("{a:.digits$} → {b:.digits$}"),
        _ => "—".to_owned(),
    };
    let growth = |growth: Option<f64>| growth.map_or_else(String::new, |g| format!(" ({:+.1}%)", g * 100.0));
    let count = |value: Option<u64>| value.map(|v| v as f64);
    let mut rows = Vec::new();
    for cell in cells {
        let with_intervals = cell.runs.iter().filter(|r| r.drift().is_some()).count();
        for (i, run) in cell.runs.iter().enumerate() {
            let Some(drift) = run.drift() else { continue };
            let (first, last) = (drift.first, drift.last);
            let level = if with_intervals > 1 {
                format!("{} run {}", cell.level_label(), i + 1)
            } else {
                cell.level_label()
            };
            let flat = match drift.flat() {
                Some(true) => "yes".to_owned(),
                Some(false) => "NO".to_owned(),
                None => "—".to_owned(),
            };
            rows.push(vec![
                level,
                format!("{} × {:.0} s", run.intervals.len(), first.seconds),
                pair(Some(first.requests_per_second), Some(last.requests_per_second), 0),
                pair(Some(first.latency_us.p99), Some(last.latency_us.p99), 1),
                format!(
                    "{}{}",
                    pair(count(first.server_rss_kib), count(last.server_rss_kib), 0),
                    growth(drift.rss_growth())
                ),
                format!(
                    "{}{}",
                    pair(count(first.server_fds), count(last.server_fds), 0),
                    growth(drift.fds_growth())
                ),
                pair(count(first.harness_rss_kib), count(last.harness_rss_kib), 0),
                pair(count(first.harness_fds), count(last.harness_fds), 0),
                drift.failed.to_string(),
                flat,
            ]);
        }
    }
    if rows.is_empty() {
        return None;
    }
    let legend = format!(
        "Over time: each run's first interval against its last. Flat: the server's RSS and open descriptors at \
         the last interval at most {:.0}% over the first (descriptors: or at most {} more, a connection or two in \
         flight) and no failed request.",
        crate::results::FLAT_GROWTH * 100.0,
        crate::results::DESCRIPTOR_SLACK
    );
    Some(Table::of("over-time", headers, rows, Some(legend)))
}

/// One line for a cell as it finishes, printed while the sweep goes on.
pub fn cell_line(cell: &Cell) -> String {
    let rate = match (cell.requests_per_second, cell.requests_per_second_spread) {
        (None, _) => "no rate (the server died)".to_owned(),
        (Some(r), Some(s)) => {
            format!("{r:.0} req/s (median run of {}, {:.0}–{:.0})", cell.runs.len(), s.min, s.max)
        }
        (Some(r), None) => format!("{r:.0} req/s"),
    };
    let cpu = cell
        .server
        .and_then(|s| s.cpu_us_per_request)
        .map_or_else(String::new, |cpu| format!(", server {cpu:.2} µs/req"));
    let failed =
        if cell.failed_all_runs > 0 { format!(", {} failed", cell.failed_all_runs) } else { String::new() };
    let status = match cell.status {
        Status::Complete => "",
        Status::CutShort => " [cut short]",
        Status::Interrupted => " [interrupted]",
        Status::ServerDied => " [server died]",
    };
    format!(
        "{} {} {}: {rate}, p99 {:.1} µs{cpu}{failed}{status}",
        cell.scenario,
        cell.variant,
        cell.level_label(),
        cell.latency_us.p99
    )
}

/// A problem as one line.
pub fn problem_line(problem: &Problem) -> String {
    match problem.kind {
        ProblemKind::NotRunnable => {
            format!("- **{}:** not runnable here: {}", problem.variant, problem.problem)
        }
        ProblemKind::Failed => format!("- **{}:** {}", problem.variant, problem.problem),
    }
}

/// What went wrong, if anything; variants that cannot run here are listed apart, since they
/// do not make the sweep fail.
pub fn problems(results: &Results) -> String {
    let mut out = String::new();
    let failing: Vec<&Cell> = results.cells.iter().filter(|c| c.failed_all_runs > 0).collect();
    let (not_runnable, failed): (Vec<&Problem>, Vec<&Problem>) =
        results.problems.iter().partition(|p| p.kind == ProblemKind::NotRunnable);
    if !not_runnable.is_empty() {
        out.push_str("## Not runnable here\n\n");
        for problem in not_runnable {
            let _ = writeln!(out, "{}", problem_line(problem));
        }
        out.push('\n');
    }
    if failed.is_empty() && failing.is_empty() {
        return out;
    }
    out.push_str("## Problems\n\n");
    for problem in failed {
        let _ = writeln!(out, "{}", problem_line(problem));
    }
    for cell in failing {
        let _ = writeln!(
            out,
            "- **{} {} {}:** {} failed requests over all runs ({})",
            cell.scenario,
            cell.variant,
            cell.level_label(),
            cell.failed_all_runs,
            cell.failures.in_words()
        );
    }
    out.push('\n');
    out
}

/// The whole report: the title, the verdict, the header facts, each scenario's sections and
/// matrices, problems.
pub fn full(results: &Results) -> String {
    let mut out = title(results);
    out.push_str(&verdict::markdown(results));
    out.push_str(&facts_list(results));
    out.push_str(&body(results));
    out
}

/// The report after its header: what the terminal prints once the sweep is done.
pub fn body(results: &Results) -> String {
    let mut out = String::new();
    let scenarios = results.scenario_names();
    for scenario in &scenarios {
        let _ = writeln!(out, "## Scenario: {scenario}\n");
        let variants: Vec<&str> = results
            .variant_names()
            .into_iter()
            .filter(|v| results.scenario_cells(scenario).any(|c| &c.variant == v))
            .collect();
        for variant in variants {
            for section in variant_sections(results, scenario, variant) {
                out.push_str(&variant_markdown(&section));
            }
        }
        out.push_str(&matrices::comparison(results, scenario));
        if let Some(table) = scaling::efficiency_table(results, scenario) {
            let _ = writeln!(out, "### Scaling efficiency ({scenario})\n");
            out.push_str(&table.markdown());
            out.push('\n');
        }
        if let Some(table) = time_goes(results, scenario) {
            let _ = writeln!(out, "### Where the time goes ({scenario})\n");
            out.push_str(&table.markdown());
            out.push('\n');
        }
    }
    out.push_str(&problems(results));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::tests::cell_with_runs;

    /// The seed exercise's first and last rows, rendered.
    #[test]
    fn classic_table_snapshot() {
        let mut cells = [cell_with_runs("tokio", 1, &[]), cell_with_runs("tokio", 5, &[])];
        for (cell, seconds) in cells.iter_mut().zip([4.367, 1.235]) {
            let t = crate::stats::Throughput::of(
                std::time::Duration::from_secs_f64(seconds),
                1000,
                122_000,
                cell.concurrency,
            );
            cell.time_taken_s = t.time_taken_s;
            cell.requests_per_second = Some(t.requests_per_second);
            cell.time_per_request_ms = Some(t.time_per_request_ms);
            cell.transfer_rate_kb_s = Some(t.transfer_rate_kb_s);
        }
        let refs: Vec<&Cell> = cells.iter().collect();
        let expected = "\
| No Test | Concurrency Level | Time taken for test | Complete requests | Failed requests | Total transferred | Requests per second | Time per request |    Transfer rate |
|--------:|------------------:|--------------------:|------------------:|----------------:|------------------:|--------------------:|-----------------:|-----------------:|
|       1 |                 1 |       4.367 seconds |              1000 |               0 |      122000 bytes |      228.99 [#/sec] |         4.367 ms | 27.28 Kbytes/sec |
|       2 |                 5 |       1.235 seconds |              1000 |               0 |      122000 bytes |      809.72 [#/sec] |         6.175 ms | 96.47 Kbytes/sec |
";
        assert_eq!(classic_table(&refs), expected);
    }

    #[test]
    fn percentile_table_snapshot() {
        let cells = [cell_with_runs("tokio", 1, &[])];
        let refs: Vec<&Cell> = cells.iter().collect();
        let expected = "\
| Concurrency | mean µs | p50 µs | p90 µs | p99 µs | p99.9 µs | max µs | p99 runs' median µs | non-2xx | server CPU µs/req |
|------------:|--------:|-------:|-------:|-------:|---------:|-------:|--------------------:|--------:|------------------:|
|           1 |    61.2 |   58.0 |   70.5 |  120.0 |    450.5 |  900.0 |                   — |       0 |              8.50 |
";
        assert_eq!(percentile_table(&refs), expected);
    }

    /// A run's drift: its first interval against its last, and whether the server stayed flat.
    #[test]
    fn the_over_time_table() {
        use crate::results::Interval;
        let interval = |end_s: f64, rss: u64, fds: u64| Interval {
            end_s,
            seconds: 10.0,
            complete: 50_000,
            failed: 0,
            non_2xx: 0,
            requests_per_second: 5000.0,
            latency_us: crate::stats::Percentiles {
                mean: 0.0,
                p50: 0.0,
                p90: 0.0,
                p99: end_s * 10.0,
                p999: 0.0,
                max: 0.0,
            },
            server_rss_kib: Some(rss),
            server_fds: Some(fds),
            server_threads: Some(2),
            server_cpu_us_per_request: Some(5.0),
            harness_rss_kib: Some(20_000),
            harness_fds: Some(64),
        };
        let mut flat = cell_with_runs("tokio", 50, &[5000.0]);
        flat.runs[0].intervals =
            vec![interval(10.0, 6000, 60), interval(20.0, 6100, 60), interval(30.0, 6500, 62)];
        assert!(over_time(&[&cell_with_runs("tokio", 5, &[100.0])]).is_none(), "no intervals, no table");
        let table = over_time(&[&flat]).expect("a table").markdown();
        assert!(table.contains("|  3 × 10 s |"), "{table}");
        assert!(table.contains("6000 → 6500 (+8.3%)") && table.contains("60 → 62 (+3.3%)"), "{table}");
        assert!(table.contains("|  yes |") && table.contains("Flat: the server's RSS"), "{table}");
        let mut leaking = flat.clone();
        leaking.runs[0].intervals[2].server_rss_kib = Some(6700);
        assert!(over_time(&[&leaking]).expect("a table").markdown().contains("|   NO |"));
        let mut failing = flat.clone();
        failing.runs[0].intervals[1].failed = 1;
        assert!(over_time(&[&failing]).expect("a table").markdown().contains("|   NO |"));
    }

    /// With workers as an axis: a section per variant and workers value, a matrix column per
    /// (workers, load), and the scaling efficiency table.
    #[test]
    fn a_workers_axis_in_the_report() {
        let results = crate::results::sample::scaling(&["tokio", "monoio"], &[1, 2], &[16], 4);
        let classic = crate::plan::CLASSIC;
        let headings: Vec<String> =
            variant_sections(&results, classic, "tokio").into_iter().map(|s| s.heading).collect();
        assert_eq!(headings, ["tokio (workers 1)", "tokio (workers 2)"]);
        let matrices = matrices::matrices(&results, classic).expect("cells");
        assert_eq!(matrices.headers, ["variant", "w=1 c=16", "w=2 c=16"]);
        let report = full(&results);
        assert!(report.contains("### Scaling efficiency (classic)"), "{report}");
        assert!(report.contains("|  monoio |  c=16 | 1.00 (10000/s) | 1.00 (20000/s) § |"), "{report}");
        assert!(scenario_description(&results.meta.scenarios[0]).contains("workers [1, 2]"));
    }

    #[test]
    fn a_dead_servers_rate_is_not_a_figure() {
        let mut cell = cell_with_runs("tokio", 1, &[]);
        cell.requests_per_second = None;
        cell.time_per_request_ms = None;
        cell.transfer_rate_kb_s = None;
        cell.status = Status::ServerDied;
        let table = classic_table(&[&cell]);
        assert!(table.contains("— (server died)"), "{table}");
        assert!(cell_line(&cell).contains("no rate (the server died)"));
    }
}
