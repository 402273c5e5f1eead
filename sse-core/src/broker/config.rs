//! Per-topic bounds: history and lag.

use std::time::Duration;

use super::ring;

/// What happens to a subscriber that falls more than
/// [`TopicConfig::lag_limit`] events or [`TopicConfig::lag_limit_bytes`]
/// bytes behind.
///
/// ```
/// use ssekit_core::broker::{LagPolicy, TopicConfig};
///
/// let config = TopicConfig::new().lag_policy(LagPolicy::SkipAhead);
/// assert_eq!(config.get_lag_policy(), LagPolicy::SkipAhead);
/// assert_eq!(LagPolicy::default(), LagPolicy::Disconnect);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum LagPolicy {
    /// The subscription's stream ends. A browser reconnects with its
    /// `Last-Event-ID` and resumes from history, losing nothing if the
    /// history still holds its position (the default).
    #[default]
    Disconnect,
    /// The subscription yields a `lagged` notice (`event: lagged`, the
    /// number of events skipped as data) and continues with the oldest
    /// event still buffered.
    SkipAhead,
}

/// Bounds for one topic: its history (count, bytes, age) and how far a
/// subscriber may fall behind.
///
/// The defaults: 1000 events, 16 MiB, 5 minutes of history; a lag limit of
/// 256 events or 4 MiB with [`LagPolicy::Disconnect`]. Keep the history
/// well above the lag limit: a subscriber cut off for lagging reconnects
/// with the id of the last event it read, which must still be in the
/// history for it to resume rather than reset. A topic published to
/// thousands of times a second needs its history sized by time: rate ×
/// (time to fall behind + the client's reconnection delay). Count in what
/// the connection buffers, too: a subscriber falls behind once the
/// server can no longer write to it, that is once its socket buffers are
/// full, and it reads all that before it notices the end and reconnects.
///
/// ```
/// use std::time::Duration;
/// use ssekit_core::broker::TopicConfig;
///
/// let config = TopicConfig::new()
///     .max_events(100)
///     .max_bytes(1 << 20)
///     .max_age(Duration::from_secs(60))
///     .lag_limit(256);
/// assert_eq!(config.get_max_events(), 100);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicConfig {
    max_events: usize,
    max_bytes: usize,
    max_age: Duration,
    lag_limit: usize,
    lag_limit_bytes: usize,
    lag_policy: LagPolicy,
}

