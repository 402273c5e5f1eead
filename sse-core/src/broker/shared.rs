//! What a [`Broker`](super::Broker) and its subscriptions share.

use std::sync::{Arc, OnceLock};

use super::admission::Limits;
use super::backend::Backend;
use super::stats::{Counters, Hooks};
use super::sweep::Sweeper;
use crate::Event;

pub(crate) struct Shared {
    pub(crate) backend: Box<dyn Backend>,
    pub(crate) limits: Arc<Limits>,
    pub(crate) counters: Counters,
    pub(crate) hooks: Hooks,
    /// Set by shutdown: the event every subscription ends with, if any.
    pub(crate) final_event: OnceLock<Option<Event>>,
    /// How many units a subscription may span.
    pub(crate) max_units: usize,
    /// The timer that runs [`Backend::evict_expired`] while this lives.
    pub(crate) sweeper: Sweeper,
}

impl Shared {
    /// Starts the sweep if it is not running and the caller is inside a
    /// Tokio runtime.
    #[inline]
    pub(crate) fn start_sweep(self: &Arc<Self>) {
        self.sweeper.ensure(
            self,
            |shared| &shared.sweeper,
            |shared| shared.backend.evict_expired(),
        );
    }
}
