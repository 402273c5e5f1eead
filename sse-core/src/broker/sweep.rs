//! The broker's own timer: a task that sweeps every interval while the
//! broker lives, started on the broker's first use inside a Tokio runtime
//! (a broker may be built outside one, as in a doctest or a `static`).
//!
//! Generic over what it sweeps, so it imports no sibling: the broker hands
//! it the state to hold weakly and the function to run.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use tokio::sync::oneshot;

/// Not running; started by the next use inside a runtime.
const IDLE: u8 = 0;
const RUNNING: u8 = 1;
/// Disabled (no interval), or the task panicked: never started again.
const OFF: u8 = 2;

/// The timer's state, kept in what it sweeps.
#[derive(Debug)]
pub(crate) struct Sweeper {
    interval: Duration,
    state: AtomicU8,
    /// Dropped with its owner: the task wakes and ends at once rather than
    /// at its next tick.
    stop: Mutex<Option<oneshot::Sender<()>>>,
}

impl Sweeper {
    /// A timer every `interval`; `Duration::ZERO` never starts.
    pub(crate) fn new(interval: Duration) -> Self {
        Sweeper {
            interval,
            state: AtomicU8::new(if interval.is_zero() { OFF } else { IDLE }),
            stop: Mutex::new(None),
        }
    }

    /// Starts the task unless it runs, is off, or the caller is outside a
    /// Tokio runtime. One atomic load when it runs.
    ///
    /// The task holds `owner` weakly, reaches this `Sweeper` through
    /// `sweeper`, and calls `sweep` every interval.
    #[inline]
    pub(crate) fn ensure<T: Send + Sync + 'static>(
        &self,
        owner: &Arc<T>,
        sweeper: fn(&T) -> &Sweeper,
        sweep: fn(&T),
    ) {
        if self.state.load(Ordering::Acquire) == IDLE {
            self.start(owner, sweeper, sweep);
        }
    }

    #[cold]
    fn start<T: Send + Sync + 'static>(
        &self,
        owner: &Arc<T>,
        sweeper: fn(&T) -> &Sweeper,
        sweep: fn(&T),
    ) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self
            .state
            .compare_exchange(IDLE, RUNNING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return;
        }
        let (stop, stopped) = oneshot::channel();
        *self.stop.lock().unwrap_or_else(PoisonError::into_inner) = Some(stop);
        let task = Task {
            owner: Arc::downgrade(owner),
            sweeper,
        };
        runtime.spawn(run(task, self.interval, stopped, sweep));
    }
}

/// What the task holds. Dropped while the owner lives (the runtime shut
/// down, or a sweep panicked), it lets the next use start a new task in
/// the runtime of the moment, after a panic never.
struct Task<T> {
    owner: Weak<T>,
    sweeper: fn(&T) -> &Sweeper,
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        if let Some(owner) = self.owner.upgrade() {
            let next = if std::thread::panicking() { OFF } else { IDLE };
            (self.sweeper)(&owner).state.store(next, Ordering::Release);
        }
    }
}

async fn run<T>(
    task: Task<T>,
    interval: Duration,
    mut stopped: oneshot::Receiver<()>,
    sweep: fn(&T),
) {
    loop {
        // `Ok`: the sender is gone, so is the owner.
        if tokio::time::timeout(interval, &mut stopped).await.is_ok() {
            return;
        }
        // Never held across the wait, so the owner can go meanwhile.
        let Some(owner) = task.owner.upgrade() else {
            return;
        };
        sweep(&owner);
    }
}
