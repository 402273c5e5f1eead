//! Event stream responses without a layer, and the headers every event
//! stream response carries.

use http::Response;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::body::SseBody;
use crate::config::{SseConfig, delegate_config_builders};

const TEXT_EVENT_STREAM: HeaderValue = HeaderValue::from_static("text/event-stream");
const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache, no-transform");
const X_ACCEL_BUFFERING: HeaderName = HeaderName::from_static("x-accel-buffering");
const NO: HeaderValue = HeaderValue::from_static("no");
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Makes `headers` those of an event stream response, valid on HTTP/1.1
/// and HTTP/2: sets `content-type: text/event-stream`, `cache-control:
/// no-cache, no-transform` and `x-accel-buffering: no`, and removes
/// `content-length` and the connection-specific headers (`connection` and
/// the headers it names, `keep-alive`, `proxy-connection`, `te`,
/// `transfer-encoding`, `upgrade`). Other headers are kept.
///
/// ```
/// use http::HeaderMap;
/// use ssekit_tower::set_event_stream_headers;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("content-length", "12".parse().unwrap());
/// headers.insert("x-request-id", "abc".parse().unwrap());
/// set_event_stream_headers(&mut headers);
///
/// assert_eq!(headers["content-type"], "text/event-stream");
/// assert_eq!(headers["cache-control"], "no-cache, no-transform");
/// assert_eq!(headers["x-accel-buffering"], "no");
/// assert_eq!(headers["x-request-id"], "abc");
/// assert!(!headers.contains_key("content-length"));
///
/// // A header the `Connection` header names is connection-specific as well.
/// headers.insert("connection", "close, x-hop".parse().unwrap());
/// headers.insert("x-hop", "1".parse().unwrap());
/// set_event_stream_headers(&mut headers);
/// assert!(!headers.contains_key("connection"));
/// assert!(!headers.contains_key("x-hop"));
/// ```
pub fn set_event_stream_headers(headers: &mut HeaderMap) {
    headers.insert(header::CONTENT_TYPE, TEXT_EVENT_STREAM);
    headers.insert(header::CACHE_CONTROL, NO_CACHE);
    headers.insert(X_ACCEL_BUFFERING, NO);
    // `Connection: close, x-foo` makes `x-foo` connection-specific too.
    if let header::Entry::Occupied(entry) = headers.entry(header::CONNECTION) {
        let (_, values) = entry.remove_entry_mult();
        let named: Vec<HeaderName> = values
            .filter_map(|value| value.to_str().ok().map(str::to_owned))
            .flat_map(|value| {
                value
                    .split(',')
                    .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
                    .collect::<Vec<_>>()
            })
            .collect();
        for name in named {
            // The three headers set above are never connection-specific.
            if !matches!(name, header::CONTENT_TYPE | header::CACHE_CONTROL)
                && name != X_ACCEL_BUFFERING
            {
                remove_all(headers, name);
            }
        }
    }
    for name in [
        header::CONTENT_LENGTH,
        KEEP_ALIVE,
        PROXY_CONNECTION,
        header::TE,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
    ] {
        remove_all(headers, name);
    }
}

fn remove_all(headers: &mut HeaderMap, name: HeaderName) {
    // `remove` only removes the first value of a repeated header.
    if let header::Entry::Occupied(entry) = headers.entry(name) {
        entry.remove_entry_mult().1.for_each(drop);
    }
}

/// Turns `stream` into a complete event stream response with the default
/// [`SseConfig`]: status `200 OK`, the headers of
/// [`set_event_stream_headers`], and an [`SseBody`].
///
/// ```
/// use ssekit_core::Event;
///
/// let response = ssekit_tower::response(futures_util::stream::iter([Event::data("hi")]));
/// assert_eq!(response.headers()["content-type"], "text/event-stream");
/// ```
pub fn response<S>(stream: S) -> Response<SseBody<S>> {
    SseResponse::new(stream).into_response()
}

/// Builds an event stream response from a stream without a layer; its
/// builder methods are those of [`SseConfig`].
///
/// ```
/// use std::time::Duration;
/// use ssekit_core::Event;
/// use ssekit_tower::{KeepAlive, SseResponse};
///
/// let events = futures_util::stream::iter([Event::data("hi")]);
/// let response = SseResponse::new(events)
///     .keep_alive(KeepAlive::new().interval(Duration::from_secs(10)))
///     .first_event(Event::retry(Duration::from_secs(1)))
///     .into_response();
///
/// assert_eq!(response.status(), 200);
/// assert_eq!(response.headers()["cache-control"], "no-cache, no-transform");
/// ```
#[derive(Debug)]
pub struct SseResponse<S> {
    stream: S,
    config: SseConfig,
}

impl<S> SseResponse<S> {
    /// A response over `stream` with the default [`SseConfig`].
    pub fn new(stream: S) -> Self {
        SseResponse {
            stream,
            config: SseConfig::default(),
        }
    }

    delegate_config_builders!();

    /// The finished response: `200 OK`, the event stream headers and the
    /// body. Change the status or add headers on the result if needed.
    ///
    /// ```
    /// # use ssekit_core::Event;
    /// # use ssekit_tower::SseResponse;
    /// let response = SseResponse::new(futures_util::stream::iter([Event::data("hi")]))
    ///     .into_response();
    /// assert_eq!(response.headers()["x-accel-buffering"], "no");
    /// ```
    pub fn into_response(self) -> Response<SseBody<S>> {
        let mut response = Response::new(SseBody::with_config(self.stream, &self.config));
        // Three headers: allocate for exactly that (the map is kept for the
        // connection's life by some servers).
        *response.headers_mut() = HeaderMap::with_capacity(3);
        set_event_stream_headers(response.headers_mut());
        response
    }

    /// The stream and the configuration.
    ///
    /// ```
    /// # use futures_core::Stream;
    /// # use ssekit_core::Event;
    /// # use ssekit_tower::SseResponse;
    /// let response = SseResponse::new(futures_util::stream::iter([Event::data("hi")]));
    /// let (stream, _config) = response.into_parts();
    /// assert_eq!(stream.size_hint(), (1, Some(1)));
    /// ```
    pub fn into_parts(self) -> (S, SseConfig) {
        (self.stream, self.config)
    }
}

impl<S> From<SseResponse<S>> for Response<SseBody<S>> {
    fn from(response: SseResponse<S>) -> Self {
        response.into_response()
    }
}
