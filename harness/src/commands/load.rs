//! `harness load URL`: one run (ab-style closed loop, or an open loop with `--rate`) against
//! a server on loopback or a declared host, printed with the same tables as the sweep (or as
//! one results cell in JSON). Exit 1 when any request failed.

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use crate::cli::{LoadArgs, EXIT_FAILURES};
use crate::load::{LoadSpec, Shape, Stop};
use crate::results::summarize::Point;
use crate::results::{summarize, Cell, MeasuredRun, Mode, Status};

/// The connections an open loop spreads its rate over unless told.
const DEFAULT_OPEN_CONNECTIONS: usize = 50;

pub fn run(args: &LoadArgs) -> ExitCode {
    match measure(args) {
        Ok(cell) => {
            if args.json {
                match serde_json::to_string_pretty(&cell) {
                    Ok(json) => println!("{json}"),
                    Err(err) => {
                        eprintln!("Error: {err}");
                        return ExitCode::FAILURE;
                    }
                }
            } else {
                print!("{}", render(&cell, args));
            }
            if cell.failed_all_runs > 0 {
                eprintln!("{}", failure_summary(&cell, args.timeout));
                return ExitCode::from(EXIT_FAILURES);
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("Error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn measure(args: &LoadArgs) -> anyhow::Result<Cell> {
    let (addr, path) = parse_target_url(&args.url, &args.declared_hosts)?;
    let shape = match args.rate {
        Some(rate) => {
            anyhow::ensure!(
                args.requests.is_none(),
                "-n does not apply to --rate: an open loop runs for --duration"
            );
            anyhow::ensure!(rate > 0.0 && rate.is_finite(), "--rate must be more than 0 requests per second");
            Shape::Open {
                rate,
                connections: args.connections.unwrap_or(DEFAULT_OPEN_CONNECTIONS).max(1),
                warmup: args.warmup_time,
                duration: args.duration,
            }
        }
        None => {
            Shape::Closed { requests: args.requests.unwrap_or(1000), concurrency: args.concurrency.max(1) }
        }
    };
    let spec = LoadSpec {
        addr,
        path,
        shape: shape.clone(),
        keep_alive: args.keep_alive,
        timeout: args.timeout,
        max_duration: args.max_run_time,
        cpus: args.cpus.clone(),
        allowed: args.declared_hosts.clone(),
    };
    let interrupt = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, interrupt.clone())?;
    if args.lifeline {
        let flag = interrupt.clone();
        super::lifeline(move || interrupt_on_eof(&flag));
    }
    let started_at = crate::sweep::unix_ms();
    let mut announce = || {
        if args.announce_window {
            use std::io::Write;
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{}", crate::remote::WINDOW_OPEN);
            let _ = stdout.flush();
        }
    };
    let load = crate::load::run(&spec, &Stop::any(&[&interrupt]), &mut announce)?;
    let status = match load.cut {
        None => Status::Complete,
        Some(crate::load::Cut::Deadline) => Status::CutShort,
        Some(crate::load::Cut::Stopped) => Status::Interrupted,
    };
    let (mode, rate, requests) = match shape {
        Shape::Open { rate, .. } => (Mode::Open, Some(rate), load.scheduled),
        Shape::Closed { requests, .. } | Shape::Scale { requests, .. } => (Mode::Closed, None, requests),
    };
    let point = Point {
        scenario: "load".into(),
        variant: args.url.clone(),
        workers: 0,
        mode,
        concurrency: shape.connections(),
        rate,
        keep_alive: spec.keep_alive,
        requests,
        server_cpus: 0,
    };
    Ok(summarize(&point, &[MeasuredRun { load, started_at, server: None, idle_rss_kib: None, status }]))
}

/// ab's classic table and the percentile table (and for an open loop its rate, corrected and
/// uncorrected latency and send lag), as the sweep prints them, plus the failures in words.
fn render(cell: &Cell, args: &LoadArgs) -> String {
    let mut out = format!("{}\n\n", args.url);
    out.push_str(&crate::report::classic_table(&[cell]));
    out.push('\n');
    out.push_str(&crate::report::percentile_table(&[cell]));
    out.push('\n');
    if cell.mode == Mode::Open {
        out.push_str(&crate::report::open_loop_table(&[cell]));
        out.push('\n');
    }
    let failures =
        if cell.failed_all_runs == 0 { String::new() } else { format!(" ({})", cell.failures.in_words()) };
    out.push_str(&format!("Failed requests:        {}{failures}\n", cell.failed_all_runs));
    out.push_str(&format!("Complete requests:      {}\n", cell.complete));
    out.push_str(&format!("Non-2xx responses:      {}\n", cell.non_2xx));
    out.push_str(&format!(
        "Requests per second:    {} [#/sec] (mean)\n",
        cell.requests_per_second.map_or_else(|| "—".to_owned(), |r| format!("{r:.2}"))
    ));
    if let Some(cpu) = cell.meta.load_cpu_us_per_request {
        out.push_str(&format!("Load generator CPU:     {cpu:.2} µs/request\n"));
    }
    for note in &cell.notes {
        out.push_str(&format!("Note: {note}\n"));
    }
    out
}

/// Why the run is not clean, in words; a server that accepted but never answered is named
/// as such.
fn failure_summary(cell: &Cell, timeout: Duration) -> String {
    if cell.complete == 0 && cell.failures.timeout == cell.failed_all_runs {
        return format!(
            "no response within {}: the server accepted connections but never answered",
            humantime::format_duration(timeout)
        );
    }
    format!("{} of {} requests failed: {}", cell.failed_all_runs, cell.requests, cell.failures.in_words())
}

/// Sets the interrupt flag (the run then ends as on Ctrl-C).
fn interrupt_on_eof(interrupt: &AtomicBool) {
    interrupt.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Splits `http://IP:PORT/path` into an address and a path; the address must be loopback or
/// one of `declared` (the hosts of a matrix): the harness sends load nowhere else.
pub fn parse_target_url(
    url: &str,
    declared: &[std::net::IpAddr],
) -> anyhow::Result<(std::net::SocketAddr, String)> {
    let rest = url.strip_prefix("http://").ok_or_else(|| anyhow::anyhow!("`{url}`: only http:// URLs"))?;
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], rest[at..].to_owned()),
        None => (rest, "/".to_owned()),
    };
    let authority = authority.replace("localhost", "127.0.0.1");
    let addr: std::net::SocketAddr = authority
        .parse()
        .map_err(|_| anyhow::anyhow!("`{url}`: the host must be an IP address and a port"))?;
    anyhow::ensure!(
        crate::load::allowed_target(addr.ip(), declared),
        "`{url}`: load goes only to loopback (127.0.0.0/8, ::1) or to a declared host (--declared-host)"
    );
    Ok((addr, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let (addr, path) = parse_target_url("http://127.0.0.1:8080/x?y", &[]).unwrap();
        assert_eq!((addr.port(), path.as_str()), (8080, "/x?y"));
        assert_eq!(parse_target_url("http://localhost:1", &[]).unwrap().1, "/");
        assert!(parse_target_url("http://10.0.0.1:80/", &[]).is_err(), "not declared");
        assert!(parse_target_url("http://10.0.0.1:80/", &["10.0.0.1".parse().unwrap()]).is_ok());
        assert!(parse_target_url("http://10.0.0.2:80/", &["10.0.0.1".parse().unwrap()]).is_err());
        assert!(parse_target_url("https://127.0.0.1:80/", &[]).is_err());
    }
}
