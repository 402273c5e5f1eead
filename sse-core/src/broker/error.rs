//! Errors of publishing and subscribing.

use std::error::Error;

/// Why a publish or a subscribe failed.
///
/// ```
/// use ssekit_core::broker::BrokerError;
///
/// assert_eq!(BrokerError::Closed.to_string(), "the broker has been shut down");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// [`Broker::shutdown`](super::Broker::shutdown) was called.
    #[error("the broker has been shut down")]
    Closed,
    /// No topic was given to subscribe to.
    #[error("a subscription needs at least one topic")]
    NoTopic,
    /// The broker already holds the most subscriptions it takes in total
    /// ([`BrokerBuilder::max_subscriptions`](super::BrokerBuilder::max_subscriptions)).
    /// Worth trying again later: over HTTP, `503` with `Retry-After`.
    #[error("the broker already has its maximum of {max} subscriptions")]
    TooManySubscriptions {
        /// The limit.
        max: usize,
    },
    /// A topic of the subscription already has the most subscribers it takes
    /// ([`BrokerBuilder::max_subscribers_per_topic`](super::BrokerBuilder::max_subscribers_per_topic)).
    #[error("topic {topic:?} already has its maximum of {max} subscribers")]
    TooManySubscribers {
        /// The first topic found full.
        topic: String,
        /// The limit.
        max: usize,
    },
    /// The topics span more ordering units than allowed: more than
    /// [`BrokerBuilder::max_units`](super::BrokerBuilder::max_units) for a
    /// subscription, more than one for a publish to a sharded backend.
    /// Topics read or published together belong in one unit (on Redis
    /// Cluster: one hash tag, as in `{room-7}:messages`).
    #[error("the topics span {units} ordering units, more than the {max} allowed")]
    SpansUnits {
        /// How many units the topics span.
        units: usize,
        /// The limit.
        max: usize,
    },
    /// The backend failed (a networked backend's I/O error, for example).
    #[error("broker backend: {0}")]
    Backend(Box<dyn Error + Send + Sync>),
}
