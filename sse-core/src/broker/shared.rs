//! What a [`Broker`](super::Broker) and its subscriptions share.

use std::sync::{Arc, OnceLock};

use super::admission::Limits;
use super::backend::Backend;
use super::stats::{Counters, Hooks};
use crate::Event;

pub(crate) struct Shared {
    pub(crate) backend: Box<dyn Backend>,
    pub(crate) limits: Arc<Limits>,
    pub(crate) counters: Counters,
    pub(crate) hooks: Hooks,
    /// Set by shutdown: the event every subscription ends with, if any.
    pub(crate) final_event: OnceLock<Option<Event>>,
}
