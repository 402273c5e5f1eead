//! Serving a broker subscription in one line.

use http::request::Parts;
use ssekit_core::broker::{Broker, BrokerError, Subscription};

use crate::authorize::{Authorize, Refused};
use crate::last_event_id::LastEventId;
use crate::response::SseResponse;

/// Subscribes to `topics` after the request's `Last-Event-ID` and returns
/// the event stream response over the subscription: what the client missed,
/// then live events. An id the broker cannot place, or an invalid one,
/// opens the stream with the broker's `event: reset` notice.
///
/// ```
/// use http_body_util::BodyExt;
/// use ssekit_core::Event;
/// use ssekit_core::broker::Broker;
/// use ssekit_tower::{KeepAlive, LastEventId};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), ssekit_core::broker::BrokerError> {
/// let broker = Broker::new();
/// let last_event_id = LastEventId::Absent; // from the request
/// let response = ssekit_tower::subscribe(&broker, &["chat"], &last_event_id)
///     .await?
///     .keep_alive(KeepAlive::disabled())
///     .into_response();
/// assert_eq!(response.headers()["content-type"], "text/event-stream");
///
/// let id = broker.publish("chat", Event::data("hi")).await?;
/// broker.shutdown(None);
/// let body = response.into_body().collect().await.unwrap().to_bytes();
/// assert_eq!(body, format!("retry: 3000\n\ndata: hi\nid: {id}\n\n"));
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
    let subscription = broker.subscribe(topics, resume_from(last_event_id)).await?;
    Ok(SseResponse::new(subscription))
}

/// Like [`subscribe`], after asking `authorize` what `request` may read of
/// `topics`: refused with [`Denied`](crate::Denied) before the broker is
/// asked, or subscribed with the [`Grant`](ssekit_core::broker::Grant) it
/// answers.
///
/// ```
/// use http::request::Parts;
/// use ssekit_core::broker::Broker;
/// use ssekit_tower::{Denied, LastEventId, Refusal};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let broker = Broker::new();
/// let (request, ()) = http::Request::get("/events").body(()).unwrap().into_parts();
/// let deny_all = |_: &Parts, _: &[String]| std::future::ready(Err(Denied::Unauthenticated));
/// let topics = ["audit".to_string()];
/// let refused = ssekit_tower::subscribe_authorized(&broker, &deny_all, &request, &topics, &LastEventId::Absent).await;
/// assert_eq!(refused.unwrap_err().status(), 401);
/// # }
/// ```
pub async fn subscribe_authorized<A>(
    broker: &Broker,
    authorize: &A,
    request: &Parts,
    topics: &[String],
    last_event_id: &LastEventId,
) -> Result<SseResponse<Subscription>, Refused>
where
    A: Authorize + ?Sized,
{
    let grant = authorize.authorize(request, topics).await?;
    let subscription = broker
        .subscribe_granted(topics, resume_from(last_event_id), &grant)
        .await?;
    Ok(SseResponse::new(subscription))
}

/// The broker's `last_event_id` for a request's [`LastEventId`].
fn resume_from(last_event_id: &LastEventId) -> Option<&str> {
    match last_event_id {
        // An empty id is no id: the standard's `EventSource` sends no
        // header then, and a `?lastEventId=` query says the same.
        LastEventId::Absent => None,
        LastEventId::Present(id) if id.is_empty() => None,
        LastEventId::Present(id) => Some(id.as_str()),
        // No broker id is empty, so this is a reset with reason `malformed`.
        LastEventId::Invalid(_) => Some(""),
    }
}
