use http::{HeaderValue, StatusCode};

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
    /// The server answered with a status other than `200 OK` and `204`,
    /// redirects included unless the HTTP client follows them.
    #[error("the server answered {0}, not 200 OK")]
    Status(StatusCode),
    /// The response's `Content-Type` is not `text/event-stream` (parameters
    /// such as `; charset=utf-8` are allowed); `None` if it had none.
    #[error("the response is not an event stream: its content type is {}", describe(.0.as_ref()))]
    ContentType(Option<HeaderValue>),
    /// The HTTP client's `poll_ready` failed: it cannot send requests any
    /// more.
    #[error("the HTTP client cannot send requests any more")]
    Service(#[source] BoxError),
}

fn describe(content_type: Option<&HeaderValue>) -> String {
    match content_type {
        None => "missing".to_owned(),
        Some(value) => format!("{value:?}"),
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
}
