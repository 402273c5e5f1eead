//! Per-topic bounds: history and lag.

use std::time::Duration;

use super::ring::{self, LiveReceiver, LiveSender};

/// What happens to a subscriber that falls more than the lag limit behind;
/// [`Disconnect`](Self::Disconnect) by default.
///
/// ```
/// use ssekit_core::broker::LagPolicy;
///
/// assert_eq!(LagPolicy::default(), LagPolicy::Disconnect);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum LagPolicy {
    /// The subscription's stream ends; the browser reconnects with its
    /// `Last-Event-ID` and resumes from history.
    #[default]
    Disconnect,
    /// The subscription yields an `event: lagged` notice (the number of
    /// events skipped as data) and continues with the oldest event kept.
    SkipAhead,
}

/// Bounds for one topic: its history (count, bytes, age), how long it
/// lasts unused, and how far a subscriber may fall behind. Defaults: 1000
/// events, 16 MiB and 5 minutes of history; removed after 10 minutes
/// without a subscriber or a publish; a lag limit of 256 events or 4 MiB,
/// then [`LagPolicy::Disconnect`]. Keep the history well above the lag
/// limit, so a subscriber cut off for lagging can resume from it.
///
/// ```
/// use std::time::Duration;
/// use ssekit_core::broker::TopicConfig;
///
/// let config = TopicConfig::new().max_events(100).max_age(Duration::from_secs(60));
/// assert_eq!(config.limits().max_events, 100);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicConfig {
    limits: TopicLimits,
}

/// The values of a [`TopicConfig`], as a [`Backend`](super::Backend) reads
/// them; each field is set by the builder method of the same name.
///
/// ```
/// use ssekit_core::broker::{LagPolicy, TopicConfig};
///
/// let limits = TopicConfig::new().lag_limit(0).limits();
/// assert_eq!((limits.lag_limit, limits.lag_policy), (1, LagPolicy::Disconnect));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopicLimits {
    /// Events kept in history.
    pub max_events: usize,
    /// Encoded bytes kept in history.
    pub max_bytes: usize,
    /// Age after which history events are evicted.
    pub max_age: Duration,
    /// Time without a subscriber and without a publish after which the
    /// topic is removed with whatever history it still holds.
    pub idle_timeout: Duration,
    /// Events a subscriber may fall behind (at least 1).
    pub lag_limit: usize,
    /// Encoded bytes a subscriber may fall behind (at least 1).
    pub lag_limit_bytes: usize,
    /// What happens to a subscriber past a lag limit.
    pub lag_policy: LagPolicy,
}

impl Default for TopicConfig {
    fn default() -> Self {
        TopicConfig {
            limits: TopicLimits {
                max_events: TopicConfig::DEFAULT_MAX_EVENTS,
                max_bytes: TopicConfig::DEFAULT_MAX_BYTES,
                max_age: TopicConfig::DEFAULT_MAX_AGE,
                idle_timeout: TopicConfig::DEFAULT_IDLE_TIMEOUT,
                lag_limit: TopicConfig::DEFAULT_LAG_LIMIT,
                lag_limit_bytes: TopicConfig::DEFAULT_LAG_LIMIT_BYTES,
                lag_policy: LagPolicy::Disconnect,
            },
        }
    }
}

