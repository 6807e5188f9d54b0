//! `/offload` on monoio: the shared helper thread ([`server_common::offload`]), one per runtime
//! thread, whose eventfd a task of the runtime reads through monoio's own io_uring.
//!
//! Not monoio's `spawn_blocking`: it needs the `sync` feature, and `sync` changes the I/O path
//! every request takes. With it, each time the runtime parks it drains a cross-thread waker
//! channel twice and flips an atomic "awake" flag around the wait, and it keeps an eventfd read
//! in its ring for wake-ups from other threads, so `/` would cost more than it does today
//! and the variant would no longer be the monoio the rest of the matrix measured. A
//! runtime-local waker is all the helper needs: the reader task runs on the runtime's thread.
//!
//! Everything here is per thread (monoio's runtimes are thread-local) and set up at the first
//! `/offload`, so a server never asked to offload runs no helper thread and no reader task.

use std::cell::RefCell;
use std::fs::File;
use std::future::poll_fn;
use std::io;
use std::rc::Rc;
use std::task::{Poll, Waker};

use server_common::offload::{Helper, WakeRead};
use slab::Slab;

/// Runs `work::compute(iterations)` on this thread's helper and waits for it.
pub async fn run(iterations: u64) -> io::Result<()> {
    let offloads = offloads()?;
    let key = {
        let mut state = offloads.borrow_mut();
        let key = state.waiting.insert(Waiting::Running(None));
        if let Err(err) = state.helper.submit(key, iterations) {
            state.waiting.remove(key);
            return Err(err);
        }
        key
    };
    // A connection's task is never dropped while it waits here (nothing races this await),
    // so its entry always comes back out.
    poll_fn(|cx| {
        let mut state = offloads.borrow_mut();
        match &mut state.waiting[key] {
            Waiting::Done => {
                state.waiting.remove(key);
                Poll::Ready(Ok(()))
            }
            Waiting::Running(waker) => {
                *waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    })
    .await
}

/// This thread's helper and the connections waiting on it.
struct Offloads {
    helper: Helper<usize>,
    waiting: Slab<Waiting>,
}

/// Where one offloaded computation is.
enum Waiting {
    /// On the helper; the waker of the task waiting for it, once it has polled.
    Running(Option<Waker>),
    /// Finished: the waiting task takes it out.
    Done,
}

thread_local! {
    static OFFLOADS: RefCell<Option<Rc<RefCell<Offloads>>>> = const { RefCell::new(None) };
}

/// This thread's offloads, set up (helper, reader task) on first use.
fn offloads() -> io::Result<Rc<RefCell<Offloads>>> {
    OFFLOADS.with(|cell| {
        if let Some(offloads) = cell.borrow().as_ref() {
            return Ok(offloads.clone());
        }
        let helper = Helper::new(WakeRead::Ring)?;
        // A file of its own for the reader, so monoio may own (and close) it.
        let wake = File::from(helper.wake_fd().try_clone_to_owned()?);
        let offloads = Rc::new(RefCell::new(Offloads { helper, waiting: Slab::new() }));
        monoio::spawn(read_wakes(monoio::fs::File::from_std(wake)?, offloads.clone()));
        *cell.borrow_mut() = Some(offloads.clone());
        Ok(offloads)
    })
}

/// Reads the helper's eventfd on the ring, forever, waking the tasks whose computation is done.
async fn read_wakes(wake: monoio::fs::File, offloads: Rc<RefCell<Offloads>>) {
    let mut counter = vec![0u8; size_of::<u64>()];
    let mut finished = Vec::new();
    let mut wakers = Vec::new();
    loop {
        let (result, buf) = wake.read_at(counter, 0).await;
        counter = buf;
        if result.is_err() {
            // An eventfd read fails only if its descriptor is gone, which it is not while this
            // thread lives: wait a little, rather than spin, and read again.
            monoio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        {
            let mut state = offloads.borrow_mut();
            state.helper.take_finished(&mut finished);
            for key in finished.drain(..) {
                if let Some(entry) = state.waiting.get_mut(key) {
                    if let Waiting::Running(Some(waker)) = std::mem::replace(entry, Waiting::Done) {
                        wakers.push(waker);
                    }
                }
            }
        }
        wakers.drain(..).for_each(Waker::wake);
    }
}
