//! Server-sent events: the event model and the wire format of the WHATWG
//! HTML standard, with no HTTP and no web framework.
//!
//! - [`Event`]: one event, encoded once into shared bytes by a builder that
//!   rejects any value that would corrupt the stream;
//! - [`decode`]: an incremental, bounded decoder that reads a stream as a
//!   browser's `EventSource` does;
//! - `broker` (feature `broker`): topics, fan-out, history and resume by
//!   `Last-Event-ID`.
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
//! - `broker` (default): the `broker` module (adds `tokio` and `tokio-util`).
//! - `metrics`: the broker's counters and gauges also go to the `metrics`
//!   facade: `sse_broker_{published,delivered,dropped,skipped,evicted}_total`,
//!   `sse_broker_topics_removed_total`, `sse_broker_subscriptions`, and,
//!   with `BrokerBuilder::topic_metrics(true)`, `sse_broker_topic_subscribers`
//!   labelled by `topic` (one series per topic).

#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "broker")]
pub mod broker;
pub mod decode;
mod event;

pub use event::{Event, EventBuilder, EventError, Field};
