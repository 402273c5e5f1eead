//! Telling a client disconnect from a normal end, and reporting how each
//! stream ended.

use std::fmt;
use std::sync::Arc;

use crate::telemetry::{self, EndReason};

/// Counts its stream open from its creation, and reports how it ended;
/// calls the `on_disconnect` hook when dropped while still armed.
///
/// A body holds it as its last field, so it is dropped after the inner
/// stream: the hook observes a stream that is already gone. The body ends
/// it when it ends by itself (end of stream, error, panic, shutdown), which
/// disarms the hook; dropped unended, the stream ended by disconnect.
pub(crate) struct DisconnectGuard {
    hook: Option<Arc<dyn Fn() + Send + Sync>>,
    // Whether the stream is counted open: until it ends or is taken back.
    open: bool,
}

impl DisconnectGuard {
    /// The guard of a stream that opens now.
    pub(crate) fn new(hook: Option<Arc<dyn Fn() + Send + Sync>>) -> Self {
        telemetry::stream_opened();
        DisconnectGuard { hook, open: true }
    }

    /// The guard of a body without a stream: reports nothing.
    pub(crate) fn idle() -> Self {
        DisconnectGuard {
            hook: None,
            open: false,
        }
    }

    /// The stream ended by itself, for `reason`.
    pub(crate) fn end(&mut self, reason: EndReason) {
        self.hook = None;
        if std::mem::take(&mut self.open) {
            telemetry::stream_closed(reason);
        }
    }

    /// The stream was taken back: not a disconnect, nor an end.
    pub(crate) fn release(&mut self) {
        self.hook = None;
        if std::mem::take(&mut self.open) {
            telemetry::stream_released();
        }
    }
}

impl Drop for DisconnectGuard {
    fn drop(&mut self) {
        if std::mem::take(&mut self.open) {
            telemetry::stream_closed(EndReason::Disconnect);
        }
        if let Some(hook) = self.hook.take() {
            hook();
        }
    }
}

impl fmt::Debug for DisconnectGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DisconnectGuard")
            .field("armed", &self.hook.is_some())
            .field("open", &self.open)
            .finish()
    }
}
