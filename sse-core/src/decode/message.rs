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

/// An event as a client receives it: type, data and last event id, the
/// three things the standard's `MessageEvent` carries.
///
/// ```
/// use ssekit_core::decode::{Decoded, Decoder, MessageEvent};
///
/// let mut decoder = Decoder::new();
/// let items: Vec<_> = decoder.decode(b"id: 7\ndata: hi\n\n").collect();
/// assert_eq!(items, [Ok(Decoded::Event(MessageEvent::new("message", "hi", "7")))]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageEvent {
    event_type: Option<String>,
    data: String,
    last_event_id: Arc<str>,
}

impl MessageEvent {
    /// An event with the given type, data and last event id.
    ///
    /// An empty type is the default type, `message`, as in the stream format.
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

    /// The last event id as of this event: the value of the most recent
    /// valid `id:` field in the stream so far, or empty if there was none.
    pub fn last_event_id(&self) -> &str {
        &self.last_event_id
    }
}
