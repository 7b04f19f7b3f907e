//! tokio's timers, announced: every deadline set through here is first handed to a hook, which
//! the simulation points at `turmoil::wake_at` so that it can step straight to the next timer
//! instead of one millisecond at a time (see the world's `quiet_step`). Real servers install no
//! hook and get plain tokio timers.
//!
//! Every timer in the crate goes through here (`clippy.toml` refuses tokio's own): a timer the
//! simulation does not hear of would fire late, at the end of a quiet stretch.

use std::cell::Cell;
use std::future::Future;
use std::time::Duration;
use tokio::time::{Instant, Sleep, Timeout};

thread_local! {
    static ANNOUNCE: Cell<Option<fn(Instant)>> = const { Cell::new(None) };
}

/// Hands every deadline set on this thread from now on to `hook`.
pub fn announce_with(hook: fn(Instant)) {
    ANNOUNCE.with(|announce| announce.set(Some(hook)));
}

fn announce(deadline: Instant) {
    if let Some(hook) = ANNOUNCE.with(Cell::get) {
        hook(deadline);
    }
}

/// [`tokio::time::sleep`], announced.
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(Instant::now() + duration)
}

/// [`tokio::time::sleep_until`], announced.
#[allow(clippy::disallowed_methods)]
pub fn sleep_until(deadline: Instant) -> Sleep {
    announce(deadline);
    tokio::time::sleep_until(deadline)
}

/// [`tokio::time::timeout`], announced.
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    timeout_at(Instant::now() + duration, future)
}

/// [`tokio::time::timeout_at`], announced.
#[allow(clippy::disallowed_methods)]
pub fn timeout_at<F: Future>(deadline: Instant, future: F) -> Timeout<F> {
    announce(deadline);
    tokio::time::timeout_at(deadline, future)
}

/// [`tokio::time::Interval`], announcing each tick before waiting for it.
#[derive(Debug)]
pub struct Interval {
    inner: tokio::time::Interval,
    /// The next tick's deadline at the earliest: whatever the missed-tick behaviour, a tick
    /// comes at least a period after the one before.
    next: Instant,
}

/// [`tokio::time::interval`], announced: the first tick completes at once.
#[allow(clippy::disallowed_methods)]
pub fn interval(period: Duration) -> Interval {
    Interval {
        inner: tokio::time::interval(period),
        next: Instant::now(),
    }
}

impl Interval {
    /// [`tokio::time::Interval::tick`], announced.
    pub async fn tick(&mut self) -> Instant {
        announce(self.next);
        let at = self.inner.tick().await;
        self.next = at + self.inner.period();
        at
    }
}
