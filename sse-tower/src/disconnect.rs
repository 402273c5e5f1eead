//! Telling a client disconnect from a normal end.

use std::fmt;
use std::sync::Arc;

/// Calls the `on_disconnect` hook when dropped while still armed.
///
/// A body holds it as its last field, so it is dropped after the inner
/// stream: the hook observes a stream that is already gone. The body disarms
/// it when it ends by itself (end of stream, error, shutdown).
pub(crate) struct DisconnectGuard {
    hook: Option<Arc<dyn Fn() + Send + Sync>>,
}

impl DisconnectGuard {
    pub(crate) fn new(hook: Option<Arc<dyn Fn() + Send + Sync>>) -> Self {
        DisconnectGuard { hook }
    }

    pub(crate) fn disarm(&mut self) {
        self.hook = None;
    }
}

impl Drop for DisconnectGuard {
    fn drop(&mut self) {
        if let Some(hook) = self.hook.take() {
            hook();
        }
    }
}

impl fmt::Debug for DisconnectGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DisconnectGuard")
            .field("armed", &self.hook.is_some())
            .finish()
    }
}
