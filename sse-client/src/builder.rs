use std::time::Duration;

use http::header::{ACCEPT, CACHE_CONTROL, IntoHeaderName};
use http::{HeaderMap, HeaderValue, Request, Response, Uri};
use http_body::Body;
use ssekit_core::decode::DEFAULT_MAX_EVENT_SIZE;
use tower_service::Service;

use crate::service::Erased;
use crate::{Backoff, BoxError, EventSource};

/// The reconnection time until the server sets one with `retry:`.
pub const DEFAULT_RETRY: Duration = Duration::from_secs(3);

/// Configures an [`EventSource`]; made by [`EventSource::builder`].
///
/// ```
/// use std::time::Duration;
/// use http::header::{AUTHORIZATION, HeaderValue};
/// use ssekit_client::{Backoff, EventSource};
///
/// let source = EventSource::builder("http://localhost:3000/events".parse().unwrap())
///     .header(AUTHORIZATION, HeaderValue::from_static("Bearer secret"))
///     .retry(Duration::from_secs(1))
///     .backoff(Backoff::new().max_delay(Duration::from_secs(10)))
///     .max_event_size(1024 * 1024)
///     .last_event_id("42") // resume where a previous run stopped
///     .build();
/// assert_eq!(source.last_event_id(), "42");
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until it builds an EventSource"]
pub struct Builder {
    pub(crate) uri: Uri,
    pub(crate) headers: HeaderMap,
    pub(crate) retry: Duration,
    pub(crate) backoff: Backoff,
    pub(crate) max_event_size: usize,
    pub(crate) last_event_id: String,
}

impl Builder {
    pub(crate) fn new(uri: Uri) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        Builder {
            uri,
            headers,
            retry: DEFAULT_RETRY,
            backoff: Backoff::default(),
            max_event_size: DEFAULT_MAX_EVENT_SIZE,
            last_event_id: String::new(),
        }
    }

    /// Sets a header on every request, replacing any value before it, the
    /// defaults `Accept` and `Cache-Control` included. The source sets
    /// `Last-Event-ID` itself whenever the last event id is not empty.
    pub fn header<K: IntoHeaderName>(mut self, name: K, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// The reconnection time until the server sets one with `retry:`;
    /// [`DEFAULT_RETRY`] (3 seconds) if not set.
    pub fn retry(mut self, retry: Duration) -> Self {
        self.retry = retry;
        self
    }

    /// How the wait grows when reconnections keep failing; see [`Backoff`].
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Bounds the bytes one event may buffer (default 16 MiB); a larger
    /// event is dropped and reported as [`Item::Dropped`](crate::Item::Dropped).
    pub fn max_event_size(mut self, max_event_size: usize) -> Self {
        self.max_event_size = max_event_size;
        self
    }

    /// Starts with this last event id (default empty), sent as
    /// `Last-Event-ID` from the first request on unless empty.
    pub fn last_event_id(mut self, last_event_id: impl Into<String>) -> Self {
        self.last_event_id = last_event_id.into();
        self
    }

    /// Builds the source on a default HTTP/1 client: hyper-util's legacy
    /// `Client` with its `HttpConnector` (`http://` only, redirects not
    /// followed).
    #[cfg(feature = "hyper")]
    pub fn build(self) -> EventSource {
        use hyper_util::client::legacy::Client;
        use hyper_util::rt::TokioExecutor;

        let client = Client::builder(TokioExecutor::new())
            .build_http::<http_body_util::Empty<bytes::Bytes>>();
        self.build_with_service(client)
    }

    /// Builds the source on any HTTP client that is a tower [`Service`]: a
    /// hyper-util `Client` with a TLS connector, a client wrapped in
    /// tower-http's `FollowRedirect`, an in-process router. Requests are
    /// `GET`s with the body `B::default()`; name `B` when the service takes
    /// several body types: `build_with_service::<_, Empty<Bytes>, _>(service)`.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use bytes::Bytes;
    /// use futures_util::StreamExt;
    /// use http::{Request, Response};
    /// use http_body_util::{Empty, Full};
    /// use ssekit_client::{EventSource, Item};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let service = tower::service_fn(|_: Request<Empty<Bytes>>| async {
    ///     let response = Response::builder()
    ///         .header("content-type", "text/event-stream")
    ///         .body(Full::new(Bytes::from_static(b"data: hello\n\n")))
    ///         .unwrap();
    ///     Ok::<_, Infallible>(response)
    /// });
    /// let mut source = EventSource::builder("http://in.process/".parse().unwrap())
    ///     .build_with_service(service);
    /// assert!(matches!(source.next().await, Some(Item::Open)));
    /// let event = source.next().await.and_then(Item::into_event).unwrap();
    /// assert_eq!(event.data(), "hello");
    /// # }
    /// ```
    pub fn build_with_service<S, B, ResBody>(self, service: S) -> EventSource
    where
        S: Service<Request<B>, Response = Response<ResBody>> + Send + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
        B: Default + 'static,
        ResBody: Body + Send + 'static,
        ResBody::Error: Into<BoxError>,
    {
        EventSource::from_parts(self, Box::new(Erased::<S, B>::new(service)))
    }
}
