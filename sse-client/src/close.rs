use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Context;

use futures_util::task::AtomicWaker;

/// Closes an [`EventSource`](crate::EventSource) from another task, like
/// [`EventSource::close`](crate::EventSource::close): the source's stream
/// ends at once, a pending `next().await` included, dropping the connection.
#[derive(Debug, Clone)]
pub struct CloseHandle {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
pub(crate) struct Shared {
    closed: AtomicBool,
    waker: AtomicWaker,
}

impl CloseHandle {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        CloseHandle { shared }
    }

    /// Closes the source; calling it again does nothing.
    pub fn close(&self) {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.waker.wake();
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }
}

impl Shared {
    /// Registers the task to wake on close and tells whether it happened.
    pub(crate) fn poll_closed(&self, cx: &mut Context<'_>) -> bool {
        self.waker.register(cx.waker());
        self.closed.load(Ordering::Acquire)
    }
}
