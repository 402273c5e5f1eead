//! Server-sent events for warp 0.4: a thin adapter over [`ssekit_tower`].
//!
//! - [`SseResponse`]: any stream of [`Event`]s (or of `Result<Event, E>`)
//!   as a [`Reply`](warp::Reply), with the options of [`SseConfig`]:
//!   keep-alive, first event, shutdown, error event, disconnect hook. The
//!   stream must be `Send + 'static`, never `Sync` (warp's own `sse::reply`
//!   requires `Sync`).
//! - [`last_event_id()`]: a filter extracting the id a reconnecting client
//!   last received ([`LastEventId`]), from the `Last-Event-ID` header or
//!   else the `lastEventId` query parameter; an invalid one rejects with
//!   [`LastEventIdRejection`], which [`recover`] answers with `400 Bad
//!   Request`.
//!
//! Headers, framing, keep-alive, shutdown and error handling all come from
//! [`ssekit_tower`]; this crate only turns its response into warp's.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//!
//! use futures_util::stream::{self, StreamExt};
//! use ssekit_warp::{Event, KeepAlive, LastEventId, SseResponse};
//! use warp::Filter;
//!
//! fn events(last_event_id: LastEventId) -> SseResponse<impl futures_util::Stream<Item = Event>> {
//!     let start = last_event_id.as_str().and_then(|id| id.parse::<u64>().ok()).map_or(0, |id| id + 1);
//!     let events = stream::iter(start..start + 2)
//!         .map(|n| Event::builder().id(n.to_string()).data("tick").build().unwrap());
//!     SseResponse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let route = warp::path("events")
//!     .and(warp::get())
//!     .and(ssekit_warp::last_event_id())
//!     .map(events)
//!     .recover(ssekit_warp::recover);
//!
//! // `warp::serve(route).run(addr)` in a real server; here, one request:
//! let response = warp::test::request().path("/events").header("last-event-id", "41").reply(&route).await;
//! assert_eq!(response.headers()["content-type"], "text/event-stream");
//! assert_eq!(response.body(), "id: 42\ndata: tick\n\nid: 43\ndata: tick\n\n");
//! # }
//! ```
//!
//! # Compression
//!
//! `warp::filters::compression::gzip()` (and `deflate`, `brotli`; features
//! `compression-gzip`, `compression-brotli`) compresses every
//! reply of the filter it wraps, whatever its content type, its
//! `cache-control: no-transform` and even the request's `Accept-Encoding`:
//! no header on the response can make it leave the stream alone. **Do not
//! wrap event stream routes with it**; wrap the other routes only:
//!
//! ```
//! use ssekit_warp::{Event, SseResponse};
//! use warp::Filter;
//!
//! let events = warp::path("events").map(|| SseResponse::new(futures_util::stream::pending::<Event>()));
//! let pages = warp::path("index.html").map(|| "<html></html>").with(warp::filters::compression::gzip());
//! let routes = events.or(pages);
//! # let _ = routes;
//! ```
//!
//! If it does wrap one, events are still not held back: its encoder
//! (async-compression's, flushing whenever the body has nothing ready)
//! sends each event at once as a compressed block (test
//! `warp_gzip_compresses_the_stream_but_each_event_arrives_promptly`), but a
//! client that cannot decode gzip then gets bytes it cannot read.
//!
//! # Graceful shutdown
//!
//! `warp::serve(..).graceful(signal)` waits for every open response, and an
//! event stream never ends by itself. Give the responses a [`Shutdown`]
//! made from the token that also drives the signal: cancelling it ends
//! every stream, and the server stops.
//!
//! ```
//! use ssekit_warp::{Event, SseResponse};
//! use tokio_util::sync::CancellationToken;
//!
//! let token = CancellationToken::new();
//! let response = SseResponse::new(futures_util::stream::pending::<Event>()).shutdown(token.clone());
//! // warp::serve(routes).incoming(listener).graceful(token.cancelled_owned()).run().await
//! # let _ = response;
//! ```

#![forbid(unsafe_code)]
#![deny(unreachable_pub)]
#![warn(missing_docs)]

mod last_event_id;
mod request;
mod response;

pub use last_event_id::{LastEventId, LastEventIdRejection, last_event_id, recover};
pub use request::request_parts;
pub use response::{SseResponse, refusal};
pub use ssekit_core::Event;
pub use ssekit_tower::{
    Authorize, Denied, InvalidLastEventId, KeepAlive, Refusal, Refused, Shutdown, SseConfig,
};
