//! A reconnecting `EventSource` client: server-sent events as a browser
//! receives them, over any tower HTTP client.
//!
//! [`EventSource`] follows the WHATWG HTML processing model for
//! `EventSource`, and decodes with [`ssekit_core`]'s spec-exact, bounded
//! decoder:
//!
//! - it requests the stream with `Accept: text/event-stream` and
//!   `Cache-Control: no-cache`, and yields a [`Stream`](futures_core::Stream)
//!   of [`Item`]s: [`Item::Open`] when a connection is established, each
//!   [`Item::Event`] (type, data, last event id), and [`Item::Reconnecting`]
//!   when a connection ends;
//! - after the stream ends or the connection fails it waits the reconnection
//!   time — the server's latest `retry:`, otherwise [`Builder::retry`],
//!   3 seconds by default — and reconnects, sending `Last-Event-ID` when the
//!   last event id is not empty, so that the server can resume where it
//!   stopped. When attempts keep failing the wait grows with a jittered,
//!   capped exponential [`Backoff`], reset by the next successful connection;
//!   [`Item::Reconnecting`] tells how long it waits and why;
//! - it stops for good with [`Item::Closed`] on `204 No Content`, on any
//!   other status than `200 OK`, and on a `Content-Type` that is not
//!   `text/event-stream`; [`EventSource::close`] and [`CloseHandle`] end it
//!   at once;
//! - one event is bounded ([`Builder::max_event_size`]), and decoding is
//!   linear in the input however the server chunks it.
//!
//! As in the standard, each connection is decoded afresh: an event left
//! incomplete when a connection ends is dropped (the server sends it again
//! after the id it last completed), and the last event id is carried over
//! by the source, not by the decoder.
//!
//! # Differences from a browser's `EventSource`
//!
//! - No CORS and no credentials mode: headers are whatever
//!   [`Builder::header`] sets (an `Authorization`, a cookie).
//! - Redirects are followed, or not, by the HTTP client; the default one does
//!   not, and reports them as [`Error::Status`].
//! - Failed attempts back off instead of retrying at the reconnection time
//!   forever, which the standard allows ("optionally, wait some more").
//! - [`Builder::last_event_id`] can resume from an id saved by an earlier
//!   process; an id with control characters, which no header can carry, is
//!   not sent.
//! - Events over [`Builder::max_event_size`] are dropped and reported as
//!   [`Item::Dropped`].
//!
//! # Example
//!
//! Print the events of a stream, and carry on where it stopped when the
//! server restarts:
//!
//! ```no_run
//! use futures_util::StreamExt;
//! use ssekit_client::{EventSource, Item};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let mut source = EventSource::new("http://localhost:3000/events".parse()?);
//! while let Some(item) = source.next().await {
//!     match item {
//!         Item::Open => eprintln!("connected"),
//!         Item::Event(event) => {
//!             println!("{} #{}: {}", event.event_type(), event.last_event_id(), event.data());
//!         }
//!         // The server went away (or restarted): the source waits, then asks
//!         // for the events after the last id it received.
//!         Item::Reconnecting { delay, reason, .. } => {
//!             eprintln!("{reason}; reconnecting in {delay:?}");
//!         }
//!         Item::Closed(error) => return Err(error.into()),
//!         _ => {}
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # The HTTP client
//!
//! [`EventSource::new`] and [`Builder::build`] use hyper-util's legacy
//! `Client` over plain HTTP/1 (feature `hyper`, on by default). Any tower
//! [`Service`](tower_service::Service) from `http::Request` to
//! `http::Response` with an [`http_body::Body`] will do instead, through
//! [`Builder::build_with_service`]: a client with TLS, one wrapped in
//! tower-http's `FollowRedirect` (redirects are the client's business), or a
//! router called in process, as here:
//!
//! ```
//! use std::convert::Infallible;
//! use futures_util::StreamExt;
//! use http::{Request, Response};
//! use http_body_util::{Empty, Full};
//! use bytes::Bytes;
//! use ssekit_client::{EventSource, Item};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let service = tower::service_fn(|_: Request<Empty<Bytes>>| async {
//!     let response = Response::builder()
//!         .header("content-type", "text/event-stream")
//!         .body(Full::new(Bytes::from_static(b"data: hello\n\n")))
//!         .unwrap();
//!     Ok::<_, Infallible>(response)
//! });
//! let mut source = EventSource::builder("http://in.process/".parse().unwrap())
//!     .build_with_service(service);
//! assert!(matches!(source.next().await, Some(Item::Open)));
//! let event = source.next().await.and_then(Item::into_event).unwrap();
//! assert_eq!(event.data(), "hello");
//! # }
//! ```
//!
//! # Features
//! - `hyper` (default): [`EventSource::new`] and [`Builder::build`].

#![forbid(unsafe_code)]
#![deny(unreachable_pub)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod backoff;
mod builder;
mod close;
mod error;
mod item;
mod service;
mod source;

pub use self::backoff::Backoff;
pub use self::builder::{Builder, DEFAULT_RETRY};
pub use self::close::CloseHandle;
pub use self::error::{BoxError, Disconnect, Error};
pub use self::item::Item;
pub use self::source::EventSource;
pub use ssekit_core::decode::{DecodeError, MessageEvent};
