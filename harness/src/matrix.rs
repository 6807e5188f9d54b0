//! `matrix.toml`: what the user wrote (serde, unknown fields refused), validated into a
//! [`Plan`] that cannot hold an invalid state. Every problem is reported at once, each as
//! `matrix.toml:LINE:COL: message`, before anything starts.

use std::ops::Range;
use std::time::Duration;

use serde::Deserialize;
use server_common::Variant;
use toml::Spanned;

use crate::registry;

/// A validated sweep.
#[derive(Debug, Clone)]
pub struct Plan {
    pub sweep: Sweep,
    pub placement: Placement,
    pub variants: Vec<VariantPlan>,
    /// Things worth saying that do not stop the sweep (e.g. overlapping CPUs).
    pub warnings: Vec<String>,
}

/// How every cell is measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    pub requests: u64,
    pub concurrency: Vec<usize>,
    pub keep_alive: bool,
    /// Requests sent (and not recorded) before each cell's measured runs.
    pub warmup: u64,
    /// Measured runs per cell; histograms merge across them.
    pub repeat: usize,
    pub path: String,
    /// A request not answered in this time fails as a timeout.
    pub timeout: Duration,
    /// Hard bound on one run; what is still open then fails as timeouts.
    pub max_run_time: Duration,
}

/// Which CPUs the servers and the load generator get.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    pub server_cpus: Vec<usize>,
    pub load_cpus: Vec<usize>,
}

/// One server to measure.
#[derive(Debug, Clone)]
pub struct VariantPlan {
    pub name: String,
    pub launch: Launch,
    /// 0: a built-in picks a free port and announces it.
    pub port: u16,
    pub workers: usize,
    pub verify: Verify,
}

/// How a server is started.
#[derive(Debug, Clone)]
pub enum Launch {
    /// `harness serve NAME` in a child process.
    Builtin(&'static Variant),
    /// Any program; `{port}` and `{workers}` in its arguments are replaced.
    Command(Vec<String>),
}

/// How a server's answer is checked before it is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Byte for byte against the spec (apart from `Date`).
    Spec,
    /// Status 2xx and a body of its `Content-Length`.
    Status,
}

/// One problem in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Everything wrong with a matrix file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub problems: Vec<Problem>,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}:{}:{}: {}", self.file, problem.line, problem.column, problem.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMatrix {
    #[serde(default)]
    sweep: RawSweep,
    #[serde(default)]
    placement: RawPlacement,
    #[serde(default, rename = "variant")]
    variants: Vec<Spanned<RawVariant>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSweep {
    requests: Option<Spanned<i64>>,
    concurrency: Option<Spanned<Vec<Spanned<i64>>>>,
    keep_alive: Option<bool>,
    warmup: Option<Spanned<i64>>,
    repeat: Option<Spanned<i64>>,
    path: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    max_run_time: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlacement {
    server_cpus: Option<Spanned<Vec<Spanned<i64>>>>,
    load_cpus: Option<Spanned<Vec<Spanned<i64>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariant {
    name: Spanned<String>,
    /// The built-in variant to run; defaults to `name`. Not allowed with `command`.
    builtin: Option<Spanned<String>>,
    command: Option<Spanned<Vec<String>>>,
    port: Option<Spanned<i64>>,
    workers: Option<Spanned<i64>>,
    verify: Option<Spanned<String>>,
}

/// Defaults, documented in `matrix.toml` and the README.
const DEFAULT_REQUESTS: u64 = 1000;
const DEFAULT_CONCURRENCY: [usize; 5] = [1, 2, 3, 4, 5];
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_MAX_RUN_TIME: Duration = Duration::from_secs(300);
/// Bounds that keep a sweep finite and the load generator sane.
const MAX_CONCURRENCY: i64 = 10_000;
const MAX_REPEAT: i64 = 100;
const MAX_WORKERS: i64 = 1024;

/// Collects problems with their positions.
struct Problems<'a> {
    source: &'a str,
    list: Vec<Problem>,
}

impl Problems<'_> {
    fn at(&mut self, span: Range<usize>, message: impl Into<String>) {
        let (line, column) = line_column(self.source, span.start);
        self.list.push(Problem { line, column, message: message.into() });
    }
}

