//! Answering a refused subscription: the [`Refusal`] trait (a status,
//! headers and a reason) and [`refusal`], the response built from one, for
//! the broker's errors, the [`Authorize`](crate::Authorize) hook's denials
//! and invalid topics alike.

use std::fmt;
use std::time::Duration;

use http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use ssekit_core::broker::BrokerError;

use crate::authorize::{Denied, Refused};
use crate::topics::InvalidTopics;

/// How long a client is asked to wait before it tries again when the broker
/// refuses a subscription for a reason that passes (a limit is full, the
/// backend is unreachable): the `Retry-After` of [`refusal`].
pub const REFUSAL_RETRY_AFTER: Duration = Duration::from_secs(5);

/// The response for a refused subscription, its body the reason as text:
/// `503` with `Retry-After` ([`REFUSAL_RETRY_AFTER`]) for a full admission
/// limit or a failing backend, `503` without it once the broker has shut
/// down, `400` for missing or invalid topics, `401`/`403` for a
/// [`Denied`](crate::Denied).
///
/// ```
/// use ssekit_core::broker::Broker;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let broker = Broker::builder().max_subscriptions(0).build();
/// let last_event_id = ssekit_tower::LastEventId::Absent;
/// let error = ssekit_tower::subscribe(&broker, &["chat"], &last_event_id).await.unwrap_err();
/// let response = ssekit_tower::refusal(&error);
/// assert_eq!(response.status(), 503);
/// assert_eq!(response.headers()["retry-after"], "5");
/// assert_eq!(response.body(), "the broker already has its maximum of 0 subscriptions");
/// # }
/// ```
pub fn refusal<R: Refusal + ?Sized>(reason: &R) -> Response<String> {
    let mut response = Response::new(reason.to_string());
    *response.status_mut() = reason.status();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    reason.headers(headers);
    response
}

impl Refusal for BrokerError {
    fn status(&self) -> StatusCode {
        match self {
            BrokerError::TooManySubscriptions { .. }
            | BrokerError::TooManySubscribers { .. }
            | BrokerError::Backend(_)
            | BrokerError::Closed => StatusCode::SERVICE_UNAVAILABLE,
            BrokerError::NoTopic => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn headers(&self, headers: &mut HeaderMap) {
        // Not after shutdown: this process will not serve it again.
        if let BrokerError::TooManySubscriptions { .. }
        | BrokerError::TooManySubscribers { .. }
        | BrokerError::Backend(_) = self
        {
            headers.insert(
                RETRY_AFTER,
                HeaderValue::from(REFUSAL_RETRY_AFTER.as_secs()),
            );
        }
    }
}

/// A reason a subscription was refused, as the status and headers of the
/// response [`refusal`](crate::refusal) builds; its `Display` is the body.
///
/// ```
/// use ssekit_tower::{Denied, Refusal};
///
/// let mut headers = http::HeaderMap::new();
/// Denied::Unauthenticated.headers(&mut headers);
/// assert_eq!(headers["www-authenticate"], "Bearer");
/// ```
pub trait Refusal: fmt::Display {
    /// The response's status.
    fn status(&self) -> StatusCode;

    /// Adds the headers the status calls for (`Retry-After`,
    /// `WWW-Authenticate`).
    fn headers(&self, headers: &mut HeaderMap) {
        let _ = headers;
    }
}

impl Refusal for Denied {
    fn status(&self) -> StatusCode {
        Denied::status(self)
    }

    fn headers(&self, headers: &mut HeaderMap) {
        if let Denied::Unauthenticated = self {
            headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
    }
}

impl Refusal for Refused {
    fn status(&self) -> StatusCode {
        match self {
            Refused::Denied(denied) => Refusal::status(denied),
            Refused::Broker(error) => error.status(),
            Refused::Topics(invalid) => invalid.status(),
        }
    }

    fn headers(&self, headers: &mut HeaderMap) {
        match self {
            Refused::Denied(denied) => denied.headers(headers),
            Refused::Broker(error) => error.headers(headers),
            Refused::Topics(invalid) => invalid.headers(headers),
        }
    }
}

impl Refusal for InvalidTopics {
    fn status(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }
}
