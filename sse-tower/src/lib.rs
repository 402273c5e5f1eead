//! Serving server-sent events over HTTP with tower: give it any stream of
//! [`ssekit_core::Event`]s (or of `Result<Event, E>`) and it serves a
//! correct event stream response.
//!
//! - [`SseLayer`] turns a service's `Response<impl Stream>` into
//!   `Response<`[`SseBody`]`<_>>` and puts the request's [`LastEventId`] in
//!   its extensions; [`SseResponse`] (or [`response`]) does the same for one
//!   stream.
//! - [`SseConfig`] configures both: [`KeepAlive`] comments, a first event,
//!   a [`Shutdown`] signal, a final event on errors, a disconnect hook, and
//!   the coalescing of ready events into one frame.
//! - [`WriteDeadline`] disconnects a client that stops reading.
//! - [`subscribe`] (feature `broker`, default) serves a
//!   [`ssekit_core::broker::Broker`] subscription from the request's
//!   [`LastEventId`]; [`subscribe_authorized`] asks an [`Authorize`] hook
//!   first, and [`refusal`] answers a refused one: a refusal that passes
//!   as an event stream that asks the browser to come back ([`Unavailable`]),
//!   since an `EventSource` given any other status stops for good.
//! - `http1::serve_connection` (feature `http1`) serves HTTP/1 with hyper
//!   and takes an event stream's socket back once its head is written.
//! - `serve` (feature `serve`) is the server around it: accept loop,
//!   graceful shutdown that ends every stream, timeouts; `Serve::tls`
//!   (feature `tls`) serves HTTPS, HTTP/2 by ALPN, which a browser needs to
//!   open more than six event streams to one origin.
//!
//! What happens is logged with `tracing`: refusals, write-deadline
//! evictions, how each stream ended; never a request's URI or headers,
//! where credentials live. With feature `metrics` (off by default) the
//! same goes to the `metrics` facade, from every serving path:
//!
//! | metric | what |
//! |---|---|
//! | `sse_streams_open` (gauge) | event streams open |
//! | `sse_streams_closed_total{reason}` | streams ended: `end`, `error`, `panic`, `shutdown`, `disconnect` |
//! | `sse_refusals_total{kind}` | refusals answered, by the refusal's `kind` |
//! | `sse_write_deadline_evictions_total` | connections a [`WriteDeadline`] closed, and HTTP/2 streams `serve` reset |
//!
//! A broker subscription cut off for lagging (`LagPolicy::Disconnect`)
//! ends its stream as `end`; the broker counts it, as
//! `sse_broker_dropped_total` with ssekit-core's feature `metrics`.
//!
//! Behind `tower_http`'s `CompressionLayer`, event streams stay
//! uncompressed with its default predicate; a custom predicate keeps that
//! with `.and(NotForContentType::SSE)`. A `TimeoutLayer` times the
//! response future only, never the stream.
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//!
//! use http::{Request, Response};
//! use http_body_util::BodyExt;
//! use ssekit_core::Event;
//! use ssekit_tower::{LastEventId, SseLayer};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let events = tower::service_fn(|request: Request<()>| async move {
//!     let resume = request.extensions().get::<LastEventId>().and_then(LastEventId::as_str);
//!     let last: Option<u64> = resume.and_then(|id| id.parse().ok());
//!     let start = last.and_then(|id| id.checked_add(1)).unwrap_or(0);
//!     let stream = futures_util::stream::iter((start..start + 2).map(|n| {
//!         Event::builder().id(n.to_string()).data("tick").build()
//!     }));
//!     Ok::<_, Infallible>(Response::new(stream))
//! });
//! let service = ServiceBuilder::new().layer(SseLayer::new()).service(events);
//!
//! let request = Request::builder().header("last-event-id", "41").body(()).unwrap();
//! let response = service.oneshot(request).await.unwrap();
//! assert_eq!(response.headers()["content-type"], "text/event-stream");
//! let body = response.into_body().collect().await.unwrap().to_bytes();
//! // Every stream opens with `retry: 3000` (`SseConfig::retry`).
//! assert_eq!(body, "retry: 3000\n\nid: 42\ndata: tick\n\nid: 43\ndata: tick\n\n");
//! # }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

mod adapter;
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
mod refusal;
mod response;
mod retry;
#[cfg(feature = "serve")]
pub mod serve;
mod service;
pub mod shutdown;
#[cfg(feature = "broker")]
mod subscription;
mod telemetry;
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
pub use refusal::{Refusal, SSE_REFUSAL, Unavailable, refusal};
pub use response::{SseResponse, response, set_event_stream_headers};
pub use retry::Retry;
#[cfg(feature = "serve")]
pub use serve::{Serve, serve};
pub use service::SseService;
pub use shutdown::Shutdown;
#[cfg(feature = "broker")]
pub use subscription::{subscribe, subscribe_authorized};
pub use topics::{InvalidTopics, Topics};
pub use write_deadline::WriteDeadline;
