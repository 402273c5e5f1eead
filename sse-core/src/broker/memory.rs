//! The in-memory backend: ids from a counter, history in a ring per topic.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use tokio::time::Instant;

use super::backend::{Backend, BackendFuture, Live, Opened};
use super::config::TopicConfig;
use super::entry::{Entry, ResetReason, Visibility};
use super::error::BrokerError;
use super::id::{EventId, new_epoch, stamp};
use super::stats::{BackendStats, TopicStats};
use super::topic::{Topic, TopicState};
use crate::Event;

type Topics = HashMap<Arc<str>, Topic>;

/// Gives back the map's memory once most of its topics are gone: a map
/// keeps the capacity of its peak (about 200 bytes a slot) otherwise.
/// Rehashes only when a quarter or less is used, to half, so the cost is
/// amortised over the removals.
fn shrink_if_sparse(map: &mut Topics) {
    if map.capacity() > 64 && map.len() <= map.capacity() / 4 {
        map.shrink_to(map.len() * 2);
    }
}

/// The default [`Backend`]: ids from one counter and a random epoch,
/// history and live feeds per topic, all in this process.
///
/// ```
/// use ssekit_core::broker::{Backend, Broker, MemoryBackend, TopicConfig};
///
/// let backend = MemoryBackend::new().topic("ticker", TopicConfig::new().max_events(10));
/// let epoch = backend.epoch();
/// assert_eq!(Broker::builder().build_with(backend).epoch(), epoch);
/// ```
// Locks: the topic map first, then topic locks in name order, then the
// sequencer, so publishing to and subscribing to several topics see them
// consistently and ids go out in the order they are given. The map lock is
// taken exclusively only to create or forget a topic. The budget's trim
// lock comes before all of them.
#[derive(Debug)]
pub struct MemoryBackend {
    epoch: u64,
    /// The last sequence number given out (the first event gets 1).
    ///
    /// Held from taking a number until the event is in every channel it
    /// goes to. So ids are sent in the order they are given, on every
    /// topic: a subscription merging several topics that has received id
    /// `n` on one topic finds every smaller id on the others already sent,
    /// which is what lets it deliver in id order (see
    /// `Subscription::poll_merged`).
    sequencer: Mutex<u64>,
    defaults: TopicConfig,
    overrides: HashMap<Box<str>, TopicConfig>,
    topics: RwLock<Topics>,
    /// Positions up to this one cannot be resumed in a topic created from
    /// now on: events of forgotten topics, and events published where
    /// nobody listened and nothing was kept.
    forgotten: AtomicU64,
    evicted: AtomicU64,
    closed: AtomicBool,
    /// The bound on `retained`.
    max_history_bytes: usize,
    /// The encoded bytes in every topic's history.
    retained: Arc<AtomicUsize>,
    /// Held while trimming history to the budget: one trim at a time.
    trimming: Mutex<()>,
}

impl Default for MemoryBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryBackend {
    /// A backend with the default [`TopicConfig`] for every topic and a new
    /// epoch.
    ///
    /// ```
    /// # use ssekit_core::broker::{Backend, MemoryBackend};
    /// assert_ne!(MemoryBackend::new().epoch(), MemoryBackend::new().epoch());
    /// ```
    pub fn new() -> Self {
        MemoryBackend {
            epoch: new_epoch(),
            sequencer: Mutex::new(0),
            defaults: TopicConfig::default(),
            overrides: HashMap::new(),
            topics: RwLock::new(HashMap::new()),
            forgotten: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            max_history_bytes: Self::DEFAULT_MAX_HISTORY_BYTES,
            retained: Arc::new(AtomicUsize::new(0)),
            trimming: Mutex::new(()),
        }
    }

    /// Default budget of history for all topics together: 256 MiB of
    /// encoded events (16 topics at the default per-topic bound).
    pub const DEFAULT_MAX_HISTORY_BYTES: usize = 256 << 20;

