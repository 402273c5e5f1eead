use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CACHE_CONTROL, IntoHeaderName};
use http::{HeaderMap, HeaderValue, Method, Request, Response, Uri};
use http_body::Body;
use ssekit_core::decode::DEFAULT_MAX_EVENT_SIZE;
use tower_service::Service;

use crate::redirect::DEFAULT_MAX_REDIRECTS;
use crate::service::Erased;
use crate::{Backoff, BoxError, EventSource, RetryPolicy};

/// The reconnection time until the server sets one with `retry:`.
pub const DEFAULT_RETRY: Duration = Duration::from_secs(3);

/// The default bound on the body kept in an [`ErrorResponse`](crate::ErrorResponse).
pub const DEFAULT_MAX_ERROR_BODY: usize = 4096;

pub(crate) type HookFuture = Pin<Box<dyn Future<Output = Result<Request<Bytes>, BoxError>> + Send>>;
pub(crate) type Hook = Arc<dyn Fn(Request<Bytes>) -> HookFuture + Send + Sync>;

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
#[derive(Clone)]
#[must_use = "a builder does nothing until it builds an EventSource"]
pub struct Builder {
    pub(crate) uri: Uri,
    pub(crate) method: Method,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) hook: Option<Hook>,
    pub(crate) retry: Duration,
    pub(crate) backoff: Backoff,
    pub(crate) retry_policy: RetryPolicy,
    pub(crate) max_redirects: u32,
    pub(crate) max_error_body: usize,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) comments: bool,
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
            method: Method::GET,
            headers,
            body: Bytes::new(),
            hook: None,
            retry: DEFAULT_RETRY,
            backoff: Backoff::default(),
            retry_policy: RetryPolicy::default(),
            max_redirects: DEFAULT_MAX_REDIRECTS,
            max_error_body: DEFAULT_MAX_ERROR_BODY,
            idle_timeout: None,
            comments: false,
            max_event_size: DEFAULT_MAX_EVENT_SIZE,
            last_event_id: String::new(),
        }
    }

    /// The request method; `GET` by default. Redirects may turn it into a
    /// `GET` (see [`max_redirects`](Self::max_redirects)).
    pub fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// The request body, sent on every attempt; empty by default. Set
    /// `Content-Type` with [`header`](Self::header).
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Serializes `value` as the request body, with `Content-Type:
    /// application/json`: the request of a chat completion stream.
    ///
    /// ```
    /// # use std::convert::Infallible;
    /// # use bytes::Bytes;
    /// # use futures_util::StreamExt;
    /// # use http::{Method, Request, Response};
    /// # use http_body_util::{BodyExt, Full};
    /// use ssekit_client::{EventSource, Item};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // An in-process endpoint that streams back what it was sent.
    /// let echo = tower::service_fn(|request: Request<Full<Bytes>>| async move {
    ///     let (head, body) = request.into_parts();
    ///     let body = body.collect().await?.to_bytes();
    ///     let data = format!("data: {} {}\n\n", head.method, String::from_utf8_lossy(&body));
    ///     let response = Response::builder()
    ///         .header("content-type", "text/event-stream")
    ///         .body(Full::new(Bytes::from(data)))
    ///         .unwrap();
    ///     Ok::<_, Infallible>(response)
    /// });
    /// let mut source = EventSource::builder("http://in.process/v1/chat".parse()?)
    ///     .method(Method::POST)
    ///     .json(&serde_json::json!({ "stream": true }))?
    ///     .build_with_service(echo);
    /// assert!(matches!(source.next().await, Some(Item::Open)));
    /// let event = source.next().await.and_then(Item::into_event).unwrap();
    /// assert_eq!(event.data(), r#"POST {"stream":true}"#);
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "json")]
    pub fn json<T: serde::Serialize + ?Sized>(self, value: &T) -> Result<Self, serde_json::Error> {
        let body = serde_json::to_vec(value)?;
        Ok(self
            .header(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )
            .body(body))
    }

    /// Sets a header on every request, replacing any value before it, the
    /// defaults `Accept` and `Cache-Control` included. The source sets
    /// `Last-Event-ID` itself whenever the last event id is not empty.
    pub fn header<K: IntoHeaderName>(mut self, name: K, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// Runs `hook` before every attempt (not before each redirect of one):
    /// it gets the request as configured, `Last-Event-ID` included, with an
    /// [`Attempt`](crate::Attempt) in its extensions, and returns the request
    /// to send, with a fresh token, say, or another URI.
    /// An error is reported as [`Disconnect::Hook`](crate::Disconnect::Hook)
    /// and retried after the usual wait. None by default.
    ///
    /// ```
    /// # use std::convert::Infallible;
    /// # use std::sync::Arc;
    /// # use std::sync::atomic::{AtomicU32, Ordering};
    /// # use bytes::Bytes;
    /// # use futures_util::StreamExt;
    /// # use http::{Request, Response};
    /// # use http_body_util::Full;
    /// use http::header::{AUTHORIZATION, HeaderValue};
    /// use ssekit_client::{EventSource, Item};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // An in-process endpoint that streams back the token it got.
    /// let echo = tower::service_fn(|request: Request<Full<Bytes>>| async move {
    ///     let token = request.headers()[AUTHORIZATION].to_str().unwrap().to_owned();
    ///     let response = Response::builder()
    ///         .header("content-type", "text/event-stream")
    ///         .body(Full::new(Bytes::from(format!("data: {token}\n\n"))))
    ///         .unwrap();
    ///     Ok::<_, Infallible>(response)
    /// });
    /// let refreshes = Arc::new(AtomicU32::new(0));
    /// let mut source = EventSource::builder("http://in.process/events".parse()?)
    ///     .on_request(move |mut request| {
    ///         let refreshes = refreshes.clone();
    ///         async move {
    ///             // A real hook would ask the token service.
    ///             let n = refreshes.fetch_add(1, Ordering::Relaxed);
    ///             let token = HeaderValue::try_from(format!("Bearer token-{n}"))?;
    ///             request.headers_mut().insert(AUTHORIZATION, token);
    ///             Ok(request)
    ///         }
    ///     })
    ///     .build_with_service(echo);
    /// assert!(matches!(source.next().await, Some(Item::Open)));
    /// let event = source.next().await.and_then(Item::into_event).unwrap();
    /// assert_eq!(event.data(), "Bearer token-0");
    /// # Ok(())
    /// # }
    /// ```
    pub fn on_request<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(Request<Bytes>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Request<Bytes>, BoxError>> + Send + 'static,
    {
        self.hook = Some(Arc::new(move |request| Box::pin(hook(request))));
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

    /// Which statuses other than `200 OK` are retried; by default none, as
    /// in a browser. See [`RetryPolicy`].
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry_policy = policy;
        self
    }

    /// How many redirects one attempt follows, as `fetch` does; 20 by
    /// default. `0` follows none: a redirect then ends the source with
    /// [`Error::Status`](crate::Error::Status), and one redirect too many
    /// with [`Error::TooManyRedirects`](crate::Error::TooManyRedirects).
    /// `301`, `302` and `303` turn a `POST` into a bodiless `GET`; `307` and
    /// `308` keep method and body; a hop to another origin drops
    /// `Authorization` and keeps the other headers. Reconnections start from
    /// the original URI again.
    pub fn max_redirects(mut self, max_redirects: u32) -> Self {
        self.max_redirects = max_redirects;
        self
    }

    /// Bounds the body kept in the [`ErrorResponse`](crate::ErrorResponse) of
    /// an [`Error::Status`](crate::Error::Status); [`DEFAULT_MAX_ERROR_BODY`]
    /// (4 KiB) by default, 0 reads none.
    pub fn max_error_body(mut self, max_error_body: usize) -> Self {
        self.max_error_body = max_error_body;
        self
    }

    /// Drops a connection on which nothing arrived for `timeout`, from the
    /// request on, and reconnects ([`Disconnect::Idle`](crate::Disconnect::Idle)).
    /// Off by default, as in a browser; three times the server's keep-alive
    /// interval tells a dead server from a late comment.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = Some(timeout);
        self
    }

    /// Yields comment lines (`: keep-alive`) as [`Item::Comment`](crate::Item::Comment);
    /// off by default.
    pub fn comments(mut self, comments: bool) -> Self {
        self.comments = comments;
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
    /// `Client` with its `HttpConnector` (`http://` only).
    #[cfg(feature = "hyper")]
    pub fn build(self) -> EventSource {
        use hyper_util::client::legacy::Client;
        use hyper_util::rt::TokioExecutor;

        let client =
            Client::builder(TokioExecutor::new()).build_http::<http_body_util::Full<Bytes>>();
        self.build_with_service(client)
    }

    /// Builds the source on any HTTP client that is a tower [`Service`]: a
    /// hyper-util `Client` with a TLS connector, an in-process router. The
    /// request body is made with `B::from(Bytes)`; name `B` when the service
    /// takes several body types: `build_with_service::<_, Full<Bytes>, _>(service)`.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use bytes::Bytes;
    /// use futures_util::StreamExt;
    /// use http::{Request, Response};
    /// use http_body_util::Full;
    /// use ssekit_client::{EventSource, Item};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let service = tower::service_fn(|_: Request<Full<Bytes>>| async {
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
        B: From<Bytes> + 'static,
        ResBody: Body + Send + 'static,
        ResBody::Error: Into<BoxError>,
    {
        EventSource::from_parts(self, Box::new(Erased::<S, B>::new(service)))
    }

    /// Builds the source on a [`reqwest::Client`], its response body read
    /// as it arrives. The client's own redirect policy applies (reqwest's
    /// default follows up to 10), and [`max_redirects`](Self::max_redirects)
    /// does not: build the client with `redirect::Policy::none()` to follow
    /// none.
    ///
    /// ```
    /// use ssekit_client::EventSource;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let source = EventSource::builder("https://localhost/events".parse().unwrap())
    ///     .build_with_reqwest(reqwest::Client::new());
    /// assert_eq!(source.uri(), "https://localhost/events");
    /// # }
    /// ```
    #[cfg(feature = "reqwest")]
    pub fn build_with_reqwest(self, client: reqwest::Client) -> EventSource {
        EventSource::from_parts(self, Box::new(crate::reqwest_client::Reqwest(client)))
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("uri", &self.uri)
            .field("method", &self.method)
            .field("headers", &self.headers)
            .field("body", &self.body)
            .field("on_request", &self.hook.as_ref().map(|_| ".."))
            .field("retry", &self.retry)
            .field("backoff", &self.backoff)
            .field("retry_policy", &self.retry_policy)
            .field("max_redirects", &self.max_redirects)
            .field("max_error_body", &self.max_error_body)
            .field("idle_timeout", &self.idle_timeout)
            .field("comments", &self.comments)
            .field("max_event_size", &self.max_event_size)
            .field("last_event_id", &self.last_event_id)
            .finish()
    }
}
