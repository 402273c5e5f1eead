use http::{HeaderValue, StatusCode};

/// A boxed error from the HTTP client or the response body.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why an [`EventSource`](crate::EventSource) stopped for good.
///
/// These are the standard's "fail the connection" cases: the server answered,
/// but not with an event stream, so reconnecting would not help. The error
/// arrives as [`Item::Closed`](crate::Item::Closed), the stream's last item.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered `204 No Content`: its way to tell a client to stop
    /// reconnecting.
    #[error("the server answered 204 No Content, which tells the client to stop")]
    NoContent,
    /// The server answered with a status other than `200 OK` (and other than
    /// `204`). Redirects are the HTTP client's business: a client that does
    /// not follow them reports them here.
    #[error("the server answered {0}, not 200 OK")]
    Status(StatusCode),
    /// The response's `Content-Type` is not `text/event-stream` (parameters
    /// such as `; charset=utf-8` are allowed); `None` if it had none.
    #[error("the response is not an event stream: its content type is {}", describe(.0.as_ref()))]
    ContentType(Option<HeaderValue>),
    /// The HTTP client reported, by failing `poll_ready`, that it cannot send
    /// requests any more.
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
    /// The request failed before a response arrived: the connection was
    /// refused, reset or closed, a timeout fired, and so on.
    #[error("the request for the event stream failed")]
    Request(#[source] BoxError),
    /// Reading the response body failed part-way.
    #[error("reading the event stream failed")]
    Body(#[source] BoxError),
}