    /// Keeps at most `n` bytes of encoded events in the history of all
    /// topics together, beside each topic's own bounds (default:
    /// [`DEFAULT_MAX_HISTORY_BYTES`](Self::DEFAULT_MAX_HISTORY_BYTES)).
    ///
    /// Past it, a publish (or the sweep) evicts the oldest events of the
    /// whole broker, by id, whatever their topic, until the total is
    /// `n - n / 16` or less: the oldest are the least likely to be resumed
    /// from, and the sixteenth of slack makes the scan of every topic that
    /// finds them run at most once per `n / 16` bytes published. A `Last-Event-ID`
    /// whose events were evicted gets a `reset`, as for any bound. An event
    /// kept by several topics counts once per topic.
    ///
    /// ```
    /// # use ssekit_core::Event;
    /// # use ssekit_core::broker::{Broker, MemoryBackend};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ssekit_core::broker::BrokerError> {
    /// let broker = Broker::builder().build_with(MemoryBackend::new().max_history_bytes(1000));
    /// for topic in 0..100 {
    ///     broker.publish(&topic.to_string(), Event::data(&"x".repeat(50))).await?;
    /// }
    /// let kept: usize = broker.stats().topics.iter().map(|t| t.retained_bytes).sum();
    /// assert!(kept <= 1000);
    /// # Ok(())
    /// # }
    /// ```
    pub fn max_history_bytes(mut self, n: usize) -> Self {
        self.max_history_bytes = n;
        self
    }

    /// Uses `config` for every topic without its own (default:
    /// [`TopicConfig::new`]).
    pub fn defaults(mut self, config: TopicConfig) -> Self {
        self.defaults = config;
        self
    }

    /// Uses `config` for the topic `name`.
    pub fn topic(mut self, name: &str, config: TopicConfig) -> Self {
        self.overrides.insert(name.into(), config);
        self
    }

    fn config_for(&self, name: &str) -> &TopicConfig {
        self.overrides.get(name).unwrap_or(&self.defaults)
    }

    fn read(&self) -> RwLockReadGuard<'_, Topics> {
        self.topics.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Topics> {
        self.topics.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts topics removed, for `metrics`.
    fn count_removed(&self, removed: u64) {
        #[cfg(feature = "metrics")]
        if removed > 0 {
            metrics::counter!("sse_broker_topics_removed_total").increment(removed);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = removed;
    }

    /// Counts history evictions, in the stats and for `metrics`.
    fn count_evicted(&self, evicted: u64) {
        if evicted > 0 {
            self.evicted.fetch_add(evicted, Ordering::Relaxed);
            #[cfg(feature = "metrics")]
            metrics::counter!("sse_broker_evicted_total").increment(evicted);
        }
    }

    /// The sequencer, to take the next number and send under it.
    /// Takes out of the map each of `names` that `removable` still says may
    /// go: checked again under the exclusive lock, since a subscribe or a
    /// publish may have come meanwhile. Positions in a removed topic reset
    /// from now on. Returns the events their history still held.
    fn remove_where(
        &self,
        names: &[Arc<str>],
        removable: impl Fn(&mut TopicState, &TopicConfig) -> bool,
    ) -> u64 {
        let mut map = self.write();
        let (mut removed, mut evicted) = (0, 0);
        for name in names {
            let remove = map.get(name).is_some_and(|topic| {
                let mut state = topic.lock();
                if !removable(&mut state, &topic.config) {
                    return false;
                }
                evicted += state.clear();
                self.forgotten
                    .fetch_max(state.forgotten_up_to, Ordering::AcqRel);
                true
            });
            if remove {
                map.remove(name);
                removed += 1;
            }
        }
        if removed > 0 {
            shrink_if_sparse(&mut map);
        }
        drop(map);
        self.count_removed(removed);
        evicted
    }

    fn sequencer(&self) -> MutexGuard<'_, u64> {
        self.sequencer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The next id; the caller sends the event before dropping `last`.
    fn next_id(&self, last: &mut MutexGuard<'_, u64>) -> EventId {
        **last += 1;
        EventId::new(self.epoch, **last)
    }

    /// Creates the topic `name` if it is missing and `needed` says so.
    fn ensure(&self, map: &mut Topics, name: &str, needed: bool) {
        if needed && !map.contains_key(name) {
            let topic = Topic::new(
                self.config_for(name).clone(),
                self.forgotten.load(Ordering::Acquire),
                Arc::clone(&self.retained),
            );
            map.insert(Arc::from(name), topic);
        }
    }

    fn publish_now(
        &self,
        names: &[&str],
        event: &Event,
        visibility: Visibility,
    ) -> Result<EventId, BrokerError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(BrokerError::Closed);
        }
        {
            let map = self.read();
            // Again under the lock: `shutdown` closes the channels under
            // the write lock after setting `closed`.
            if self.closed.load(Ordering::Acquire) {
                return Err(BrokerError::Closed);
            }
            if let ([name], Visibility::Public) = (names, visibility) {
                if let Some(topic) = map.get(*name) {
                    let mut state = topic.lock();
                    return Ok(self.push_one(&mut state, &topic.config, event));
                }
            }
            let all_there = names
                .iter()
                .all(|name| map.contains_key(*name) || !self.config_for(name).keeps_history());
            if all_there {
                return Ok(self.publish_many(&map, names, event, visibility));
            }
        }
        let mut map = self.write();
        if self.closed.load(Ordering::Acquire) {
            return Err(BrokerError::Closed);
        }
        for name in names {
            self.ensure(&mut map, name, self.config_for(name).keeps_history());
        }
        Ok(self.publish_many(&map, names, event, visibility))
    }