impl Default for TopicConfig {
    fn default() -> Self {
        TopicConfig {
            max_events: TopicConfig::DEFAULT_MAX_EVENTS,
            max_bytes: TopicConfig::DEFAULT_MAX_BYTES,
            max_age: TopicConfig::DEFAULT_MAX_AGE,
            lag_limit: TopicConfig::DEFAULT_LAG_LIMIT,
            lag_limit_bytes: TopicConfig::DEFAULT_LAG_LIMIT_BYTES,
            lag_policy: LagPolicy::Disconnect,
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
    /// Default lag limit: 256 events, well under the default history of
    /// 1000, so that a subscriber cut off for lagging can resume from it
    /// (events still in its socket buffers count against that margin).
    pub const DEFAULT_LAG_LIMIT: usize = 256;
    /// Default lag limit in bytes: 4 MiB of encoded events, a quarter of
    /// the default history size, for the same reason.
    pub const DEFAULT_LAG_LIMIT_BYTES: usize = 4 << 20;

    /// The defaults.
    ///
    /// ```
    /// # use ssekit_core::broker::TopicConfig;
    /// assert_eq!(TopicConfig::new(), TopicConfig::default());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps at most `n` events of history; 0 keeps none (no resume).
    ///
    /// ```
    /// # use ssekit_core::broker::TopicConfig;
    /// assert_eq!(TopicConfig::new().max_events(0).get_max_events(), 0);
    /// ```
    pub fn max_events(mut self, n: usize) -> Self {
        self.max_events = n;
        self
    }

    /// Keeps at most `n` bytes of encoded events in history.
    ///
    /// ```
    /// # use ssekit_core::broker::TopicConfig;
    /// assert_eq!(TopicConfig::new().max_bytes(1024).get_max_bytes(), 1024);
    /// ```
    pub fn max_bytes(mut self, n: usize) -> Self {
        self.max_bytes = n;
        self
    }

    /// Forgets events older than `age`. Old events are evicted when the
    /// topic is next published to or subscribed to, or by
    /// [`Broker::evict_expired`](crate::broker::Broker::evict_expired).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use ssekit_core::broker::TopicConfig;
    /// let config = TopicConfig::new().max_age(Duration::from_secs(1));
    /// assert_eq!(config.get_max_age(), Duration::from_secs(1));
    /// ```
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = age;
        self
    }

    /// How many events a subscriber may fall behind (at least 1). Each
    /// topic with subscribers keeps its newest events within this bound and
    /// [`lag_limit_bytes`](Self::lag_limit_bytes) for them to read; a
    /// subscriber that never reads holds nothing beyond that and the few
    /// events around its own position.
    ///
    /// ```
    /// # use ssekit_core::broker::TopicConfig;
    /// assert_eq!(TopicConfig::new().lag_limit(0).get_lag_limit(), 1);
    /// ```
    pub fn lag_limit(mut self, n: usize) -> Self {
        self.lag_limit = n.max(1);
        self
    }

    /// How many bytes of encoded events a subscriber may fall behind (at
    /// least 1). The newest event always stays readable, however large.
    ///
    /// ```
    /// # use ssekit_core::broker::TopicConfig;
    /// assert_eq!(TopicConfig::new().lag_limit_bytes(1 << 10).get_lag_limit_bytes(), 1024);
    /// ```
    pub fn lag_limit_bytes(mut self, n: usize) -> Self {
        self.lag_limit_bytes = n.max(1);
        self
    }

    /// What happens to a subscriber past the lag limit.
    ///
    /// ```
    /// # use ssekit_core::broker::{LagPolicy, TopicConfig};
    /// let config = TopicConfig::new().lag_policy(LagPolicy::SkipAhead);
    /// assert_eq!(config.get_lag_policy(), LagPolicy::SkipAhead);
    /// ```
    pub fn lag_policy(mut self, policy: LagPolicy) -> Self {
        self.lag_policy = policy;
        self
    }

    /// See [`max_events`](Self::max_events).
    ///
    /// ```
    /// # use ssekit_core::broker::TopicConfig;
    /// assert_eq!(TopicConfig::new().get_max_events(), 1000);
    /// ```
    pub fn get_max_events(&self) -> usize {
        self.max_events
    }

    /// See [`max_bytes`](Self::max_bytes).
    ///
    /// ```
    /// # use ssekit_core::broker::TopicConfig;
    /// assert_eq!(TopicConfig::new().get_max_bytes(), 16 << 20);
    /// ```
    pub fn get_max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// See [`max_age`](Self::max_age).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use ssekit_core::broker::TopicConfig;
    /// assert_eq!(TopicConfig::new().get_max_age(), Duration::from_secs(300));
    /// ```
    pub fn get_max_age(&self) -> Duration {
        self.max_age
    }

    /// See [`lag_limit`](Self::lag_limit).
    ///
    /// ```
    /// # use ssekit_core::broker::TopicConfig;
    /// assert_eq!(TopicConfig::new().get_lag_limit(), 256);
    /// ```
    pub fn get_lag_limit(&self) -> usize {
        self.lag_limit
    }

    /// See [`lag_policy`](Self::lag_policy).
    ///
    /// ```
    /// # use ssekit_core::broker::{LagPolicy, TopicConfig};
    /// assert_eq!(TopicConfig::new().get_lag_policy(), LagPolicy::Disconnect);
    /// ```
    pub fn get_lag_policy(&self) -> LagPolicy {
        self.lag_policy
    }

    /// See [`lag_limit_bytes`](Self::lag_limit_bytes).
    ///
    /// ```
    /// # use ssekit_core::broker::TopicConfig;
    /// assert_eq!(TopicConfig::new().get_lag_limit_bytes(), 4 << 20);
    /// ```
    pub fn get_lag_limit_bytes(&self) -> usize {
        self.lag_limit_bytes
    }

    /// A live feed for the topic, bounded by its lag limits: what a
    /// [`Backend`](crate::broker::Backend) sends each of the topic's events
    /// into.
    ///
    /// ```
    /// # use ssekit_core::broker::TopicConfig;
    /// let (sender, receiver) = TopicConfig::new().live_feed();
    /// assert_eq!(sender.receiver_count(), 1);
    /// # drop(receiver);
    /// ```
    pub fn live_feed(&self) -> (ring::Sender, ring::Receiver) {
        ring::channel(self.lag_limit, self.lag_limit_bytes)
    }

    /// Whether this topic keeps any history.
    pub(crate) fn keeps_history(&self) -> bool {
        self.max_events > 0 && self.max_bytes > 0 && !self.max_age.is_zero()
    }
}
