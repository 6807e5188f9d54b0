//! One worker: a thread with its own `SO_REUSEPORT` listener, epoll instance, slab of
//! connections and timer heap, sharing nothing with the other workers.
//!
//! Each turn of the loop:
//! 1. waits in `epoll_wait`, at most until the earliest timer entry (not at all if a
//!    connection is waiting for its next turn);
//! 2. handles the events: the listener's by accepting, a connection's by recording its
//!    readiness and driving it;
//! 3. drives again the connections (and the listener) that used up their budget last turn;
//! 4. handles the timer entries that came due: sleeps end, deadlines close connections.

use std::collections::VecDeque;
use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::time::Instant;

use server_common::{after_accept_error, AfterAcceptError};
use server_spec::limits::READ_BUFFER;
use server_spec::Config;
use slab::Slab;

use crate::epoll::{self, Epoll, Event, Events, CONNECTION, LISTEN};
use crate::slot::{Drive, Fired, Slot};
use crate::timers::{Ticket, Timers};

/// The listener's token, in events, timer entries and the run-again queue; connections use
/// their slab key, which never gets this large.
const LISTENER: usize = usize::MAX;

/// Events taken per `epoll_wait`. More are simply left for the next call; 256 makes the call
/// rare relative to the work under load.
const EVENTS: usize = 256;

/// Connections accepted per turn before the others are served; the rest wait in the backlog
/// for the next turn, so a connection storm cannot stall the connections already open.
const ACCEPT_BUDGET: usize = 64;

/// One worker's loop and everything it owns.
pub struct Worker {
    epoll: Epoll,
    events: Events,
    /// `None` once the server stops accepting.
    listener: Option<TcpListener>,
    /// While accepting backs off after an error (out of descriptors, say), the timer entry
    /// that resumes it; listener readiness is ignored meanwhile.
    backoff: Option<Ticket>,
    config: Config,
    slots: Slab<Slot>,
    timers: Timers,
    /// Tokens that used up their budget with readiness left over: no new edge will come
    /// for that readiness, so they are driven again next turn.
    again: VecDeque<usize>,
    /// Every read lands here first, and the connection keeps only what it needs: an idle
    /// connection holds no read buffer.
    scratch: Box<[u8]>,
}

impl Worker {
    /// A worker serving `listener`, its connections configured by `config`.
    pub fn new(listener: TcpListener, config: Config) -> io::Result<Worker> {
        listener.set_nonblocking(true)?;
        let epoll = Epoll::new()?;
        epoll.add(listener.as_fd(), LISTENER as u64, LISTEN)?;
        Ok(Worker {
            epoll,
            events: Events::with_capacity(EVENTS),
            listener: Some(listener),
            backoff: None,
            config,
            slots: Slab::new(),
            timers: Timers::default(),
            again: VecDeque::new(),
            scratch: vec![0; READ_BUFFER].into(),
        })
    }

    /// Serves until `epoll_wait` fails, which it does not in practice.
    pub fn run(mut self) -> io::Result<()> {
        loop {
            self.turn()?;
        }
    }

    fn turn(&mut self) -> io::Result<()> {
        let timeout = if self.again.is_empty() { self.timers.timeout_ms(Instant::now()) } else { 0 };
        let count = self.epoll.wait(&mut self.events, timeout)?;
        // One clock read per turn: every deadline set in it counts from here.
        let now = Instant::now();
        for index in 0..count {
            let event = self.events.get(index);
            self.on_event(event, now);
        }
        for _ in 0..self.again.len() {
            match self.again.pop_front() {
                Some(LISTENER) => self.accept(now),
                Some(key) => self.drive(key, now),
                None => break,
            }
        }
        self.expire(now);
        let (slots, backoff) = (&self.slots, self.backoff);
        self.timers.compact(slots.len() + 1, |key, ticket| match key {
            LISTENER => backoff == Some(ticket),
            key => slots.get(key).is_some_and(|slot| slot.holds(ticket)),
        });
        Ok(())
    }

    fn on_event(&mut self, event: Event, now: Instant) {
        // Tokens are slab keys or LISTENER, so this round-trips.
        match event.token as usize {
            LISTENER => self.accept(now),
            key => {
                if self.slots.get_mut(key).is_some_and(|slot| slot.ready(event.flags)) {
                    self.drive(key, now);
                }
            }
        }
    }

    fn drive(&mut self, key: usize, now: Instant) {
        // A key queued to run again may have closed since: nothing to do then. (If a new
        // connection reuses the key, a drive it did not need finds nothing to do either.)
        let Some(slot) = self.slots.get_mut(key) else { return };
        match slot.drive(key, now, &mut self.scratch, &mut self.timers) {
            Drive::Park => {}
            Drive::Yield => self.again.push_back(key),
            Drive::Close => {
                self.slots.remove(key);
            }
        }
    }

    /// Accepts pending connections, up to the budget.
    fn accept(&mut self, now: Instant) {
        if self.backoff.is_some() {
            return;
        }
        for _ in 0..ACCEPT_BUDGET {
            let accepted = match &self.listener {
                Some(listener) => epoll::accept(listener),
                None => return,
            };
            match accepted {
                Ok(stream) => self.admit(stream, now),
                // Edge-triggered: the backlog is empty, and a new connection raises a new edge.
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) => match after_accept_error(&err, &self.config.lifecycle) {
                    AfterAcceptError::Stop => return self.stop_accepting(),
                    AfterAcceptError::Retry(pause) if pause.is_zero() => {}
                    AfterAcceptError::Retry(pause) => {
                        // No edge will come for connections left in the backlog: the timer
                        // resumes accepting.
                        self.backoff = Some(self.timers.push(now + pause, LISTENER));
                        return;
                    }
                },
            }
        }
        self.again.push_back(LISTENER);
    }

    /// Registers a new connection and drives it to its first wait.
    fn admit(&mut self, stream: TcpStream, now: Instant) {
        // A socket that refuses an option or a registration is dropped, which closes it: one
        // failed connection, and the server carries on.
        if stream.set_nodelay(true).is_err() {
            return;
        }
        let entry = self.slots.vacant_entry();
        let key = entry.key();
        if self.epoll.add(stream.as_fd(), key as u64, CONNECTION).is_err() {
            return;
        }
        entry.insert(Slot::new(stream, &self.config, now));
        self.drive(key, now);
    }

    /// The server is stopping: the shutdown thread has shut the listener down. Requests in
    /// flight go on; the shutdown thread ends the process.
    fn stop_accepting(&mut self) {
        if let Some(listener) = self.listener.take() {
            // The shutdown thread holds a duplicate of this socket, so closing ours would
            // leave it registered: deregister it first. If that fails, edge-triggering still
            // reports its hang-up once, not in a loop.
            let _ = self.epoll.delete(listener.as_fd());
        }
    }

    /// Handles the timer entries due by `now`.
    fn expire(&mut self, now: Instant) {
        while let Some((key, ticket)) = self.timers.pop_due(now) {
            if key == LISTENER {
                if self.backoff == Some(ticket) {
                    self.backoff = None;
                    self.accept(now);
                }
                continue;
            }
            let Some(slot) = self.slots.get_mut(key) else { continue };
            match slot.fired(ticket, now, key, &mut self.timers) {
                Fired::Nothing => {}
                Fired::Wake => self.drive(key, now),
                Fired::Close => {
                    self.slots.remove(key);
                }
            }
        }
    }
}
