//! The machine's own floor: what the machine costs before any runtime does, so a report can
//! say how much of a figure is the machine — CPUs that sleep between requests, a loopback round
//! trip between two pinned threads, TCP's own trouble (a listen queue that overflowed, SYNs
//! retransmitted a second later).
//!
//! # Layout
//! - [`idle`]: the CPU sleep policy (`cpu_idle`) and keeping CPUs awake.
//! - [`calibrate`]: the loopback ping-pong floor, stored as `calibration` in `results.json`.
//! - [`tcp`]: the kernel's TCP counters around a run.
//! - [`sockets`]: the kernel's memory for TCP sockets, which RSS does not show.

pub mod calibrate;
pub mod idle;
pub mod sockets;
pub mod tcp;
