//! Server-sent events: the event model and the wire format.
//!
//! This crate knows nothing of HTTP or of any web framework. It holds:
//!
//! - [`Event`]: one event, encoded once into shared [`Bytes`](bytes::Bytes)
//!   by a builder that refuses input which would corrupt the stream;
//! - [`decode`]: an incremental, bounded decoder that reads a stream exactly
//!   as a browser's `EventSource` does;
//! - `broker` (feature `broker`): topics, encode-once fan-out to many
//!   subscribers, bounded history and resume by `Last-Event-ID`.
//!
//! The format is the one defined by the WHATWG HTML standard, section
//! "Server-sent events".
//!
//! ```
//! use ssekit_core::Event;
//! use ssekit_core::decode::{Decoded, Decoder};
//!
//! let event = Event::builder().event("chat").id("1").data("hi\nthere").build()?;
//!
//! let mut decoder = Decoder::new();
//! let Some(Ok(Decoded::Event(received))) = decoder.decode(event.as_bytes()).next() else {
//!     unreachable!("one complete event was fed");
//! };
//! assert_eq!(received.event_type(), "chat");
//! assert_eq!(received.data(), "hi\nthere");
//! assert_eq!(received.last_event_id(), "1");
//! # Ok::<(), ssekit_core::EventError>(())
//! ```
//!
//! # Features
//! - `json` (default): [`Event::json`] and [`EventBuilder::json`].
//! - `broker` (default): the `broker` module (depends on `tokio` with the
//!   `sync` feature only). The encoder and decoder do not need it.
//! - `metrics`: the broker's counters and gauges also go to the `metrics`
//!   facade: `sse_broker_{published,delivered,dropped,skipped,evicted}_total`,
//!   `sse_broker_subscriptions`, and `sse_broker_topic_subscribers` with a
//!   `topic` label (one series per topic: mind the cardinality when topics
//!   are per user).

#![forbid(unsafe_code)]
#![deny(unreachable_pub)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

#[cfg(feature = "broker")]
pub mod broker;
pub mod decode;
mod event;

pub use event::{Event, EventBuilder, EventError, Field};
