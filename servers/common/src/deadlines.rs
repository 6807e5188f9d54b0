//! The deadline heap of the loops that keep their own timers (the floors, and the harness's
//! load threads): one min-heap per worker, and a per-connection [`Deadline`] that keeps the
//! request path off it.
//!
//! [`Timers`] is a min-heap of `(instant, ticket, key)` entries. Entries are never removed
//! when they stop mattering (a connection closes, or its deadline moves): each [`Deadline`]
//! remembers the ticket of its one live entry, and an entry whose ticket no longer matches
//! is dropped when it reaches the top. That is lazy invalidation; [`Timers::compact`] bounds
//! the dead entries it leaves behind, so a connection-per-request storm cannot grow the heap
//! beyond twice the open connections (plus a slack). Tickets are never reused, so a key
//! reused by a later connection (a slab index) never inherits an old entry.
//!
//! A keep-alive connection moves its deadline on every request (the idle timeout restarts),
//! almost always to a later instant. [`Deadline::set`] then only stores the instant: the
//! queued entry, due earlier, stays, and when it fires [`Deadline::fired`] finds the
//! deadline not yet reached and queues it again at its real instant. So a busy connection
//! touches the heap about once per timeout, not once per request; only a deadline that moves
//! earlier (a `/sleep`, a drain) is queued at once.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// Identifies one queued entry: issued once per push, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ticket(u64);

/// Dead entries tolerated beyond twice the live ones before [`Timers::compact`] rebuilds the
/// heap: compaction is O(heap), so it must not run for a handful of connections.
const COMPACT_SLACK: usize = 1024;

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Entry<K> {
    at: Instant,
    ticket: Ticket,
    key: K,
}

/// Instants at which a worker must look at a connection (or its listener), named by `K`,
/// again.
#[derive(Debug)]
pub struct Timers<K> {
    heap: BinaryHeap<Reverse<Entry<K>>>,
    /// Tickets issued so far; the next one is this number.
    issued: u64,
}

impl<K: Ord> Default for Timers<K> {
    fn default() -> Timers<K> {
        Timers { heap: BinaryHeap::new(), issued: 0 }
    }
}

impl<K: Ord + Copy> Timers<K> {
    /// Queues a wake-up for `key` at `at`.
    pub fn push(&mut self, at: Instant, key: K) -> Ticket {
        let ticket = Ticket(self.issued);
        self.issued += 1;
        self.heap.push(Reverse(Entry { at, ticket, key }));
        ticket
    }

    /// Removes and returns the earliest entry due by `now`, live or not: its owner decides.
    pub fn pop_due(&mut self, now: Instant) -> Option<(K, Ticket)> {
        match self.heap.peek() {
            Some(Reverse(entry)) if entry.at <= now => {
                self.heap.pop().map(|Reverse(entry)| (entry.key, entry.ticket))
            }
            _ => None,
        }
    }

    /// The earliest entry's instant: the worker must look again by then (the entry may turn
    /// out dead; waking for it costs one loop turn).
    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(entry)| entry.at)
    }

    /// The `epoll_wait` timeout until the earliest entry: -1 (none), or whole milliseconds
    /// rounded up. Rounding down would wake the loop just before the instant with nothing due,
    /// and it would spin with timeout 0 until it passed.
    pub fn timeout_ms(&self, now: Instant) -> i32 {
        let Some(Reverse(entry)) = self.heap.peek() else { return -1 };
        let nanos = entry.at.saturating_duration_since(now).as_nanos();
        i32::try_from(nanos.div_ceil(1_000_000)).unwrap_or(i32::MAX)
    }

    /// Entries queued, live or dead.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Drops the dead entries if they outnumber the `owners` live ones (at most one each) by
    /// far; `live(key, ticket)` says whether an entry still matters. Run after every turn, it
    /// keeps the heap within twice the connections (plus a slack) whatever the churn, at an
    /// amortized O(1) per push.
    pub fn compact(&mut self, owners: usize, mut live: impl FnMut(K, Ticket) -> bool) {
        if self.heap.len() > 2 * owners + COMPACT_SLACK {
            self.heap.retain(|Reverse(entry)| live(entry.key, entry.ticket));
        }
    }
}

