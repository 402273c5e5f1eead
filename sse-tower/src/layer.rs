//! The [`SseLayer`].

use tower_layer::Layer;

use crate::config::{SseConfig, delegate_config_builders};
use crate::service::SseService;

/// Serves the event stream a service returns as a complete, flushed,
/// keep-alive event stream response, and gives the service the request's
/// [`LastEventId`](crate::LastEventId).
///
/// The inner service returns `Response<St>` where `St` is a `Stream` of
/// [`Event`](ssekit_core::Event)s or `Result<Event, E>`s; the layer's service
/// returns `Response<SseBody<St>>`. See the [crate docs](crate) for an
/// example and for the headers set.
///
/// ```
/// use std::time::Duration;
/// use ssekit_tower::{KeepAlive, SseLayer};
///
/// let layer = SseLayer::new().keep_alive(KeepAlive::new().interval(Duration::from_secs(20)));
/// # let _ = layer;
/// ```
#[derive(Clone, Debug, Default)]
pub struct SseLayer {
    config: SseConfig,
}

impl SseLayer {
    /// A layer with the default [`SseConfig`].
    ///
    /// ```
    /// # use ssekit_tower::SseLayer;
    /// let layer = SseLayer::new();
    /// # let _ = layer;
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// A layer with `config`.
    ///
    /// ```
    /// # use ssekit_tower::{KeepAlive, SseConfig, SseLayer};
    /// let layer = SseLayer::with_config(SseConfig::new().keep_alive(KeepAlive::disabled()));
    /// # let _ = layer;
    /// ```
    pub fn with_config(config: SseConfig) -> Self {
        SseLayer { config }
    }

    delegate_config_builders!();

    /// Sets the longest `Last-Event-ID` value parsed; see
    /// [`SseConfig::max_last_event_id_len`].
    ///
    /// ```
    /// # use ssekit_tower::SseLayer;
    /// let layer = SseLayer::new().max_last_event_id_len(128);
    /// assert_eq!(layer.get_config().get_max_last_event_id_len(), 128);
    /// ```
    pub fn max_last_event_id_len(mut self, max_len: usize) -> Self {
        self.config = self.config.max_last_event_id_len(max_len);
        self
    }
}

impl<S> Layer<S> for SseLayer {
    type Service = SseService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SseService::with_config(inner, self.config.clone())
    }
}