/// 1-based line and column (in characters) of byte `offset`.
pub fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |at| at + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// Parses and validates `source` (named `file` in messages) for a machine with `cpus` CPUs.
pub fn parse(file: &str, source: &str, cpus: usize) -> Result<Plan, ConfigError> {
    let mut problems = Problems { source, list: Vec::new() };
    let raw: RawMatrix = match toml::from_str(source) {
        Ok(raw) => raw,
        Err(err) => {
            problems.at(err.span().unwrap_or(0..0), err.message().trim().to_owned());
            return Err(ConfigError { file: file.to_owned(), problems: problems.list });
        }
    };
    let sweep = sweep(&raw.sweep, &mut problems);
    let (placement, warnings) = placement(&raw.placement, cpus, &mut problems);
    let variants = variants(&raw.variants, &mut problems);
    if problems.list.is_empty() {
        Ok(Plan { sweep, placement, variants, warnings })
    } else {
        Err(ConfigError { file: file.to_owned(), problems: problems.list })
    }
}

/// A whole number in `range`, or a problem at its position.
fn whole(value: &Spanned<i64>, range: Range<i64>, what: &str, problems: &mut Problems<'_>) -> Option<u64> {
    let n = *value.get_ref();
    if range.contains(&n) {
        u64::try_from(n).ok()
    } else {
        problems
            .at(value.span(), format!("{what} must be from {} to {}, not {n}", range.start, range.end - 1));
        None
    }
}

fn duration(
    value: &Option<Spanned<String>>,
    default: Duration,
    what: &str,
    problems: &mut Problems<'_>,
) -> Duration {
    let Some(value) = value else { return default };
    match server_spec::cli::parse_duration(value.get_ref()) {
        Ok(d) if !d.is_zero() => d,
        Ok(_) => {
            problems.at(value.span(), format!("{what} must be more than zero"));
            default
        }
        Err(err) => {
            problems.at(value.span(), format!("{what}: {err}"));
            default
        }
    }
}

fn sweep(raw: &RawSweep, problems: &mut Problems<'_>) -> Sweep {
    let requests = raw
        .requests
        .as_ref()
        .and_then(|r| whole(r, 1..100_000_001, "requests", problems))
        .unwrap_or(DEFAULT_REQUESTS);
    let concurrency = match &raw.concurrency {
        None => DEFAULT_CONCURRENCY.to_vec(),
        Some(list) if list.get_ref().is_empty() => {
            problems.at(list.span(), "concurrency needs at least one level");
            Vec::new()
        }
        Some(list) => list
            .get_ref()
            .iter()
            .filter_map(|level| {
                let c = whole(level, 1..MAX_CONCURRENCY + 1, "a concurrency level", problems)?;
                if c > requests {
                    problems
                        .at(level.span(), format!("concurrency {c} is more than the {requests} requests"));
                    return None;
                }
                usize::try_from(c).ok()
            })
            .collect(),
    };
    let warmup = raw.warmup.as_ref().and_then(|w| whole(w, 0..100_000_001, "warmup", problems)).unwrap_or(0);
    let repeat =
        raw.repeat.as_ref().and_then(|r| whole(r, 1..MAX_REPEAT + 1, "repeat", problems)).unwrap_or(1)
            as usize;
    let path = match &raw.path {
        None => "/".to_owned(),
        Some(path) => {
            let p = path.get_ref();
            if !p.starts_with('/') || !p.bytes().all(|b| b.is_ascii_graphic()) {
                problems.at(path.span(), format!("path must start with / and be visible ASCII, not {p:?}"));
            }
            p.clone()
        }
    };
    Sweep {
        requests,
        concurrency,
        keep_alive: raw.keep_alive.unwrap_or(false),
        warmup,
        repeat,
        path,
        timeout: duration(&raw.timeout, DEFAULT_TIMEOUT, "timeout", problems),
        max_run_time: duration(&raw.max_run_time, DEFAULT_MAX_RUN_TIME, "max_run_time", problems),
    }
}

