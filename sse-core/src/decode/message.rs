use std::sync::Arc;
use std::time::Duration;

use super::decoder::utf8_lossy;

/// What the decoder produces from a stream, in stream order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decoded {
    /// A dispatched event, as a browser's `EventSource` would fire it.
    Event(MessageEvent),
    /// A valid `retry:` field: the server's new reconnection time.
    Retry(Duration),
}

/// An event as a client receives it: type, data and last event id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageEvent {
    event_type: Option<String>,
    data: String,
    last_event_id: Arc<str>,
}

impl MessageEvent {
    /// An event with the given type (empty means `message`), data and last
    /// event id.
    pub fn new(
        event_type: impl AsRef<str>,
        data: impl Into<String>,
        last_event_id: impl Into<Arc<str>>,
    ) -> Self {
        Self::from_parts(
            event_type.as_ref().as_bytes(),
            data.into(),
            last_event_id.into(),
        )
    }

    /// `message` is kept as `None`, so the common case allocates nothing and
    /// two events of the same type always compare equal.
    pub(crate) fn from_parts(event_type: &[u8], data: String, last_event_id: Arc<str>) -> Self {
        MessageEvent {
            event_type: match event_type {
                b"" | b"message" => None,
                other => Some(utf8_lossy(other)),
            },
            data,
            last_event_id,
        }
    }

    /// The event type: the last `event:` field of the event, or `message`.
    pub fn event_type(&self) -> &str {
        self.event_type.as_deref().unwrap_or("message")
    }

    /// The data: the event's `data:` lines joined with LF.
    pub fn data(&self) -> &str {
        &self.data
    }

    /// The data, by value.
    pub fn into_data(self) -> String {
        self.data
    }

    /// The last event id as of this event: the most recent valid `id:` in
    /// the stream so far, or empty.
    pub fn last_event_id(&self) -> &str {
        &self.last_event_id
    }
}
