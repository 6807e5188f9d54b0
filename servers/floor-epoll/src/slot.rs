//! One accepted connection as a worker holds it in its slab: the socket, the spec's state
//! machine, the output being written, what it waits for, and the readiness epoll reported.
//!
//! [`Slot::drive`] runs the [`Connection`] as far as the socket allows without blocking:
//! it finishes the current step's I/O (a read, the rest of a write, a drain), polls for the
//! next step, and stops when the socket has nothing to read, no room to write, or the step
//! is a sleep. Every step sets the connection's [`Deadline`]; what passing it means depends
//! on the step (see [`Slot::fired`]).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use server_spec::limits::{DRAIN_BYTES, DRAIN_TIME, OUTPUT_WINDOW};
use server_spec::{Config, Connection, Step};

use crate::epoll::{HANG_UP, READABLE, WRITABLE};
use crate::timers::{Deadline, Ticket, Timers};

/// Reads and writes one connection may make per drive before the worker moves on to the
/// others; it carries on in the next turn. 16 reads are 64 KiB of input, 16 writes up to
/// 1 MiB of output: enough that a bulk transfer costs few turns, little enough that a 16 MiB
/// download or upload cannot starve the connections beside it. A request and its response
/// take 2.
const IO_BUDGET: u32 = 16;

/// Waits longer than this are cut to it: an `Instant` cannot be moved by every `Duration`,
/// and a year is as good as never for a connection.
const LONGEST_WAIT: Duration = Duration::from_secs(365 * 24 * 3600);

/// What a connection waits for between drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// Nothing: poll the connection for its next step.
    Poll,
    /// Input ([`Step::Read`]). The deadline closes the connection without an answer.
    Input,
    /// Room to write the rest of the output ([`Step::Write`]). The deadline, `timeout` after
    /// the last write that made progress, closes the connection: the client stopped reading.
    Output { timeout: Duration },
    /// The deadline itself ([`Step::Sleep`]); then the connection is polled again.
    Sleep,
    /// The end of input after shutting down writing ([`Step::Close`] with `drain`): read and
    /// drop what the client still sends, `drained` bytes so far, until it closes, or until
    /// [`DRAIN_BYTES`] or the deadline ([`DRAIN_TIME`]) is reached.
    Drain { drained: usize },
}

/// How a drive ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drive {
    /// The connection waits for an event or its deadline.
    Park,
    /// The connection could go on but used its turn's budget: drive it again next turn (no
    /// edge will come for readiness it already has).
    Yield,
    /// The connection is finished or failed: drop the slot, which closes the socket and so
    /// removes it from epoll.
    Close,
}

/// What a due timer entry means for its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fired {
    /// Nothing: the entry was stale, or the deadline had moved later (and is queued again).
    Nothing,
    /// The sleep is over: drive the connection.
    Wake,
    /// The deadline passed while waiting for input, output room or a drain: close.
    Close,
}

/// One connection in a worker's slab.
#[derive(Debug)]
pub struct Slot {
    stream: TcpStream,
    conn: Connection,
    /// Response bytes; `out[written..]` is not written yet. Reused between responses, so a
    /// keep-alive connection allocates it once; dropped when a large body has grown it.
    out: Vec<u8>,
    written: usize,
    wait: Wait,
    deadline: Deadline,
    /// Edge-triggered epoll reports a change of readiness once: these remember it until a
    /// read finds no more input or a write finds no more room.
    readable: bool,
    writable: bool,
    /// The peer closed or reset the connection: reads no longer block (they return the rest,
    /// then 0 or an error), so a short read does not clear `readable`.
    input_ended: bool,
}

impl Slot {
    /// A connection accepted at `accepted`; [`Slot::drive`] it once to get its first step.
    pub fn new(stream: TcpStream, config: &Config, accepted: Instant) -> Slot {
        Slot {
            stream,
            conn: Connection::new(config, accepted),
            out: Vec::new(),
            written: 0,
            wait: Wait::Poll,
            deadline: Deadline::new(accepted),
            readable: false,
            // A new socket's send buffer is empty; epoll's first edge would say so too.
            writable: true,
            input_ended: false,
        }
    }

    /// Records the readiness of an epoll event; returns whether a drive can make progress.
    pub fn ready(&mut self, flags: u32) -> bool {
        self.readable |= flags & READABLE != 0;
        self.writable |= flags & WRITABLE != 0;
        self.input_ended |= flags & HANG_UP != 0;
        match self.wait {
            Wait::Poll => true,
            Wait::Input | Wait::Drain { .. } => self.readable,
            Wait::Output { .. } => self.writable,
            Wait::Sleep => false,
        }
    }

    /// Runs the connection, as the slab's `key`, until it must wait; `scratch` receives reads
    /// (the worker's one read buffer, so an idle connection holds none).
    pub fn drive(&mut self, key: usize, now: Instant, scratch: &mut [u8], timers: &mut Timers) -> Drive {
        let mut budget = IO_BUDGET;
        loop {
            let waiting = match self.wait {
                Wait::Poll => None,
                Wait::Sleep => Some(Drive::Park),
                Wait::Input => self.read_input(scratch, &mut budget),
                Wait::Output { timeout } => self.flush(key, now, timeout, timers, &mut budget),
                Wait::Drain { drained } => Some(self.drain(drained, scratch, &mut budget)),
            };
            if let Some(drive) = waiting {
                return drive;
            }
            if let Some(drive) = self.next_step(key, now, timers) {
                return drive;
            }
        }
    }