/// One connection's deadline, queued lazily: whenever it is set, [`Timers`] holds one live
/// entry for it, due no later than the deadline.
#[derive(Debug, Clone)]
pub struct Deadline {
    at: Instant,
    /// The live entry: when it is due, and its ticket.
    queued: Option<(Instant, Ticket)>,
}

impl Deadline {
    /// A deadline at `at`, not queued until [`Deadline::set`].
    pub fn new(at: Instant) -> Deadline {
        Deadline { at, queued: None }
    }

    /// Moves the deadline to `at`, for the connection `key`. Queues an entry only if the
    /// live one is due after `at` (or there is none).
    pub fn set<K: Ord + Copy>(&mut self, at: Instant, key: K, timers: &mut Timers<K>) {
        self.at = at;
        if self.queued.is_none_or(|(queued_at, _)| queued_at > at) {
            self.queued = Some((at, timers.push(at, key)));
        }
    }

    /// The deadline no longer matters (the connection closes): its entry is dead from now on,
    /// and [`Timers::compact`] may drop it.
    pub fn clear(&mut self) {
        self.queued = None;
    }

    /// Whether `ticket` is this deadline's live entry.
    pub fn holds(&self, ticket: Ticket) -> bool {
        self.queued.is_some_and(|(_, live)| live == ticket)
    }

