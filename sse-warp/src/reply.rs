//! [`SseResponse`]: an event stream as a warp reply.

use futures_core::Stream;
use http::request::Parts;
use http_body_util::BodyDataStream;
use ssekit_core::broker::{Broker, BrokerError, Subscription};
use ssekit_tower::{Authorize, Refusal, Refused, SseConfig, SseItem};

use crate::LastEventId;
use sync_wrapper::SyncStream;
use warp::Reply;

/// An event stream reply: any stream of [`Event`](ssekit_core::Event)s or of
/// `Result<Event, E>`, served by [`ssekit_tower::SseResponse`].
///
/// The builder methods are those of [`SseConfig`] (keep-alive, first
/// event, shutdown, error event, coalescing, disconnect hook). The stream
/// must be `Send + 'static`, not `Sync` (warp's own `sse::reply` requires
/// `Sync`). See the [crate docs](crate).
///
/// ```
/// use std::time::Duration;
/// use ssekit_warp::{Event, KeepAlive, SseResponse};
/// use warp::Reply;
///
/// let events = futures_util::stream::iter([Event::data("hi")]);
/// let response = SseResponse::new(events)
///     .keep_alive(KeepAlive::new().interval(Duration::from_secs(10)))
///     .first_event(Event::retry(Duration::from_secs(2)))
///     .into_response();
/// assert_eq!(response.headers()["content-type"], "text/event-stream");
/// ```
#[derive(Debug)]
#[must_use = "an SseResponse does nothing until it is returned from a filter"]
pub struct SseResponse<S> {
    stream: S,
    config: SseConfig,
}

impl<S> SseResponse<S> {
    /// A reply over `stream` with the default [`SseConfig`].
    ///
    /// ```
    /// # use ssekit_warp::{Event, SseResponse};
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
    /// # use ssekit_warp::{Event, SseResponse};
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
    /// use ssekit_warp::{LastEventId, SseResponse};
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
    /// replayed and streamed and those of the others never are. The
    /// request's head comes from [`request_parts`](crate::request_parts).
    ///
    /// ```
    /// use http::request::Parts;
    /// use ssekit_core::broker::{Broker, Grant};
    /// use ssekit_warp::{Denied, LastEventId, SseResponse};
    /// use warp::{Filter, Reply};
    ///
    /// /// `?token=ana` reads Ana's private events; no token, no stream.
    /// fn authorize(request: &Parts, _topics: &[String]) -> std::future::Ready<Result<Grant, Denied>> {
    ///     let user = request.uri.query().and_then(|query| query.strip_prefix("token="));
    ///     std::future::ready(match user {
    ///         Some(user) => Ok(Grant::topics([format!("inbox:{user}")])),
    ///         None => Err(Denied::Unauthenticated),
    ///     })
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let broker = Broker::new();
    /// let route = warp::path("events")
    ///     .and(ssekit_warp::request_parts())
    ///     .and(ssekit_warp::last_event_id())
    ///     .then(move |request: Parts, last_event_id: LastEventId| {
    ///         let broker = broker.clone();
    ///         async move {
    ///             let topics = ["inbox:ana".to_string()];
    ///             match SseResponse::subscribe_authorized(&broker, &authorize, &request, &topics, &last_event_id).await {
    ///                 Ok(response) => response.into_response(),
    ///                 Err(refused) => ssekit_warp::refusal(&refused),
    ///             }
    ///         }
    ///     });
    /// let response = warp::test::request().path("/events").reply(&route).await;
    /// assert_eq!(response.status(), 401);
    /// # }
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

impl<S> Reply for SseResponse<S>
where
    S: Stream + Send + 'static,
    S::Item: SseItem,
{
    fn into_response(self) -> warp::reply::Response {
        let (parts, body) = self.into_tower().into_response().into_parts();
        // warp's only public streaming body is `reply::stream`, which wants
        // a `Sync` stream: `SyncStream` makes the body `Sync` without asking
        // it of the stream (it is only ever polled through `&mut`). Each
        // body frame stays one chunk.
        let body = warp::reply::stream(SyncStream::new(BodyDataStream::new(body)))
            .into_response()
            .into_body();
        http::Response::from_parts(parts, body)
    }
}

/// The response for a refused subscription: [`ssekit_tower::refusal`] as a
/// warp reply — `503` with `Retry-After` when an admission limit is full
/// or the backend fails, `503` once the broker has shut down, `400`
/// without a topic, `401`/`403` when the [`Authorize`] hook denied it; the
/// reason as text.
///
/// ```
/// use ssekit_core::broker::Broker;
/// use ssekit_warp::{LastEventId, SseResponse};
/// use warp::Reply;
///
/// async fn events(broker: Broker, last_event_id: LastEventId) -> warp::reply::Response {
///     match SseResponse::subscribe(&broker, &["chat"], &last_event_id).await {
///         Ok(response) => response.into_response(),
///         Err(error) => ssekit_warp::refusal(&error),
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
pub fn refusal<R: Refusal + ?Sized>(reason: &R) -> warp::reply::Response {
    ssekit_tower::refusal(reason).into_response()
}