    /// Polls the connection and sets up its next wait; `Some` when the drive ends here.
    fn next_step(&mut self, key: usize, now: Instant, timers: &mut Timers) -> Option<Drive> {
        let (wait, deadline) = match self.conn.poll(now, &mut self.out) {
            Step::Write { timeout } => (Wait::Output { timeout }, after(now, timeout)),
            Step::Read { deadline } => (Wait::Input, deadline),
            Step::Sleep(duration) => (Wait::Sleep, after(now, duration)),
            Step::Close { drain: false } => return Some(Drive::Close),
            Step::Close { drain: true } => {
                // The FIN goes out after the response; reading on lets the client read it all
                // instead of meeting a reset for input we never read.
                if self.stream.shutdown(Shutdown::Write).is_err() {
                    return Some(Drive::Close);
                }
                (Wait::Drain { drained: 0 }, after(now, DRAIN_TIME))
            }
        };
        self.wait = wait;
        self.deadline.set(deadline, key, timers);
        None
    }

    /// One read for [`Wait::Input`], handed to the connection; `Some` when the drive ends.
    fn read_input(&mut self, scratch: &mut [u8], budget: &mut u32) -> Option<Drive> {
        if !self.readable {
            return Some(Drive::Park);
        }
        if *budget == 0 {
            return Some(Drive::Yield);
        }
        *budget -= 1;
        match self.read(scratch) {
            Ok(Some(0)) => self.conn.eof(),
            Ok(Some(n)) => self.conn.received(&scratch[..n]),
            Ok(None) => return Some(Drive::Park),
            Err(_) => return Some(Drive::Close),
        }
        self.wait = Wait::Poll;
        None
    }

    /// Writes the rest of the output for [`Wait::Output`]; `Some` when the drive ends first.
    fn flush(
        &mut self,
        key: usize,
        now: Instant,
        timeout: Duration,
        timers: &mut Timers,
        budget: &mut u32,
    ) -> Option<Drive> {
        while self.written < self.out.len() {
            if !self.writable {
                return Some(Drive::Park);
            }
            if *budget == 0 {
                return Some(Drive::Yield);
            }
            *budget -= 1;
            match (&self.stream).write(&self.out[self.written..]) {
                Ok(0) => return Some(Drive::Close),
                Ok(n) => {
                    self.written += n;
                    if self.written < self.out.len() {
                        // A short write filled the send buffer: a new edge comes when room
                        // frees up, so the write that would fail with EAGAIN is skipped. The
                        // write timeout counts from this progress.
                        self.writable = false;
                        self.deadline.set(after(now, timeout), key, timers);
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => self.writable = false,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Some(Drive::Close),
            }
        }
        self.out.clear();
        self.written = 0;
        if self.out.capacity() > 2 * OUTPUT_WINDOW {
            self.out = Vec::new();
        }
        self.wait = Wait::Poll;
        None
    }

    /// Reads and drops input for [`Wait::Drain`].
    fn drain(&mut self, mut drained: usize, scratch: &mut [u8], budget: &mut u32) -> Drive {
        let drive = loop {
            if !self.readable {
                break Drive::Park;
            }
            if *budget == 0 {
                break Drive::Yield;
            }
            *budget -= 1;
            match self.read(scratch) {
                Ok(Some(0)) | Err(_) => return Drive::Close,
                Ok(Some(n)) => drained += n,
                Ok(None) => break Drive::Park,
            }
            if drained >= DRAIN_BYTES {
                return Drive::Close;
            }
        };
        self.wait = Wait::Drain { drained };
        drive
    }

    /// Reads once into `scratch`: `Some(n)` bytes (0 at the end of input), or `None` if there
    /// is nothing to read yet.
    fn read(&mut self, scratch: &mut [u8]) -> io::Result<Option<usize>> {
        loop {
            match (&self.stream).read(scratch) {
                Ok(0) => {
                    self.input_ended = true;
                    return Ok(Some(0));
                }
                Ok(n) => {
                    // A short read emptied the receive queue, and input arriving after it
                    // raises a new edge: the read that would fail with EAGAIN is skipped,
                    // one system call per request saved.
                    if n < scratch.len() && !self.input_ended {
                        self.readable = false;
                    }
                    return Ok(Some(n));
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    self.readable = false;
                    return Ok(None);
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
    }

    /// A timer entry with `ticket` came due at `now`.
    pub fn fired(&mut self, ticket: Ticket, now: Instant, key: usize, timers: &mut Timers) -> Fired {
        if !self.deadline.fired(ticket, now, key, timers) {
            return Fired::Nothing;
        }
        match self.wait {
            Wait::Sleep => {
                self.wait = Wait::Poll;
                Fired::Wake
            }
            Wait::Poll | Wait::Input | Wait::Output { .. } | Wait::Drain { .. } => Fired::Close,
        }
    }

    /// Whether `ticket` is this connection's live timer entry.
    pub fn holds(&self, ticket: Ticket) -> bool {
        self.deadline.holds(ticket)
    }
}

/// `now + wait`, with waits past [`LONGEST_WAIT`] cut to it.
fn after(now: Instant, wait: Duration) -> Instant {
    now + wait.min(LONGEST_WAIT)
}
