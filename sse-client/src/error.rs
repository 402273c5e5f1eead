use std::fmt;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};

/// A boxed error from the HTTP client or the response body.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why an [`EventSource`](crate::EventSource) stopped for good (the
/// standard's "fail the connection"), carried by the last item,
/// [`Item::Closed`](crate::Item::Closed).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered `204 No Content`.
    #[error("the server answered 204 No Content, which tells the client to stop")]
    NoContent,
    /// The server answered with a status other than `200 OK` and `204` that
    /// the [`RetryPolicy`](crate::RetryPolicy) does not retry, a redirect
    /// that was not followed included.
    #[error("the server answered {}, not 200 OK", .0.status())]
    Status(ErrorResponse),
    /// The server redirected more times than
    /// [`Builder::max_redirects`](crate::Builder::max_redirects) allows (or
    /// than the reqwest client does).
    #[error("the server redirected more times than allowed")]
    TooManyRedirects,
    /// The response's `Content-Type` is not `text/event-stream` (parameters
    /// such as `; charset=utf-8` are allowed); `None` if it had none.
    #[error("the response is not an event stream: its content type is {}", describe(.0.as_ref()))]
    ContentType(Option<HeaderValue>),
    /// The HTTP client's `poll_ready` failed: it cannot send requests any
    /// more.
    #[error("the HTTP client cannot send requests any more")]
    Service(#[source] BoxError),
}

impl Error {
    /// The status of an [`Error::Status`].
    ///
    /// ```
    /// # use ssekit_client::Error;
    /// assert_eq!(Error::NoContent.status(), None);
    /// ```
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::Status(response) => Some(response.status()),
            _ => None,
        }
    }
}

fn describe(content_type: Option<&HeaderValue>) -> String {
    match content_type {
        None => "missing".to_owned(),
        Some(value) => format!("{value:?}"),
    }
}

/// The response that ended a source with [`Error::Status`]: its status, its
/// headers and the start of its body, at most
/// [`Builder::max_error_body`](crate::Builder::max_error_body) bytes.
#[derive(Clone)]
pub struct ErrorResponse {
    inner: Box<(StatusCode, HeaderMap, Bytes)>,
}

impl ErrorResponse {
    /// A response with this status, headers and (start of the) body.
    ///
    /// ```
    /// use http::{HeaderMap, StatusCode};
    /// use ssekit_client::ErrorResponse;
    ///
    /// let response = ErrorResponse::new(StatusCode::NOT_FOUND, HeaderMap::new(), "no such feed");
    /// assert_eq!(response.body(), "no such feed");
    /// ```
    pub fn new(status: StatusCode, headers: HeaderMap, body: impl Into<Bytes>) -> Self {
        ErrorResponse {
            inner: Box::new((status, headers, body.into())),
        }
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.inner.0
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.inner.1
    }

    /// The body, cut at the limit.
    pub fn body(&self) -> &Bytes {
        &self.inner.2
    }
}

impl fmt::Debug for ErrorResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrorResponse")
            .field("status", &self.status())
            .field("headers", self.headers())
            .field("body", self.body())
            .finish()
    }
}

/// Why a connection ended and the [`EventSource`](crate::EventSource) is
/// about to reconnect; carried by [`Item::Reconnecting`](crate::Item::Reconnecting).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Disconnect {
    /// The server ended the response normally.
    #[error("the server ended the event stream")]
    Ended,
    /// The request failed before a response arrived (refused, reset,
    /// timed out, …).
    #[error("the request for the event stream failed")]
    Request(#[source] BoxError),
    /// Reading the response body failed part-way.
    #[error("reading the event stream failed")]
    Body(#[source] BoxError),
    /// Nothing arrived for the [`Builder::idle_timeout`](crate::Builder::idle_timeout):
    /// the connection was dropped as dead.
    #[error("nothing arrived within the idle timeout")]
    Idle,
    /// The server answered a status that the
    /// [`RetryPolicy`](crate::RetryPolicy) retries.
    #[error("the server answered {0}, which the retry policy retries")]
    Status(StatusCode),
    /// The [`Builder::on_request`](crate::Builder::on_request) hook failed.
    #[error("the request hook failed")]
    Hook(#[source] BoxError),
}
