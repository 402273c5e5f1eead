//! Serving server-sent events over HTTP with tower.
//!
//! This crate is the one place where the HTTP side of server-sent events
//! lives; the framework adapters build on it. Give it any stream of
//! [`ssekit_core::Event`]s (or of `Result<Event, E>`) and it serves a correct
//! event stream response:
//!
//! - [`SseLayer`] wraps a service that answers with `Response<impl Stream>`
//!   and turns it into `Response<`[`SseBody`]`<_>>`; it also parses the
//!   request's `Last-Event-ID` into a [`LastEventId`] request extension.
//! - [`SseResponse`] (or [`response`]) does the same for one stream, without
//!   a layer.
//! - [`SseConfig`] configures both alike: [`KeepAlive`] comments on idle
//!   streams, a first frame, a [`Shutdown`] signal that ends every stream,
//!   a final event on stream errors, and a disconnect hook.
//! - [`WriteDeadline`] wraps a connection's IO so that a client that stops
//!   reading is disconnected after a deadline, instead of holding its
//!   connection and stream for ever.
//! - [`subscribe`] (feature `broker`, default) serves a
//!   [`ssekit_core::broker::Broker`] subscription in one line: the request's
//!   [`LastEventId`] goes into the subscription, whose stream (replay, then
//!   live events) becomes the body.
//! - `http1::serve_connection` (feature `http1`) serves a connection with
//!   hyper's HTTP/1 builder but takes an event stream's socket back once
//!   hyper has written the head: an idle event stream then holds a few KB,
//!   not hyper's two 8 KiB buffers (for servers of many idle browsers);
//!   `http1::serve_connection_with_shutdown` adds hyper's graceful shutdown.
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//! use std::time::Duration;
//!
//! use http::{Request, Response};
//! use http_body_util::BodyExt;
//! use ssekit_core::Event;
//! use ssekit_tower::{KeepAlive, LastEventId, SseLayer};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // The inner service answers with a stream of events; it knows nothing of
//! // HTTP framing, headers or keep-alive.
//! let events = tower::service_fn(|request: Request<()>| async move {
//!     let resume = request.extensions().get::<LastEventId>().and_then(LastEventId::as_str);
//!     let start: u64 = resume.and_then(|id| id.parse::<u64>().ok()).map_or(0, |id| id + 1);
//!     let stream = futures_util::stream::iter((start..start + 2).map(|n| {
//!         Event::builder().id(n.to_string()).data("tick").build()
//!     }));
//!     Ok::<_, Infallible>(Response::new(stream))
//! });
//!
//! let service = ServiceBuilder::new()
//!     .layer(SseLayer::new().keep_alive(KeepAlive::new().interval(Duration::from_secs(20))))
//!     .service(events);
//!
//! let request = Request::builder().header("last-event-id", "41").body(()).unwrap();
//! let response = service.oneshot(request).await.unwrap();
//! assert_eq!(response.headers()["content-type"], "text/event-stream");
//!
//! let body = response.into_body().collect().await.unwrap().to_bytes();
//! assert_eq!(body, "id: 42\ndata: tick\n\nid: 43\ndata: tick\n\n");
//! # }
//! ```
//!
//! # The response
//!
//! Headers are set by [`set_event_stream_headers`], shared by the layer and
//! the builder: `content-type: text/event-stream`, `cache-control: no-cache,
//! no-transform`, `x-accel-buffering: no`; no `content-length` and no
//! connection-specific header, so the same response is valid on HTTP/1.1 and
//! HTTP/2. The inner service's status and other headers are kept.
//!
//! An event that is ready alone is one body frame made of its own
//! [`Bytes`](bytes::Bytes), never copied, and hyper writes and flushes it at
//! once. Events that are ready together are gathered into one frame of at
//! most [`SseConfig::coalesce`] bytes (16 KiB by default): hyper writes each
//! frame as its own chunk and flushes after a handful of them, so without
//! this a burst costs many writes. Measured through hyper over HTTP/1.1, it
//! delivers about six times the events per second of one frame per event
//! (`docs/BENCHMARKS.md`, "ssekit-tower: body throughput").
//!
//! # Behind other middleware
//!
//! - **Compression** (`tower_http::compression::CompressionLayer`): its
//!   default predicate never compresses `text/event-stream`, so events go
//!   out as they are. A predicate that compresses everything does compress
//!   the stream; the compressor flushes whenever the body has nothing ready,
//!   so each event still reaches the client at once, as a compressed block.
//!   This crate does not set `content-encoding: identity` to opt out, which
//!   RFC 9110 reserves; to keep a custom predicate away from event streams,
//!   add `.and(NotForContentType::SSE)` to it.
//! - **Timeouts** (`tower_http::timeout::TimeoutLayer`): these time the
//!   response future only, which resolves as soon as the inner service
//!   answers, so a long-lived stream is never cut. A body timeout
//!   (`ResponseBodyTimeoutLayer`) longer than the keep-alive interval is kept
//!   at bay by the keep-alive comments.
//!
//! # Ending a stream
//!
//! The body ends when the stream ends; when the stream yields an `Err` or
//! panics (logged with `tracing`, optionally followed by a final event,
//! [`SseConfig::error_event`]; a panic ends only its own response, not the
//! connection and the other streams on it); or when the [`Shutdown`] token is cancelled
//! (optionally after a final event), which lets a server's graceful shutdown
//! complete. When the client disconnects, the server drops the body and the
//! stream with it; [`SseConfig::on_disconnect`] observes that case only.

#![forbid(unsafe_code)]
#![deny(unreachable_pub)]
#![warn(missing_docs)]

#[cfg(feature = "broker")]
mod authorize;
mod body;
mod config;
mod disconnect;
mod future;
#[cfg(feature = "http1")]
pub mod http1;
mod item;
pub mod keep_alive;
mod last_event_id;
mod layer;
mod query;
#[cfg(feature = "broker")]
mod refusal;
mod response;
mod service;
pub mod shutdown;
#[cfg(feature = "broker")]
mod subscription;
mod topics;
pub mod write_deadline;

#[cfg(feature = "broker")]
pub use authorize::{Authorize, Denied, Refused};
pub use body::{SseBody, StreamPanicked};
pub use config::SseConfig;
pub use future::ResponseFuture;
pub use item::{BoxError, SseItem};
pub use keep_alive::KeepAlive;
pub use last_event_id::{InvalidLastEventId, LAST_EVENT_ID, LastEventId};
pub use layer::SseLayer;
#[cfg(feature = "broker")]
pub use refusal::{REFUSAL_RETRY_AFTER, Refusal, refusal};
pub use response::{SseResponse, response, set_event_stream_headers};
pub use service::SseService;
pub use shutdown::Shutdown;
#[cfg(feature = "broker")]
pub use subscription::{subscribe, subscribe_authorized};
pub use topics::{InvalidTopics, Topics};
pub use write_deadline::WriteDeadline;
