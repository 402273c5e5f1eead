//! [`SseResponse`]: an event stream as an axum response.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use futures_core::Stream;
use http::request::Parts;
use ssekit_core::broker::{Broker, BrokerError, Subscription};
use ssekit_tower::{Authorize, Refusal, Refused, SseConfig, SseItem};

use crate::LastEventId;

/// An event stream response: any stream of [`Event`](ssekit_core::Event)s or
/// of `Result<Event, E>`, served by [`ssekit_tower::SseResponse`].
///
/// The builder methods are those of [`SseConfig`] (keep-alive, first
/// event, shutdown, error event, coalescing, disconnect hook). The stream
/// must be `Send + 'static`, not `Sync`. See the [crate docs](crate).
///
/// ```
/// use std::time::Duration;
/// use axum::response::IntoResponse;
/// use ssekit_axum::{Event, KeepAlive, SseResponse};
///
/// let events = futures_util::stream::iter([Event::data("hi")]);
/// let response = SseResponse::new(events)
///     .keep_alive(KeepAlive::new().interval(Duration::from_secs(10)))
///     .first_event(Event::retry(Duration::from_secs(2)))
///     .into_response();
/// assert_eq!(response.headers()["content-type"], "text/event-stream");
/// ```
#[derive(Debug)]
#[must_use = "an SseResponse does nothing until it is returned from a handler"]
pub struct SseResponse<S> {
    stream: S,
    config: SseConfig,
}

impl<S> SseResponse<S> {
    /// A response over `stream` with the default [`SseConfig`].
    ///
    /// ```
    /// # use ssekit_axum::{Event, SseResponse};
    /// let response = SseResponse::new(futures_util::stream::iter([Event::data("hi")]));
    /// # let _ = response;
    /// ```
    pub fn new(stream: S) -> Self {
        SseResponse {
            stream,
            config: SseConfig::default(),
        }
    }

    ssekit_tower::__delegate_config_builders!();

    /// The ssekit-tower response this one is made of: `200 OK`, the event
    /// stream headers and an [`SseBody`](ssekit_tower::SseBody).
    ///
    /// ```
    /// # use ssekit_axum::{Event, SseResponse};
    /// let response = SseResponse::new(futures_util::stream::iter([Event::data("hi")]));
    /// let response = response.into_tower().into_response();
    /// assert_eq!(response.headers()["cache-control"], "no-cache, no-transform");
    /// ```
    pub fn into_tower(self) -> ssekit_tower::SseResponse<S> {
        ssekit_tower::SseResponse::new(self.stream).config(self.config)
    }
}

impl<S> From<ssekit_tower::SseResponse<S>> for SseResponse<S> {
    fn from(response: ssekit_tower::SseResponse<S>) -> Self {
        let (stream, config) = response.into_parts();
        SseResponse { stream, config }
    }
}

