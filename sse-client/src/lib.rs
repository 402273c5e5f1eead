//! A reconnecting `EventSource` client: server-sent events as a browser
//! receives them, over any tower HTTP client.
//!
//! [`EventSource`] is a [`Stream`](futures_core::Stream) of [`Item`]s that
//! follows the WHATWG HTML processing model for `EventSource`, decoding with
//! [`ssekit_core`]'s decoder.
//!
//! # Processing model
//! - Requests carry `Accept: text/event-stream` and `Cache-Control: no-cache`.
//!   Each connection yields [`Item::Open`], its [`Item::Event`]s, then
//!   [`Item::Reconnecting`] when it ends or fails.
//! - Before reconnecting the source waits the reconnection time (the server's
//!   latest `retry:`, else [`Builder::retry`], 3 seconds by default) and
//!   sends `Last-Event-ID` when the last event id is not empty. While
//!   attempts keep failing the wait grows with a [`Backoff`].
//! - Redirects are followed as `fetch` follows them, up to 20
//!   ([`Builder::max_redirects`]).
//! - It stops with [`Item::Closed`] on `204 No Content`, on any status other
//!   than `200 OK` (unless a [`RetryPolicy`] retries it), and on a
//!   `Content-Type` other than `text/event-stream`;
//!   [`EventSource::close`] and [`CloseHandle`] stop it at once.
//! - An event left incomplete when a connection ends is dropped.
//!
//! # Beyond a browser's `EventSource`
//! - Any method and body ([`Builder::method`], [`Builder::body`],
//!   `Builder::json`), and a hook that prepares each attempt's request
//!   ([`Builder::on_request`]): a token refreshed before a reconnection.
//! - A [`RetryPolicy`] that retries `5xx` and `429`, honouring
//!   `Retry-After`; a refusal carries its status, headers and the start of
//!   its body ([`ErrorResponse`]).
//! - An idle timeout ([`Builder::idle_timeout`]) that drops a connection
//!   on which nothing arrives, a half-open one included, and comments as
//!   items ([`Builder::comments`]).
//!
//! # Differences from a browser's `EventSource`
//! - No CORS and no credentials mode: headers are whatever
//!   [`Builder::header`] and [`Builder::on_request`] set; a redirect to
//!   another origin drops `Authorization` and keeps the rest.
//! - Failed attempts back off, which the standard allows ("optionally, wait
//!   some more").
//! - [`Builder::last_event_id`] resumes from an id saved earlier; an id with
//!   control characters, which no header can carry, is not sent.
//! - Events over [`Builder::max_event_size`] are reported as [`Item::Dropped`].
//!
//! # Example
//!
//! ```no_run
//! use futures_util::StreamExt;
//! use ssekit_client::{EventSource, Item};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let mut source = EventSource::new("http://localhost:3000/events".parse()?);
//! while let Some(item) = source.next().await {
//!     match item {
//!         Item::Event(event) => println!("{}: {}", event.event_type(), event.data()),
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
//! # Features
//! - `hyper` (default): [`EventSource::new`] and [`Builder::build`], on
//!   hyper-util's legacy `Client` over plain HTTP/1. Without it, use
//!   [`Builder::build_with_service`].
//! - `reqwest`: `Builder::build_with_reqwest`, on a `reqwest::Client`,
//!   whose own redirect policy then applies.
//! - `json`: `Builder::json`, a body serialized with serde_json.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod backoff;
mod builder;
mod close;
mod comments;
mod error;
mod item;
mod redirect;
#[cfg(feature = "reqwest")]
mod reqwest_client;
mod retry;
mod service;
mod source;

pub use self::backoff::Backoff;
pub use self::builder::{Builder, DEFAULT_MAX_ERROR_BODY, DEFAULT_RETRY};
pub use self::close::CloseHandle;
pub use self::error::{BoxError, Disconnect, Error, ErrorResponse};
pub use self::item::Item;
pub use self::retry::{Attempt, RetryPolicy};
pub use self::source::EventSource;
pub use ssekit_core::decode::{DecodeError, MessageEvent};
