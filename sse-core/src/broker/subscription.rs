//! [`Subscription`]: the stream of one client's events.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;

use super::admission::Admitted;
use super::backend::Opened;
use super::config::LagPolicy;
use super::entry::{Entry, ResetReason, Visibility};
use super::grant::Grant;
use super::id::{EventId, Position, id_line, unstamped};
use super::ring::{LiveReceiver, RecvError};
use super::shared::Shared;
use crate::Event;

/// How a subscription started, from [`Subscription::resume`].
///
/// ```
/// use ssekit_core::broker::{Broker, Resume};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), ssekit_core::broker::BrokerError> {
/// let broker = Broker::new();
/// let fresh = broker.subscribe(&["news"], None).await?;
/// assert_eq!(fresh.resume(), Resume::Fresh);
///
/// let stale = broker.subscribe(&["news"], Some("not-an-id")).await?;
/// assert!(matches!(stale.resume(), Resume::Reset { .. }));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resume {
    /// No `Last-Event-ID`: live events only, no replay.
    Fresh,
    /// The id was a position still in history: these many events are
    /// replayed first, then live events follow with no gap.
    Replayed {
        /// How many events are replayed.
        events: usize,
    },
    /// The id cannot be resumed from; live events only. The subscription's
    /// first event is a `reset` notice (see [`Subscription`]).
    Reset {
        /// Why.
        reason: ResetReason,
        /// Where the client now stands: the id the notice carries.
        position: Position,
    },
}

/// The events of one subscriber: a [`Stream`] of [`Event`]s, each already
/// encoded with its `id:` line, ready to write to the socket.
///
/// - Replayed events (after a resumable `Last-Event-ID`) come first, then
///   live ones, with no gap and no duplicate.
/// - After an unresumable id, the first event is the notice
///   `event: reset`, `id:` the current position, `data:` the
///   [`ResetReason`]; [`resume`](Self::resume) tells the application.
/// - An event published to several of the subscription's topics comes once;
///   events of different topics of one unit come in id order where both
///   are ready. A subscription spanning several units writes its own
///   [`Position`] as each event's id: the event comes as two items, its
///   shared frame and then the `id:` line with the blank line.
/// - A private event comes only when the subscription's [`Grant`] names
///   one of its topics.
/// - A subscriber past its topic's lag limit ends
///   ([`LagPolicy::Disconnect`]) or gets `event: lagged`, `data:` the
///   number of events skipped, and continues ([`LagPolicy::SkipAhead`]).
/// - [`Broker::shutdown`](super::Broker::shutdown) ends it after the
///   events already sent and the final event, if any.
///
/// Dropping it unsubscribes at once.
///
/// ```
/// use futures_util::StreamExt;
/// use ssekit_core::Event;
/// use ssekit_core::broker::Broker;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), ssekit_core::broker::BrokerError> {
/// let broker = Broker::new();
/// let mut subscription = broker.subscribe(&["chat"], None).await?;
/// let id = broker.publish("chat", Event::data("hi")).await?;
///
/// let event = subscription.next().await.unwrap();
/// assert_eq!(event.as_bytes(), format!("data: hi\nid: {id}\n\n").as_bytes());
/// # Ok(())
/// # }
/// ```
pub struct Subscription {
    shared: Arc<Shared>,
    notice: Option<Event>,
    replay: std::vec::IntoIter<Entry>,
    lanes: Vec<Lane>,
    /// Deliveries not yet added to the broker's counter.
    unflushed: u64,
    /// For a subscription spanning several units: its own ids. `None`
    /// otherwise, so that delivering from one unit reads no more memory.
    spanning: Option<Box<Spanning>>,
    state: State,
    /// Boxed: delivering from one topic never reads it.
    rest: Box<Rest>,
}

