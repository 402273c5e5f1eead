//! The `stats` event, once a second: users, message rates and the heap.

use std::time::Duration;

use serde::Serialize;
use ssekit_core::Event;
use ssekit_core::broker::BrokerError;
use tokio::time::{Instant, MissedTickBehavior};

use crate::alloc;
use crate::chat::Chat;

/// The data of a `stats` event.
#[derive(Debug, Serialize)]
struct Figures {
    /// Open event streams.
    users: u64,
    /// Rooms with a post in the last idle time.
    rooms: usize,
    /// Topics in the broker: rooms, rooms being followed, and `stats`.
    topics: usize,
    /// Messages posted per second.
    inbound: u64,
    /// Events sent to browsers per second.
    outbound: u64,
    /// Heap bytes in use.
    heap: usize,
    /// Allocations per second.
    allocations: u64,
    /// Frees per second.
    frees: u64,
}

/// The counters at one moment; two readings make the rates.
struct Reading {
    at: Instant,
    posted: u64,
    delivered: u64,
    users: u64,
    rooms: usize,
    topics: usize,
    heap: alloc::Snapshot,
}

impl Reading {
    fn take(chat: &Chat) -> Reading {
        let broker = chat.broker().stats();
        Reading {
            at: Instant::now(),
            posted: chat.posted(),
            delivered: broker.delivered,
            users: broker.subscriptions,
            rooms: chat.rooms(),
            topics: broker.topics.len(),
            heap: alloc::snapshot(),
        }
    }

    fn since(&self, earlier: &Reading) -> Figures {
        let millis = (self.at - earlier.at).as_millis().max(1) as u64;
        let per_second = |now: u64, then: u64| rate(now.saturating_sub(then), millis);
        Figures {
            users: self.users,
            rooms: self.rooms,
            topics: self.topics,
            inbound: per_second(self.posted, earlier.posted),
            outbound: per_second(self.delivered, earlier.delivered),
            heap: self.heap.in_use,
            allocations: per_second(self.heap.allocations, earlier.heap.allocations),
            frees: per_second(self.heap.frees, earlier.heap.frees),
        }
    }
}

/// `count` events in `millis` ms, per second, rounded: a tick that runs a
/// little late must not turn one post into none.
fn rate(count: u64, millis: u64) -> u64 {
    count.saturating_mul(1000).saturating_add(millis / 2) / millis.max(1)
}

/// Publishes a `stats` event every second, until the broker shuts down.
pub(crate) async fn publish_every_second(chat: Chat) {
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticks.tick().await;
    let mut last = Reading::take(&chat);
    loop {
        ticks.tick().await;
        let now = Reading::take(&chat);
        let figures = now.since(&last);
        last = now;
        let event = Event::builder()
            .event("stats")
            .json(&figures)
            .build()
            .expect("figures serialize to JSON");
        match chat.publish_stats(event).await {
            Ok(_) => {}
            Err(BrokerError::Closed) => break,
            Err(error) => tracing::warn!(%error, "cannot publish stats"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::rate;

    #[test]
    fn a_post_in_a_second_that_ran_late_still_counts() {
        assert_eq!(rate(1, 1003), 1);
        assert_eq!(rate(2, 1003), 2);
        assert_eq!(rate(3, 2000), 2);
        assert_eq!(rate(0, 1000), 0);
    }
}
