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

/// One server-sent event, already encoded in the event stream format.
///
/// An `Event` is its wire bytes: it is encoded once, when it is built, and
/// cloning it (to send it to many connections) bumps a reference count
/// instead of copying. The bytes always form one complete event ending in a
/// blank line, and no value set through the builder can add fields or events
/// to the stream, so any sequence of events is a well-formed stream.
///
/// ```
/// use ssekit_core::Event;
///
/// let event = Event::data("hello");
/// let for_another_client = event.clone(); // no copy of the bytes
/// assert_eq!(for_another_client.as_bytes(), b"data: hello\n\n".as_slice());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Event {
    frame: Bytes,
}

impl Event {
    /// An empty comment, `:` and a blank line: the smallest frame that keeps
    /// an idle connection open. It is a constant, so sending it allocates
    /// nothing.
    ///
    /// ```
    /// # use ssekit_core::Event;
    /// assert_eq!(Event::KEEP_ALIVE.as_bytes(), b":\n\n".as_slice());
    /// ```
    pub const KEEP_ALIVE: Event = Event {
        frame: Bytes::from_static(b":\n\n"),
    };

    /// Starts building an event with several fields.
    ///
    /// ```
    /// # use ssekit_core::Event;
    /// let event = Event::builder().event("ping").data("").build()?;
    /// assert_eq!(event.as_bytes(), b"event: ping\ndata: \n\n".as_slice());
    /// # Ok::<(), ssekit_core::EventError>(())
    /// ```
    pub fn builder<'a>() -> EventBuilder<'a> {
        EventBuilder::new()
    }

    /// An event of the default type (`message`) carrying `data`.
    ///
    /// Data cannot be invalid, so this cannot fail: every line break in it
    /// starts a new `data:` line.
    ///
    /// ```
    /// # use ssekit_core::Event;
    /// let event = Event::data("line one\nline two");
    /// assert_eq!(event.as_bytes(), b"data: line one\ndata: line two\n\n".as_slice());
    /// ```
    pub fn data(data: &str) -> Event {
        Event {
            frame: Fields {
                data: Some(data),
                ..Fields::default()
            }
            .encode(),
        }
    }

    /// An event of the default type whose data is `value` as JSON.
    ///
    /// ```
    /// # use ssekit_core::Event;
    /// #[derive(serde::Serialize)]
    /// struct Message<'a> { user: &'a str, message: &'a str }
    ///
    /// let event = Event::json(&Message { user: "ann", message: "hi" })?;
    /// assert_eq!(
    ///     event.as_bytes(),
    ///     b"data: {\"user\":\"ann\",\"message\":\"hi\"}\n\n".as_slice()
    /// );
    /// # Ok::<(), ssekit_core::EventError>(())
    /// ```
    #[cfg(feature = "json")]
    pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<Event, EventError> {
        Event::builder().json(value).build()
    }

    /// A comment: ignored by clients, useful as a keep-alive or to annotate
    /// a stream. Line breaks in `text` start new comment lines.
    ///
    /// ```
    /// # use ssekit_core::Event;
    /// assert_eq!(Event::comment("ping").as_bytes(), b":ping\n\n".as_slice());
    /// ```
    pub fn comment(text: &str) -> Event {
        Event {
            frame: Fields {
                comments: &[text.into()],
                ..Fields::default()
            }
            .encode(),
        }
    }

    /// A `retry:` hint alone: tells the client how long to wait before it
    /// reconnects, in whole milliseconds.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use ssekit_core::Event;
    /// let event = Event::retry(Duration::from_millis(2500));
    /// assert_eq!(event.as_bytes(), b"retry: 2500\n\n".as_slice());
    /// ```
    pub fn retry(retry: Duration) -> Event {
        Event {
            frame: Fields {
                retry: Some(retry),
                ..Fields::default()
            }
            .encode(),
        }
    }

    /// Wraps bytes that are already in the event stream format, **without
    /// checking them**.
    ///
    /// This is the escape hatch for frames encoded elsewhere (stored,
    /// received from another process, or static). The caller promises that
    /// `frame` is one or more complete events, each ending in a blank line;
    /// anything else corrupts the stream of every client it is sent to.
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

    /// The encoded event as shared bytes, without copying.
    pub fn to_bytes(&self) -> Bytes {
        self.frame.clone()
    }

    /// The encoded event as shared bytes, without copying.
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