impl SseResponse<Subscription> {
    /// Serves a broker subscription in one line: subscribes to `topics`
    /// after `last_event_id` through [`ssekit_tower::subscribe`], which replays
    /// what the client missed (or starts with the broker's `event: reset`
    /// notice when the id is no longer in history), then streams live
    /// events. The result takes the usual builder methods.
    ///
    /// An invalid `Last-Event-ID` never gets here: the [`LastEventId`]
    /// extractor answers it with `400`.
    ///
    /// ```
    /// use ssekit_core::broker::Broker;
    /// use ssekit_axum::{LastEventId, SseResponse};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ssekit_core::broker::BrokerError> {
    /// let broker = Broker::new();
    /// let response = SseResponse::subscribe(&broker, &["chat"], &LastEventId::default()).await?;
    /// assert_eq!(broker.stats().subscriptions, 1);
    /// # drop(response);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn subscribe<T>(
        broker: &Broker,
        topics: &[T],
        last_event_id: &LastEventId,
    ) -> Result<Self, BrokerError>
    where
        T: AsRef<str> + Sync,
    {
        let last_event_id = ssekit_tower::LastEventId::from(last_event_id.clone());
        Ok(ssekit_tower::subscribe(broker, topics, &last_event_id)
            .await?
            .into())
    }

    /// Like [`subscribe`](Self::subscribe), after asking `authorize` what
    /// the request may read of `topics` ([`ssekit_tower::subscribe_authorized`]):
    /// refused with `401`/`403` by [`refusal`], or subscribed with the
    /// grant it answers, so private events of the granted topics are
    /// replayed and streamed and those of the others never are. Take the
    /// request's [`Parts`] as an extractor.
    ///
    /// ```
    /// use axum::extract::State;
    /// use axum::response::{IntoResponse, Response};
    /// use http::request::Parts;
    /// use ssekit_axum::{Denied, LastEventId, SseResponse};
    /// use ssekit_core::broker::{Broker, Grant};
    ///
    /// /// `?token=ana` reads Ana's private events; no token, no stream. (A real
    /// /// check is async: return `async move { … }` with what it needs.)
    /// fn authorize(request: &Parts, _topics: &[String]) -> std::future::Ready<Result<Grant, Denied>> {
    ///     let user = request.uri.query().and_then(|query| query.strip_prefix("token="));
    ///     std::future::ready(match user {
    ///         Some(user) => Ok(Grant::topics([format!("inbox:{user}")])),
    ///         None => Err(Denied::Unauthenticated),
    ///     })
    /// }
    ///
    /// async fn events(State(broker): State<Broker>, request: Parts, last_event_id: LastEventId) -> Response {
    ///     let topics = ["inbox:ana".to_string()];
    ///     match SseResponse::subscribe_authorized(&broker, &authorize, &request, &topics, &last_event_id).await {
    ///         Ok(response) => response.into_response(),
    ///         Err(refused) => ssekit_axum::refusal(&refused),
    ///     }
    /// }
    /// let app: axum::Router = axum::Router::new()
    ///     .route("/events", axum::routing::get(events))
    ///     .with_state(Broker::new());
    /// # drop(app);
    /// ```
    pub async fn subscribe_authorized<A>(
        broker: &Broker,
        authorize: &A,
        request: &Parts,
        topics: &[String],
        last_event_id: &LastEventId,
    ) -> Result<Self, Refused>
    where
        A: Authorize + ?Sized,
    {
        let last_event_id = ssekit_tower::LastEventId::from(last_event_id.clone());
        let response =
            ssekit_tower::subscribe_authorized(broker, authorize, request, topics, &last_event_id)
                .await?;
        Ok(response.into())
    }
}

impl<S> IntoResponse for SseResponse<S>
where
    S: Stream + Send + 'static,
    S::Item: SseItem,
{
    fn into_response(self) -> Response {
        self.into_tower().into_response().map(Body::new)
    }
}

/// The response for a refused subscription: [`ssekit_tower::refusal`] as an
/// axum response — `503` with `Retry-After` when an admission limit is
/// full or the backend fails, `503` once the broker has shut down, `400`
/// without a topic, `401`/`403` when the [`Authorize`] hook denied it; the
/// reason as text.
///
/// ```
/// use axum::response::{IntoResponse, Response};
/// use ssekit_axum::{LastEventId, SseResponse};
/// use ssekit_core::broker::Broker;
///
/// async fn events(broker: Broker, last_event_id: LastEventId) -> Response {
///     match SseResponse::subscribe(&broker, &["chat"], &last_event_id).await {
///         Ok(response) => response.into_response(),
///         Err(error) => ssekit_axum::refusal(&error),
///     }
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let broker = Broker::builder().max_subscriptions(0).build();
/// let response = events(broker, LastEventId::default()).await;
/// assert_eq!(response.status(), 503);
/// assert_eq!(response.headers()["retry-after"], "5");
/// # }
/// ```
pub fn refusal<R: Refusal + ?Sized>(reason: &R) -> Response {
    ssekit_tower::refusal(reason).into_response()
}
