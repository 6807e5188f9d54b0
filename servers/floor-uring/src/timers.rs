//! Every connection deadline of a worker in one min-heap, with lazy invalidation and lazy
//! extension, so the hot path arms no timer at all.
//!
//! A connection has one [`Deadline`]: when its current wait (for input, for write progress,
//! for the end of a sleep or of a drain) ends. Most changes move it *later* (each request on a
//! keep-alive connection pushes its idle deadline forward), and those only store the new time
//! in the connection: the heap keeps the old, earlier entry, and when that entry comes due the
//! connection is looked at and re-queued at its real deadline. Only a deadline that moves
//! *earlier* than the queued entry (a `/sleep`, a shorter idle wait after a header wait) pushes
//! a new entry; the older one is skipped when it pops. So a connection costs about one heap
//! push per idle-timeout period, not one per request.
//!
//! The worker sleeps in `io_uring_enter` with the earliest entry as the wait's timeout (see
//! `ring.rs`), so the kernel arms a timer only when the thread actually goes to sleep, and no
//! timeout SQE or CQE ever passes through the rings.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// One owner's deadline, as the heap sees it.
#[derive(Debug, Default)]
pub struct Deadline {
    /// When the owner's current wait ends; `None` while it waits for nothing.
    at: Option<Instant>,
    /// The time of the owner's live heap entry, if it has one. Always at or before `at`, so the
    /// heap never wakes the owner late.
    queued: Option<Instant>,
}

impl Deadline {
    /// When the current wait ends.
    pub fn at(&self) -> Option<Instant> {
        self.at
    }
}

/// The heap of (time, owner) entries.
#[derive(Debug)]
pub struct Timers<T> {
    heap: BinaryHeap<Reverse<(Instant, T)>>,
}

impl<T: Ord + Copy> Default for Timers<T> {
    fn default() -> Timers<T> {
        Timers { heap: BinaryHeap::new() }
    }
}

impl<T: Ord + Copy> Timers<T> {
    /// Sets `owner`'s deadline to `at`. Pushes an entry only if `at` is earlier than the one
    /// already queued.
    pub fn set(&mut self, deadline: &mut Deadline, at: Instant, owner: T) {
        deadline.at = Some(at);
        if deadline.queued.is_none_or(|queued| at < queued) {
            deadline.queued = Some(at);
            self.heap.push(Reverse((at, owner)));
        }
    }

    /// The owner waits for nothing any more; its queued entry, if any, is skipped when it pops.
    pub fn clear(&mut self, deadline: &mut Deadline) {
        deadline.at = None;
    }

