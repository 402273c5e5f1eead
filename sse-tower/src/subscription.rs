//! Serving a broker subscription in one line.

use std::time::Duration;

use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, Response, StatusCode};
use sse_core::broker::{Broker, BrokerError, Subscription};

use crate::last_event_id::LastEventId;
use crate::response::SseResponse;

/// Subscribes to `topics` from the request's `Last-Event-ID` and returns the
/// event stream response over the subscription, to finish with
/// [`SseResponse::into_response`] (after any config, such as keep-alive).
///
/// - [`LastEventId::Absent`], or an empty id: a first connection, live
///   events only.
/// - [`LastEventId::Present`]: resumes after that id when the broker's
///   history still holds it; otherwise the stream starts with the broker's
///   `event: reset` notice (see [`Subscription`]).
/// - [`LastEventId::Invalid`]: handled as an id that names no position: no
///   replay, and the `reset` notice first. Not a `400`: `EventSource`
///   treats an error status as final and would never reconnect.
///
/// ```
/// use http_body_util::BodyExt;
/// use sse_core::Event;
/// use sse_core::broker::Broker;
/// use sse_tower::{KeepAlive, LastEventId};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sse_core::broker::BrokerError> {
/// let broker = Broker::new();
/// let last_event_id = LastEventId::Absent; // from the request
/// let response = sse_tower::subscribe(&broker, &["chat"], &last_event_id)
///     .await?
///     .keep_alive(KeepAlive::disabled())
///     .into_response();
/// assert_eq!(response.headers()["content-type"], "text/event-stream");
///
/// let id = broker.publish("chat", Event::data("hi")).await?;
/// broker.shutdown(None);
/// let body = response.into_body().collect().await.unwrap().to_bytes();
/// assert_eq!(body, format!("data: hi\nid: {id}\n\n"));
/// # Ok(())
/// # }
/// ```
pub async fn subscribe<T>(
    broker: &Broker,
    topics: &[T],
    last_event_id: &LastEventId,
) -> Result<SseResponse<Subscription>, BrokerError>
where
    T: AsRef<str> + Sync,
{
    let id = match last_event_id {
        // An empty id is no id: the standard's `EventSource` sends no
        // header then, and a `?lastEventId=` query says the same.
        LastEventId::Absent => None,
        LastEventId::Present(id) if id.is_empty() => None,
        LastEventId::Present(id) => Some(id.as_str()),
        // No broker id is empty, so this is a reset with reason `malformed`.
        LastEventId::Invalid(_) => Some(""),
    };
    let subscription = broker.subscribe(topics, id).await?;
    Ok(SseResponse::new(subscription))
}

/// How long a client is asked to wait before it tries again when the broker
/// refuses a subscription for a reason that passes (a limit is full, the
/// backend is unreachable): the `Retry-After` of [`refusal`].
pub const REFUSAL_RETRY_AFTER: Duration = Duration::from_secs(5);

/// The response for a subscription the broker refused, its body the reason
/// as text:
///
/// - a full admission limit ([`BrokerError::TooManySubscriptions`],
///   [`BrokerError::TooManySubscribers`]) or a failing backend:
///   `503 Service Unavailable` with `Retry-After` ([`REFUSAL_RETRY_AFTER`]);
/// - a broker that has shut down: `503` without `Retry-After` (this process
///   will not serve it again; a load balancer should go elsewhere);
/// - no topic: `400 Bad Request`.
///
/// A browser's `EventSource` treats any status but `200` as final and does
/// not reconnect by itself; a page that wants to retry re-creates it.
///
/// ```
/// use sse_core::broker::Broker;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let broker = Broker::builder().max_subscriptions(0).build();
/// let last_event_id = sse_tower::LastEventId::Absent;
/// let error = sse_tower::subscribe(&broker, &["chat"], &last_event_id).await.unwrap_err();
/// let response = sse_tower::refusal(&error);
/// assert_eq!(response.status(), 503);
/// assert_eq!(response.headers()["retry-after"], "5");
/// assert_eq!(response.body(), "the broker already has its maximum of 0 subscriptions");
/// # }
/// ```
pub fn refusal(error: &BrokerError) -> Response<String> {
    let (status, retry_after) = match error {
        BrokerError::TooManySubscriptions { .. }
        | BrokerError::TooManySubscribers { .. }
        | BrokerError::Backend(_) => (StatusCode::SERVICE_UNAVAILABLE, true),
        BrokerError::Closed => (StatusCode::SERVICE_UNAVAILABLE, false),
        BrokerError::NoTopic => (StatusCode::BAD_REQUEST, false),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, false),
    };
    let mut response = Response::new(error.to_string());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if retry_after {
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from(REFUSAL_RETRY_AFTER.as_secs()),
        );
    }
    response
}
