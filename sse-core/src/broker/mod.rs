//! A publish/subscribe broker for server-sent events: topics, encode-once
//! fan-out, bounded history, resume by `Last-Event-ID`, and a policy for
//! slow consumers.
//!
//! ```
//! use futures_util::StreamExt;
//! use ssekit_core::Event;
//! use ssekit_core::broker::{Broker, Resume};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), ssekit_core::broker::BrokerError> {
//! let broker = Broker::new();
//!
//! // A browser connects, then the room gets two messages.
//! let mut alice = broker.subscribe(&["room:rust"], None).await?;
//! let first = broker.publish("room:rust", Event::data("hello")).await?;
//! broker.publish("room:rust", Event::data("anyone?")).await?;
//! assert_eq!(alice.next().await.unwrap(), ssekit_core::broker::stamp(&Event::data("hello"), first));
//!
//! // Its connection drops after the first; it reconnects with
//! // `Last-Event-ID` and gets exactly what it missed, then live events.
//! drop(alice);
//! let last_event_id = first.to_string();
//! let mut again = broker.subscribe(&["room:rust"], Some(&last_event_id)).await?;
//! assert_eq!(again.resume(), Resume::Replayed { events: 1 });
//! let missed = again.next().await.unwrap();
//! assert!(missed.as_bytes().starts_with(b"data: anyone?\nid: "));
//! # Ok(())
//! # }
//! ```
//!
//! # Ids
//!
//! Each published event gets an [`EventId`], written `{epoch:x}-{seq}` as
//! the event's last `id:` field. One sequence covers the whole broker, so
//! one `Last-Event-ID` places a browser in every topic it follows, and an
//! event published to several topics ([`Broker::publish_to`]) has one id.
//! The epoch is drawn when the broker starts.
//!
//! A sharded backend orders ids per **unit** ([`Backend::unit`]): each
//! unit has its own sequence and epoch. A subscription to topics of one
//! unit gets ids written as above; one spanning several (at most
//! [`BrokerBuilder::max_units`]) gets a [`Position`] naming an id per unit,
//! and each event comes as two items: its shared frame, then the `id:`
//! line and blank line that end it. Order holds within a unit, not across.
//!
//! # Resume
//!
//! [`Broker::subscribe`] with a `Last-Event-ID` replays the retained events
//! after it, then continues live, with no gap and no duplicate. An id that
//! cannot be resumed from gives [`Resume::Reset`] and a first event
//! `event: reset` whose `id:` is the current position.
//!
//! # Bounds
//!
//! Per topic ([`TopicConfig`]): history of at most 1000 events, 16 MiB and
//! 5 minutes by default; past a lag limit of 256 events or 4 MiB a
//! subscriber is disconnected or skips ahead ([`LagPolicy`]). For the
//! whole broker, 256 MiB of history
//! ([`BrokerBuilder::max_history_bytes`]), the oldest events going first.
//!
//! # Cleanup
//!
//! The broker cleans up by itself: a task it owns sweeps every 30 seconds
//! ([`BrokerBuilder::sweep_interval`]), evicting history past its age and
//! removing topics that have no subscriber and either no history left or
//! no use for 10 minutes ([`TopicConfig::idle_timeout`]). The task starts
//! on the broker's first use inside a Tokio runtime, so a broker may be
//! built outside one, and ends when the broker and its subscriptions are
//! dropped. A `Last-Event-ID` whose events went gets a `reset`.
//!
//! # Private events
//!
//! [`Broker::publish_private`] publishes an event that only subscriptions
//! whose [`Grant`] names its topic receive ([`Broker::subscribe_granted`]).
//!
//! # Backends
//!
//! Where events are kept and how they travel is a [`Backend`];
//! [`MemoryBackend`] is the default.

mod admission;
mod backend;
mod config;
mod entry;
mod error;
mod grant;
mod id;
mod memory;
mod ring;
mod shared;
mod stats;
mod subscription;
mod sweep;
mod topic;

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

