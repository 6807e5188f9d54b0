//! Child processes the harness starts and answers for: servers, and the launchers of remote
//! servers and remote loads. Each leads a process group of its own, dies with the harness, and
//! is killed exactly once; its last stderr lines are kept to say why it failed.
//!
//! # Layout
//! - [`tied`]: a child process group that dies with the harness, killed exactly once.
//! - [`watchdog`]: the process that kills every such group if the harness itself is killed.
//! - [`stderr_tail`]: a child's last stderr lines, for messages about why it failed.
//! - [`gate`]: a child held before its program runs, until what must see it from its first
//!   instruction is attached.

pub mod gate;
pub mod stderr_tail;
pub mod tied;
pub mod watchdog;