fn cpu_list(
    value: &Option<Spanned<Vec<Spanned<i64>>>>,
    default: usize,
    cpus: usize,
    what: &str,
    problems: &mut Problems<'_>,
) -> Vec<usize> {
    let Some(list) = value else { return vec![default] };
    if list.get_ref().is_empty() {
        problems.at(list.span(), format!("{what} needs at least one CPU"));
    }
    let mut seen = Vec::new();
    for cpu in list.get_ref() {
        let Some(n) =
            whole(cpu, 0..cpus as i64, &format!("a CPU in {what} (this machine has {cpus})"), problems)
        else {
            continue;
        };
        if seen.contains(&(n as usize)) {
            problems.at(cpu.span(), format!("CPU {n} is listed twice in {what}"));
        }
        seen.push(n as usize);
    }
    seen
}

fn placement(raw: &RawPlacement, cpus: usize, problems: &mut Problems<'_>) -> (Placement, Vec<String>) {
    // Default on two or more CPUs: the server on CPU 0, the load on CPU 1.
    let load_default = usize::from(cpus > 1);
    let server_cpus = cpu_list(&raw.server_cpus, 0, cpus, "server_cpus", problems);
    let load_cpus = cpu_list(&raw.load_cpus, load_default, cpus, "load_cpus", problems);
    let mut warnings = Vec::new();
    let shared: Vec<String> =
        server_cpus.iter().filter(|cpu| load_cpus.contains(cpu)).map(|cpu| cpu.to_string()).collect();
    if !shared.is_empty() {
        warnings.push(format!(
            "server and load share CPU {}: the load generator competes with the server it measures",
            shared.join(", ")
        ));
    }
    (Placement { server_cpus, load_cpus }, warnings)
}

fn variants(raw: &[Spanned<RawVariant>], problems: &mut Problems<'_>) -> Vec<VariantPlan> {
    if raw.is_empty() {
        problems.at(0..0, format!("no [[variant]] to measure; built-in variants: {}", registry::names()));
    }
    let mut plans: Vec<VariantPlan> = Vec::new();
    for entry in raw {
        let variant = entry.get_ref();
        let name = variant.name.get_ref().clone();
        if name.trim().is_empty() {
            problems.at(variant.name.span(), "a variant needs a name");
        }
        if plans.iter().any(|plan| plan.name == name) {
            problems.at(variant.name.span(), format!("variant `{name}` is listed twice"));
        }
        let launch = match (&variant.command, &variant.builtin) {
            (Some(_), Some(builtin)) => {
                problems.at(builtin.span(), "give either `builtin` or `command`, not both");
                None
            }
            (Some(command), None) if command.get_ref().is_empty() => {
                problems.at(command.span(), "command needs at least the program");
                None
            }
            (Some(command), None) => Some(Launch::Command(command.get_ref().clone())),
            (None, builtin) => {
                let (wanted, span) = match builtin {
                    Some(builtin) => (builtin.get_ref().as_str(), builtin.span()),
                    None => (name.as_str(), variant.name.span()),
                };
                match registry::find(wanted) {
                    Some(found) => Some(Launch::Builtin(found)),
                    None => {
                        problems.at(
                            span,
                            format!(
                                "no built-in variant `{wanted}` (built-ins: {}); give `command` to run another server",
                                registry::names()
                            ),
                        );
                        None
                    }
                }
            }
        };
        let external = matches!(launch, Some(Launch::Command(_)));
        let port = match &variant.port {
            Some(port) => whole(port, 0..65536, "port", problems).unwrap_or(0) as u16,
            None => 0,
        };
        if external && port == 0 {
            problems.at(entry.span(), format!("variant `{name}` runs a command, so it needs a fixed `port`"));
        }
        if port != 0 && plans.iter().any(|plan| plan.port == port) {
            let span = variant.port.as_ref().map_or(entry.span(), Spanned::span);
            problems.at(span, format!("port {port} is used by another variant"));
        }
        let workers = variant
            .workers
            .as_ref()
            .and_then(|w| whole(w, 1..MAX_WORKERS + 1, "workers", problems))
            .unwrap_or(1) as usize;
        let verify = match &variant.verify {
            None if external => Verify::Status,
            None => Verify::Spec,
            Some(v) => match v.get_ref().as_str() {
                "spec" => Verify::Spec,
                "status" => Verify::Status,
                other => {
                    problems.at(v.span(), format!("verify must be \"spec\" or \"status\", not {other:?}"));
                    Verify::Spec
                }
            },
        };
        if let Some(launch) = launch {
            plans.push(VariantPlan { name, launch, port, workers, verify });
        }
    }
    plans
}