pub use self::backend::{Backend, BackendFuture, Live, Opened};
pub use self::config::{LagPolicy, TopicConfig, TopicLimits};
pub use self::entry::{Entry, ResetReason, Visibility};
pub use self::error::BrokerError;
pub use self::grant::Grant;
pub use self::id::{EventId, ParseEventIdError, Position, stamp};
pub use self::memory::MemoryBackend;
pub use self::ring::{LiveReceiver, LiveSender};
pub use self::stats::{BackendStats, Stats, TopicStats};
pub use self::subscription::{Resume, Subscription};

use self::shared::Shared;
use self::stats::{Counters, Hooks};
use self::sweep::Sweeper;
use crate::Event;

/// The broker: publish events to topics, subscribe to topics. Cheap to
/// clone; every clone is the same broker.
///
/// ```
/// use ssekit_core::Event;
/// use ssekit_core::broker::Broker;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), ssekit_core::broker::BrokerError> {
/// let broker = Broker::new();
/// let id = broker.publish("clock", Event::data("12:00")).await?;
/// assert_eq!(id.epoch(), broker.epoch());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Broker {
    shared: Arc<Shared>,
}

impl Default for Broker {
    fn default() -> Self {
        Self::new()
    }
}

impl Broker {
    /// A broker over a [`MemoryBackend`] with the default bounds.
    ///
    /// ```
    /// # use ssekit_core::broker::Broker;
    /// let broker = Broker::new();
    /// assert_eq!(broker.stats().published, 0);
    /// ```
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder, for hooks, limits, per-topic bounds or another backend.
    pub fn builder() -> BrokerBuilder {
        BrokerBuilder::default()
    }

    /// How many ordering units a subscription may span by default
    /// ([`BrokerBuilder::max_units`]): 16, whose ids fit the usual 1 KiB
    /// `Last-Event-ID` limit.
    pub const DEFAULT_MAX_UNITS: usize = 16;

    /// How often the sweep runs by default: every 30 seconds.
    pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_secs(30);

    /// The id space of this broker's event ids.
    ///
    /// ```
    /// # use ssekit_core::broker::Broker;
    /// assert_ne!(Broker::new().epoch(), Broker::new().epoch());
    /// ```
    pub fn epoch(&self) -> u64 {
        self.shared.backend.epoch()
    }

