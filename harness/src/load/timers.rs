//! Deadlines of many connections at once, touching only the ones that are due.
//!
//! Each connection keeps its own current deadline; this heap holds at most one entry per
//! connection (plus stale ones that are skipped). Arming a later deadline than the entry
//! already queued costs nothing: when the early entry fires, the connection's real deadline is
//! checked and the entry re-armed. A request that completes before its timeout — nearly all
//! of them — so never touches the heap, and a thread with 10,000 connections does work only
//! for connections that have events or due deadlines.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// The pending deadlines of a thread's connections, by connection index.
#[derive(Debug)]
pub struct Deadlines {
    heap: BinaryHeap<Reverse<(Instant, usize)>>,
    /// Per connection: the instant of its live heap entry, if it has one.
    armed: Vec<Option<Instant>>,
}

impl Deadlines {
    /// Deadlines for `connections` connections, none armed.
    pub fn new(connections: usize) -> Deadlines {
        Deadlines { heap: BinaryHeap::with_capacity(connections), armed: vec![None; connections] }
    }

    /// Makes sure connection `conn` is looked at no later than `deadline`.
    pub fn arm(&mut self, conn: usize, deadline: Instant) {
        match self.armed[conn] {
            // An entry at or before `deadline` is queued; it re-arms when it fires.
            Some(at) if at <= deadline => {}
            _ => {
                self.armed[conn] = Some(deadline);
                self.heap.push(Reverse((deadline, conn)));
            }
        }
    }

    /// The earliest queued instant.
    pub fn earliest(&mut self) -> Option<Instant> {
        self.skip_stale();
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Moves the connections whose entries are due at `now` into `due`. Their own deadlines
    /// may be later (re-arm them) or gone (ignore them).
    pub fn pop_due(&mut self, now: Instant, due: &mut Vec<usize>) {
        loop {
            self.skip_stale();
            match self.heap.peek() {
                Some(Reverse((at, conn))) if *at <= now => {
                    let conn = *conn;
                    self.heap.pop();
                    self.armed[conn] = None;
                    due.push(conn);
                }
                _ => return,
            }
        }
    }

    /// Drops entries replaced by earlier ones.
    fn skip_stale(&mut self) {
        while let Some(Reverse((at, conn))) = self.heap.peek() {
            if self.armed[*conn] == Some(*at) {
                return;
            }
            self.heap.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn fires_in_order_and_once_per_connection() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut deadlines = Deadlines::new(3);
        deadlines.arm(0, ms(30));
        deadlines.arm(1, ms(10));
        deadlines.arm(2, ms(20));
        // A later deadline for a connection already armed earlier adds nothing.
        deadlines.arm(1, ms(50));
        // An earlier one replaces the queued entry.
        deadlines.arm(0, ms(5));
        assert_eq!(deadlines.earliest(), Some(ms(5)));
        let mut due = Vec::new();
        deadlines.pop_due(ms(15), &mut due);
        assert_eq!(due, [0, 1]);
        due.clear();
        deadlines.pop_due(ms(100), &mut due);
        assert_eq!(due, [2], "the stale 30 ms entry of connection 0 is skipped");
        assert_eq!(deadlines.earliest(), None);
    }

    #[test]
    fn heap_stays_bounded_by_connections() {
        let t0 = Instant::now();
        let mut deadlines = Deadlines::new(2);
        for i in 0..10_000u64 {
            deadlines.arm((i % 2) as usize, t0 + Duration::from_secs(10) + Duration::from_micros(i));
        }
        assert_eq!(deadlines.heap.len(), 2);
    }
}
