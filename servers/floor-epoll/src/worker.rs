//! One worker: a thread with its own `SO_REUSEPORT` listener, epoll instance, slab of
//! connections and timer heap, sharing nothing with the other workers.
//!
//! Each turn of the loop:
//! 1. waits in `epoll_wait`, at most until the earliest timer entry (not at all if a
//!    connection is waiting for its next turn);
//! 2. handles the events: the listener's by accepting, a connection's by recording its
//!    readiness and driving it;
//! 3. drives again the connections that used up their budget last turn;
//! 4. handles the timer entries that came due: sleeps end, deadlines close connections.
//!
//! `/offload` goes to the worker's helper thread ([`server_common::offload`]), whose eventfd
//! is in the worker's epoll: when it is reported, the connections whose computation is done
//! are driven again.

use std::collections::VecDeque;
use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use server_common::offload::{Helper, WakeRead};
use server_common::{after_accept_error, AfterAcceptError};
use server_spec::limits::READ_BUFFER;
use server_spec::Config;
use slab::Slab;

use crate::epoll::{self, Epoll, Event, Events, CONNECTION, LISTEN, WAKE};
use crate::slot::{Drive, Fired, Slot, Timers};
use server_common::deadlines::Ticket;

/// The listener's token, in events and timer entries; connections use
/// their slab key, which never gets this large.
const LISTENER: usize = usize::MAX;

/// The offload helper's eventfd's token, in events.
const OFFLOAD: usize = usize::MAX - 1;

/// Events taken per `epoll_wait`. More are simply left for the next call; 256 makes the call
/// rare relative to the work under load.
const EVENTS: usize = 256;

/// How soon a listener that could not rejoin epoll after a backoff tries again.
const BACKOFF_RETRY: Duration = Duration::from_millis(100);

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
    /// Runs `/offload` computations, tokens being slab keys. A slot waiting for one is never
    /// closed (it has no deadline, and no readiness drives it), so its key is not reused
    /// before the token comes back.
    offload: Helper<usize>,
    /// The keys the helper gave back this turn; kept to reuse its allocation.
    offloaded: Vec<usize>,
}

impl Worker {
    /// A worker serving `listener`, its connections configured by `config`.
    pub fn new(listener: TcpListener, config: Config) -> io::Result<Worker> {
        listener.set_nonblocking(true)?;
        let epoll = Epoll::new()?;
        epoll.add(listener.as_fd(), LISTENER as u64, LISTEN)?;
        let offload = Helper::new(WakeRead::Syscall)?;
        epoll.add(offload.wake_fd(), OFFLOAD as u64, WAKE)?;
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
            offload,
            offloaded: Vec::new(),
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
            OFFLOAD => self.resume_offloaded(now),
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
            Drive::Offload { iterations } => {
                // No helper thread could start: this connection fails, the server carries on.
                if self.offload.submit(key, iterations).is_err() {
                    self.slots.remove(key);
                }
            }
        }
    }

    /// The helper's eventfd was reported: drives the connections whose computation is done.
    fn resume_offloaded(&mut self, now: Instant) {
        self.offload.clear_wake();
        let mut offloaded = std::mem::take(&mut self.offloaded);
        self.offload.take_finished(&mut offloaded);
        for key in offloaded.drain(..) {
            if self.slots.get_mut(key).is_some_and(Slot::offloaded) {
                self.drive(key, now);
            }
        }
        self.offloaded = offloaded;
    }

    /// Accepts one pending connection. The listener is level-triggered (see [`LISTEN`]): while
    /// more wait, the next turn reports it again, after the connections already open have
    /// had their turn, so a connection storm cannot stall them.
    fn accept(&mut self, now: Instant) {
        if self.backoff.is_some() {
            return;
        }
        let accepted = match &self.listener {
            Some(listener) => epoll::accept(listener),
            None => return,
        };
        match accepted {
            Ok(stream) => self.admit(stream, now),
            // Another worker's listener, or a client that gave up, took it: nothing to do.
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
            Err(err) => match after_accept_error(&err, &self.config.lifecycle) {
                AfterAcceptError::Stop => self.stop_accepting(),
                AfterAcceptError::Retry(pause) if pause.is_zero() => {}
                AfterAcceptError::Retry(pause) => {
                    // Out of descriptors, say. The level-triggered listener would be reported
                    // every turn meanwhile, so it leaves epoll until the timer resumes
                    // accepting.
                    if let Some(listener) = &self.listener {
                        let _ = self.epoll.delete(listener.as_fd());
                    }
                    self.backoff = Some(self.timers.push(now + pause, LISTENER));
                }
            },
        }
    }

    /// Registers a new connection and drives it to its first wait.
    fn admit(&mut self, stream: TcpStream, now: Instant) {
        // A socket that refuses registration is dropped, which closes it: one failed
        // connection, and the server carries on.
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
            // leave it registered: deregister it first. (That cannot fail for a descriptor we
            // registered; if it did, its hang-up would wake each turn until the process ends.)
            let _ = self.epoll.delete(listener.as_fd());
        }
    }

    /// The backoff is over: the listener rejoins epoll, and a connection is accepted now.
    fn resume_accepting(&mut self, now: Instant) {
        let Some(listener) = &self.listener else { return };
        // `EEXIST`: the backoff could not take it out, so it is still in.
        match self.epoll.add(listener.as_fd(), LISTENER as u64, LISTEN) {
            Ok(()) => {}
            Err(err) if err.raw_os_error() == Some(libc::EEXIST) => {}
            // Not in epoll and cannot rejoin: accepting again soon beats never.
            Err(_) => return self.backoff = Some(self.timers.push(now + BACKOFF_RETRY, LISTENER)),
        }
        self.accept(now);
    }

    /// Handles the timer entries due by `now`.
    fn expire(&mut self, now: Instant) {
        while let Some((key, ticket)) = self.timers.pop_due(now) {
            if key == LISTENER {
                if self.backoff == Some(ticket) {
                    self.backoff = None;
                    self.resume_accepting(now);
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
