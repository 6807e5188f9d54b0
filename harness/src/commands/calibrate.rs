//! `harness calibrate`: the machine's floor alone, as every sweep measures it before its
//! variants (see [`crate::machine::calibrate`]): a loopback ping-pong between a thread on the
//! server CPU and one on the load CPU, with the CPUs left to sleep or kept awake.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use super::exit;
use crate::machine::calibrate;
use crate::machine::idle::CpuIdle;

/// `harness calibrate`'s arguments; the CPUs default to the matrix's placement.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The CPU of the thread that answers (where servers run).
    #[arg(long, default_value_t = 0)]
    pub server_cpu: usize,
    /// The CPU of the thread that asks (where the load runs).
    #[arg(long, default_value_t = 1)]
    pub load_cpu: usize,
    /// `native` (CPUs may halt when idle) or `awake` (kept out of their idle states).
    #[arg(long, default_value = "native", value_parser = parse_cpu_idle)]
    pub cpu_idle: CpuIdle,
    /// How long each kind of round trip is measured, after a warm-up.
    #[arg(long, default_value = "1s", value_parser = server_spec::cli::parse_timeout)]
    pub time: Duration,
}

fn parse_cpu_idle(text: &str) -> Result<CpuIdle, String> {
    CpuIdle::named(text).ok_or_else(|| format!("must be native or awake, not {text:?}"))
}

pub fn run(args: &Args) -> ExitCode {
    let cpus = crate::affinity::online_cpus();
    for cpu in [args.server_cpu, args.load_cpu] {
        if cpu >= cpus {
            eprintln!("error: CPU {cpu}: this machine has {cpus} (0 to {})", cpus.saturating_sub(1));
            return ExitCode::from(exit::CONFIG);
        }
    }
    let watchdog = match crate::process::watchdog::Watchdog::start() {
        Ok(watchdog) => Arc::new(watchdog),
        Err(err) => {
            eprintln!("Error: {err:#}");
            return ExitCode::from(exit::FAILURES);
        }
    };
    let mut cpu_idle = args.cpu_idle;
    let _awake = match cpu_idle {
        CpuIdle::Native => None,
        CpuIdle::Awake => {
            let mut both = vec![args.server_cpu, args.load_cpu];
            both.dedup();
            match crate::target::awake::Keeper::here(&both, &watchdog) {
                Ok(keeper) => {
                    println!("CPUs kept awake: {}", keeper.how);
                    Some(keeper)
                }
                Err(why) => {
                    eprintln!("warning: the CPUs cannot be kept awake ({why}): measuring them native");
                    cpu_idle = CpuIdle::Native;
                    None
                }
            }
        }
    };
    match calibrate::measure(Some(args.server_cpu), Some(args.load_cpu), cpu_idle, args.time) {
        Ok(floor) => {
            println!("The machine's floor: {}", floor.describe());
            for (what, trips) in
                [("keep-alive", floor.keep_alive), ("a connection per request", floor.connection_per_request)]
            {
                println!(
                    "  {what:<25} p50 {:>8.1} µs   p99 {:>8.1} µs   {:>8.0} round trips/s   ({} timed)",
                    trips.p50_us, trips.p99_us, trips.per_second, trips.round_trips
                );
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("Error: the floor could not be measured: {err}");
            ExitCode::from(exit::FAILURES)
        }
    }
}