    /// Publishes `event` to `topic`: it gets the next id, is kept in the
    /// topic's history, and goes to every subscriber as the same bytes,
    /// without waiting for any.
    ///
    /// ```
    /// # use ssekit_core::Event;
    /// # use ssekit_core::broker::Broker;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ssekit_core::broker::BrokerError> {
    /// let broker = Broker::new();
    /// let first = broker.publish("a", Event::data("1")).await?;
    /// let second = broker.publish("b", Event::data("2")).await?;
    /// assert!(first.seq() < second.seq());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn publish(&self, topic: &str, event: Event) -> Result<EventId, BrokerError> {
        self.publish_checked(&[topic], &event, Visibility::Public)
            .await
    }

    /// Publishes `event` to `topic` like [`publish`](Self::publish), but
    /// only subscribers whose [`Grant`] names the topic receive it, live or
    /// replayed; the others never see it, not even its id.
    ///
    /// ```
    /// # use futures_util::StreamExt;
    /// # use ssekit_core::Event;
    /// # use ssekit_core::broker::{Broker, Grant};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ssekit_core::broker::BrokerError> {
    /// let broker = Broker::new();
    /// let mut owner = broker.subscribe_granted(&["order:7"], None, &Grant::topics(["order:7"])).await?;
    /// let mut anyone = broker.subscribe(&["order:7"], None).await?;
    ///
    /// broker.publish_private("order:7", Event::data("card ending 4242")).await?;
    /// broker.publish("order:7", Event::data("shipped")).await?;
    ///
    /// assert!(owner.next().await.unwrap().as_bytes().starts_with(b"data: card"));
    /// assert!(owner.next().await.unwrap().as_bytes().starts_with(b"data: shipped"));
    /// assert!(anyone.next().await.unwrap().as_bytes().starts_with(b"data: shipped"));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn publish_private(&self, topic: &str, event: Event) -> Result<EventId, BrokerError> {
        self.publish_checked(&[topic], &event, Visibility::Private)
            .await
    }

    /// Publishes one `event` to several topics: one id, kept in each
    /// topic's history, delivered once to a subscriber of several of them.
    ///
    /// ```
    /// # use futures_util::StreamExt;
    /// # use ssekit_core::Event;
    /// # use ssekit_core::broker::Broker;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ssekit_core::broker::BrokerError> {
    /// let broker = Broker::new();
    /// let mut both = broker.subscribe(&["a", "b"], None).await?;
    /// broker.publish_to(&["a", "b"], Event::data("x")).await?;
    /// broker.publish("b", Event::data("y")).await?;
    /// assert!(both.next().await.unwrap().as_bytes().starts_with(b"data: x"));
    /// assert!(both.next().await.unwrap().as_bytes().starts_with(b"data: y"));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn publish_to<T>(&self, topics: &[T], event: Event) -> Result<EventId, BrokerError>
    where
        T: AsRef<str> + Sync,
    {
        self.publish_with(topics, event, Visibility::Public).await
    }

    /// Publishes one `event` to several topics with the given
    /// [`Visibility`]; a private one reaches a subscriber granted one of
    /// those topics it subscribed to.
    ///
    /// ```
    /// # use futures_util::StreamExt;
    /// # use ssekit_core::Event;
    /// # use ssekit_core::broker::{Broker, Grant, Visibility};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ssekit_core::broker::BrokerError> {
    /// let broker = Broker::new();
    /// let mut admin = broker.subscribe_granted(&["audit"], None, &Grant::all()).await?;
    /// broker.publish_with(&["audit", "users"], Event::data("login failed"), Visibility::Private).await?;
    /// assert!(admin.next().await.unwrap().as_bytes().starts_with(b"data: login failed"));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn publish_with<T>(
        &self,
        topics: &[T],
        event: Event,
        visibility: Visibility,
    ) -> Result<EventId, BrokerError>
    where
        T: AsRef<str> + Sync,
    {
        let mut names: Vec<&str> = topics.iter().map(AsRef::as_ref).collect();
        names.sort_unstable();
        names.dedup();
        if names.is_empty() {
            return Err(BrokerError::NoTopic);
        }
        self.publish_checked(&names, &event, visibility).await
    }

    /// Publishes to `names`, sorted and without duplicates.
    async fn publish_checked(
        &self,
        names: &[&str],
        event: &Event,
        visibility: Visibility,
    ) -> Result<EventId, BrokerError> {
        self.shared.start_sweep();
        let id = self
            .shared
            .backend
            .publish(names, event, visibility)
            .await?;
        self.shared.counters.published();
        Ok(id)
    }

    /// Subscribes to the public events of `topics`. `last_event_id` is the
    /// client's `Last-Event-ID`: `None` for no replay; an id still in
    /// history replays what followed it; any other value gives a
    /// [`Resume::Reset`] and a `reset` notice first.
    ///
    /// ```
    /// # use ssekit_core::broker::{Broker, Resume};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ssekit_core::broker::BrokerError> {
    /// let broker = Broker::new();
    /// let subscription = broker.subscribe(&["a", "b"], None).await?;
    /// assert_eq!(subscription.resume(), Resume::Fresh);
    /// assert_eq!(broker.stats().subscriptions, 1);
    /// drop(subscription);
    /// assert_eq!(broker.stats().subscriptions, 0);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn subscribe<T>(
        &self,
        topics: &[T],
        last_event_id: Option<&str>,
    ) -> Result<Subscription, BrokerError>
    where
        T: AsRef<str> + Sync,
    {
        self.subscribe_granted(topics, last_event_id, &Grant::none())
            .await
    }

    /// Subscribes to `topics` like [`subscribe`](Self::subscribe), plus the
    /// private events of the topics `grant` names, replayed and live.
    ///
    /// ```
    /// # use futures_util::StreamExt;
    /// # use ssekit_core::Event;
    /// # use ssekit_core::broker::{Broker, Grant, Resume};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ssekit_core::broker::BrokerError> {
    /// let broker = Broker::new();
    /// let start = broker.publish("inbox:ana", Event::data("welcome")).await?.to_string();
    /// broker.publish_private("inbox:ana", Event::data("your code is 1234")).await?;
    ///
    /// // Resuming without the grant replays nothing private.
    /// let stranger = broker.subscribe(&["inbox:ana"], Some(&start)).await?;
    /// assert_eq!(stranger.resume(), Resume::Replayed { events: 0 });
    ///
    /// let mut ana = broker.subscribe_granted(&["inbox:ana"], Some(&start), &Grant::topics(["inbox:ana"])).await?;
    /// assert_eq!(ana.resume(), Resume::Replayed { events: 1 });
    /// assert!(ana.next().await.unwrap().as_bytes().starts_with(b"data: your code"));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn subscribe_granted<T>(
        &self,
        topics: &[T],
        last_event_id: Option<&str>,
        grant: &Grant,
    ) -> Result<Subscription, BrokerError>
    where
        T: AsRef<str> + Sync,
    {
        let mut names: Vec<&str> = Vec::with_capacity(topics.len());
        for topic in topics {
            if !names.contains(&topic.as_ref()) {
                names.push(topic.as_ref());
            }
        }
        if names.is_empty() {
            return Err(BrokerError::NoTopic);
        }
        let backend = &self.shared.backend;
        let mut units: Vec<u16> = names.iter().map(|name| backend.unit(name)).collect();
        units.sort_unstable();
        units.dedup();
        if units.len() > self.shared.max_units {
            return Err(BrokerError::SpansUnits {
                units: units.len(),
                max: self.shared.max_units,
            });
        }
        self.shared.start_sweep();
        let (after, mut reset) = match last_event_id.map(str::parse::<Position>) {
            None => (Vec::new(), None),
            Some(Err(_)) => (Vec::new(), Some(ResetReason::Malformed)),
            Some(Ok(position)) => match position.id() {
                Some(id) if units.len() == 1 => (vec![(units[0], id)], None),
                // A position must name exactly the subscription's units.
                _ if position
                    .unit_ids()
                    .iter()
                    .map(|&(unit, _)| unit)
                    .eq(units.iter().copied()) =>
                {
                    (position.unit_ids().to_vec(), None)
                }
                _ => (Vec::new(), Some(ResetReason::Unknown)),
            },
        };
        // Counted before the backend opens anything; given back if it fails.
        let admitted = self.shared.limits.admit(&names)?;
        let mut opened = backend.open(&names, &after).await?;
        reset = reset.or(opened.reset);
        // A subscription spanning units writes its position from where the
        // client stood, or from where the units stand now.
        let start = match reset {
            None if !after.is_empty() => after.clone(),
            _ => opened.positions.clone(),
        };
        // Live entries up to the last one read are skipped by the
        // subscription, whether or not the grant lets them through.
        for entry in &opened.replay {
            if let Some((_, id)) =
                (opened.positions.iter_mut()).find(|(unit, _)| *unit == entry.unit)
            {
                *id = EventId::new(id.epoch(), id.seq().max(entry.seq));
            }
        }
        opened.replay.retain(|entry| grant.admits(entry, &names));
        let resume = match reset {
            Some(reason) => Resume::Reset {
                reason,
                position: position_of(&opened.positions),
            },
            None if after.is_empty() => Resume::Fresh,
            None => Resume::Replayed {
                events: opened.replay.len(),
            },
        };
        if let Some(hook) = &self.shared.hooks.on_subscribe {
            for name in &names {
                hook(name);
            }
        }
        Ok(Subscription::new(
            Arc::clone(&self.shared),
            opened,
            start,
            grant,
            resume,
            admitted,
        ))
    }

    /// Ends every subscription: each one yields the events already
    /// published to it, then `final_event` (if any), then ends. Later
    /// publishes and subscribes fail with [`BrokerError::Closed`].
    ///
    /// ```
    /// # use futures_util::StreamExt;
    /// # use ssekit_core::Event;
    /// # use ssekit_core::broker::Broker;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ssekit_core::broker::BrokerError> {
    /// let broker = Broker::new();
    /// let mut subscription = broker.subscribe(&["a"], None).await?;
    /// broker.shutdown(Some(Event::comment("bye")));
    /// assert_eq!(subscription.next().await, Some(Event::comment("bye")));
    /// assert_eq!(subscription.next().await, None);
    /// # Ok(())
    /// # }
    /// ```
    pub fn shutdown(&self, final_event: Option<Event>) {
        // The first call's final event wins.
        let _ = self.shared.final_event.set(final_event);
        self.shared.backend.shutdown();
    }

    /// Runs the sweep now rather than at its next tick: evicts history
    /// past its age bound in every topic, and removes the topics with no
    /// subscriber and no history left or idle for their
    /// [`idle_timeout`](TopicConfig::idle_timeout). The broker's own timer
    /// does this every [`sweep_interval`](BrokerBuilder::sweep_interval);
    /// nothing needs to call it.
    pub fn evict_expired(&self) {
        self.shared.start_sweep();
        self.shared.backend.evict_expired();
    }

    /// A snapshot of the figures: subscriptions, per-topic subscribers and
    /// history, and the publish, delivery, drop and eviction counters.
    pub fn stats(&self) -> Stats {
        self.shared.start_sweep();
        self.shared.counters.snapshot(self.shared.backend.stats())
    }
}