/// What a subscription keeps beside the lanes it reads.
struct Rest {
    topics: Vec<Arc<str>>,
    resume: Resume,
    /// The unit whose head goes first when several are ready, so that no
    /// unit waits on a busy one.
    next_unit: u16,
    /// Per lane, for a subscription to several topics: the entry read and
    /// held until no other lane has a smaller id.
    heads: Vec<Option<Entry>>,
    /// Copies still to come of multi-topic events already delivered: (lane,
    /// seq).
    skip: Vec<(usize, u64)>,
    /// Its place under the broker's admission limits, freed on drop.
    _admitted: Admitted,
}

/// What a subscription spanning several units keeps to write its ids.
struct Spanning {
    /// Where it stands in each unit, in unit order.
    cursor: Vec<(u16, EventId)>,
    /// The id line of the frame just delivered without one.
    id_line: Option<Event>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Open,
    /// Closed by shutdown; the final event, if any, went out.
    Done,
}

struct Lane {
    topic: Arc<str>,
    unit: u16,
    receiver: LiveReceiver,
    policy: LagPolicy,
    /// Whether the grant lets this topic's private entries through.
    private: bool,
    /// Live entries up to this sequence number were replayed already.
    floor: u64,
    /// The channel ended (shutdown) and is drained.
    closed: bool,
}

impl Lane {
    /// Whether this lane's subscriber may receive `entry`.
    fn passes(&self, entry: &Entry) -> bool {
        self.private || entry.visibility == Visibility::Public
    }
}

enum LaneItem {
    Entry(Entry),
    Lagged(u64),
    Closed,
}

impl Subscription {
    pub(crate) fn new(
        shared: Arc<Shared>,
        opened: Opened,
        start: Vec<(u16, EventId)>,
        grant: &Grant,
        resume: Resume,
        admitted: Admitted,
    ) -> Self {
        // Live entries up to a unit's position predate the subscription
        // (or were replayed; the broker raised the position past them): a
        // networked backend's feed may still carry them.
        let floor = |unit: u16| {
            (opened.positions.iter())
                .find(|&&(u, _)| u == unit)
                .map_or(0, |(_, id)| id.seq())
        };
        let topics: Vec<Arc<str>> = opened
            .live
            .iter()
            .map(|live| Arc::clone(&live.topic))
            .collect();
        let lanes: Vec<Lane> = opened
            .live
            .into_iter()
            .map(|live| {
                let unit = shared.backend.unit(&live.topic);
                Lane {
                    private: grant.reads_private(&live.topic),
                    topic: live.topic,
                    unit,
                    receiver: live.receiver,
                    policy: live.policy,
                    floor: floor(unit),
                    closed: false,
                }
            })
            .collect();
        let notice = match resume {
            Resume::Reset {
                reason,
                ref position,
            } => Some(notice(format_args!(
                "event: reset\nid: {position}\ndata: {reason}\n\n"
            ))),
            Resume::Fresh | Resume::Replayed { .. } => None,
        };
        shared.counters.subscribed(&topics);
        let heads = if lanes.len() > 1 {
            lanes.iter().map(|_| None).collect()
        } else {
            Vec::new()
        };
        Subscription {
            shared,
            notice,
            replay: opened.replay.into_iter(),
            lanes,
            unflushed: 0,
            spanning: (start.len() > 1).then(|| {
                Box::new(Spanning {
                    cursor: start,
                    id_line: None,
                })
            }),
            state: State::Open,
            rest: Box::new(Rest {
                topics,
                resume,
                next_unit: 0,
                heads,
                skip: Vec::new(),
                _admitted: admitted,
            }),
        }
    }

    /// How the subscription started: fresh, replaying, or reset.
    pub fn resume(&self) -> Resume {
        self.rest.resume.clone()
    }

