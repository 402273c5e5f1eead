//! One topic of the in-memory backend: its live channel and its history.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

// Tokio's clock, so that a test with paused time sees history age.
use tokio::time::Instant;

use super::config::TopicConfig;
use super::entry::Entry;
use super::ring::{LiveReceiver, LiveSender};

/// A topic: everything is behind one lock, so that appending to history and
/// sending live happen together, and a subscriber takes its receiver and its
/// replay together.
#[derive(Debug)]
pub(crate) struct Topic {
    pub(crate) config: TopicConfig,
    state: Mutex<TopicState>,
}

#[derive(Debug)]
pub(crate) struct TopicState {
    /// Present while the topic has subscribers: the live feed exists only
    /// then.
    pub(crate) sender: Option<LiveSender>,
    history: VecDeque<(Entry, Instant)>,
    bytes: usize,
    /// The bytes retained by every topic of the backend, this one's
    /// included: what the broker-wide budget bounds.
    total: Arc<AtomicUsize>,
    /// The last publish, or the moment the last subscriber left (the
    /// topic is never removed while it has one).
    last_active: Instant,
    /// Every event with a sequence number up to this one is gone from
    /// history (or was never kept): positions before it cannot resume.
    pub(crate) forgotten_up_to: u64,
}

impl Topic {
    pub(crate) fn new(config: TopicConfig, forgotten_up_to: u64, total: Arc<AtomicUsize>) -> Self {
        Topic {
            config,
            state: Mutex::new(TopicState {
                sender: None,
                history: VecDeque::new(),
                bytes: 0,
                total,
                last_active: Instant::now(),
                forgotten_up_to,
            }),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, TopicState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl TopicState {
    /// Subscribers now.
    pub(crate) fn subscribers(&self) -> usize {
        self.sender.as_ref().map_or(0, LiveSender::receiver_count)
    }

    pub(crate) fn retained(&self) -> (usize, usize) {
        (self.history.len(), self.bytes)
    }

    /// Whether the topic can be forgotten: no subscriber, nothing retained.
    pub(crate) fn is_idle(&self) -> bool {
        self.subscribers() == 0 && self.history.is_empty()
    }

    /// A receiver for a new subscriber, creating the ring if needed.
    pub(crate) fn receiver(&mut self, config: &TopicConfig) -> LiveReceiver {
        match &self.sender {
            Some(sender) => sender.subscribe(),
            None => {
                let (sender, receiver) = config.live_feed();
                self.sender = Some(sender);
                receiver
            }
        }
    }

    /// Whether the sweep may remove the topic at `now`: no subscriber, and
    /// no history or no use for the idle timeout.
    pub(crate) fn is_removable(&self, config: &TopicConfig, now: Instant) -> bool {
        self.subscribers() == 0
            && (self.history.is_empty()
                || now.saturating_duration_since(self.last_active) >= config.limits().idle_timeout)
    }

    /// Drops the ring when nobody reads it any more; the topic's idle time
    /// counts from then.
    pub(crate) fn drop_ring_if_unused(&mut self) {
        if self
            .sender
            .as_ref()
            .is_some_and(|s| s.receiver_count() == 0)
        {
            self.sender = None;
            self.last_active = Instant::now();
        }
    }

    /// Appends `entry` to history and sends it live. Returns the number of
    /// history events evicted.
    pub(crate) fn push(&mut self, entry: Entry, config: &TopicConfig, now: Instant) -> u64 {
        self.last_active = now;
        let mut evicted = self.evict(config, now);
        if config.keeps_history() {
            self.bytes += entry.event.len();
            self.total.fetch_add(entry.event.len(), Ordering::Relaxed);
            if let Some(sender) = &self.sender {
                sender.send(entry.clone());
            }
            self.history.push_back((entry, now));
            evicted += self.evict(config, now);
        } else {
            self.forgotten_up_to = self.forgotten_up_to.max(entry.seq);
            if let Some(sender) = &self.sender {
                sender.send(entry);
            }
        }
        evicted
    }

    /// Evicts what is over the bounds; returns how many events went.
    pub(crate) fn evict(&mut self, config: &TopicConfig, now: Instant) -> u64 {
        let limits = config.limits();
        let mut evicted = 0;
        while let Some((_, at)) = self.history.front() {
            let over = self.history.len() > limits.max_events
                || self.bytes > limits.max_bytes
                || now.saturating_duration_since(*at) >= limits.max_age;
            if !over {
                break;
            }
            self.evict_oldest();
            evicted += 1;
        }
        evicted
    }

    /// The sequence number of the oldest event in history.
    pub(crate) fn oldest(&self) -> Option<u64> {
        self.history.front().map(|(entry, _)| entry.seq)
    }

    /// Evicts the oldest event in history, if any.
    pub(crate) fn evict_oldest(&mut self) -> bool {
        let Some((entry, _)) = self.history.pop_front() else {
            return false;
        };
        self.bytes -= entry.event.len();
        self.total.fetch_sub(entry.event.len(), Ordering::Relaxed);
        self.forgotten_up_to = self.forgotten_up_to.max(entry.seq);
        true
    }

    /// Evicts all history; returns how many events went.
    pub(crate) fn clear(&mut self) -> u64 {
        let mut evicted = 0;
        while self.evict_oldest() {
            evicted += 1;
        }
        evicted
    }

    /// The retained entries after `after`, or `None` when events after it
    /// were evicted. A binary search: the history is ordered by sequence
    /// number.
    pub(crate) fn replay_after(&self, after: u64) -> Option<impl Iterator<Item = &Entry>> {
        if after < self.forgotten_up_to {
            return None;
        }
        let start = self
            .history
            .partition_point(|(entry, _)| entry.seq <= after);
        Some(self.history.range(start..).map(|(entry, _)| entry))
    }
}
