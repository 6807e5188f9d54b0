//! The one response spec every runtime-matrix server serves.
//!
//! This crate is sans-I/O: bytes go in, response bytes and the next step come out. Every
//! server variant drives a [`Connection`] from its own I/O loop and re-implements none of
//! this, so any difference the harness measures comes from the runtime alone. The harness
//! uses the same crate to know what a correct answer is.
//!
//! # Layout
//! - [`limits`]: every size and time limit, with why it has its value.
//! - [`scan`]: finding the end of a head without re-scanning (linear in bytes received).
//! - [`line`]: refusing a request line that cannot be one as soon as its bytes arrive.
//! - [`request`]: parsing a head with `httparse`, plus the checks it leaves to us.
//! - [`routes`]: which answer a method and path get.
//! - [`work`]: the computation behind `/work` and `/offload`, and its calibration.
//! - [`files`]: which names `/files/{name}` may serve (the variant opens and reads them).
//! - [`chunked`]: the strict chunked-body decoder.
//! - [`response`]: the exact response bytes.
//! - [`date`]: the cached `Date` value.
//! - [`connection`]: the state machine tying them together.
//! - [`reference`]: the spec's own answer to a request, for byte-exact comparisons.
//! - [`cli`]: the command line every server shares, and its `listening on` line.
//!
//! # The routes
//! | request | answer |
//! |---|---|
//! | `GET`/`HEAD /` | 200, `Hello, world!\n` |
//! | `GET /bytes/{n}` | 200, n bytes (n ≤ 16 MiB; larger 413, not a number 400) |
//! | `GET /sleep/{ms}` | 200 after ms milliseconds (ms ≤ 10 000, else 400) |
//! | `GET /work/{µs}` | 200, `Hello, world!\n`, after computing about µs on the polling thread (µs ≤ 1 000 000, else 400) |
//! | `GET /offload/{µs}` | the same, the computation run through the runtime's blocking facility ([`Step::Offload`]) |
//! | `POST /`, `POST /echo` | 200, the request body |
//! | `GET`/`HEAD /files/{name}` | 200, the file `name` of the `--files` directory; 404 if none |
//! | unknown path / method not allowed / unknown method | 404 / 405 with `Allow` / 501 |

pub mod chunked;
pub mod cli;
pub mod connection;
pub mod date;
pub mod files;
pub mod limits;
pub mod line;
pub mod reference;
pub mod request;
pub mod response;
pub mod routes;
pub mod scan;
pub mod work;

pub use connection::{Config, Connection, Lifecycle, Step, Timeouts};
pub use response::Status;