impl fmt::Debug for Broker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Broker")
            .field("epoch", &format_args!("{:x}", self.shared.backend.epoch()))
            .field("hooks", &self.shared.hooks)
            .finish_non_exhaustive()
    }
}

/// How a subscription at `positions` (one per unit, in unit order) writes
/// its place: as one id when it reads one unit.
pub(crate) fn position_of(positions: &[(u16, EventId)]) -> Position {
    match positions {
        [(_, id)] => Position::from(*id),
        _ => Position::units(positions.iter().copied()),
    }
}

/// Builds a [`Broker`]: hooks, admission limits, and either the bounds of
/// its [`MemoryBackend`] or another backend
/// ([`build_with`](BrokerBuilder::build_with)). `B` is the memory backend
/// once bounds are given, and `()` before.
///
/// ```
/// use ssekit_core::broker::{Broker, LagPolicy, TopicConfig};
///
/// let broker = Broker::builder()
///     .defaults(TopicConfig::new().max_events(10))
///     .topic("ticker", TopicConfig::new().lag_policy(LagPolicy::SkipAhead))
///     .max_subscriptions(1000)
///     .build();
/// assert_eq!(broker.stats().subscriptions, 0);
/// ```
#[derive(Debug, Default)]
pub struct BrokerBuilder<B = ()> {
    backend: B,
    hooks: Hooks,
    max_subscriptions: Option<usize>,
    max_subscribers_per_topic: Option<usize>,
    max_units: Option<usize>,
    sweep_interval: Option<Duration>,
}

