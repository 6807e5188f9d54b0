//! A global allocator that counts the allocations made on each thread, shared by
//! `tests/allocations.rs` and `benches/connection.rs` (through `#[path]`).
//!
//! Counts are per thread so that the test harness's other threads, and other tests running
//! beside one, never show up in a measurement: read [`Tally::now`] before and after the code
//! under test, on the same thread, and subtract.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;

/// Allocations (and reallocations, which may move a block) and the bytes they asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub allocations: u64,
    pub bytes: u64,
}

impl Tally {
    /// What this thread has allocated so far.
    pub fn now() -> Tally {
        Tally { allocations: ALLOCATIONS.get(), bytes: BYTES.get() }
    }

    /// What was allocated between `earlier` and `self`.
    pub fn since(self, earlier: Tally) -> Tally {
        Tally { allocations: self.allocations - earlier.allocations, bytes: self.bytes - earlier.bytes }
    }
}

thread_local! {
    // `const` and `Cell<u64>`: no lazy initialisation and no destructor, so reading them
    // from inside the allocator can neither allocate nor recurse.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    static BYTES: Cell<u64> = const { Cell::new(0) };
}

fn count(size: usize) {
    // `try_with`: a thread being torn down may still free memory; it just is not counted.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    let _ = BYTES.try_with(|n| n.set(n.get() + size as u64));
}

/// Counts every allocation, then hands it to the wrapped allocator.
pub struct Counting<A>(pub A);

// SAFETY: every method forwards its arguments unchanged to the wrapped allocator, which upholds
// the `GlobalAlloc` contract; counting touches only thread-local cells and never allocates.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Counting<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: the caller's guarantees for `alloc` are passed on unchanged.
        unsafe { self.0.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: the caller's guarantees for `alloc_zeroed` are passed on unchanged.
        unsafe { self.0.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        // SAFETY: the caller's guarantees for `realloc` are passed on unchanged.
        unsafe { self.0.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's guarantees for `dealloc` are passed on unchanged.
        unsafe { self.0.dealloc(ptr, layout) }
    }
}
