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
//! every process: the epoch and the sequence live in Redis
//! (`{prefix}epoch`, `{prefix}seq`), and a publish adds the stamped event
//! to each topic's stream (`{prefix}topic:{name}`) with its sequence number
//! as the stream id, atomically. A Redis that lost its data, or was
//! restored from an older snapshot, is moved to a new epoch, so ids issued
//! before reset
//! ([`ResetReason::OtherEpoch`](ssekit_core::broker::ResetReason)) instead
//! of naming other events. So does a Redis that holds the epoch but lost
//! the sequence alone (as a `maxmemory` eviction could): counting again
//! from 1 in the same epoch would issue ids twice.
//!
//! # Expiry
//!
//! A topic's stream expires a TTL after its last publish (a day by
//! default, [`RedisBackendBuilder::topic_ttl`]), so a room nobody posts to
//! leaves nothing behind. The epoch and the sequence never expire: ids keep
//! counting across expired topics and are never issued twice. A
//! `Last-Event-ID` older than the TTL on a topic whose stream expired (or
//! was created again since) gets a `reset`
//! ([`ResetReason::Evicted`](ssekit_core::broker::ResetReason)), never a
//! silent gap; one issued since, or the id of the topic's last event, still
//! resumes. Give Redis a `maxmemory-policy` of `noeviction` or `volatile-*`,
//! so that memory pressure removes streams (which have a TTL) and never
//! the epoch or the sequence.
//!
//! # Live delivery
//!
//! Each process reads the streams of its subscribed topics with one
//! `XREAD BLOCK` task and fans every entry out through the topic's live
//! feed, as the memory backend does: one encoded frame per event, and the
//! topic's [`LagPolicy`](ssekit_core::broker::LagPolicy) for a subscriber
//! that falls behind. A subscription replays from Redis, then continues
//! live with no gap and no duplicate.
//!
//! # Failures
//!
//! A publish or subscribe that Redis does not answer within the command
//! timeout, or while it is unreachable, returns
//! [`BrokerError::Backend`](ssekit_core::broker::BrokerError) (which
//! `ssekit-tower` answers with a `200` that keeps a browser reconnecting).
//! Open subscriptions stay open through an outage: the reader reconnects
//! with exponential backoff and continues where each topic stood, so a
//! Redis that comes back with its data (`appendonly yes`, `appendfsync
//! always`) delivers what is published after, with no gap and no
//! duplicate. When what the reader missed is gone from Redis (trimmed, or
//! a new epoch: Redis came back without its data), the topic's
//! subscriptions end, and their clients reconnect and get the replay or an
//! `event: reset`. The command connection is replaced as soon as it drops,
//! so the first publish once Redis is back succeeds; a publish is retried
//! only when it cannot have reached Redis (the connection was refused).
//! A publish that timed out has an unknown outcome: a Redis that was only
//! slow or cut off may still run it once it answers again, and its
//! subscribers then get it.
//!
//! # Redis Cluster
//!
//! [`RedisBackend::cluster_builder`] takes seed nodes and the same options.
//! Each hash slot orders its own ids: a topic's unit is the slot of its
//! stream (`{prefix}topic:{name}`), so topics that share a hash tag share
//! a unit. Publish together only topics of one unit; a subscription may
//! span units.
//!
//! ```no_run
//! use futures_util::StreamExt;
//! use ssekit_core::Event;
//! use ssekit_core::broker::{Broker, BrokerError};
//! use ssekit_redis::RedisBackend;
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), BrokerError> {
//! let backend = RedisBackend::cluster_builder(["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"])
//!     .connect()
//!     .await?;
//! let broker = Broker::builder().build_with(backend);
//!
//! let room = ["{room-7}:messages", "{room-7}:typing"];
//! let mut sub = broker.subscribe(&room, None).await?;
//! let id = broker.publish_to(&room, Event::data("hi")).await?;
//! let event = sub.next().await.unwrap();
//! assert_eq!(event.as_bytes(), format!("data: hi\nid: {id}\n\n").as_bytes());
//!
//! // Two rooms are two slots: no single id for one event.
//! let apart = broker.publish_to(&["{room-7}:messages", "{room-8}:messages"], Event::data("x")).await;
//! assert!(matches!(apart, Err(BrokerError::SpansUnits { units: 2, max: 1 })));
//! # Ok(())
//! # }
//! ```
//!
//! A unit keeps its epoch, sequence and TTL marks in keys of its own slot
//! (`{prefix}seq:{t}`, `t` a tag of that slot), and every publish also
//! goes out on the unit's sharded channel (`SPUBLISH {prefix}live:{t}`),
//! which each process subscribes to for the units it serves: no command
//! touches two slots, and no key is written by every publish. A prefix
//! with a hash tag (`{app}:`) puts everything in one slot, one shard.
//!
//! A subscription spanning units gets an id per unit
//! ([`Position`](ssekit_core::broker::Position)) and resumes exactly in
//! each; events are in order within a unit, not across. What a failure
//! costs, and what subscribers see:
//!
//! - **A dropped connection, a node restart, a slot migration**: the keys
//!   move with the slot, so do the unit's epoch and sequence. Each process
//!   subscribes again where the slot is served and reads what it missed
//!   from the streams: nothing lost, no reset. Publishes to a migrating
//!   slot wait (`ASK`, `TRYAGAIN`) until its keys have moved.
//! - **A master dies, its replica takes over**: replication is
//!   asynchronous, so publishes the master acknowledged may be lost. The
//!   scripts tell that they run on the promoted replica of the unit's last
//!   writer, and move the unit to a new epoch: its subscribers get
//!   `event: reset` (`other-epoch`), never a silent gap. Other masters'
//!   units go on untouched. Publishes to the dead master's slots fail
//!   until the promotion (about `cluster-node-timeout`), and for up to
//!   twice the command timeout after it: a process whose cluster
//!   connection stops answering replaces it.
//! - **Publishes that must survive a failover**:
//!   [`durability`](RedisBackendBuilder::durability)`(1, timeout)` waits for a
//!   replica (`WAIT`, on the slot's master) and answers an error, not a
//!   success, when none confirms. Its subscribers still get a reset at the
//!   failover: the epoch moves whatever was lost.
//!
//! The cluster client retries a command whose connection dropped: a
//! publish caught by a master's crash may be applied twice, with two ids.
//!
//! # Bounds
//!
//! Of [`TopicConfig`](ssekit_core::broker::TopicConfig), Redis applies the
//! event count (approximately by default, see
//! [`RedisBackendBuilder::exact_trim`]); byte and age bounds are not
//! applied. A resume reads at most that many events per topic inside
//! Redis: whether the position was trimmed is decided from the one entry
//! after it, and a position with more than the bound after it (an
//! approximately trimmed stream, or one written with a larger bound) gets
//! a `reset` (`Evicted`) like a trimmed one, so no `Last-Event-ID` makes
//! Redis read more than the topics' bounds. History is kept by Redis, so
//! [`Broker::stats`](ssekit_core::broker::Broker::stats) reports this process's
//! subscribers but no retained events.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod backend;
mod cluster;
mod reader;
mod wire;

pub use backend::{RedisBackend, RedisBackendBuilder};
