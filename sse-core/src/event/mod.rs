//! The [`Event`] type and its encoding.

mod builder;
mod encode;
mod error;

use std::fmt;
use std::time::Duration;

use bytes::Bytes;

pub use self::builder::EventBuilder;
pub use self::error::{EventError, Field};
use encode::Fields;

/// One server-sent event, encoded in the event stream format when it is
/// built: always one complete event, ending in a blank line.
///
/// Cloning an `Event` shares its bytes instead of copying them.
///
/// ```
/// use ssekit_core::Event;
///
/// let event = Event::data("line one\nline two");
/// assert_eq!(event.as_bytes(), b"data: line one\ndata: line two\n\n");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Event {
    frame: Bytes,
}

impl Event {
    /// An empty comment, `:\n\n`: the smallest frame that keeps an idle
    /// connection open.
    pub const KEEP_ALIVE: Event = Event {
        frame: Bytes::from_static(b":\n\n"),
    };

    /// Starts an [`EventBuilder`], for an event with several fields.
    pub fn builder<'a>() -> EventBuilder<'a> {
        EventBuilder::new()
    }

    /// An event of the default type, `message`, carrying `data`; every line
    /// break in it starts a new `data:` line.
    pub fn data(data: &str) -> Event {
        Event {
            frame: Fields {
                data: Some(data),
                ..Fields::default()
            }
            .encode(),
        }
    }

    /// An event of the default type whose data is `value` as compact JSON.
    ///
    /// ```
    /// # use ssekit_core::Event;
    /// let event = Event::json(&serde_json::json!({ "user": "ann" }))?;
    /// assert_eq!(event.as_bytes(), b"data: {\"user\":\"ann\"}\n\n");
    /// # Ok::<(), ssekit_core::EventError>(())
    /// ```
    #[cfg(feature = "json")]
    pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<Event, EventError> {
        Event::builder().json(value).build()
    }

    /// A comment, which clients ignore; each line of `text` becomes a
    /// comment line (`:text`).
    pub fn comment(text: &str) -> Event {
        Event {
            frame: Fields {
                comments: &[text.into()],
                ..Fields::default()
            }
            .encode(),
        }
    }

    /// A `retry:` field alone: the client's reconnection time, written in
    /// whole milliseconds.
    pub fn retry(retry: Duration) -> Event {
        Event {
            frame: Fields {
                retry: Some(retry),
                ..Fields::default()
            }
            .encode(),
        }
    }

    /// Wraps bytes already in the event stream format, **without checking
    /// them**: `frame` must be one or more complete events, each ending in a
    /// blank line, or it corrupts the stream it is sent on.
    ///
    /// ```
    /// # use bytes::Bytes;
    /// # use ssekit_core::Event;
    /// let event = Event::from_encoded_unchecked(Bytes::from_static(b"data: cached\n\n"));
    /// assert_eq!(event, Event::data("cached"));
    /// ```
    pub fn from_encoded_unchecked(frame: Bytes) -> Event {
        Event { frame }
    }

    /// The encoded event.
    pub fn as_bytes(&self) -> &[u8] {
        &self.frame
    }

    /// The encoded event as shared bytes, without copying them.
    pub fn to_bytes(&self) -> Bytes {
        self.frame.clone()
    }

    /// The encoded event as shared bytes, by value.
    pub fn into_bytes(self) -> Bytes {
        self.frame
    }

    /// The encoded size in bytes.
    #[allow(clippy::len_without_is_empty)] // an event is never empty
    pub fn len(&self) -> usize {
        self.frame.len()
    }
}

impl From<Event> for Bytes {
    fn from(event: Event) -> Bytes {
        event.frame
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Show the wire bytes, escaped, since they are what the event is.
        f.debug_tuple("Event").field(&self.frame).finish()
    }
}