impl TopicConfig {
    /// Default history length: 1000 events.
    pub const DEFAULT_MAX_EVENTS: usize = 1000;
    /// Default history size: 16 MiB of encoded events.
    pub const DEFAULT_MAX_BYTES: usize = 16 << 20;
    /// Default history age: 5 minutes.
    pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);
    /// Default idle timeout: 10 minutes, twice the default history age,
    /// so with the default bounds a topic's history has expired before it
    /// is idle.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(600);
    /// Default lag limit: 256 events.
    pub const DEFAULT_LAG_LIMIT: usize = 256;
    /// Default lag limit in bytes: 4 MiB of encoded events.
    pub const DEFAULT_LAG_LIMIT_BYTES: usize = 4 << 20;

    /// The defaults.
    ///
    /// ```
    /// # use ssekit_core::broker::TopicConfig;
    /// assert_eq!(TopicConfig::new().limits().max_bytes, TopicConfig::DEFAULT_MAX_BYTES);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps at most `n` events of history; 0 keeps none (no resume).
    pub fn max_events(mut self, n: usize) -> Self {
        self.limits.max_events = n;
        self
    }

    /// Keeps at most `n` bytes of encoded events in history.
    pub fn max_bytes(mut self, n: usize) -> Self {
        self.limits.max_bytes = n;
        self
    }

    /// Forgets events older than `age`: when the topic is next used, at
    /// the broker's sweep
    /// ([`BrokerBuilder::sweep_interval`](super::BrokerBuilder::sweep_interval)),
    /// or on [`Broker::evict_expired`](super::Broker::evict_expired).
    pub fn max_age(mut self, age: Duration) -> Self {
        self.limits.max_age = age;
        self
    }

    /// Removes the topic once it has had no subscriber and no publish for
    /// `timeout`, with whatever history it still holds (a `Last-Event-ID`
    /// in it then gets a `reset`, never a silent gap). The check runs at
    /// the broker's sweep; `Duration::MAX` never removes a topic for being
    /// idle. A topic with no subscriber and no history left is removed
    /// sooner: when its last subscriber leaves, or at the first sweep
    /// after its history expired.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use ssekit_core::broker::TopicConfig;
    /// let config = TopicConfig::new().idle_timeout(Duration::from_secs(60));
    /// assert_eq!(config.limits().idle_timeout, Duration::from_secs(60));
    /// ```
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.limits.idle_timeout = timeout;
        self
    }

    /// How many events a subscriber may fall behind (at least 1).
    pub fn lag_limit(mut self, n: usize) -> Self {
        self.limits.lag_limit = n.max(1);
        self
    }

    /// How many bytes of encoded events a subscriber may fall behind (at
    /// least 1); the newest event stays readable however large.
    pub fn lag_limit_bytes(mut self, n: usize) -> Self {
        self.limits.lag_limit_bytes = n.max(1);
        self
    }

    /// What happens to a subscriber past the lag limit.
    pub fn lag_policy(mut self, policy: LagPolicy) -> Self {
        self.limits.lag_policy = policy;
        self
    }

    /// The values set.
    pub fn limits(&self) -> TopicLimits {
        self.limits
    }

    /// A live feed for the topic, bounded by its lag limits: a backend sends
    /// each of the topic's entries into the sender.
    ///
    /// ```
    /// # use ssekit_core::broker::TopicConfig;
    /// let (sender, _receiver) = TopicConfig::new().live_feed();
    /// assert_eq!(sender.receiver_count(), 1);
    /// ```
    pub fn live_feed(&self) -> (LiveSender, LiveReceiver) {
        ring::channel(self.limits.lag_limit, self.limits.lag_limit_bytes)
    }

    /// Whether this topic keeps any history.
    pub(crate) fn keeps_history(&self) -> bool {
        let limits = &self.limits;
        limits.max_events > 0 && limits.max_bytes > 0 && !limits.max_age.is_zero()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults() {
        let limits = TopicConfig::new().limits();
        assert_eq!(TopicConfig::new(), TopicConfig::default());
        assert_eq!(limits.max_events, 1000);
        assert_eq!(limits.max_bytes, 16 << 20);
        assert_eq!(limits.max_age, Duration::from_secs(300));
        assert_eq!(limits.idle_timeout, Duration::from_secs(600));
        assert_eq!(limits.lag_limit, 256);
        assert_eq!(limits.lag_limit_bytes, 4 << 20);
        assert_eq!(limits.lag_policy, LagPolicy::Disconnect);
    }

    #[test]
    fn each_builder_method_sets_its_value() {
        let limits = TopicConfig::new()
            .max_events(0)
            .max_bytes(1024)
            .max_age(Duration::from_secs(1))
            .lag_limit(0)
            .lag_limit_bytes(1 << 10)
            .lag_policy(LagPolicy::SkipAhead)
            .limits();
        assert_eq!(limits.max_events, 0);
        assert_eq!(limits.max_bytes, 1024);
        assert_eq!(limits.max_age, Duration::from_secs(1));
        assert_eq!(limits.lag_limit, 1, "at least 1");
        assert_eq!(limits.lag_limit_bytes, 1024);
        assert_eq!(limits.lag_policy, LagPolicy::SkipAhead);
        assert_eq!(TopicConfig::new().max_events(100).limits().max_events, 100);
        assert_eq!(
            TopicConfig::new()
                .lag_limit_bytes(0)
                .limits()
                .lag_limit_bytes,
            1
        );
    }
}