    fn push_one(&self, state: &mut TopicState, config: &TopicConfig, event: &Event) -> EventId {
        let mut last = self.sequencer();
        let id = self.next_id(&mut last);
        let entry = Entry::new(id.seq(), stamp(event, id), Visibility::Public);
        let evicted = state.push(entry, config, Instant::now());
        drop(last);
        self.count_evicted(evicted);
        id
    }

    /// Publishes to `names` (sorted, unique) with the map lock held; topics
    /// missing from the map keep nothing and have no subscribers. A public
    /// event to one topic takes [`push_one`](Self::push_one), which needs
    /// no topic list.
    fn publish_many(
        &self,
        map: &Topics,
        names: &[&str],
        event: &Event,
        visibility: Visibility,
    ) -> EventId {
        let mut present: Vec<(&Arc<str>, &Topic)> = Vec::with_capacity(names.len());
        let mut missing = false;
        for name in names {
            match map.get_key_value(*name) {
                Some(pair) => present.push(pair),
                None => missing = true,
            }
        }
        if let ([(_, topic)], Visibility::Public) = (&present[..], visibility) {
            if !missing {
                let mut state = topic.lock();
                return self.push_one(&mut state, &topic.config, event);
            }
        }
        let mut guards: Vec<MutexGuard<'_, TopicState>> =
            present.iter().map(|(_, topic)| topic.lock()).collect();
        let mut last = self.sequencer();
        let id = self.next_id(&mut last);
        if missing {
            self.forgotten.fetch_max(id.seq(), Ordering::AcqRel);
        }
        if guards.is_empty() {
            return id;
        }
        let event = stamp(event, id);
        let topics: Option<Arc<[Arc<str>]>> = (names.len() > 1
            || visibility == Visibility::Private)
            .then(|| names.iter().map(|name| Arc::<str>::from(*name)).collect());
        let now = Instant::now();
        let mut evicted = 0;
        for (state, (_, topic)) in guards.iter_mut().zip(&present) {
            let entry = Entry {
                unit: 0,
                seq: id.seq(),
                event: event.clone(),
                topics: topics.clone(),
                visibility,
            };
            evicted += state.push(entry, &topic.config, now);
        }
        drop(last);
        self.count_evicted(evicted);
        id
    }