impl Plan {
    /// Keeps only the variants named in `only` (the `--only` option).
    pub fn keep_only(&mut self, only: &[String]) -> anyhow::Result<()> {
        if only.is_empty() {
            return Ok(());
        }
        for name in only {
            anyhow::ensure!(
                self.variants.iter().any(|v| &v.name == name),
                "--only: no variant `{name}` in the matrix (it has: {})",
                self.variants.iter().map(|v| v.name.as_str()).collect::<Vec<_>>().join(", ")
            );
        }
        self.variants.retain(|variant| only.contains(&variant.name));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(source: &str) -> Vec<String> {
        match parse("m.toml", source, 2) {
            Ok(plan) => panic!("expected problems, got {plan:?}"),
            Err(err) => err.to_string().lines().map(str::to_owned).collect(),
        }
    }

    #[test]
    fn defaults_reproduce_the_classic_sweep() {
        let plan = parse("m.toml", "[[variant]]\nname = \"tokio\"\n", 2).unwrap();
        assert_eq!(plan.sweep.requests, 1000);
        assert_eq!(plan.sweep.concurrency, [1, 2, 3, 4, 5]);
        assert!(!plan.sweep.keep_alive);
        assert_eq!((plan.sweep.repeat, plan.sweep.warmup), (1, 0));
        assert_eq!(plan.sweep.path, "/");
        assert_eq!(plan.placement, Placement { server_cpus: vec![0], load_cpus: vec![1] });
        assert!(plan.warnings.is_empty());
        let variant = &plan.variants[0];
        assert_eq!((variant.port, variant.workers, variant.verify), (0, 1, Verify::Spec));
        assert!(matches!(variant.launch, Launch::Builtin(v) if v.name == "tokio"));
    }

    #[test]
    fn one_cpu_shares_and_warns() {
        let plan = parse("m.toml", "[[variant]]\nname = \"tokio\"\n", 1).unwrap();
        assert_eq!(plan.placement, Placement { server_cpus: vec![0], load_cpus: vec![0] });
        assert_eq!(plan.warnings.len(), 1);
    }

    #[test]
    fn external_command() {
        let source =
            "[[variant]]\nname = \"nginx\"\ncommand = [\"nginx\", \"-p\", \"{port}\"]\nport = 8080\n";
        let plan = parse("m.toml", source, 2).unwrap();
        assert!(matches!(&plan.variants[0].launch, Launch::Command(c) if c.len() == 3));
        assert_eq!(plan.variants[0].verify, Verify::Status);
    }

    #[test]
    fn syntax_errors_have_line_and_column() {
        assert_eq!(problems("[sweep]\nrequests = = 3\n").len(), 1);
        assert!(
            problems("[sweep]\nrequests = = 3\n")[0].starts_with("m.toml:2:"),
            "{:?}",
            problems("[sweep]\nrequests = = 3\n")
        );
        let unknown = problems("[sweep]\nrequest = 3\n");
        assert!(unknown[0].starts_with("m.toml:2:1: unknown field `request`"), "{unknown:?}");
        let wrong_type = problems("[sweep]\nrequests = \"many\"\n");
        assert!(wrong_type[0].starts_with("m.toml:2:12: invalid type"), "{wrong_type:?}");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let source = r#"[sweep]
requests = 0
concurrency = [0, 2000000]
repeat = 0
path = "nope"
timeout = "soon"

[placement]
server_cpus = [7]
load_cpus = []

[[variant]]
name = "tokio"
workers = 0
verify = "maybe"

[[variant]]
name = "tokio"

[[variant]]
name = "mystery"

[[variant]]
name = "ext"
command = []

[[variant]]
name = "ext2"
command = ["x"]

[[variant]]
name = "both"
builtin = "tokio"
command = ["x"]
port = 99999
"#;
        let found = problems(source);
        let expect = [
            "m.toml:2:12: requests must be from 1 to 100000000, not 0",
            "m.toml:3:16: a concurrency level must be from 1 to 10000, not 0",
            "m.toml:3:19: a concurrency level must be from 1 to 10000, not 2000000",
            "m.toml:4:10: repeat must be from 1 to 100, not 0",
            "m.toml:5:8: path must start with / and be visible ASCII",
            "m.toml:6:11: timeout: `soon`",
            "m.toml:9:16: a CPU in server_cpus (this machine has 2) must be from 0 to 1, not 7",
            "m.toml:10:13: load_cpus needs at least one CPU",
            "m.toml:14:11: workers must be from 1 to 1024, not 0",
            "m.toml:15:10: verify must be \"spec\" or \"status\", not \"maybe\"",
            "m.toml:18:8: variant `tokio` is listed twice",
            "m.toml:21:8: no built-in variant `mystery`",
            "m.toml:25:11: command needs at least the program",
            "m.toml:27:1: variant `ext2` runs a command, so it needs a fixed `port`",
            "m.toml:33:11: give either `builtin` or `command`, not both",
            "m.toml:35:8: port must be from 0 to 65535, not 99999",
        ];
        for (i, want) in expect.iter().enumerate() {
            assert!(
                found.get(i).is_some_and(|got| got.starts_with(want)),
                "problem {i}: want {want:?}\nall: {found:#?}"
            );
        }
        assert_eq!(found.len(), expect.len(), "{found:#?}");
    }

    #[test]
    fn concurrency_above_requests_and_duplicate_ports() {
        let source = "[sweep]\nrequests = 3\nconcurrency = [4]\n[[variant]]\nname = \"tokio\"\nport = 5\n[[variant]]\nname = \"smol\"\nport = 5\n";
        let found = problems(source);
        assert!(found[0].starts_with("m.toml:3:16: concurrency 4 is more than the 3 requests"), "{found:?}");
        assert!(found[1].starts_with("m.toml:9:8: port 5 is used by another variant"), "{found:?}");
    }

    #[test]
    fn no_variants() {
        assert!(problems("[sweep]\nrequests = 5\n")[0].starts_with("m.toml:1:1: no [[variant]] to measure"));
    }

    #[test]
    fn only_filters_and_refuses_unknown_names() {
        let source = "[[variant]]\nname = \"tokio\"\n[[variant]]\nname = \"smol\"\n";
        let mut plan = parse("m.toml", source, 2).unwrap();
        assert!(plan.keep_only(&["nope".into()]).is_err());
        plan.keep_only(&["smol".into()]).unwrap();
        assert_eq!(plan.variants.len(), 1);
        assert_eq!(plan.variants[0].name, "smol");
    }

    #[test]
    fn line_columns_count_characters() {
        assert_eq!(line_column("ab\ncdé\nx", 0), (1, 1));
        assert_eq!(line_column("ab\ncdé\nx", 3), (2, 1));
        assert_eq!(line_column("ab\ncdé\nx", 8), (3, 1));
        assert_eq!(line_column("ab\ncdé\nx", 7), (2, 4));
    }
}
