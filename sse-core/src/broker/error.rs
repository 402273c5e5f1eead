//! Errors of publishing and subscribing.

use std::error::Error;

/// Why a publish or a subscribe failed.
///
/// ```
/// use sse_core::broker::BrokerError;
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
    /// The backend failed (a networked backend's I/O error, for example).
    #[error("broker backend: {0}")]
    Backend(Box<dyn Error + Send + Sync>),
}