impl BrokerBuilder {
    /// Bounds for every topic without its own, on a [`MemoryBackend`]; the
    /// builder then offers no [`build_with`](Self::build_with).
    ///
    /// ```compile_fail
    /// # use ssekit_core::broker::{Broker, MemoryBackend, TopicConfig};
    /// let config = TopicConfig::new().max_events(5);
    /// Broker::builder().defaults(config).build_with(MemoryBackend::new());
    /// ```
    pub fn defaults(self, config: TopicConfig) -> BrokerBuilder<MemoryBackend> {
        self.memory().defaults(config)
    }

    /// Bounds for the topic `name`, on a [`MemoryBackend`].
    pub fn topic(self, name: &str, config: TopicConfig) -> BrokerBuilder<MemoryBackend> {
        self.memory().topic(name, config)
    }

    /// The history budget of all topics together, on a [`MemoryBackend`]
    /// (see [`MemoryBackend::max_history_bytes`]).
    pub fn max_history_bytes(self, n: usize) -> BrokerBuilder<MemoryBackend> {
        self.memory().max_history_bytes(n)
    }

    /// The broker, over a [`MemoryBackend`] with the default bounds.
    pub fn build(self) -> Broker {
        self.memory().build()
    }

    /// The broker, over `backend`.
    ///
    /// ```
    /// # use ssekit_core::broker::{Backend, Broker, MemoryBackend};
    /// let backend = MemoryBackend::new();
    /// let epoch = backend.epoch();
    /// assert_eq!(Broker::builder().build_with(backend).epoch(), epoch);
    /// ```
    pub fn build_with(self, backend: impl Backend) -> Broker {
        self.with_backend(backend).finish()
    }

