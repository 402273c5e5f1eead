//! Server-sent events for axum 0.8: a thin adapter over [`ssekit_tower`].
//!
//! - [`SseResponse`]: any stream of [`Event`]s (or of `Result<Event, E>`)
//!   as an [`IntoResponse`](axum::response::IntoResponse), with the
//!   options of [`SseConfig`]: keep-alive, first event, shutdown, error
//!   event, disconnect hook. The stream must be `Send + 'static`, never
//!   `Sync`.
//! - [`LastEventId`]: an extractor for the id a reconnecting client last
//!   received, from the `Last-Event-ID` header or else the `lastEventId`
//!   query parameter; an invalid one is answered with `400 Bad Request`
//!   ([`LastEventIdRejection`]).
//! - [`WriteDeadlineListener`]: `axum::serve` with a write deadline, so a
//!   client that stops reading is disconnected instead of holding its
//!   connection and stream for ever.
//!
//! Headers, framing, keep-alive, shutdown and error handling all come from
//! [`ssekit_tower`]; this crate only turns its response into axum's.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//!
//! use axum::Router;
//! use axum::body::Body;
//! use axum::routing::get;
//! use futures_util::stream::{self, Stream, StreamExt};
//! use ssekit_axum::{Event, KeepAlive, LastEventId, SseResponse};
//! use tower::ServiceExt;
//!
//! async fn events(last_event_id: LastEventId) -> SseResponse<impl Stream<Item = Event>> {
//!     let start = last_event_id.as_str().and_then(|id| id.parse::<u64>().ok()).map_or(0, |id| id + 1);
//!     let events = stream::iter(start..start + 2)
//!         .map(|n| Event::builder().id(n.to_string()).data("tick").build().unwrap());
//!     SseResponse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let app: Router = Router::new().route("/events", get(events));
//!
//! // `axum::serve(listener, app)` in a real server; here, one request:
//! let request = http::Request::get("/events").header("last-event-id", "41").body(Body::empty()).unwrap();
//! let response = app.oneshot(request).await.unwrap();
//! assert_eq!(response.headers()["content-type"], "text/event-stream");
//! let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
//! assert_eq!(body, "id: 42\ndata: tick\n\nid: 43\ndata: tick\n\n");
//! # }
//! ```
//!
//! # Compression
//!
//! tower-http's `CompressionLayer` leaves event streams alone: its default
//! predicate excludes `text/event-stream`, so events go out uncompressed
//! and at once (test `compression_layer_leaves_the_stream_uncompressed_and_unbuffered`).
//! A custom predicate must keep `.and(NotForContentType::SSE)` to keep that;
//! see the [`ssekit_tower`] crate docs.
//!
//! # Graceful shutdown
//!
//! `axum::serve(..).with_graceful_shutdown(signal)` waits for every open
//! response, and an event stream never ends by itself. Give the responses a
//! [`Shutdown`] made from the token that also drives the signal: cancelling
//! it ends every stream, and the server stops.
//!
//! ```
//! use ssekit_axum::{Event, SseResponse};
//! use tokio_util::sync::CancellationToken;
//!
//! let token = CancellationToken::new();
//! let response = SseResponse::new(futures_util::stream::pending::<Event>()).shutdown(token.clone());
//! // axum::serve(listener, app).with_graceful_shutdown(async move { token.cancelled().await })
//! # let _ = response;
//! ```
//!
//! # Many idle connections
//!
//! Through `axum::serve` an idle event stream holds hyper's buffers for
//! its whole life, about 20 KB per browser. A `Router` is a tower service,
//! so it can be served by `ssekit_tower::http1::serve_connection_with_shutdown`
//! (feature `http1` of `ssekit-tower`) instead: HTTP/1 only, and an event
//! stream's socket is taken back from hyper once its head is written,
//! 2.7 KB per idle browser with jemalloc (`docs/BENCHMARKS.md`). Other routes are
//! served by hyper as usual.
//!
//! ```no_run
//! use axum::Router;
//! use axum::routing::get;
//! use hyper::server::conn::http1;
//! use hyper_util::rt::TokioTimer;
//! use ssekit_axum::{Event, SseResponse};
//! use tokio_util::sync::CancellationToken;
//!
//! # async fn run() -> std::io::Result<()> {
//! let shutdown = CancellationToken::new();
//! let token = shutdown.clone();
//! let app: Router = Router::new().route(
//!     "/events",
//!     get(move || {
//!         let events = futures_util::stream::pending::<Event>();
//!         std::future::ready(SseResponse::new(events).shutdown(token.clone()))
//!     }),
//! );
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! let mut builder = http1::Builder::new();
//! builder.timer(TokioTimer::new());
//! loop {
//!     let (socket, _) = listener.accept().await?;
//!     tokio::spawn(ssekit_tower::http1::serve_connection_with_shutdown(
//!         &builder,
//!         socket,
//!         app.clone(),
//!         shutdown.clone().cancelled_owned(),
//!     ));
//! }
//! # }
//! ```

#![forbid(unsafe_code)]
#![deny(unreachable_pub)]
#![warn(missing_docs)]

mod last_event_id;
mod listener;
mod response;

pub use last_event_id::{LastEventId, LastEventIdRejection};
pub use listener::WriteDeadlineListener;
pub use response::{SseResponse, refusal};
pub use ssekit_core::Event;
pub use ssekit_tower::{
    Authorize, Denied, InvalidLastEventId, KeepAlive, Refusal, Refused, Shutdown, SseConfig,
};
