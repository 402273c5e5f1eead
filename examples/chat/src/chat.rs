//! The chat itself, without HTTP: rooms, their recent messages, and the
//! broker every message and `stats` event goes through.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Serialize;
use ssekit_axum::{Retry, Shutdown};
use ssekit_core::Event;
use ssekit_core::broker::{Broker, BrokerBuilder, BrokerError, EventId, TopicConfig};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// The topic of the once-a-second `stats` events, which every page follows
/// besides its room's.
pub(crate) const STATS_TOPIC: &str = "stats";

/// How many messages a room keeps for the page that opens it.
const KEPT_MESSAGES: usize = 50;

/// The longest nick, in characters.
pub(crate) const MAX_USER: usize = 32;

/// The longest message, in characters.
pub(crate) const MAX_MESSAGE: usize = 500;

/// A chat message: the data of a `message` event, as JSON.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Message {
    pub user: String,
    pub message: String,
}

impl Message {
    /// A message from `user`, both trimmed; the reason when either is empty
    /// or too long.
    pub(crate) fn new(user: &str, message: &str) -> Result<Message, String> {
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

/// How many rooms the chat keeps and for how long: a room is made by its
/// first post and forgotten once no post came for `idle`, with its
/// messages (here, and its topic in the broker).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rooms {
    /// The most rooms at once; a post that would make one more is refused.
    pub max: usize,
    /// How long a room lasts after its last post.
    pub idle: Duration,
}

impl Rooms {
    /// How often idle rooms are looked for, here and in the broker: a
    /// quarter of the idle time, between 10 ms and the broker's default
    /// (30 s), so a room goes at most a quarter (or 30 s) after its time.
    pub(crate) fn sweep_interval(&self) -> Duration {
        (self.idle / 4).clamp(Duration::from_millis(10), Broker::DEFAULT_SWEEP_INTERVAL)
    }
}

/// Why a post was not published.
#[derive(Debug)]
pub(crate) enum PostError {
    /// The room is new and the chat has its [`Rooms::max`] already.
    TooManyRooms { max: usize },
    /// The broker refused it (Redis unreachable).
    Broker(BrokerError),
}

/// A message as published: with the id the broker gave it.
#[derive(Clone, Debug)]
pub(crate) struct Posted {
    pub id: EventId,
    pub message: Message,
}

/// What a page shows when it opens: the room's recent messages and the
/// position to follow the event stream from, so that nothing published in
/// between is missed.
#[derive(Debug)]
pub(crate) struct RoomView {
    pub messages: Vec<Posted>,
    pub position: Option<EventId>,
}

/// The chat's state; cheap to clone.
#[derive(Clone)]
pub(crate) struct Chat {
    inner: Arc<Inner>,
}

struct Inner {
    broker: Broker,
    /// The recent messages and the position a page follows on from. Locked
    /// briefly before and after each publish, never across one: posts to
    /// the broker run side by side.
    history: Mutex<History>,
    rooms: Rooms,
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
///
/// A room is in `rooms` from the moment its first post begins (so the
/// bound counts posts in flight) until [`forget_idle`](Self::forget_idle)
/// finds it without a post for the idle time.
struct History {
    rooms: HashMap<String, Room>,
    /// The bound on `rooms.len()`.
    max_rooms: usize,
    /// The latest id recorded, in any topic.
    latest: Option<EventId>,
    /// The posts being published, by ticket (in the order they began), each
    /// with `latest` as it was then.
    in_flight: BTreeMap<u64, Option<EventId>>,
    next_ticket: u64,
}

/// One room: its recent messages, when a post last began, and how many
/// are in flight.
struct Room {
    messages: VecDeque<Posted>,
    last_post: Instant,
    posting: usize,
}

impl History {
    fn new(max_rooms: usize) -> History {
        History {
            rooms: HashMap::new(),
            max_rooms,
            latest: None,
            in_flight: BTreeMap::new(),
            next_ticket: 0,
        }
    }

