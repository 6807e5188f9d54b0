//! Every limit of the spec in one place, each with the reason for its value.

/// Largest request head (request line plus fields plus the blank line). 8 KiB is what nginx and
/// most proxies allow by default, and far more than any benchmark client sends.
pub const MAX_HEAD: usize = 8 * 1024;

/// Largest request line. A longer one is answered 414 rather than 431 so the client learns
/// that its target, not its fields, is too long.
pub const MAX_REQUEST_LINE: usize = 8 * 1024;

/// Most header fields in one head; more gets 431. Bounds the parser's field array.
pub const MAX_HEADERS: usize = 100;

/// Largest request body, whether framed by `Content-Length` or chunked. Echoed bodies are held
/// in memory, so this bounds what one connection can make the server allocate.
pub const MAX_BODY: u64 = 1024 * 1024;

/// Largest body `/bytes/{n}` serves. Bodies are generated in windows, never held whole.
pub const MAX_BYTES_ROUTE: u64 = 16 * 1024 * 1024;

/// Longest wait `/sleep/{ms}` accepts, in milliseconds.
pub const MAX_SLEEP_MS: u64 = 10_000;

/// Longest computation `/work/{µs}` and `/offload/{µs}` accept, in microseconds: a second, far
/// beyond any handler a benchmark models, and short enough that a mistyped path cannot hold an
/// executor thread (or a helper thread) for minutes.
pub const MAX_WORK_US: u64 = 1_000_000;

/// Longest chunk-size line (size, extensions, CRLF). Real clients send a few bytes; the bound
/// keeps re-scanning a partial line cheap when it arrives a byte at a time.
pub const MAX_CHUNK_LINE: usize = 1024;

/// Total bytes of chunk extensions allowed in one body, so extensions cannot smuggle an
/// unbounded amount of data past the body limit.
pub const MAX_CHUNK_EXTENSIONS: usize = 4 * 1024;

/// Largest trailer section of a chunked body; the same bound as a head.
pub const MAX_TRAILERS: usize = 8 * 1024;

/// How much response output is produced before the I/O loop is asked to write it. Large
/// bodies (`/bytes/16777216`) are generated window by window so memory stays bounded, and
/// pipelined responses are batched into one write up to this size.
pub const OUTPUT_WINDOW: usize = 64 * 1024;

/// Empties a connection's output buffer once it is written, keeping its memory for the next
/// response unless a large one grew it past twice [`OUTPUT_WINDOW`]: that is given back, so an
/// idle connection stays small.
pub fn recycle_output(out: &mut Vec<u8>) {
    out.clear();
    if out.capacity() > 2 * OUTPUT_WINDOW {
        *out = Vec::new();
    }
}

/// Read buffer size the I/O loops use. Small, because an idle keep-alive connection holds it
/// (io_uring loops must keep it lent to the kernel while a read is pending).
pub const READ_BUFFER: usize = 4 * 1024;

/// After an error response the loop shuts down writing and reads (and drops) at most this
/// many bytes, for at most [`DRAIN_TIME`], so the client sees the status instead of a reset.
pub const DRAIN_BYTES: usize = 256 * 1024;

/// See [`DRAIN_BYTES`].
pub const DRAIN_TIME: std::time::Duration = std::time::Duration::from_millis(500);

/// Default `--header-timeout`: a request head (or a body, after its head) must be complete
/// this long after it started, counted from accept for a new connection. Long enough for any
/// real client on a slow link, short enough that a silent or trickling client (slowloris)
/// holds a connection, or a pool thread, for a bounded time.
pub const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Default `--idle-timeout`: a keep-alive connection may wait this long between requests.
/// nginx's default `keepalive_timeout` is 75 s; benchmarks never idle, and a thread pool
/// whose workers are held by idle clients frees them sooner.
pub const IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Default `--write-timeout`: a response write may make no progress this long (the client
/// stopped reading) before the connection closes; nginx's `send_timeout` has the same 10 s
/// order and meaning.
pub const WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// How long a stopping server lets requests in flight finish before it exits.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(2);
