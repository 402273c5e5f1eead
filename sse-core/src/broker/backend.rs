//! The [`Backend`] trait: where events are kept and how they travel, and
//! the data a backend hands the broker.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::config::LagPolicy;
use super::entry::{Entry, ResetReason, Visibility};
use super::error::BrokerError;
use super::id::EventId;
use super::ring::LiveReceiver;
use super::stats::BackendStats;
use crate::Event;

/// The live feed of one topic for one subscription, as
/// [`Backend::open`] returns it.
///
/// ```
/// use ssekit_core::broker::{Live, TopicConfig};
///
/// let config = TopicConfig::new();
/// let (sender, receiver) = config.live_feed();
/// let live = Live::new("chat".into(), receiver, config.limits().lag_policy);
/// assert_eq!((live.topic(), sender.receiver_count()), ("chat", 1));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct Live {
    pub(crate) topic: Arc<str>,
    pub(crate) receiver: LiveReceiver,
    pub(crate) policy: LagPolicy,
}

impl Live {
    /// The feed of `topic`: `receiver` gets every entry published to it
    /// after the subscription opened, in order, and `policy` applies when
    /// it lags. A receiver closed before [`Backend::shutdown`] (the backend
    /// lost the topic's position) ends the subscription.
    pub fn new(topic: Arc<str>, receiver: LiveReceiver, policy: LagPolicy) -> Self {
        Live {
            topic,
            receiver,
            policy,
        }
    }

    /// The topic's name.
    pub fn topic(&self) -> &str {
        &self.topic
    }
}

/// What [`Backend::open`] returns: the live feeds and the replay, taken
/// together so that replay then live has no gap and no duplicate.
///
/// ```
/// use ssekit_core::broker::{EventId, Opened, ResetReason};
///
/// let now = vec![(0, EventId::new(0xa, 7))];
/// let opened = Opened::new(Vec::new(), Vec::new(), Some(ResetReason::Evicted), now);
/// assert_eq!(opened.positions(), &[(0, EventId::new(0xa, 7))]);
/// assert_eq!(opened.reset(), Some(ResetReason::Evicted));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct Opened {
    pub(crate) live: Vec<Live>,
    pub(crate) replay: Vec<Entry>,
    pub(crate) reset: Option<ResetReason>,
    pub(crate) positions: Vec<(u16, EventId)>,
}

impl Opened {
    /// `live`: one feed per topic, in the order the topics were given.
    /// `replay`: the retained events after the requested position, in
    /// sequence order within each unit, each once; every later event
    /// arrives through `live`. `reset`: why the requested position cannot
    /// be resumed from, if so. `positions`: for each unit of the topics, in
    /// unit order, its epoch and the sequence number of its latest event
    /// published before the feeds opened; live entries up to it are
    /// skipped.
    pub fn new(
        live: Vec<Live>,
        replay: Vec<Entry>,
        reset: Option<ResetReason>,
        positions: Vec<(u16, EventId)>,
    ) -> Self {
        Opened {
            live,
            replay,
            reset,
            positions,
        }
    }

    /// Each unit's epoch and latest event before the feeds opened.
    pub fn positions(&self) -> &[(u16, EventId)] {
        &self.positions
    }

    /// Why the requested position cannot be resumed from, if so.
    pub fn reset(&self) -> Option<ResetReason> {
        self.reset
    }
}

/// Where events are kept and how they travel: ids, history and one live
/// feed per topic in this process
/// ([`TopicConfig::live_feed`](super::TopicConfig::live_feed)), behind the
/// [`Broker`](super::Broker)'s API. [`MemoryBackend`](super::MemoryBackend)
/// is the default.
///
/// Ids are ordered per **unit** ([`unit`](Backend::unit)): one for every
/// topic by default, one per shard for a sharded store. Live entries must
/// be sent in id order across the topics of a unit: a subscription to
/// several topics of a unit delivers an id once the smaller ids of its
/// other topics have arrived. Futures are [`BackendFuture`]s, ready at once
/// for an in-process backend, boxed for a networked one.
pub trait Backend: Send + Sync + 'static {
    /// The id space of this backend's sequence numbers, when it has one
    /// unit; 0 for a backend whose units each have their own. It may
    /// change when the store loses its data; ids of the old epoch then
    /// reset with [`ResetReason::OtherEpoch`].
    fn epoch(&self) -> u64;

    /// The ordering unit of `topic`: events of one unit share one sequence
    /// and epoch. 0 for every topic by default.
    fn unit(&self, topic: &str) -> u16 {
        let _ = topic;
        0
    }

    /// Assigns `event` the next sequence number, stamps the id on it, keeps
    /// it in each of `topics` (sorted, without duplicates) and sends it to
    /// their live feeds as an [`Entry`] of that `visibility`, naming its
    /// topics when private. Never waits for a subscriber. A backend of
    /// several units refuses topics of more than one with
    /// [`BrokerError::SpansUnits`].
    fn publish<'a>(
        &'a self,
        topics: &'a [&'a str],
        event: &'a Event,
        visibility: Visibility,
    ) -> BackendFuture<'a, Result<EventId, BrokerError>>;

    /// Opens live feeds for `topics` (without duplicates) and, when `after`
    /// names a position (one id per unit of the topics, in unit order),
    /// reads the retained events after it (see [`Opened`]). An id of
    /// another epoch than its unit's resets with
    /// [`ResetReason::OtherEpoch`], one past the unit's latest event with
    /// [`ResetReason::Unknown`], one whose followers are gone with
    /// [`ResetReason::Evicted`]; a reset replays nothing.
    fn open<'a>(
        &'a self,
        topics: &'a [&'a str],
        after: &'a [(u16, EventId)],
    ) -> BackendFuture<'a, Result<Opened, BrokerError>>;

    /// A subscription to `topics` has ended and dropped its receivers; a
    /// topic with no subscribers and nothing retained may be forgotten.
    fn release(&self, topics: &[Arc<str>]);

    /// Ends every live feed (receivers see the channel closed once drained)
    /// and refuses further publishes and subscriptions.
    fn shutdown(&self);

    /// Evicts history past its age bound in every topic now.
    fn evict_expired(&self);

    /// Current figures.
    fn stats(&self) -> BackendStats;
}

/// The future a [`Backend`] method returns: a value ready at once (no
/// allocation) or a boxed future.
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
    pub fn ready(value: T) -> Self {
        BackendFuture(Inner::Ready(Some(value)))
    }

    /// A future that runs `future`.
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
