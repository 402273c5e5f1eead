//! A Redis backend for the `ssekit-core` broker: several server processes
//! share topics, event ids and history, so a browser that reconnects to any
//! of them resumes exactly where it was.
//!
//! ```no_run
//! use futures_util::StreamExt;
//! use ssekit_core::Event;
//! use ssekit_core::broker::{Broker, TopicConfig};
//! use ssekit_redis::RedisBackend;
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), ssekit_core::broker::BrokerError> {
//! // Each process: one backend, one broker.
//! let backend = RedisBackend::builder("redis://127.0.0.1:6379")
//!     .defaults(TopicConfig::new().max_events(1000))
//!     .connect()
//!     .await?;
//! let broker = Broker::builder().build_with(backend);
//!
//! let mut room = broker.subscribe(&["room:rust"], None).await?;
//! // Published here or by any other process on the same Redis.
//! let id = broker.publish("room:rust", Event::data("hello")).await?;
//! let event = room.next().await.unwrap();
//! assert_eq!(event.as_bytes(), format!("data: hello\nid: {id}\n\n").as_bytes());
//! # Ok(())
//! # }
//! ```
//!
//! # Ids
//!
//! Ids keep the broker's format, `{epoch:x}-{seq}`, and mean the same in
//! every process:
//!
//! - The epoch is stored in Redis (`{prefix}epoch`), set by the first
//!   process to need it (`SET` when missing, inside the scripts below). A
//!   Redis that lost its data (restarted without persistence, flushed) gets
//!   a new one, so ids issued before are recognised as foreign
//!   ([`ResetReason::OtherEpoch`](ssekit_core::broker::ResetReason)), never
//!   misread as positions in the new sequence.
//! - One sequence for all topics (`INCR {prefix}seq`). A publish is one
//!   Lua script: it takes the next number and `XADD`s the stamped frame to
//!   each topic's stream (`{prefix}topic:{name}`) with the explicit stream
//!   id `{seq}-0` and `MAXLEN ~ n` (the topic's event bound), atomically.
//!   An event published to several topics keeps one id everywhere.
//!
//! Stream ids are therefore the sequence numbers themselves: a
//! `Last-Event-ID` issued by one process is an `XRANGE` start on any other.
//! Each entry also records the topic's previous sequence number, which
//! tells exactly whether events after a position were trimmed
//! ([`ResetReason::Evicted`](ssekit_core::broker::ResetReason)) or never
//! existed in that topic.
//!
//! # Live delivery
//!
//! Each process has one reader task, on its own connection, looping on one
//! `XREAD BLOCK` over the streams of every topic with subscribers in this
//! process. One `XREAD` is one snapshot of all those streams, so the reader
//! sends the entries merged by id into each topic's local live feed
//! (`ssekit_core::broker::ring`): a subscription to several topics
//! receives them in id order, as with the in-memory backend, and the
//! `Last-Event-ID` a browser holds never passes an event it has not
//! received. Every local subscriber reads from those channels: the frame
//! is encoded once (by the publisher), delivery per subscriber is a
//! reference-count bump, and a subscriber past the lag limit is handled by
//! the topic's [`LagPolicy`](ssekit_core::broker::LagPolicy). A topic leaves
//! the read when its last local subscriber does; a new one joins at once
//! (the blocked read is ended with `CLIENT UNBLOCK` and started again).
//!
//! A subscribe reads, in one script, the epoch, the latest sequence number
//! and the entries after the client's id, then takes its receivers. If the
//! reader is already past that snapshot, the entries in between are read
//! with one more `XRANGE`, so replay then live has no gap and no
//! duplicate.
//!
//! # Failures
//!
//! A publish or subscribe that Redis does not answer within the command
//! timeout returns [`BrokerError::Backend`](ssekit_core::broker::BrokerError):
//! nothing is dropped silently. The reader reconnects with exponential
//! backoff and continues from each topic's last entry, so subscribers get what they missed
//! while it is still in the stream. When it is not (trimmed meanwhile, or
//! Redis came back without its data), the topic's subscriptions end; the
//! client reconnects with its `Last-Event-ID` and gets the broker's
//! `event: reset` notice, or the replay if the history still has it.
//!
//! A Redis restored from an older snapshot holds the same epoch with a
//! lower sequence: it would give out again ids that browsers already hold,
//! for other events, and a browser resuming from one would skip what it
//! never saw. Each process remembers the highest sequence number it has
//! seen; its next publish or subscribe, or its reader's next read, finds
//! Redis below it and moves Redis to a fresh epoch first, so those ids
//! reset instead. (A process that starts after the restore and publishes
//! before any other notices cannot tell; the others move the epoch at their
//! next read, within the reader's block time, 2 s by default.)
//!
//! # Bounds
//!
//! Of [`TopicConfig`](ssekit_core::broker::TopicConfig), Redis applies the
//! event count (approximately by default, see
//! [`RedisBackendBuilder::exact_trim`]); byte and age bounds are not
//! applied. History is kept by Redis, so
//! [`Broker::stats`](ssekit_core::broker::Broker::stats) reports this process's
//! subscribers but no retained events.

#![forbid(unsafe_code)]
#![deny(unreachable_pub)]
#![warn(missing_docs)]

mod backend;
mod reader;
mod wire;

pub use backend::{RedisBackend, RedisBackendBuilder};
