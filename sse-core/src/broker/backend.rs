//! The [`Backend`] trait: where events are kept and how they travel.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::config::LagPolicy;
use super::error::BrokerError;
use super::grant::Visibility;
use super::id::EventId;
use super::ring;
use super::stats::TopicStats;
use super::subscription::ResetReason;
use crate::Event;

/// One published event as it travels to subscribers: its sequence number,
/// its frame (with the `id:` line already added, see
/// [`stamp`](super::stamp)), and, for an event published to several topics
/// at once, the list of those topics, so a subscriber of more than one of
/// them delivers it once; and who may receive it.
///
/// Cloning an entry bumps reference counts; it copies no bytes.
///
/// ```
/// use ssekit_core::Event;
/// use ssekit_core::broker::{Entry, Visibility};
///
/// let entry = Entry { seq: 1, event: Event::data("x"), topics: None, visibility: Visibility::Public };
/// assert_eq!(entry.clone().seq, 1);
/// ```
#[derive(Clone, Debug)]
pub struct Entry {
    /// The event's sequence number in its broker's id space.
    pub seq: u64,
    /// The encoded event, id included.
    pub event: Event,
    /// Every topic the event was published to, when there were several,
    /// or when it is private (so a replay, which merges topics, can tell
    /// which grant admits it).
    pub topics: Option<Arc<[Arc<str>]>>,
    /// Public, or only for subscribers granted one of its topics.
    pub visibility: Visibility,
}

/// The live feed of one topic for one subscription.
///
/// ```
/// use std::sync::Arc;
/// use ssekit_core::broker::{LagPolicy, Live, TopicConfig};
///
/// let (sender, receiver) = TopicConfig::new().live_feed();
/// let live = Live { topic: Arc::from("chat"), receiver, policy: LagPolicy::Disconnect };
/// # drop((sender, live));
/// ```
#[derive(Debug)]
pub struct Live {
    /// The topic's name.
    pub topic: Arc<str>,
    /// Receives every entry published to the topic after the subscription
    /// was opened, in order. Closed by [`Backend::shutdown`]; a backend
    /// that closes it before (it lost the topic's position) ends the
    /// subscription, so the client reconnects and resumes or resets.
    pub receiver: ring::Receiver,
    /// What to do when the receiver lags.
    pub policy: LagPolicy,
}

/// What [`Backend::open`] returns: the live feeds and the replay, taken
/// together so that replay followed by live has no gap and no duplicate.
///
/// ```
/// use ssekit_core::broker::Opened;
///
/// let opened = Opened { live: Vec::new(), replay: Vec::new(), reset: None, position: 0 };
/// assert!(opened.replay.is_empty());
/// ```
#[derive(Debug)]
pub struct Opened {
    /// One live feed per topic, in the order the topics were given.
    pub live: Vec<Live>,
    /// The retained events after the requested position, oldest first, an
    /// event in several of the topics once. Every event later than the last
    /// of these arrives through `live`, and none of these does.
    pub replay: Vec<Entry>,
    /// Set when a position was requested but cannot be resumed from.
    pub reset: Option<ResetReason>,
    /// The sequence number of the latest event published before the feeds
    /// were opened: where a client that starts over stands. Live entries
    /// at or before it are skipped (a networked backend's shared reader may
    /// still be catching up to it).
    pub position: u64,
}

/// Counters and per-topic figures a backend reports for
/// [`Broker::stats`](super::Broker::stats).
///
/// ```
/// use ssekit_core::broker::BackendStats;
///
/// let stats = BackendStats::default();
/// assert_eq!(stats.evicted, 0);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackendStats {
    /// Every topic the backend holds in this process, by name.
    pub topics: Vec<TopicStats>,
    /// History events evicted so far (count, bytes or age bound).
    pub evicted: u64,
}