    fn memory(self) -> BrokerBuilder<MemoryBackend> {
        self.with_backend(MemoryBackend::new())
    }
}

impl BrokerBuilder<MemoryBackend> {
    /// Bounds for every topic without its own.
    pub fn defaults(mut self, config: TopicConfig) -> Self {
        self.backend = self.backend.defaults(config);
        self
    }

    /// Bounds for the topic `name`.
    pub fn topic(mut self, name: &str, config: TopicConfig) -> Self {
        self.backend = self.backend.topic(name, config);
        self
    }

    /// Keeps at most `n` bytes of history in all topics together (default
    /// 256 MiB); past it the oldest events of the broker go first (see
    /// [`MemoryBackend::max_history_bytes`]).
    ///
    /// ```
    /// # use ssekit_core::{Event, broker::Broker};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ssekit_core::broker::BrokerError> {
    /// let broker = Broker::builder().max_history_bytes(4096).build();
    /// for room in 0..100 {
    ///     broker.publish(&format!("room-{room}"), Event::data(&"x".repeat(100))).await?;
    /// }
    /// let kept: usize = broker.stats().topics.iter().map(|topic| topic.retained_bytes).sum();
    /// assert!(kept <= 4096);
    /// # Ok(())
    /// # }
    /// ```
    pub fn max_history_bytes(mut self, n: usize) -> Self {
        self.backend = self.backend.max_history_bytes(n);
        self
    }

    /// The broker, over the memory backend with the bounds given.
    pub fn build(self) -> Broker {
        self.finish()
    }
}

impl<B> BrokerBuilder<B> {
    /// Admits at most `max` subscriptions at a time; beyond it,
    /// [`subscribe`](Broker::subscribe) fails with
    /// [`BrokerError::TooManySubscriptions`]. No limit by default.
    ///
    /// ```
    /// # use ssekit_core::broker::{Broker, BrokerError};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let broker = Broker::builder().max_subscriptions(1).build();
    /// let first = broker.subscribe(&["a"], None).await.unwrap();
    /// let refused = broker.subscribe(&["b"], None).await;
    /// assert!(matches!(refused, Err(BrokerError::TooManySubscriptions { max: 1 })));
    /// drop(first);
    /// assert!(broker.subscribe(&["b"], None).await.is_ok());
    /// # }
    /// ```
    pub fn max_subscriptions(mut self, max: usize) -> Self {
        self.max_subscriptions = Some(max);
        self
    }

    /// Admits at most `max` subscriptions to any one topic at a time;
    /// beyond it, a subscription that includes that topic fails with
    /// [`BrokerError::TooManySubscribers`]. No limit by default.
    ///
    /// ```
    /// # use ssekit_core::broker::{Broker, BrokerError};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let broker = Broker::builder().max_subscribers_per_topic(1).build();
    /// let _first = broker.subscribe(&["room"], None).await.unwrap();
    /// let refused = broker.subscribe(&["lobby", "room"], None).await;
    /// assert!(matches!(refused, Err(BrokerError::TooManySubscribers { max: 1, .. })));
    /// assert!(broker.subscribe(&["lobby"], None).await.is_ok());
    /// # }
    /// ```
    pub fn max_subscribers_per_topic(mut self, max: usize) -> Self {
        self.max_subscribers_per_topic = Some(max);
        self
    }