    /// The topics subscribed to, without duplicates.
    ///
    /// ```
    /// # use ssekit_core::broker::Broker;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ssekit_core::broker::BrokerError> {
    /// let broker = Broker::new();
    /// let subscription = broker.subscribe(&["a", "b", "a"], None).await?;
    /// assert_eq!(subscription.topics().len(), 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn topics(&self) -> &[Arc<str>] {
        &self.rest.topics
    }

    fn flush(&mut self) {
        self.shared.counters.delivered(self.unflushed);
        self.unflushed = 0;
    }

    fn deliver(&mut self, entry: Entry) -> Poll<Option<Event>> {
        self.unflushed += 1;
        if self.unflushed >= 64 {
            self.flush();
        }
        let Some(spanning) = &mut self.spanning else {
            return Poll::Ready(Some(entry.event));
        };
        let cursor = &mut spanning.cursor;
        if let Some((_, id)) = cursor.iter_mut().find(|(unit, _)| *unit == entry.unit) {
            *id = EventId::new(id.epoch(), entry.seq);
        }
        spanning.id_line = Some(id_line(cursor));
        Poll::Ready(Some(Event::from_encoded_unchecked(unstamped(&entry.event))))
    }

    /// The end by shutdown: the final event, then the end.
    fn closed(&mut self) -> Poll<Option<Event>> {
        self.state = State::Done;
        self.lanes.clear();
        Poll::Ready(self.shared.final_event.get().cloned().flatten())
    }

    fn lagged(&mut self, policy: LagPolicy, skipped: u64) -> Poll<Option<Event>> {
        match policy {
            LagPolicy::Disconnect => {
                self.shared.counters.dropped();
                self.state = State::Done;
                self.lanes.clear();
                Poll::Ready(None)
            }
            LagPolicy::SkipAhead => {
                self.shared.counters.skipped(skipped);
                Poll::Ready(Some(notice(format_args!(
                    "event: lagged\ndata: {skipped}\n\n"
                ))))
            }
        }
    }

    fn poll_single(&mut self, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        match poll_lane(&mut self.lanes[0], cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(LaneItem::Entry(entry)) => self.deliver(entry),
            Poll::Ready(LaneItem::Lagged(n)) => self.lagged(self.lanes[0].policy, n),
            Poll::Ready(LaneItem::Closed) => self.closed(),
        }
    }

    fn poll_merged(&mut self, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        if let Some(done) = self.fill_heads(cx) {
            return done;
        }
        // A lane found empty before another lane's head arrived may since
        // have received a smaller id: the backend sends ids in the order it
        // gives them, across topics. A second look at the empty lanes, now
        // that the heads are here, sees every id below them.
        let heads = &self.rest.heads;
        let some_head = heads.iter().any(Option::is_some);
        let some_empty =
            (self.lanes.iter().zip(heads)).any(|(lane, head)| head.is_none() && !lane.closed);
        if some_head && some_empty {
            if let Some(done) = self.fill_heads(cx) {
                return done;
            }
        }
        self.deliver_smallest_head()
    }

    /// Polls every lane without a head until it has one or is pending.
    /// `Some` when the subscription must answer at once (lag, end).
    fn fill_heads(&mut self, cx: &mut Context<'_>) -> Option<Poll<Option<Event>>> {
        for i in 0..self.lanes.len() {
            while self.rest.heads[i].is_none() && !self.lanes[i].closed {
                match poll_lane(&mut self.lanes[i], cx) {
                    Poll::Pending => break,
                    Poll::Ready(LaneItem::Entry(entry)) => {
                        let seq = entry.seq;
                        let rest = &mut *self.rest;
                        if let Some(at) = rest.skip.iter().position(|&s| s == (i, seq)) {
                            rest.skip.swap_remove(at);
                            continue;
                        }
                        // Copies this lane skipped past (by lagging) never come.
                        rest.skip.retain(|&(lane, s)| lane != i || s > seq);
                        rest.heads[i] = Some(entry);
                    }
                    Poll::Ready(LaneItem::Lagged(n)) => {
                        return Some(self.lagged(self.lanes[i].policy, n));
                    }
                    // A feed that ends before shutdown was ended by its
                    // backend, which lost its position (a networked backend
                    // whose store lost events): end the subscription, so the
                    // client reconnects and resumes or is told to reset,
                    // rather than going on silently without the topic.
                    Poll::Ready(LaneItem::Closed) if self.shared.final_event.get().is_none() => {
                        self.state = State::Done;
                        self.lanes.clear();
                        return Some(Poll::Ready(None));
                    }
                    // Shutdown: deliver what the other lanes hold first.
                    Poll::Ready(LaneItem::Closed) => self.lanes[i].closed = true,
                }
            }
        }
        None
    }

    /// Delivers the smallest head of a unit, dropping its copies from
    /// other lanes: of the first unit from `next_unit` on that has one.
    fn deliver_smallest_head(&mut self) -> Poll<Option<Event>> {
        let rest = &mut *self.rest;
        // Smallest (unit rank, seq): units from `next_unit` on rank first.
        let rank = |unit: u16| unit.wrapping_sub(rest.next_unit);
        let Some((_, seq, first)) = (rest.heads.iter().enumerate())
            .filter_map(|(i, head)| {
                head.as_ref()
                    .map(|head| (rank(self.lanes[i].unit), head.seq, i))
            })
            .min()
        else {
            if self.lanes.iter().all(|lane| lane.closed) {
                return self.closed();
            }
            return Poll::Pending;
        };
        let Some(entry) = rest.heads[first].take() else {
            unreachable!("the lane was chosen for its head");
        };
        rest.next_unit = self.lanes[first].unit.wrapping_add(1);
        if let Some(topics) = &entry.topics {
            for (i, (lane, head)) in self.lanes.iter().zip(&mut rest.heads).enumerate() {
                // A lane that does not pass the entry never holds a copy.
                if i == first || !topics.contains(&lane.topic) || !lane.passes(&entry) {
                    continue;
                }
                if head.as_ref().is_some_and(|head| head.seq == seq) {
                    *head = None;
                } else if head.is_none() {
                    rest.skip.push((i, seq));
                }
            }
        }
        self.deliver(entry)
    }
}