    /// The earliest queued time: the worker must wake up by then. It may be an entry that
    /// will turn out to be stale; waking for it costs one loop turn.
    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Removes and returns one entry due at `now`: its time and owner. The caller looks the
    /// owner up (it may be gone) and passes its deadline to [`Timers::expired`].
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, T)> {
        match self.heap.peek() {
            Some(Reverse((at, _))) if *at <= now => self.heap.pop().map(|Reverse(entry)| entry),
            _ => None,
        }
    }

    /// Decides what a popped entry, queued at `queued_at`, means for an owner that still
    /// exists: `true` if the owner's deadline has passed (and is now cleared); otherwise the
    /// entry was stale, and the owner is re-queued at its real deadline if it has one.
    pub fn expired(&mut self, deadline: &mut Deadline, queued_at: Instant, now: Instant, owner: T) -> bool {
        if deadline.queued != Some(queued_at) {
            // Superseded by an earlier entry that already popped (or is still queued).
            return false;
        }
        deadline.queued = None;
        match deadline.at {
            Some(at) if at <= now => {
                deadline.at = None;
                true
            }
            Some(at) => {
                self.set(deadline, at, owner);
                false
            }
            None => false,
        }
    }

    /// Entries in the heap, live or stale.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Pops everything due at `now` for owners whose deadlines are in `owners`, returning
    /// which fired.
    fn fire(timers: &mut Timers<usize>, owners: &mut [Deadline], now: Instant) -> Vec<usize> {
        let mut fired = Vec::new();
        while let Some((queued_at, owner)) = timers.pop_due(now) {
            if timers.expired(&mut owners[owner], queued_at, now, owner) {
                fired.push(owner);
            }
        }
        fired
    }

    #[test]
    fn fires_in_deadline_order_and_only_when_due() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        let mut owners: Vec<Deadline> = (0..3).map(|_| Deadline::default()).collect();
        timers.set(&mut owners[0], t0 + ms(30), 0);
        timers.set(&mut owners[1], t0 + ms(10), 1);
        timers.set(&mut owners[2], t0 + ms(20), 2);
        assert_eq!(timers.next(), Some(t0 + ms(10)));
        assert_eq!(fire(&mut timers, &mut owners, t0 + ms(5)), Vec::<usize>::new());
        assert_eq!(fire(&mut timers, &mut owners, t0 + ms(25)), vec![1, 2]);
        assert_eq!(fire(&mut timers, &mut owners, t0 + ms(30)), vec![0]);
        assert_eq!(timers.next(), None);
    }

    #[test]
    fn moving_a_deadline_later_pushes_nothing_and_requeues_once() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        let mut owners = vec![Deadline::default()];
        timers.set(&mut owners[0], t0 + ms(10), 0);
        // A keep-alive connection answering request after request: each pushes its idle
        // deadline later.
        for i in 1..=1000 {
            timers.set(&mut owners[0], t0 + ms(10 + i), 0);
        }
        assert_eq!(timers.len(), 1, "extending a deadline must not grow the heap");
        // The early entry pops, finds the deadline moved, and re-queues it.
        assert_eq!(fire(&mut timers, &mut owners, t0 + ms(10)), Vec::<usize>::new());
        assert_eq!(timers.next(), Some(t0 + ms(1010)));
        assert_eq!(fire(&mut timers, &mut owners, t0 + ms(1010)), vec![0]);
    }

    #[test]
    fn moving_a_deadline_earlier_wins_and_the_old_entry_is_skipped() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        let mut owners = vec![Deadline::default()];
        timers.set(&mut owners[0], t0 + ms(100), 0);
        timers.set(&mut owners[0], t0 + ms(20), 0);
        assert_eq!(timers.next(), Some(t0 + ms(20)));
        assert_eq!(fire(&mut timers, &mut owners, t0 + ms(20)), vec![0]);
        // After firing, a new wait starts; the stale 100 ms entry must not end it early.
        timers.set(&mut owners[0], t0 + ms(500), 0);
        assert_eq!(fire(&mut timers, &mut owners, t0 + ms(100)), Vec::<usize>::new());
        assert_eq!(fire(&mut timers, &mut owners, t0 + ms(499)), Vec::<usize>::new());
        assert_eq!(fire(&mut timers, &mut owners, t0 + ms(500)), vec![0]);
    }

    #[test]
    fn cleared_deadlines_never_fire() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        let mut owners = vec![Deadline::default()];
        timers.set(&mut owners[0], t0 + ms(10), 0);
        timers.clear(&mut owners[0]);
        assert_eq!(fire(&mut timers, &mut owners, t0 + ms(50)), Vec::<usize>::new());
        assert_eq!(timers.next(), None, "the stale entry is gone");
        // And the owner can wait again afterwards.
        timers.set(&mut owners[0], t0 + ms(60), 0);
        assert_eq!(fire(&mut timers, &mut owners, t0 + ms(60)), vec![0]);
    }

    #[test]
    fn a_deadline_already_past_fires_on_the_next_pass() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        let mut owners = vec![Deadline::default()];
        timers.set(&mut owners[0], t0, 0);
        assert_eq!(fire(&mut timers, &mut owners, t0 + ms(1)), vec![0]);
        assert_eq!(owners[0].at(), None, "a fired deadline is cleared");
    }

    #[test]
    fn owners_sharing_a_time_each_fire() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        let mut owners: Vec<Deadline> = (0..4).map(|_| Deadline::default()).collect();
        for (owner, deadline) in owners.iter_mut().enumerate() {
            timers.set(deadline, t0 + ms(5), owner);
        }
        let mut fired = fire(&mut timers, &mut owners, t0 + ms(5));
        fired.sort_unstable();
        assert_eq!(fired, vec![0, 1, 2, 3]);
    }
}