    /// A post to `room` begins at `now`: its ticket, or the refusal when
    /// the room is new and there are `max_rooms` already.
    fn begin(&mut self, room: &str, now: Instant) -> Result<u64, PostError> {
        if !self.rooms.contains_key(room) && self.rooms.len() >= self.max_rooms {
            return Err(PostError::TooManyRooms {
                max: self.max_rooms,
            });
        }
        let kept = match self.rooms.get_mut(room) {
            Some(kept) => kept,
            None => self.rooms.entry(room.to_owned()).or_insert(Room {
                messages: VecDeque::new(),
                last_post: now,
                posting: 0,
            }),
        };
        kept.last_post = now;
        kept.posting += 1;
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.in_flight.insert(ticket, self.latest);
        Ok(ticket)
    }

    /// The post of `ticket` to `room` is over: published as `posted`, or
    /// failed (or cancelled) with `None`. A room whose first post failed
    /// goes at once.
    fn end(&mut self, ticket: u64, room: &str, posted: Option<Posted>) {
        self.in_flight.remove(&ticket);
        if let Some(posted) = &posted {
            self.record(posted.id);
        }
        let Some(kept) = self.rooms.get_mut(room) else {
            return;
        };
        kept.posting -= 1;
        match posted {
            Some(posted) => {
                let messages = &mut kept.messages;
                // In id order, whatever order the publishes returned in.
                let at = messages.partition_point(|kept| kept.id < posted.id);
                messages.insert(at, posted);
                if messages.len() > KEPT_MESSAGES {
                    messages.pop_front();
                }
            }
            None if kept.posting == 0 && kept.messages.is_empty() => {
                self.rooms.remove(room);
            }
            None => {}
        }
    }