    /// An entry with `ticket` came due at `now`: whether the deadline has passed. An entry
    /// that is not the live one is ignored; the live one, come due before a deadline that
    /// has since moved later, is queued again at the deadline.
    pub fn fired<K: Ord + Copy>(
        &mut self,
        ticket: Ticket,
        now: Instant,
        key: K,
        timers: &mut Timers<K>,
    ) -> bool {
        if !self.holds(ticket) {
            return false;
        }
        if self.at <= now {
            self.queued = None;
            return true;
        }
        self.queued = Some((self.at, timers.push(self.at, key)));
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn pops_due_entries_earliest_first() {
        let start = Instant::now();
        let mut timers = Timers::default();
        let late = timers.push(start + ms(30), 3);
        let early = timers.push(start + ms(10), 1);
        timers.push(start + ms(50), 5);
        assert_eq!(timers.pop_due(start), None);
        assert_eq!(timers.pop_due(start + ms(30)), Some((1, early)));
        assert_eq!(timers.pop_due(start + ms(30)), Some((3, late)));
        assert_eq!(timers.pop_due(start + ms(30)), None);
        assert_eq!(timers.len(), 1);
    }

    #[test]
    fn timeout_rounds_up_to_whole_milliseconds() {
        let start = Instant::now();
        let mut timers = Timers::default();
        assert_eq!(timers.timeout_ms(start), -1, "nothing queued: wait for events only");
        timers.push(start + Duration::from_micros(200_001), 0);
        assert_eq!(timers.timeout_ms(start), 201);
        timers.push(start + Duration::from_micros(1), 0);
        assert_eq!(timers.timeout_ms(start), 1, "never 0 before the instant: that would spin");
        assert_eq!(timers.timeout_ms(start + ms(1)), 0, "due: do not wait");
        let mut far = Timers::default();
        far.push(start + Duration::from_secs(30 * 24 * 3600), 0);
        assert_eq!(far.timeout_ms(start), i32::MAX, "beyond what epoll_wait takes: clamped");
    }

    #[test]
    fn a_deadline_moving_later_stays_off_the_heap_until_its_entry_fires() {
        let start = Instant::now();
        let mut timers = Timers::default();
        let mut deadline = Deadline::new(start);
        deadline.set(start + ms(100), 4, &mut timers);
        for request in 1..=1000 {
            deadline.set(start + ms(100 + request), 4, &mut timers);
        }
        assert_eq!(timers.len(), 1, "one entry for a thousand moves");
        // The entry fires at 100 ms; the deadline is at 1100 ms: queued again, not due.
        let (key, ticket) = timers.pop_due(start + ms(100)).unwrap();
        assert_eq!(key, 4);
        assert!(!deadline.fired(ticket, start + ms(100), key, &mut timers));
        assert_eq!(timers.timeout_ms(start + ms(100)), 1000);
        let (key, ticket) = timers.pop_due(start + ms(1100)).unwrap();
        assert!(deadline.fired(ticket, start + ms(1100), key, &mut timers));
        assert!(!deadline.holds(ticket), "fired once");
    }

    #[test]
    fn a_deadline_moving_earlier_is_queued_at_once_and_supersedes_the_old_entry() {
        let start = Instant::now();
        let mut timers = Timers::default();
        let mut deadline = Deadline::new(start);
        deadline.set(start + ms(5000), 2, &mut timers);
        deadline.set(start + ms(200), 2, &mut timers);
        assert_eq!(timers.timeout_ms(start), 200);
        let (key, ticket) = timers.pop_due(start + ms(200)).unwrap();
        assert!(deadline.fired(ticket, start + ms(200), key, &mut timers));
        // The first entry is dead: it fires nothing.
        let (key, stale) = timers.pop_due(start + ms(5000)).unwrap();
        assert!(!deadline.fired(stale, start + ms(5000), key, &mut timers));
        assert_eq!(timers.len(), 0);
    }

    #[test]
    fn compaction_drops_dead_entries_only_when_they_pile_up() {
        let start = Instant::now();
        let mut timers = Timers::default();
        let mut deadlines: Vec<Deadline> = (0..3).map(|_| Deadline::new(start)).collect();
        for (key, deadline) in deadlines.iter_mut().enumerate() {
            deadline.set(start + ms(10), key, &mut timers);
        }
        // Connections that came and went, leaving their entries behind.
        for key in 3..3 + COMPACT_SLACK {
            timers.push(start + ms(10), key);
        }
        let live =
            |deadlines: &[Deadline], key: usize, ticket| deadlines.get(key).is_some_and(|d| d.holds(ticket));
        timers.compact(deadlines.len(), |key, ticket| live(&deadlines, key, ticket));
        assert_eq!(timers.len(), 3 + COMPACT_SLACK, "within the slack: left alone");
        for key in 0..10 {
            timers.push(start + ms(10), 100 + key);
        }
        timers.compact(deadlines.len(), |key, ticket| live(&deadlines, key, ticket));
        assert_eq!(timers.len(), 3, "only the live entries remain");
        let mut fired = 0;
        while let Some((key, ticket)) = timers.pop_due(start + ms(10)) {
            fired += usize::from(deadlines[key].fired(ticket, start + ms(10), key, &mut timers));
        }
        assert_eq!(fired, 3);
    }

    #[test]
    fn a_cleared_deadline_never_fires_and_its_entry_is_compacted() {
        let start = Instant::now();
        let mut timers = Timers::default();
        let mut deadlines: Vec<Deadline> = (0..COMPACT_SLACK + 10).map(|_| Deadline::new(start)).collect();
        for (key, deadline) in deadlines.iter_mut().enumerate() {
            deadline.set(start + ms(10), key, &mut timers);
        }
        // Every connection but the first closes.
        for deadline in &mut deadlines[1..] {
            deadline.clear();
        }
        timers.compact(1, |key, ticket| deadlines[key].holds(ticket));
        assert_eq!(timers.len(), 1, "only the open connection's entry is left");
        let (key, ticket) = timers.pop_due(start + ms(10)).unwrap();
        assert_eq!(key, 0);
        assert!(deadlines[0].fired(ticket, start + ms(10), key, &mut timers));
    }
}
