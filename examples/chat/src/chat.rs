//! The chat itself, without HTTP: rooms, their recent messages, and the
//! broker every message and `stats` event goes through.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use ssekit_axum::{Retry, Shutdown};
use ssekit_core::Event;
use ssekit_core::broker::{Broker, BrokerBuilder, BrokerError, EventId};
use tokio_util::sync::CancellationToken;

/// The topic of the once-a-second `stats` events, which every page follows
/// besides its room's.
pub const STATS_TOPIC: &str = "stats";

/// How many messages a room keeps for the page that opens it.
const KEPT_MESSAGES: usize = 50;

/// The longest nick, in characters.
pub const MAX_USER: usize = 32;

/// The longest message, in characters.
pub const MAX_MESSAGE: usize = 500;

/// A chat message: the data of a `message` event, as JSON.
#[derive(Clone, Debug, Serialize)]
pub struct Message {
    pub user: String,
    pub message: String,
}

impl Message {
    /// A message from `user`, both trimmed; the reason when either is empty
    /// or too long.
    pub fn new(user: &str, message: &str) -> Result<Message, String> {
        let field = |name: &str, value: &str, max: usize| {
            let value = value.trim();
            if value.is_empty() {
                Err(format!("{name} is empty"))
            } else if value.chars().count() > max {
                Err(format!("{name} is longer than {max} characters"))
            } else {
                Ok(value.to_owned())
            }
        };
        Ok(Message {
            user: field("user", user, MAX_USER)?,
            message: field("message", message, MAX_MESSAGE)?,
        })
    }
}

/// A message as published: with the id the broker gave it.
#[derive(Clone, Debug)]
pub struct Posted {
    pub id: EventId,
    pub message: Message,
}

/// What a page shows when it opens: the room's recent messages and the
/// position to follow the event stream from, so that nothing published in
/// between is missed.
#[derive(Debug)]
pub struct RoomView {
    pub messages: Vec<Posted>,
    pub position: Option<EventId>,
}

/// The chat's state; cheap to clone.
#[derive(Clone)]
pub struct Chat {
    inner: Arc<Inner>,
}

struct Inner {
    broker: Broker,
    /// The recent messages and the position a page follows on from. Locked
    /// briefly before and after each publish, never across one: posts to
    /// the broker run side by side.
    history: Mutex<History>,
    /// Messages posted since the start.
    posted: AtomicU64,
    streams: Streams,
}

/// The rooms' recent messages, and what it takes to give a page a position
/// that agrees with them while posts are under way.
///
/// A post's id is only known once its publish returns, and publishes run
/// concurrently, so messages can be recorded out of the broker's order. A
/// page must get every message up to its position, either on the page or
/// replayed after it, and none twice. The position handed out is therefore
/// the highest id below which nothing is still being published: each post
/// in flight notes the latest id recorded when it began (its own id will
/// be higher, since the broker gives it later), and the position is the
/// lowest such note, or the latest id when nothing is in flight. A page
/// gets the messages up to that position; those after it come through its
/// stream.
#[derive(Default)]
struct History {
    rooms: HashMap<String, VecDeque<Posted>>,
    /// The latest id recorded, in any topic.
    latest: Option<EventId>,
    /// The posts being published, by ticket (in the order they began), each
    /// with `latest` as it was then.
    in_flight: BTreeMap<u64, Option<EventId>>,
    next_ticket: u64,
}

impl History {
    /// A post begins: its ticket.
    fn begin(&mut self) -> u64 {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.in_flight.insert(ticket, self.latest);
        ticket
    }

    /// The post of `ticket` is over: published as `posted` to `room`, or
    /// failed (or cancelled) with `None`.
    fn end(&mut self, ticket: u64, posted: Option<(&str, Posted)>) {
        self.in_flight.remove(&ticket);
        if let Some((room, posted)) = posted {
            self.record(posted.id);
            let messages = self.rooms.entry(room.to_owned()).or_default();
            // In id order, whatever order the publishes returned in.
            let at = messages.partition_point(|kept| kept.id < posted.id);
            messages.insert(at, posted);
            if messages.len() > KEPT_MESSAGES {
                messages.pop_front();
            }
        }
    }

    /// An event the broker gave `id` (a `stats` event, or a message).
    fn record(&mut self, id: EventId) {
        self.latest = self.latest.max(Some(id));
    }