    /// Forgets the rooms with no post in flight and none begun for `idle`
    /// before `now`; how many went. The map gives back its memory once
    /// most of it is empty.
    fn forget_idle(&mut self, now: Instant, idle: Duration) -> usize {
        let before = self.rooms.len();
        self.rooms
            .retain(|_, room| room.posting > 0 || now.duration_since(room.last_post) < idle);
        let capacity = self.rooms.capacity();
        if capacity > 64 && self.rooms.len() <= capacity / 4 {
            self.rooms.shrink_to(self.rooms.len() * 2);
        }
        before - self.rooms.len()
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
                .map(|room| {
                    room.messages
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
    room: &'a str,
    ticket: Option<u64>,
}

impl InFlight<'_> {
    fn published(mut self, posted: Posted) {
        if let Some(ticket) = self.ticket.take() {
            lock(self.history).end(ticket, self.room, Some(posted));
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            lock(self.history).end(ticket, self.room, None);
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
    /// A chat of at most `rooms.max` rooms, whose event streams all end
    /// when `shutdown` is cancelled, each asking its page to come back
    /// after a draw of `retry`. Idle rooms go only while
    /// [`forget_idle_rooms`](Self::forget_idle_rooms) runs.
    pub(crate) fn new(
        broker: Broker,
        rooms: Rooms,
        shutdown: CancellationToken,
        retry: Retry,
    ) -> Chat {
        Chat {
            inner: Arc::new(Inner {
                broker,
                history: Mutex::new(History::new(rooms.max)),
                rooms,
                posted: AtomicU64::new(0),
                streams: Streams::new(shutdown, retry),
            }),
        }
    }

    /// The broker builder with the chat's hooks, sweeping as often as
    /// `rooms` needs: `.build_with(backend)` for another backend (Redis),
    /// or [`in_memory`](Self::in_memory).
    pub(crate) fn broker_builder(rooms: &Rooms) -> BrokerBuilder {
        Broker::builder()
            .sweep_interval(rooms.sweep_interval())
            .on_subscribe(|topic| tracing::debug!(topic, "subscribed"))
            .on_unsubscribe(|topic| tracing::debug!(topic, "unsubscribed"))
    }

    /// The in-memory broker from `builder`, whose topics (a room's, once
    /// nobody follows it) go after `rooms.idle` without a post, as the
    /// chat's own record of the room does.
    pub(crate) fn in_memory(builder: BrokerBuilder, rooms: &Rooms) -> Broker {
        builder
            .defaults(TopicConfig::new().idle_timeout(rooms.idle))
            .build()
    }

    /// How often idle rooms are looked for.
    pub(crate) fn sweep_interval(&self) -> Duration {
        self.inner.rooms.sweep_interval()
    }

    /// Rooms with a post in the last idle time.
    pub(crate) fn rooms(&self) -> usize {
        lock(&self.inner.history).rooms.len()
    }

    /// Forgets the idle rooms every [`Rooms::sweep_interval`], until the
    /// chat shuts down.
    pub(crate) async fn forget_idle_rooms(self) {
        let rooms = self.inner.rooms;
        let mut ticks = tokio::time::interval(rooms.sweep_interval());
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let shutdown = self.inner.streams.shutdown.clone();
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = shutdown.cancelled() => break,
            }
            let forgotten = lock(&self.inner.history).forget_idle(Instant::now(), rooms.idle);
            if forgotten > 0 {
                tracing::debug!(forgotten, "idle rooms forgotten");
            }
        }
    }

    pub(crate) fn broker(&self) -> &Broker {
        &self.inner.broker
    }

    /// Messages posted since the start.
    pub(crate) fn posted(&self) -> u64 {
        self.inner.posted.load(Ordering::Relaxed)
    }

    /// Publishes `message` to `room` as a `message` event; a new room only
    /// while there are fewer than [`Rooms::max`].
    pub(crate) async fn post(&self, room: &str, message: Message) -> Result<EventId, PostError> {
        let event = Event::builder()
            .event("message")
            .json(&message)
            .build()
            .expect("a message serializes to JSON");
        let history = &self.inner.history;
        let ticket = lock(history).begin(room, Instant::now())?;
        let in_flight = InFlight {
            history,
            room,
            ticket: Some(ticket),
        };
        let id = self
            .inner
            .broker
            .publish(&room_topic(room), event)
            .await
            .map_err(PostError::Broker)?;
        in_flight.published(Posted { id, message });
        self.inner.posted.fetch_add(1, Ordering::Relaxed);
        Ok(id)
    }

    /// Publishes a `stats` event to every page.
    pub(crate) async fn publish_stats(&self, event: Event) -> Result<EventId, BrokerError> {
        // Not in flight: a page that follows on past a `stats` event still
        // being published misses one chart point, never a message.
        let id = self.inner.broker.publish(STATS_TOPIC, event).await?;
        lock(&self.inner.history).record(id);
        Ok(id)
    }

    /// The room's recent messages, oldest first, and where to follow on.
    pub(crate) async fn view(&self, room: &str) -> RoomView {
        lock(&self.inner.history).view(room)
    }

    /// The topics a page of `room` follows: the room's and `stats`.
    pub(crate) fn topics(room: &str) -> [String; 2] {
        [room_topic(room), STATS_TOPIC.to_owned()]
    }

    /// What ends the event streams opened now (on shutdown, or at the next
    /// [`disconnect_all`](Self::disconnect_all)) and the `retry:` each then
    /// sends, so that the pages come back spread over its jitter.
    pub(crate) fn stream_shutdown(&self) -> Shutdown {
        let streams = &self.inner.streams;
        Shutdown::new(streams.token()).retry(streams.retry)
    }

    /// Ends every open event stream; the pages reconnect with their
    /// `Last-Event-ID` and miss nothing.
    pub(crate) fn disconnect_all(&self) {
        self.inner.streams.end_all();
    }
}

/// A room's topic, `room:{NAME}`: the name is the topic's hash tag, so on
/// Redis Cluster every topic of one room (`room:{NAME}` and any added
/// later, as `room:{NAME}:typing`) is in one slot, one ordering unit.
fn room_topic(room: &str) -> String {
    format!("room:{{{room}}}")
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
        let mut history = History::new(usize::MAX);
        let first = history.begin("lobby", Instant::now()).unwrap();
        history.end(first, "lobby", Some(posted(1, "one")));
        history.record(EventId::new(1, 2));
        let view = history.view("lobby");
        assert_eq!(texts(&view), ["one"]);
        assert_eq!(view.position, Some(EventId::new(1, 2)));
        assert!(history.view("elsewhere").messages.is_empty());
    }

    #[test]
    fn while_an_earlier_post_is_in_flight_the_position_stays_below_it() {
        let mut history = History::new(usize::MAX);
        history.record(EventId::new(1, 4));
        // Two posts begin; the second returns first with id 6, while the
        // first (id 5 in the broker) is still being published.
        let slow = history.begin("lobby", Instant::now()).unwrap();
        let fast = history.begin("lobby", Instant::now()).unwrap();
        history.end(fast, "lobby", Some(posted(6, "fast")));
        let view = history.view("lobby");
        assert_eq!(view.position, Some(EventId::new(1, 4)));
        assert!(
            view.messages.is_empty(),
            "6 comes through the stream, after 4"
        );

        history.end(slow, "lobby", Some(posted(5, "slow")));
        let view = history.view("lobby");
        assert_eq!(view.position, Some(EventId::new(1, 6)));
        assert_eq!(texts(&view), ["slow", "fast"], "in the broker's order");
    }

    #[test]
    fn a_failed_post_leaves_nothing_in_flight() {
        let mut history = History::new(usize::MAX);
        history.record(EventId::new(1, 3));
        let history = Mutex::new(history);
        let ticket = lock(&history).begin("lobby", Instant::now()).unwrap();
        drop(InFlight {
            history: &history,
            room: "lobby",
            ticket: Some(ticket),
        });
        lock(&history).record(EventId::new(1, 9));
        let history = lock(&history);
        assert!(history.in_flight.is_empty());
        assert_eq!(history.position(), Some(EventId::new(1, 9)));
    }

    #[test]
    fn a_room_keeps_its_latest_messages() {
        let mut history = History::new(usize::MAX);
        for seq in 1..=KEPT_MESSAGES as u64 + 2 {
            let ticket = history.begin("lobby", Instant::now()).unwrap();
            history.end(ticket, "lobby", Some(posted(seq, &seq.to_string())));
        }
        let view = history.view("lobby");
        assert_eq!(view.messages.len(), KEPT_MESSAGES);
        assert_eq!(view.messages[0].id, EventId::new(1, 3));
    }

    #[test]
    fn a_new_room_beyond_the_maximum_is_refused_an_existing_one_is_not() {
        let mut history = History::new(2);
        let now = Instant::now();
        for room in ["a", "b"] {
            let ticket = history.begin(room, now).unwrap();
            history.end(ticket, room, Some(posted(1, "hi")));
        }
        assert!(matches!(
            history.begin("c", now),
            Err(PostError::TooManyRooms { max: 2 })
        ));
        assert!(history.begin("a", now).is_ok());
    }

    #[test]
    fn a_post_in_flight_counts_toward_the_maximum() {
        let mut history = History::new(1);
        let now = Instant::now();
        let ticket = history.begin("a", now).unwrap();
        assert!(history.begin("b", now).is_err());
        // Its publish failed: the room it would have made is gone.
        history.end(ticket, "a", None);
        assert_eq!(history.rooms.len(), 0);
        assert!(history.begin("b", now).is_ok());
    }

    #[test]
    fn a_room_without_a_post_for_the_idle_time_is_forgotten() {
        let idle = Duration::from_secs(60);
        let mut history = History::new(10);
        let start = Instant::now();
        let old = history.begin("old", start).unwrap();
        history.end(old, "old", Some(posted(1, "hi")));
        let slow = history.begin("slow", start).unwrap();
        let recent = history.begin("recent", start + idle / 2).unwrap();
        history.end(recent, "recent", Some(posted(2, "hi")));

        assert_eq!(history.forget_idle(start + idle, idle), 1);
        assert!(history.view("old").messages.is_empty());
        assert!(
            history.rooms.contains_key("slow"),
            "a post in flight keeps its room"
        );
        history.end(slow, "slow", Some(posted(3, "late")));
        assert_eq!(texts(&history.view("recent")), ["hi"]);
        assert_eq!(history.forget_idle(start + idle * 2, idle), 2);
    }

    #[test]
    fn the_room_map_gives_back_its_memory() {
        let mut history = History::new(usize::MAX);
        let start = Instant::now();
        for n in 0..10_000 {
            let room = n.to_string();
            let ticket = history.begin(&room, start).unwrap();
            history.end(ticket, &room, Some(posted(n + 1, "hi")));
        }
        let peak = history.rooms.capacity();
        assert_eq!(
            history.forget_idle(start + Duration::from_secs(1), Duration::ZERO),
            10_000
        );
        assert!(
            history.rooms.capacity() < peak / 100,
            "{}",
            history.rooms.capacity()
        );
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