    /// Trims history to the broker-wide budget if it is over it.
    #[inline]
    fn enforce_budget(&self) {
        if self.retained.load(Ordering::Relaxed) > self.max_history_bytes {
            self.trim_to_budget();
        }
    }

    /// Evicts the oldest events across topics, by id, down to the budget
    /// less a sixteenth (see [`max_history_bytes`](Self::max_history_bytes)).
    #[cold]
    fn trim_to_budget(&self) {
        // A publisher that finds a trim under way waits for it, then finds
        // its own bytes counted or trims again.
        let _one = self.trimming.lock().unwrap_or_else(PoisonError::into_inner);
        let budget = self.max_history_bytes;
        if self.retained.load(Ordering::Acquire) <= budget {
            return;
        }
        let target = budget - budget / 16;
        let map = self.read();
        // Each topic by the id of its oldest event: history is in id order,
        // so the smallest of them is the broker's oldest event.
        let mut oldest: BinaryHeap<Reverse<(u64, &Arc<str>)>> = map
            .iter()
            .filter_map(|(name, topic)| topic.lock().oldest().map(|seq| Reverse((seq, name))))
            .collect();
        let mut evicted = 0;
        while self.retained.load(Ordering::Acquire) > target {
            let Some(Reverse((seq, name))) = oldest.pop() else {
                break;
            };
            let mut state = map[name].lock();
            // The topic's own bounds may have evicted since.
            match state.oldest() {
                Some(now) if now == seq => {
                    state.evict_oldest();
                    evicted += 1;
                }
                Some(_) | None => {}
            }
            if let Some(next) = state.oldest() {
                oldest.push(Reverse((next, name)));
            }
        }
        drop(map);
        self.count_evicted(evicted);
    }

