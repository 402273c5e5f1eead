//! Counters, the [`Stats`] snapshot, hooks and the `metrics` facade.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of a broker's figures, from [`Broker::stats`](super::Broker::stats);
/// counters count from the broker's start.
///
/// ```
/// use ssekit_core::Event;
/// use ssekit_core::broker::Broker;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), ssekit_core::broker::BrokerError> {
/// let broker = Broker::new();
/// let _subscription = broker.subscribe(&["chat"], None).await?;
/// broker.publish("chat", Event::data("hi")).await?;
///
/// let stats = broker.stats();
/// assert_eq!((stats.subscriptions, stats.published), (1, 1));
/// assert_eq!(stats.topics[0].subscribers, 1);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Live [`Subscription`](super::Subscription)s (clients).
    pub subscriptions: u64,
    /// Per topic in this process, by name: subscribers and history.
    pub topics: Vec<TopicStats>,
    /// Events published.
    pub published: u64,
    /// Events delivered to subscribers (replayed and live, each subscriber
    /// counted).
    pub delivered: u64,
    /// Subscriptions ended because they lagged ([`LagPolicy::Disconnect`](super::LagPolicy::Disconnect)):
    /// the lag cut-offs, `sse_broker_dropped_total` with feature `metrics`.
    /// The stream served then simply ends.
    pub dropped: u64,
    /// Events skipped by lagging subscribers ([`LagPolicy::SkipAhead`](super::LagPolicy::SkipAhead)).
    pub skipped: u64,
    /// History events evicted by a bound (count, bytes or age).
    pub evicted: u64,
}

/// One topic's figures.
///
/// ```
/// use ssekit_core::broker::TopicStats;
///
/// let stats = TopicStats::new("chat".into(), 2).with_retained(3, 120);
/// assert_eq!((stats.subscribers, stats.retained_events), (2, 3));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopicStats {
    /// The topic.
    pub name: Arc<str>,
    /// Subscribers of the topic.
    pub subscribers: usize,
    /// Events in its history.
    pub retained_events: usize,
    /// Encoded bytes in its history.
    pub retained_bytes: usize,
}

impl TopicStats {
    /// The topic `name` with `subscribers` in this process and no history.
    pub fn new(name: Arc<str>, subscribers: usize) -> Self {
        TopicStats {
            name,
            subscribers,
            retained_events: 0,
            retained_bytes: 0,
        }
    }

    /// With `events` events of `bytes` encoded bytes in history.
    pub fn with_retained(mut self, events: usize, bytes: usize) -> Self {
        self.retained_events = events;
        self.retained_bytes = bytes;
        self
    }
}

/// The figures a [`Backend`](super::Backend) reports for
/// [`Broker::stats`](super::Broker::stats).
///
/// ```
/// use ssekit_core::broker::{BackendStats, TopicStats};
///
/// let stats = BackendStats::new(vec![TopicStats::new("chat".into(), 1)], 4);
/// assert_eq!((stats.topics().len(), stats.evicted()), (1, 4));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BackendStats {
    topics: Vec<TopicStats>,
    evicted: u64,
}

impl BackendStats {
    /// `topics`: every topic the backend holds in this process, by name;
    /// `evicted`: history events evicted so far.
    pub fn new(topics: Vec<TopicStats>, evicted: u64) -> Self {
        BackendStats { topics, evicted }
    }

    /// Every topic the backend holds in this process, by name.
    pub fn topics(&self) -> &[TopicStats] {
        &self.topics
    }

    /// History events evicted so far (count, bytes or age bound).
    pub fn evicted(&self) -> u64 {
        self.evicted
    }
}

/// A function called with a topic's name.
pub(crate) type Hook = Arc<dyn Fn(&str) + Send + Sync>;

/// The builder's hooks, and whether the `metrics` gauges carry topics.
#[derive(Default)]
pub(crate) struct Hooks {
    pub(crate) on_subscribe: Option<Hook>,
    pub(crate) on_unsubscribe: Option<Hook>,
    /// [`BrokerBuilder::topic_metrics`](super::BrokerBuilder::topic_metrics).
    pub(crate) topic_metrics: bool,
}

impl fmt::Debug for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hooks")
            .field("on_subscribe", &self.on_subscribe.is_some())
            .field("on_unsubscribe", &self.on_unsubscribe.is_some())
            .field("topic_metrics", &self.topic_metrics)
            .finish()
    }
}

/// The broker's counters. Subscriptions add their deliveries in batches, so
/// one shared cache line is not written per event per subscriber.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    subscriptions: AtomicU64,
    published: AtomicU64,
    delivered: AtomicU64,
    dropped: AtomicU64,
    skipped: AtomicU64,
    // Whether the per-topic gauge is reported (off by default: a topic is
    // often a name a request chose, and each is a series of its own).
    topic_labels: bool,
}

impl Counters {
    /// Counters from zero; `topic_labels`: whether the per-topic gauge
    /// `sse_broker_topic_subscribers{topic}` is reported.
    pub(crate) fn new(topic_labels: bool) -> Self {
        Counters {
            topic_labels,
            ..Counters::default()
        }
    }

    pub(crate) fn published(&self) {
        self.published.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        metrics::counter!("sse_broker_published_total").increment(1);
    }

    pub(crate) fn delivered(&self, n: u64) {
        if n > 0 {
            self.delivered.fetch_add(n, Ordering::Relaxed);
            #[cfg(feature = "metrics")]
            metrics::counter!("sse_broker_delivered_total").increment(n);
        }
    }

    pub(crate) fn dropped(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        metrics::counter!("sse_broker_dropped_total").increment(1);
    }

    pub(crate) fn skipped(&self, n: u64) {
        self.skipped.fetch_add(n, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        metrics::counter!("sse_broker_skipped_total").increment(n);
    }

    /// A subscription to `topics` opened.
    pub(crate) fn subscribed(&self, topics: &[Arc<str>]) {
        self.subscriptions.fetch_add(1, Ordering::Relaxed);
        self.move_gauges(topics, 1.0);
    }

    /// A subscription to `topics` was dropped.
    pub(crate) fn unsubscribed(&self, topics: &[Arc<str>]) {
        self.subscriptions.fetch_sub(1, Ordering::Relaxed);
        self.move_gauges(topics, -1.0);
    }

    pub(crate) fn snapshot(&self, backend: BackendStats) -> Stats {
        Stats {
            subscriptions: self.subscriptions.load(Ordering::Relaxed),
            topics: backend.topics,
            published: self.published.load(Ordering::Relaxed),
            delivered: self.delivered.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            evicted: backend.evicted,
        }
    }

    /// With `metrics`, moves the subscription gauges by `delta`: the total,
    /// and with `topic_labels` the per-topic one, which carries the topic as
    /// its `topic` label (one series per topic).
    fn move_gauges(&self, topics: &[Arc<str>], delta: f64) {
        #[cfg(feature = "metrics")]
        {
            metrics::gauge!("sse_broker_subscriptions").increment(delta);
            if self.topic_labels {
                for topic in topics {
                    metrics::gauge!("sse_broker_topic_subscribers", "topic" => topic.to_string())
                        .increment(delta);
                }
            }
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (topics, delta, self.topic_labels);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_stats_default_to_nothing() {
        let stats = BackendStats::default();
        assert_eq!((stats.topics().len(), stats.evicted()), (0, 0));
    }
}
