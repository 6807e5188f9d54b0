//! The provided-buffer ring a worker's multishot recvs read into.
//!
//! The kernel picks a free buffer when data arrives, fills it, and names it in the CQE
//! (`IORING_CQE_F_BUFFER`); the worker copies the bytes into the connection and gives the
//! buffer straight back. So buffers are lent only for the instant between a completion and its
//! handling, and an idle connection holds none: memory is per worker, not per connection.
//!
//! The ring is the kernel's `struct io_uring_buf_ring`: an array of `struct io_uring_buf`
//! entries, page-aligned, whose first entry's last 16 bits are the tail. The application writes
//! entries at the tail and publishes them by storing the tail; the kernel consumes from its
//! own head.
//!
//! Both allocations are leaked on purpose: the kernel may write into a buffer until the ring
//! is torn down, which happens asynchronously after the ring's fd is closed, so no point in the
//! worker's life is provably safe to free them. A worker lives as long as the process.

use std::alloc::{alloc_zeroed, Layout};
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::Submitter;

/// How many buffers a worker lends the kernel. A buffer is out only between a recv
/// completion and its handling in the same loop turn, so this bounds how many recv
/// completions one `io_uring_enter` can produce before recvs fail with `ENOBUFS` (and are
/// re-armed next turn): 512 connections becoming readable at once, or 2 MiB of one upload.
/// A power of two, as the kernel requires.
pub const COUNT: u16 = 512;

/// The kernel's `struct io_uring_buf`. Written through raw pointers, field by field, because
/// entry 0's `resv` field is the ring's tail, which the kernel reads concurrently.
#[repr(C)]
struct Entry {
    addr: u64,
    len: u32,
    bid: u16,
    resv: u16,
}

const _: () = assert!(size_of::<Entry>() == size_of::<io_uring::types::BufRingEntry>());

/// Alignment the kernel requires of the ring, and which keeps buffers on their own pages.
const PAGE: usize = 4096;

/// A registered ring of `COUNT` buffers of `len` bytes each.
#[derive(Debug)]
pub struct BufferRing {
    /// `count` entries; never freed (see the module docs).
    entries: NonNull<Entry>,
    /// `count * len` bytes of buffers; never freed.
    memory: NonNull<u8>,
    len: u32,
    count: u16,
    /// The next tail to publish; the kernel sees entries only once it is stored.
    tail: u16,
    /// The buffer group id recvs name to read from this ring.
    group: u16,
}

impl BufferRing {
    /// Allocates `count` buffers of `len` bytes (count a power of two) and registers them
    /// with the ring as buffer group `group`, all lent to the kernel.
    pub fn register(submitter: &Submitter<'_>, group: u16, count: u16, len: u32) -> io::Result<BufferRing> {
        assert!(count.is_power_of_two(), "the kernel wants a power of two");
        let entries = leak_zeroed(usize::from(count) * size_of::<Entry>())?.cast::<Entry>();
        let memory = leak_zeroed(usize::from(count) * len as usize)?;
        let mut ring = BufferRing { entries, memory, len, count, tail: 0, group };
        // SAFETY: `entries` points at `count` zeroed, page-aligned `io_uring_buf` entries that
        // are never freed, so they outlive the registration however long the kernel keeps it.
        unsafe { submitter.register_buf_ring(entries.as_ptr() as u64, count, group)? };
        for bid in 0..count {
            ring.give_back(bid);
        }
        Ok(ring)
    }

    /// The buffer group id to name in recvs.
    pub fn group(&self) -> u16 {
        self.group
    }

    /// The first `len` bytes of buffer `bid`.
    ///
    /// # Safety
    ///
    /// A completion must have handed `bid` to us (its `IORING_CQE_F_BUFFER` flags), and it
    /// must not have been given back since: only then has the kernel finished writing it and
    /// will not write it again until [`BufferRing::give_back`] returns it to the ring.
    pub unsafe fn get(&self, bid: u16, len: usize) -> &[u8] {
        // The kernel names only buffers it was given, filled no further than their length;
        // were it ever to break that, stopping beats reading outside the allocation.
        assert!(
            bid < self.count && len <= self.len as usize,
            "the kernel named buffer {bid} with {len} bytes"
        );
        let offset = usize::from(bid) * self.len as usize;
        // SAFETY: in bounds (checked above) of the `count * len` bytes allocated; the caller
        // guarantees the kernel is done with this buffer and will not touch it while `&self`
        // is borrowed (giving it back takes `&mut self`).
        unsafe { std::slice::from_raw_parts(self.memory.as_ptr().add(offset), len) }
    }

    /// Gives buffer `bid` back to the kernel, which may fill it from now on.
    pub fn give_back(&mut self, bid: u16) {
        assert!(bid < self.count, "buffer {bid} is not one of the ring's");
        let mask = self.count - 1;
        let slot = usize::from(self.tail & mask);
        let addr = self.memory.as_ptr() as u64 + u64::from(bid) * u64::from(self.len);
        // SAFETY: `slot < count`, so the entry is inside the ring allocation. The kernel reads
        // only entries between its head and the published tail, and this slot is past the
        // published tail (at most `count` buffers are ever out), so nobody reads it now. Each
        // field is written through a raw place, never through a reference to the whole entry,
        // because entry 0's `resv` is the tail the kernel reads concurrently.
        unsafe {
            let entry = self.entries.as_ptr().add(slot);
            (*entry).addr = addr;
            (*entry).len = self.len;
            (*entry).bid = bid;
        }
        self.tail = self.tail.wrapping_add(1);
        // SAFETY: entry 0's `resv` is a u16 inside the ring allocation, suitably aligned (at
        // offset 14 of a page-aligned block); the kernel only ever reads it (smp_load_acquire),
        // and every access from this side is through this atomic.
        let tail = unsafe { AtomicU16::from_ptr(&raw mut (*self.entries.as_ptr()).resv) };
        // Release: the kernel must see the entry written above before the tail that covers it.
        tail.store(self.tail, Ordering::Release);
    }
}

/// `size` zeroed, page-aligned bytes that are never freed.
fn leak_zeroed(size: usize) -> io::Result<NonNull<u8>> {
    let layout = Layout::from_size_align(size.max(1), PAGE).map_err(io::Error::other)?;
    // SAFETY: the layout has a non-zero size.
    let memory = unsafe { alloc_zeroed(layout) };
    NonNull::new(memory).ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))
}