fn notice(args: fmt::Arguments<'_>) -> Event {
    Event::from_encoded_unchecked(Bytes::from(args.to_string()))
}

#[inline]
fn poll_lane(lane: &mut Lane, cx: &mut Context<'_>) -> Poll<LaneItem> {
    loop {
        return match lane.receiver.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(entry)) => {
                if entry.seq <= lane.floor || !lane.passes(&entry) {
                    continue;
                }
                Poll::Ready(LaneItem::Entry(entry))
            }
            Poll::Ready(Err(RecvError::Lagged(n))) => Poll::Ready(LaneItem::Lagged(n)),
            Poll::Ready(Err(RecvError::Closed)) => Poll::Ready(LaneItem::Closed),
        };
    }
}

impl Stream for Subscription {
    type Item = Event;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        let this = self.get_mut();
        if let Some(id_line) = (this.spanning.as_mut()).and_then(|spanning| spanning.id_line.take())
        {
            return Poll::Ready(Some(id_line));
        }
        if this.state == State::Done {
            return Poll::Ready(None);
        }
        if let Some(notice) = this.notice.take() {
            return Poll::Ready(Some(notice));
        }
        if let Some(entry) = this.replay.next() {
            return this.deliver(entry);
        }
        let polled = match this.lanes.len() {
            0 => Poll::Ready(None),
            1 => this.poll_single(cx),
            _ => this.poll_merged(cx),
        };
        if !matches!(polled, Poll::Ready(Some(_))) {
            this.flush();
        }
        polled
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.flush();
        // Receivers first, so the backend sees the topic's count fall.
        self.lanes.clear();
        self.shared.backend.release(&self.rest.topics);
        self.shared.counters.unsubscribed(&self.rest.topics);
        if let Some(hook) = &self.shared.hooks.on_unsubscribe {
            for topic in &self.rest.topics {
                hook(topic);
            }
        }
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("topics", &self.rest.topics)
            .field("resume", &self.rest.resume)
            .field(
                "cursor",
                &self.spanning.as_ref().map(|spanning| &spanning.cursor),
            )
            .field("replay_left", &self.replay.len())
            .finish_non_exhaustive()
    }
}