    /// The position a page follows on from: every message up to it is
    /// recorded, and nothing being published will get an id at or below it.
    fn position(&self) -> Option<EventId> {
        // Notes are taken from `latest`, which only grows: the first ticket
        // in flight has the lowest.
        match self.in_flight.values().next() {
            Some(&noted) => noted,
            None => self.latest,
        }
    }

    fn view(&self, room: &str) -> RoomView {
        let position = self.position();
        RoomView {
            messages: self
                .rooms
                .get(room)
                .map(|messages| {
                    messages
                        .iter()
                        .take_while(|posted| Some(posted.id) <= position)
                        .cloned()
                        .collect()
                })
                .unwrap_or_default(),
            position,
        }
    }
}

/// A post in flight; ends it as failed if dropped before
/// [`InFlight::published`] (the publish failed, or the request was
/// cancelled).
struct InFlight<'a> {
    history: &'a Mutex<History>,
    ticket: Option<u64>,
}

impl InFlight<'_> {
    fn published(mut self, room: &str, posted: Posted) {
        if let Some(ticket) = self.ticket.take() {
            lock(self.history).end(ticket, Some((room, posted)));
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            lock(self.history).end(ticket, None);
        }
    }
}

/// The history, locked; a panic while it was held leaves it usable (every
/// change to it is one step).
fn lock(history: &Mutex<History>) -> MutexGuard<'_, History> {
    history
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Chat {
    /// A chat whose event streams all end when `shutdown` is cancelled,
    /// each asking its page to come back after a draw of `retry`.
    pub fn new(broker: Broker, shutdown: CancellationToken, retry: Retry) -> Chat {
        Chat {
            inner: Arc::new(Inner {
                broker,
                history: Mutex::default(),
                posted: AtomicU64::new(0),
                streams: Streams::new(shutdown, retry),
            }),
        }
    }

    /// The broker builder with the chat's hooks: `.build()` for the
    /// in-memory broker, `.build_with(backend)` for another (Redis).
    pub fn broker_builder() -> BrokerBuilder {
        Broker::builder()
            .on_subscribe(|topic| tracing::debug!(topic, "subscribed"))
            .on_unsubscribe(|topic| tracing::debug!(topic, "unsubscribed"))
    }

    pub fn broker(&self) -> &Broker {
        &self.inner.broker
    }

    /// Messages posted since the start.
    pub fn posted(&self) -> u64 {
        self.inner.posted.load(Ordering::Relaxed)
    }

    /// Publishes `message` to `room` as a `message` event.
    pub async fn post(&self, room: &str, message: Message) -> Result<EventId, BrokerError> {
        let event = Event::builder()
            .event("message")
            .json(&message)
            .build()
            .expect("a message serializes to JSON");
        let history = &self.inner.history;
        let ticket = lock(history).begin();
        let in_flight = InFlight {
            history,
            ticket: Some(ticket),
        };
        let id = self.inner.broker.publish(&room_topic(room), event).await?;
        in_flight.published(room, Posted { id, message });
        self.inner.posted.fetch_add(1, Ordering::Relaxed);
        Ok(id)
    }

    /// Publishes a `stats` event to every page.
    pub async fn publish_stats(&self, event: Event) -> Result<EventId, BrokerError> {
        // Not in flight: a page that follows on past a `stats` event still
        // being published misses one chart point, never a message.
        let id = self.inner.broker.publish(STATS_TOPIC, event).await?;
        lock(&self.inner.history).record(id);
        Ok(id)
    }

    /// The room's recent messages, oldest first, and where to follow on.
    pub async fn view(&self, room: &str) -> RoomView {
        lock(&self.inner.history).view(room)
    }

    /// The topics a page of `room` follows: the room's and `stats`.
    pub fn topics(room: &str) -> [String; 2] {
        [room_topic(room), STATS_TOPIC.to_owned()]
    }

    /// What ends the event streams opened now (on shutdown, or at the next
    /// [`disconnect_all`](Self::disconnect_all)) and the `retry:` each then
    /// sends, so that the pages come back spread over its jitter.
    pub fn stream_shutdown(&self) -> Shutdown {
        let streams = &self.inner.streams;
        Shutdown::new(streams.token()).retry(streams.retry)
    }

    /// Ends every open event stream; the pages reconnect with their
    /// `Last-Event-ID` and miss nothing.
    pub fn disconnect_all(&self) {
        self.inner.streams.end_all();
    }
}

fn room_topic(room: &str) -> String {
    format!("room:{room}")
}

