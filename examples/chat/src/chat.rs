//! The chat itself, without HTTP: rooms, their recent messages, and the
//! broker every message and `stats` event goes through.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use ssekit_core::Event;
use ssekit_core::broker::{Broker, BrokerBuilder, BrokerError, EventId};
use tokio::sync::Mutex;
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
    /// Held across each publish, so that the recent messages and the
    /// position always agree with the broker's order.
    history: Mutex<History>,
    /// Messages posted since the start.
    posted: AtomicU64,
    streams: Streams,
}

#[derive(Default)]
struct History {
    rooms: HashMap<String, VecDeque<Posted>>,
    /// The id of the latest event published, in any topic.
    position: Option<EventId>,
}

impl Chat {
    /// A chat whose event streams all end when `shutdown` is cancelled.
    pub fn new(broker: Broker, shutdown: CancellationToken) -> Chat {
        Chat {
            inner: Arc::new(Inner {
                broker,
                history: Mutex::default(),
                posted: AtomicU64::new(0),
                streams: Streams::new(shutdown),
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
        let mut history = self.inner.history.lock().await;
        let id = self.inner.broker.publish(&room_topic(room), event).await?;
        history.position = Some(id);
        let messages = history.rooms.entry(room.to_owned()).or_default();
        if messages.len() == KEPT_MESSAGES {
            messages.pop_front();
        }
        messages.push_back(Posted { id, message });
        self.inner.posted.fetch_add(1, Ordering::Relaxed);
        Ok(id)
    }

    /// Publishes a `stats` event to every page.
    pub async fn publish_stats(&self, event: Event) -> Result<EventId, BrokerError> {
        let mut history = self.inner.history.lock().await;
        let id = self.inner.broker.publish(STATS_TOPIC, event).await?;
        history.position = Some(id);
        Ok(id)
    }

    /// The room's recent messages, oldest first, and where to follow on.
    pub async fn view(&self, room: &str) -> RoomView {
        let history = self.inner.history.lock().await;
        RoomView {
            messages: history
                .rooms
                .get(room)
                .map(|messages| messages.iter().cloned().collect())
                .unwrap_or_default(),
            position: history.position,
        }
    }

    /// The topics a page of `room` follows: the room's and `stats`.
    pub fn topics(room: &str) -> [String; 2] {
        [room_topic(room), STATS_TOPIC.to_owned()]
    }

    /// The token that ends the event streams opened now: on shutdown, or
    /// at the next [`disconnect_all`](Self::disconnect_all).
    pub fn stream_shutdown(&self) -> CancellationToken {
        self.inner.streams.token()
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
/// token: ending a generation leaves the server running.
struct Streams {
    shutdown: CancellationToken,
    current: std::sync::Mutex<CancellationToken>,
}

impl Streams {
    fn new(shutdown: CancellationToken) -> Streams {
        Streams {
            current: std::sync::Mutex::new(shutdown.child_token()),
            shutdown,
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