    fn open_now(&self, names: &[&str], after: Option<u64>) -> Result<Opened, BrokerError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(BrokerError::Closed);
        }
        // Topics that exist are opened under the shared lock, so a
        // subscriber holds up publishers only when it creates a topic.
        {
            let map = self.read();
            // Again under the lock, or a subscription opened while
            // `shutdown` runs could get a channel that nobody closes.
            if self.closed.load(Ordering::Acquire) {
                return Err(BrokerError::Closed);
            }
            if names.iter().all(|name| map.contains_key(*name)) {
                return Ok(self.open_existing(&map, names, after));
            }
        }
        let mut map = self.write();
        if self.closed.load(Ordering::Acquire) {
            return Err(BrokerError::Closed);
        }
        for name in names {
            self.ensure(&mut map, name, true);
        }
        Ok(self.open_existing(&map, names, after))
    }

    /// Opens `names`, every one of them in `map`.
    fn open_existing(&self, map: &Topics, names: &[&str], after: Option<u64>) -> Opened {
        // Lock in name order, the order publishers use.
        let mut order: Vec<usize> = (0..names.len()).collect();
        order.sort_by_key(|&i| names[i]);
        let mut guards: Vec<Option<(&Topic, MutexGuard<'_, TopicState>)>> =
            (0..names.len()).map(|_| None).collect();
        for i in order {
            let topic = &map[names[i]];
            guards[i] = Some((topic, topic.lock()));
        }
        let mut guards: Vec<(&Topic, MutexGuard<'_, TopicState>)> =
            guards.into_iter().flatten().collect();

        let now = Instant::now();
        let mut evicted = 0;
        for (topic, state) in &mut guards {
            evicted += state.evict(&topic.config, now);
        }
        self.count_evicted(evicted);

        let position = *self.sequencer();
        let mut reset = None;
        let mut replay = Vec::new();
        if let Some(after) = after {
            if after > position {
                reset = Some(ResetReason::Unknown);
            } else {
                for (_, state) in &guards {
                    match state.replay_after(after) {
                        Some(entries) => replay.extend(entries.cloned()),
                        None => {
                            reset = Some(ResetReason::Evicted);
                            break;
                        }
                    }
                }
            }
            if reset.is_some() {
                replay.clear();
            } else if guards.len() > 1 {
                replay.sort_by_key(|entry: &Entry| entry.seq);
                replay.dedup_by_key(|entry| entry.seq);
            }
        }

        let live = guards
            .iter_mut()
            .zip(names)
            .map(|((topic, state), name)| {
                Live::new(
                    Arc::clone(map.get_key_value(*name).map(|(k, _)| k).unwrap_or_else(|| {
                        unreachable!("every topic subscribed to is in the map")
                    })),
                    state.receiver(&topic.config),
                    topic.config.limits().lag_policy,
                )
            })
            .collect();
        Opened::new(
            live,
            replay,
            reset,
            vec![(0, EventId::new(self.epoch, position))],
        )
    }
}

impl Backend for MemoryBackend {
    fn epoch(&self) -> u64 {
        self.epoch
    }

    fn publish<'a>(
        &'a self,
        topics: &'a [&'a str],
        event: &'a Event,
        visibility: Visibility,
    ) -> BackendFuture<'a, Result<EventId, BrokerError>> {
        let published = self.publish_now(topics, event, visibility);
        self.enforce_budget();
        BackendFuture::ready(published)
    }

    fn open<'a>(
        &'a self,
        topics: &'a [&'a str],
        after: &'a [(u16, EventId)],
    ) -> BackendFuture<'a, Result<Opened, BrokerError>> {
        let (after, reset) = match after.first() {
            None => (None, None),
            Some((_, id)) if id.epoch() == self.epoch => (Some(id.seq()), None),
            Some(_) => (None, Some(ResetReason::OtherEpoch)),
        };
        BackendFuture::ready(self.open_now(topics, after).map(|mut opened| {
            opened.reset = reset.or(opened.reset);
            opened
        }))
    }

    fn release(&self, topics: &[Arc<str>]) {
        // Under the shared lock first: a topic that keeps history or other
        // subscribers stays, and publishers go on meanwhile.
        let some_idle = {
            let map = self.read();
            let mut some_idle = false;
            for name in topics {
                if let Some(topic) = map.get(name) {
                    let mut state = topic.lock();
                    state.drop_ring_if_unused();
                    some_idle |= state.is_idle();
                }
            }
            some_idle
        };
        if !some_idle {
            return;
        }
        self.remove_where(topics, |state, _| {
            state.drop_ring_if_unused();
            state.is_idle()
        });
    }

    fn shutdown(&self) {
        self.closed.store(true, Ordering::Release);
        let map = self.write();
        for topic in map.values() {
            // Dropping the sender closes the channel: receivers drain what
            // is buffered, then see the end.
            topic.lock().sender = None;
        }
    }

    /// The sweep: evicts history past its bounds in every topic, removes
    /// the topics `TopicState::is_removable` says may go, and trims
    /// history to the budget. Publishers wait only while removable topics
    /// are taken out of the map.
    fn evict_expired(&self) {
        let now = Instant::now();
        let mut evicted = 0;
        let mut removable = Vec::new();
        {
            let map = self.read();
            for (name, topic) in map.iter() {
                let mut state = topic.lock();
                evicted += state.evict(&topic.config, now);
                state.drop_ring_if_unused();
                if state.is_removable(&topic.config, now) {
                    removable.push(Arc::clone(name));
                }
            }
        }
        if !removable.is_empty() {
            evicted +=
                self.remove_where(&removable, |state, config| state.is_removable(config, now));
        }
        self.count_evicted(evicted);
        self.enforce_budget();
    }

    fn stats(&self) -> BackendStats {
        let map = self.read();
        let mut topics: Vec<TopicStats> = map
            .iter()
            .map(|(name, topic)| {
                let state = topic.lock();
                let (retained_events, retained_bytes) = state.retained();
                TopicStats::new(Arc::clone(name), state.subscribers())
                    .with_retained(retained_events, retained_bytes)
            })
            .collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        BackendStats::new(topics, self.evicted.load(Ordering::Relaxed))
    }
}