/// One token per generation of streams, each a child of the shutdown
/// token: ending a generation leaves the server running. `retry` is what
/// an ended stream asks its page to wait.
struct Streams {
    shutdown: CancellationToken,
    current: std::sync::Mutex<CancellationToken>,
    retry: Retry,
}

impl Streams {
    fn new(shutdown: CancellationToken, retry: Retry) -> Streams {
        Streams {
            current: std::sync::Mutex::new(shutdown.child_token()),
            shutdown,
            retry,
        }
    }

    fn token(&self) -> CancellationToken {
        self.current.lock().expect("not poisoned").clone()
    }

    fn end_all(&self) {
        let next = self.shutdown.child_token();
        let ended = std::mem::replace(&mut *self.current.lock().expect("not poisoned"), next);
        ended.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn posted(seq: u64, text: &str) -> Posted {
        Posted {
            id: EventId::new(1, seq),
            message: Message::new("ann", text).unwrap(),
        }
    }

    fn texts(view: &RoomView) -> Vec<&str> {
        view.messages
            .iter()
            .map(|posted| posted.message.message.as_str())
            .collect()
    }

    #[test]
    fn a_page_follows_on_after_the_messages_it_shows() {
        let mut history = History::default();
        let first = history.begin();
        history.end(first, Some(("lobby", posted(1, "one"))));
        history.record(EventId::new(1, 2));
        let view = history.view("lobby");
        assert_eq!(texts(&view), ["one"]);
        assert_eq!(view.position, Some(EventId::new(1, 2)));
        assert!(history.view("elsewhere").messages.is_empty());
    }

    #[test]
    fn while_an_earlier_post_is_in_flight_the_position_stays_below_it() {
        let mut history = History::default();
        history.record(EventId::new(1, 4));
        // Two posts begin; the second returns first with id 6, while the
        // first (id 5 in the broker) is still being published.
        let slow = history.begin();
        let fast = history.begin();
        history.end(fast, Some(("lobby", posted(6, "fast"))));
        let view = history.view("lobby");
        assert_eq!(view.position, Some(EventId::new(1, 4)));
        assert!(
            view.messages.is_empty(),
            "6 comes through the stream, after 4"
        );

        history.end(slow, Some(("lobby", posted(5, "slow"))));
        let view = history.view("lobby");
        assert_eq!(view.position, Some(EventId::new(1, 6)));
        assert_eq!(texts(&view), ["slow", "fast"], "in the broker's order");
    }

    #[test]
    fn a_failed_post_leaves_nothing_in_flight() {
        let mut history = History::default();
        history.record(EventId::new(1, 3));
        let history = Mutex::new(history);
        let ticket = lock(&history).begin();
        drop(InFlight {
            history: &history,
            ticket: Some(ticket),
        });
        lock(&history).record(EventId::new(1, 9));
        let history = lock(&history);
        assert!(history.in_flight.is_empty());
        assert_eq!(history.position(), Some(EventId::new(1, 9)));
    }

    #[test]
    fn a_room_keeps_its_latest_messages() {
        let mut history = History::default();
        for seq in 1..=KEPT_MESSAGES as u64 + 2 {
            let ticket = history.begin();
            history.end(ticket, Some(("lobby", posted(seq, &seq.to_string()))));
        }
        let view = history.view("lobby");
        assert_eq!(view.messages.len(), KEPT_MESSAGES);
        assert_eq!(view.messages[0].id, EventId::new(1, 3));
    }

    #[test]
    fn fields_are_trimmed() {
        let message = Message::new(" ann ", "  hi\n").unwrap();
        assert_eq!(
            (message.user.as_str(), message.message.as_str()),
            ("ann", "hi")
        );
    }

    #[test]
    fn an_empty_field_is_refused_with_its_name() {
        assert_eq!(Message::new("", "hi").unwrap_err(), "user is empty");
        assert_eq!(Message::new("ann", " \t").unwrap_err(), "message is empty");
    }

    #[test]
    fn a_field_is_bounded_in_characters_not_bytes() {
        assert!(Message::new(&"é".repeat(MAX_USER), "hi").is_ok());
        assert_eq!(
            Message::new(&"é".repeat(MAX_USER + 1), "hi").unwrap_err(),
            "user is longer than 32 characters"
        );
        assert_eq!(
            Message::new("ann", &"x".repeat(MAX_MESSAGE + 1)).unwrap_err(),
            "message is longer than 500 characters"
        );
    }
}
