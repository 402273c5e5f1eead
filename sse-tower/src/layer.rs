//! The [`SseLayer`].

use tower_layer::Layer;

use crate::config::{SseConfig, delegate_config_builders};
use crate::service::SseService;

/// Serves the stream of [`Event`](ssekit_core::Event)s (or
/// `Result<Event, E>`s) a service answers with as an event stream
/// response, `Response<SseBody<St>>`, and gives the service the request's
/// [`LastEventId`](crate::LastEventId). Configured as [`SseConfig`] says,
/// with the same builder methods.
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response};
/// use ssekit_core::Event;
/// use ssekit_tower::SseLayer;
/// use tower::{ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let service = ServiceBuilder::new().layer(SseLayer::new()).service_fn(|_: Request<()>| async {
///     Ok::<_, Infallible>(Response::new(futures_util::stream::iter([Event::data("hi")])))
/// });
/// let response = service.oneshot(Request::new(())).await.unwrap();
/// assert_eq!(response.headers()["content-type"], "text/event-stream");
/// # }
/// ```
#[derive(Clone, Debug, Default)]
pub struct SseLayer {
    config: SseConfig,
}

impl SseLayer {
    /// A layer with the default [`SseConfig`].
    pub fn new() -> Self {
        Self::default()
    }

    /// A layer with `config`.
    pub fn with_config(config: SseConfig) -> Self {
        SseLayer { config }
    }

    delegate_config_builders!();

    /// Sets the longest `Last-Event-ID` value parsed; see
    /// [`SseConfig::max_last_event_id_len`].
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