    /// Admits subscriptions whose topics span at most `max` ordering units
    /// of a sharded backend ([`Backend::unit`]); beyond it,
    /// [`subscribe`](Broker::subscribe) fails with
    /// [`BrokerError::SpansUnits`]. Each unit adds about 40 bytes to the
    /// subscription's `Last-Event-ID`. Default:
    /// [`Broker::DEFAULT_MAX_UNITS`] (16).
    ///
    /// ```
    /// # use ssekit_core::broker::Broker;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// // The memory backend has one unit: every subscription fits.
    /// let broker = Broker::builder().max_units(1).build();
    /// assert!(broker.subscribe(&["a", "b"], None).await.is_ok());
    /// # }
    /// ```
    pub fn max_units(mut self, max: usize) -> Self {
        self.max_units = Some(max);
        self
    }

    /// Runs the sweep ([`Broker::evict_expired`]) every `interval`, on a
    /// task the broker starts at its first use inside a Tokio runtime and
    /// that ends when the broker and its subscriptions are dropped.
    /// Default: [`Broker::DEFAULT_SWEEP_INTERVAL`] (30 s);
    /// `Duration::ZERO` starts no task, leaving history age to each topic's
    /// next use and idle topics to calls of `evict_expired`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use ssekit_core::{Event, broker::{Broker, TopicConfig}};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), ssekit_core::broker::BrokerError> {
    /// let broker = Broker::builder()
    ///     .sweep_interval(Duration::from_secs(5))
    ///     .defaults(TopicConfig::new().max_age(Duration::from_secs(1)))
    ///     .build();
    /// broker.publish("room", Event::data("hi")).await?;
    /// tokio::time::sleep(Duration::from_secs(6)).await;
    /// // Its history expired and nobody follows it: the sweep removed it.
    /// assert!(broker.stats().topics.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub fn sweep_interval(mut self, interval: Duration) -> Self {
        self.sweep_interval = Some(interval);
        self
    }

    /// Calls `hook` with each topic of every new subscription.
    pub fn on_subscribe(mut self, hook: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.hooks.on_subscribe = Some(Arc::new(hook));
        self
    }

    /// Calls `hook` with each topic of every subscription dropped.
    pub fn on_unsubscribe(mut self, hook: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.hooks.on_unsubscribe = Some(Arc::new(hook));
        self
    }

    /// With feature `metrics`, also reports each topic's subscribers as the
    /// gauge `sse_broker_topic_subscribers{topic="…"}`, one series per topic
    /// name. Off by default: topics are often names a request chose, and
    /// each would be a series of its own; turn it on only for a small fixed
    /// set of topics. Without the feature it does nothing.
    ///
    /// ```
    /// # use ssekit_core::broker::Broker;
    /// let broker = Broker::builder().topic_metrics(true).build();
    /// assert_eq!(broker.stats().subscriptions, 0);
    /// ```
    pub fn topic_metrics(mut self, on: bool) -> Self {
        self.hooks.topic_metrics = on;
        self
    }

    fn with_backend<N>(self, backend: N) -> BrokerBuilder<N> {
        BrokerBuilder {
            backend,
            hooks: self.hooks,
            max_subscriptions: self.max_subscriptions,
            max_subscribers_per_topic: self.max_subscribers_per_topic,
            max_units: self.max_units,
            sweep_interval: self.sweep_interval,
        }
    }

    fn finish(self) -> Broker
    where
        B: Backend,
    {
        let limits = admission::Limits::new(self.max_subscriptions, self.max_subscribers_per_topic);
        Broker {
            shared: Arc::new(Shared {
                backend: Box::new(self.backend),
                limits: Arc::new(limits),
                counters: Counters::new(self.hooks.topic_metrics),
                hooks: self.hooks,
                final_event: OnceLock::new(),
                max_units: self.max_units.unwrap_or(Broker::DEFAULT_MAX_UNITS),
                sweeper: Sweeper::new(
                    self.sweep_interval
                        .unwrap_or(Broker::DEFAULT_SWEEP_INTERVAL),
                ),
            }),
        }
    }
}
