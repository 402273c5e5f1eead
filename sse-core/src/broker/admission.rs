//! Admission limits: how many subscriptions the broker takes in total and
//! per topic. Counted by the broker, not the backend, so that they hold the
//! same over every backend.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::error::BrokerError;

/// The limits set on a broker; without any, admitting costs nothing.
#[derive(Debug, Default)]
pub(crate) struct Limits {
    max_total: Option<usize>,
    max_per_topic: Option<usize>,
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    /// Only topics with at least one admitted subscription.
    per_topic: HashMap<Box<str>, usize>,
}

impl Limits {
    pub(crate) fn new(max_total: Option<usize>, max_per_topic: Option<usize>) -> Self {
        Limits {
            max_total,
            max_per_topic,
            counts: Mutex::default(),
        }
    }

    /// Counts a subscription to `topics` (distinct names), or refuses it
    /// when a limit is reached. The count is given back when the returned
    /// guard is dropped.
    pub(crate) fn admit(self: &Arc<Self>, topics: &[&str]) -> Result<Admitted, BrokerError> {
        if self.max_total.is_none() && self.max_per_topic.is_none() {
            return Ok(Admitted(None));
        }
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(max) = self.max_total {
            if counts.total >= max {
                return Err(BrokerError::TooManySubscriptions { max });
            }
        }
        if let Some(max) = self.max_per_topic {
            if let Some(topic) = topics
                .iter()
                .find(|topic| counts.per_topic.get(**topic).is_some_and(|n| *n >= max))
            {
                return Err(BrokerError::TooManySubscribers {
                    topic: (*topic).to_owned(),
                    max,
                });
            }
        }
        counts.total += 1;
        // Per-topic counts only when there is a per-topic limit to check.
        let names: Vec<Box<str>> = match self.max_per_topic {
            Some(_) => topics.iter().map(|topic| Box::from(*topic)).collect(),
            None => Vec::new(),
        };
        for name in &names {
            *counts.per_topic.entry(name.clone()).or_default() += 1;
        }
        Ok(Admitted(Some((Arc::clone(self), names))))
    }
}

/// One admitted subscription; dropping it frees its place.
#[derive(Debug)]
pub(crate) struct Admitted(Option<(Arc<Limits>, Vec<Box<str>>)>);

impl Drop for Admitted {
    fn drop(&mut self) {
        let Some((limits, topics)) = self.0.take() else {
            return;
        };
        let mut counts = limits.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.total -= 1;
        for topic in topics {
            if let Some(n) = counts.per_topic.get_mut(&topic) {
                *n -= 1;
                if *n == 0 {
                    counts.per_topic.remove(&topic);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_limits_nothing_is_counted() {
        let limits = Arc::new(Limits::default());
        let admitted: Vec<_> = (0..3).map(|_| limits.admit(&["a"]).unwrap()).collect();
        assert!(admitted.iter().all(|a| a.0.is_none()));
    }

    #[test]
    fn the_total_limit_refuses_then_frees_a_place_on_drop() {
        let limits = Arc::new(Limits::new(Some(2), None));
        let first = limits.admit(&["a"]).unwrap();
        let _second = limits.admit(&["b"]).unwrap();
        assert!(matches!(
            limits.admit(&["c"]),
            Err(BrokerError::TooManySubscriptions { max: 2 })
        ));
        drop(first);
        limits.admit(&["c"]).unwrap();
    }

    #[test]
    fn the_per_topic_limit_counts_each_topic_of_a_subscription() {
        let limits = Arc::new(Limits::new(None, Some(1)));
        let both = limits.admit(&["a", "b"]).unwrap();
        match limits.admit(&["c", "b"]) {
            Err(BrokerError::TooManySubscribers { topic, max: 1 }) => assert_eq!(topic, "b"),
            other => panic!("expected a refusal for b, got {other:?}"),
        }
        let _c = limits.admit(&["c"]).unwrap();
        drop(both);
        let _b = limits.admit(&["b"]).unwrap();
        assert_eq!(
            limits.counts.lock().unwrap().per_topic.len(),
            2,
            "a topic with no subscription left is forgotten"
        );
    }
}
