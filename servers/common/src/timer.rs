//! Racing a connection's I/O against its timer, for the async variants.
//!
//! A connection keeps one timer per direction for its whole life and moves it to each new
//! deadline with `reset`. Deadlines move later (each request pushes the idle deadline out), and
//! moving a registered timer later is one store: the runtimes' timer wheels re-file it only when
//! the old instant comes. A timer per read or write (`timeout_at`) is an insert and a removal in
//! the wheel for every request.

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::task::Poll;

/// Runs `op` unless `timer` (any runtime's sleep) fires first, which gives `None`. The timer is
/// borrowed, not consumed, so the connection moves it on and races it again.
pub async fn or_timer<F: Future, T: Future<Output = ()>>(op: F, mut timer: Pin<&mut T>) -> Option<F::Output> {
    let mut op = pin!(op);
    poll_fn(|cx| match op.as_mut().poll(cx) {
        Poll::Ready(output) => Poll::Ready(Some(output)),
        Poll::Pending => timer.as_mut().poll(cx).map(|()| None),
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::{Context, Waker};

    /// A future that is ready (with `()`) only once `ready` is set.
    struct Gate(bool);
    impl Future for Gate {
        type Output = ();
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }
    }

    fn poll_once<F: Future>(future: F) -> Poll<F::Output> {
        let mut future = pin!(future);
        future.as_mut().poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn the_operation_wins_unless_the_timer_has_fired() {
        let mut idle = pin!(Gate(false));
        assert_eq!(poll_once(or_timer(async { 7 }, idle.as_mut())), Poll::Ready(Some(7)));
        assert_eq!(poll_once(or_timer(Gate(false), idle.as_mut())), Poll::Pending);
        let mut fired = pin!(Gate(true));
        assert_eq!(poll_once(or_timer(Gate(false), fired.as_mut())), Poll::Ready(None));
        // Both ready: the operation's result is not thrown away.
        assert_eq!(poll_once(or_timer(async { 7 }, fired.as_mut())), Poll::Ready(Some(7)));
    }
}
