//! Server-sent events for poem 3: a thin adapter over [`ssekit_tower`].
//!
//! - [`SseResponse`]: any stream of [`Event`]s (or of `Result<Event, E>`)
//!   as an [`IntoResponse`](poem::IntoResponse), with the options of
//!   [`SseConfig`]: keep-alive, first event, shutdown, error event,
//!   disconnect hook. The stream must be `Send + 'static`, never `Sync`.
//! - [`LastEventId`]: an extractor ([`FromRequest`](poem::FromRequest))
//!   for the id a reconnecting client last received, from the
//!   `Last-Event-ID` header or else the `lastEventId` query parameter; an
//!   invalid one is answered with `400 Bad Request`
//!   ([`LastEventIdRejection`]).
//! - [`WriteDeadlineListener`]: a listener whose connections have a write
//!   deadline, so a client that stops reading is disconnected instead of
//!   holding its connection and stream for ever.
//!
//! Headers, framing, keep-alive, shutdown and error handling all come from
//! [`ssekit_tower`]; this crate only turns its response into poem's.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//!
//! use futures_util::stream::{self, Stream, StreamExt};
//! use poem::{Endpoint, Request, Route, get, handler};
//! use ssekit_poem::{Event, KeepAlive, LastEventId, SseResponse};
//!
//! #[handler]
//! fn events(last_event_id: LastEventId) -> SseResponse<impl Stream<Item = Event>> {
//!     let start = last_event_id.as_str().and_then(|id| id.parse::<u64>().ok()).map_or(0, |id| id + 1);
//!     let events = stream::iter(start..start + 2)
//!         .map(|n| Event::builder().id(n.to_string()).data("tick").build().unwrap());
//!     SseResponse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let app = Route::new().at("/events", get(events));
//!
//! // `Server::new(TcpListener::bind(addr)).run(app)` in a real server; here, one request:
//! let request = Request::builder().uri_str("/events").header("last-event-id", "41").finish();
//! let response = app.get_response(request).await;
//! assert_eq!(response.headers()["content-type"], "text/event-stream");
//! let body = response.into_body().into_string().await.unwrap();
//! assert_eq!(body, "id: 42\ndata: tick\n\nid: 43\ndata: tick\n\n");
//! # }
//! ```
//!
//! # Compression
//!
//! poem's `Compression` middleware (feature `compression`) compresses every
//! response whose request accepts gzip, deflate, brotli or zstd, whatever
//! its content type or `cache-control: no-transform`: no header on the
//! response can make it leave the stream alone. **Do not put event stream
//! routes under it**; put it on the other routes only:
//!
//! ```
//! use poem::middleware::Compression;
//! use poem::{EndpointExt, Route, get, handler};
//! use ssekit_poem::{Event, SseResponse};
//!
//! #[handler]
//! fn events() -> SseResponse<futures_util::stream::Pending<Event>> {
//!     SseResponse::new(futures_util::stream::pending())
//! }
//! #[handler]
//! fn page() -> &'static str {
//!     "<html></html>"
//! }
//!
//! let app = Route::new()
//!     .at("/events", get(events))
//!     .at("/index.html", get(page).with(Compression::new()));
//! # let _ = app;
//! ```
//!
//! If it does wrap one, events are still not held back: its encoder
//! (async-compression's, flushing whenever the body has nothing ready)
//! sends each event at once as a compressed block (test
//! `poem_compression_compresses_the_stream_but_each_event_arrives_promptly`).
//!
//! # Clients that go away
//!
//! poem's server notices that a client closed its connection only when it
//! next writes to it (measured: with keep-alive disabled, a subscription
//! of a client that left was still open 5 s later). Keep the keep-alive on
//! (15 s by default, [`KeepAlive`]): its comments are those writes, so the
//! stream, and any broker subscription in it, is dropped within one
//! interval (test `the_subscriber_count_is_back_to_0_after_the_client_disconnects`).
//!
//! # Graceful shutdown
//!
//! `Server::run_with_graceful_shutdown` waits for every open response (or
//! its own timeout), and an event stream never ends by itself. Give the
//! responses a [`Shutdown`] made from the token that also drives the
//! signal: cancelling it ends every stream, and the server stops.
//!
//! ```
//! use ssekit_poem::{Event, SseResponse};
//! use tokio_util::sync::CancellationToken;
//!
//! let token = CancellationToken::new();
//! let response = SseResponse::new(futures_util::stream::pending::<Event>()).shutdown(token.clone());
//! // Server::new(listener).run_with_graceful_shutdown(app, token.cancelled_owned(), None).await
//! # let _ = response;
//! ```

#![forbid(unsafe_code)]
#![deny(unreachable_pub)]
#![warn(missing_docs)]

mod last_event_id;
mod listener;
mod response;

pub use last_event_id::{LastEventId, LastEventIdRejection};
pub use listener::{WriteDeadlineAcceptor, WriteDeadlineListener};
pub use response::{SseResponse, refusal};
pub use ssekit_core::Event;
pub use ssekit_tower::{
    Authorize, Denied, InvalidLastEventId, KeepAlive, Refusal, Refused, Shutdown, SseConfig,
};