/// Where events are kept and how they travel: the broker's storage and
/// transport, behind its API.
///
/// The [`Broker`](super::Broker) validates and parses what the application
/// gives it (topics, `Last-Event-ID`), keeps statistics and hooks, and turns
/// what a backend returns into a [`Subscription`](super::Subscription). The
/// backend assigns ids, keeps history, and feeds one live feed per topic in
/// this process ([`TopicConfig::live_feed`](super::TopicConfig::live_feed)),
/// from which every local subscriber reads.
///
/// [`MemoryBackend`](super::MemoryBackend) is the default. A Redis Streams
/// backend maps onto the same methods:
///
/// - [`epoch`](Self::epoch): a value stored once in Redis (`SET NX`), so
///   every process shares the id space and a flushed Redis gets a new one.
/// - [`publish`](Self::publish): a Lua script that `INCR`s a counter and
///   `XADD`s the event to the stream of every topic with that counter as an
///   explicit id, atomically, so ids are shared by all processes and an event
///   in several topics keeps one id. The future resolves when Redis answers.
/// - [`open`](Self::open): subscribe to the local feed of each topic
///   first (fed by one `XREAD BLOCK` loop per process over the streams of
///   every local topic, which sends each entry into its topic's feed,
///   in id order across topics), then `XRANGE` after the position; the
///   receiver then holds everything after the range's end, and the
///   subscription skips live entries up to the last replayed sequence
///   number. A position before the stream's first retained entry (trimmed
///   with `MAXLEN`/`MINID`) is [`ResetReason::Evicted`].
/// - [`release`](Self::release): the last local subscriber of a topic gone,
///   the loop stops reading its stream.
///
/// Live entries must be sent in id order across topics, as the memory
/// backend does: a subscription to several topics delivers an id only
/// once the smaller ids of its other topics have arrived.
///
/// Futures are [`BackendFuture`]s: ready at once, without allocating, for
/// an in-process backend; boxed for a networked one.
pub trait Backend: Send + Sync + 'static {
    /// The id space of this backend's sequence numbers.
    ///
    /// The broker asks for it on every subscribe rather than once, so a
    /// networked backend may move to a new epoch when its store loses its
    /// data (a Redis restarted without persistence): ids of the old epoch
    /// are then [`ResetReason::OtherEpoch`], never misread as positions in
    /// the new sequence. [`Opened::position`] is in the epoch current when
    /// `open` resolves.
    fn epoch(&self) -> u64;

    /// Assigns `event` the next sequence number, stamps the id on it,
    /// retains it in each of `topics` (sorted, without duplicates) and sends
    /// it to their live feeds, as an [`Entry`] of that `visibility`. A
    /// private entry carries its topics, even a single one; a backend that
    /// cannot keep them leaves such an entry to subscribers granted every
    /// topic they follow. Never waits for a subscriber.
    fn publish<'a>(
        &'a self,
        topics: &'a [&'a str],
        event: &'a Event,
        visibility: Visibility,
    ) -> BackendFuture<'a, Result<EventId, BrokerError>>;

    /// Opens live feeds for `topics` (without duplicates) and, when `after`
    /// is a sequence number, reads the retained events after it, such that
    /// replay then live has no gap and no duplicate (see [`Opened`]).
    fn open<'a>(
        &'a self,
        topics: &'a [&'a str],
        after: Option<u64>,
    ) -> BackendFuture<'a, Result<Opened, BrokerError>>;

    /// A subscription to `topics` has ended and dropped its receivers; a
    /// topic with no subscribers and nothing retained may be forgotten.
    fn release(&self, topics: &[Arc<str>]);

    /// Ends every live feed (receivers see the channel closed once drained)
    /// and refuses further publishes and subscriptions.
    fn shutdown(&self);

    /// Evicts history older than its age bound in every topic now, rather
    /// than on the topic's next use.
    fn evict_expired(&self);

    /// Current figures.
    fn stats(&self) -> BackendStats;
}

/// The future a [`Backend`] method returns: either a value ready at once
/// (no allocation) or a boxed future.
///
/// ```
/// use ssekit_core::broker::BackendFuture;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// assert_eq!(BackendFuture::ready(1).await, 1);
/// assert_eq!(BackendFuture::boxed(async { 2 }).await, 2);
/// # }
/// ```
pub struct BackendFuture<'a, T>(Inner<'a, T>);

enum Inner<'a, T> {
    Ready(Option<T>),
    Boxed(Pin<Box<dyn Future<Output = T> + Send + 'a>>),
}

impl<'a, T> BackendFuture<'a, T> {
    /// A future that resolves to `value` at once.
    ///
    /// ```
    /// # use ssekit_core::broker::BackendFuture;
    /// let future = BackendFuture::ready("now");
    /// # drop(future);
    /// ```
    pub fn ready(value: T) -> Self {
        BackendFuture(Inner::Ready(Some(value)))
    }

    /// A future that runs `future`.
    ///
    /// ```
    /// # use ssekit_core::broker::BackendFuture;
    /// let future = BackendFuture::boxed(async { "later" });
    /// # drop(future);
    /// ```
    pub fn boxed(future: impl Future<Output = T> + Send + 'a) -> Self {
        BackendFuture(Inner::Boxed(Box::pin(future)))
    }
}

// The value is never pinned: it is moved out when ready.
impl<T> Unpin for BackendFuture<'_, T> {}

impl<T> Future for BackendFuture<'_, T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match &mut self.get_mut().0 {
            Inner::Ready(value) => match value.take() {
                Some(value) => Poll::Ready(value),
                None => panic!("BackendFuture polled after completion"),
            },
            Inner::Boxed(future) => future.as_mut().poll(cx),
        }
    }
}

impl<T> fmt::Debug for BackendFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Inner::Ready(_) => "BackendFuture::Ready",
            Inner::Boxed(_) => "BackendFuture::Boxed",
        })
    }
}
