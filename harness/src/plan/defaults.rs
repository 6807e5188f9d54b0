//! Every default of a sweep and of `harness load`, stated once: the matrix reader fills unset
//! keys from these, and `harness load`'s options show and use the same values.

use std::time::Duration;

/// Requests per run of a closed-loop cell (ab's `-n`).
pub const REQUESTS: u64 = 1000;
/// The classic exercise's concurrency levels (ab's `-c 1..5`).
pub const CONCURRENCY: [usize; 5] = [1, 2, 3, 4, 5];
/// One connection: `harness load`'s default, as ab's.
pub const LOAD_CONCURRENCY: usize = 1;
/// A request not answered this long after it started fails as a timeout (ab's `-s` is 30 s;
/// every variant answers in microseconds, so 10 s only ever catches a server that hangs).
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Hard bound on one run: long enough for any default cell many times over, short enough that
/// a server that crawls cannot hold a sweep for hours.
pub const MAX_RUN_TIME: Duration = Duration::from_secs(300);
/// Open loop: measured time per run.
pub const DURATION: Duration = Duration::from_secs(5);
/// Open loop: time on the schedule before measuring, so connections and caches are warm.
pub const WARMUP_TIME: Duration = Duration::from_secs(1);
/// Open loop: the connections the rate is spread over (wrk2's default pool is of this order).
pub const OPEN_CONNECTIONS: usize = 50;
/// Scale: how long connections are held idle before the server's memory is read; under the
/// servers' 5 s idle timeout, which would close them.
pub const IDLE_TIME: Duration = Duration::from_secs(2);
/// A run's figures are also kept per interval of this length (a soak's drift over time); a
/// run shorter than one has none. Ten seconds: 60 points over a 10-minute soak, and no
/// interval at all in the classic sweep's sub-second runs.
pub const INTERVAL: Duration = Duration::from_secs(10);
/// Measured runs per cell.
pub const REPEAT: usize = 1;
/// Request target.
pub const PATH: &str = "/";
/// One request at a time on a connection, as ab and wrk send them.
pub const PIPELINE: usize = 1;
/// The draw of a request mix's paths, so two runs of a matrix send the same sequence.
pub const SEED: u64 = 1;

/// When system calls, context switches and migrations are counted: in one extra run per cell,
/// not during the measured runs, because the counters cost the servers more than 3% of their
/// CPU per request here (measured A B A B; see the README).
pub const MECHANICS: crate::plan::Counting = crate::plan::Counting::ExtraRun;

/// A files scenario's page cache before each run: warm, as a server serving the same files
/// over and over finds them; `cache = "cold"` asks for the disk.
pub const CACHE: crate::plan::Cache = crate::plan::Cache::Warm;
