use std::borrow::Cow;
use std::time::Duration;

use memchr::{memchr, memchr2};

use super::encode::Fields;
use super::{Event, EventError, Field};

/// Builds an [`Event`] field by field.
///
/// No method panics. A field whose value would break the stream (a line
/// break in the event type or id, a NUL in the id) is remembered as an error,
/// and [`build`](EventBuilder::build) returns the first such error instead of
/// an event. Values are borrowed where they can be, and the event is encoded
/// into one exactly-sized buffer when it is built.
///
/// Setting a field twice keeps the last value; [`comment`](EventBuilder::comment)
/// adds a comment each time it is called.
///
/// ```
/// use std::time::Duration;
/// use ssekit_core::Event;
///
/// let event = Event::builder()
///     .event("chat")
///     .id("42")
///     .retry(Duration::from_secs(3))
///     .data("hello\nworld")
///     .build()?;
/// assert_eq!(
///     event.as_bytes(),
///     b"event: chat\nid: 42\nretry: 3000\ndata: hello\ndata: world\n\n".as_slice()
/// );
/// # Ok::<(), ssekit_core::EventError>(())
/// ```
#[derive(Debug, Default)]
#[must_use = "an event builder does nothing until `build` is called"]
pub struct EventBuilder<'a> {
    comments: Vec<Cow<'a, str>>,
    event_type: Option<Cow<'a, str>>,
    id: Option<Cow<'a, str>>,
    retry: Option<Duration>,
    data: Option<Cow<'a, str>>,
    error: Option<EventError>,
}

impl<'a> EventBuilder<'a> {
    /// A builder with no fields set; the same as [`Event::builder`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the data. It may hold any text: it is split on every line break
    /// (CRLF, LF or a lone CR) into one `data:` line per line, so a client
    /// receives exactly this string, with each line break as LF.
    ///
    /// ```
    /// # use ssekit_core::Event;
    /// let event = Event::builder().data("a\r\nb").build()?;
    /// assert_eq!(event.as_bytes(), b"data: a\ndata: b\n\n".as_slice());
    /// # Ok::<(), ssekit_core::EventError>(())
    /// ```
    pub fn data(mut self, data: impl Into<Cow<'a, str>>) -> Self {
        self.data = Some(data.into());
        self
    }

    /// Sets the data to `value` serialized as JSON.
    ///
    /// Compact JSON has no raw line breaks, but a
    /// `serde_json::value::RawValue` may; either way the data is
    /// framed so that the client receives the JSON text exactly.
    ///
    /// ```
    /// # use ssekit_core::Event;
    /// let event = Event::builder()
    ///     .event("price")
    ///     .json(&serde_json::json!({ "ticker": "ACME", "price": 12.5 }))
    ///     .build()?;
    /// assert_eq!(
    ///     event.as_bytes(),
    ///     b"event: price\ndata: {\"price\":12.5,\"ticker\":\"ACME\"}\n\n".as_slice()
    /// );
    /// # Ok::<(), ssekit_core::EventError>(())
    /// ```
    #[cfg(feature = "json")]
    pub fn json<T: serde::Serialize + ?Sized>(mut self, value: &T) -> Self {
        match serde_json::to_string(value) {
            Ok(json) => self.data = Some(Cow::Owned(json)),
            Err(source) => self.fail(EventError::Json { source }),
        }
        self
    }

    /// Sets the event type, which a browser dispatches to
    /// `addEventListener(type, …)` listeners; without one (or with an empty
    /// one) the client sees the default type `message`.
    ///
    /// A type containing CR or LF makes [`build`](Self::build) fail with
    /// [`EventError::LineBreak`].
    pub fn event(mut self, event_type: impl Into<Cow<'a, str>>) -> Self {
        let event_type = event_type.into();
        if memchr2(b'\r', b'\n', event_type.as_bytes()).is_some() {
            self.fail(EventError::LineBreak {
                field: Field::EventType,
            });
        }
        self.event_type = Some(event_type);
        self
    }

    /// Sets the id, which the client keeps and sends back as the
    /// `Last-Event-ID` header when it reconnects. An empty id resets the
    /// client's last event id.
    ///
    /// An id containing CR or LF makes [`build`](Self::build) fail with
    /// [`EventError::LineBreak`]; one containing NUL, with [`EventError::Nul`]
    /// (clients ignore such ids).
    pub fn id(mut self, id: impl Into<Cow<'a, str>>) -> Self {
        let id = id.into();
        if memchr2(b'\r', b'\n', id.as_bytes()).is_some() {
            self.fail(EventError::LineBreak { field: Field::Id });
        } else if memchr(0, id.as_bytes()).is_some() {
            self.fail(EventError::Nul { field: Field::Id });
        }
        self.id = Some(id);
        self
    }

    /// Sets the client's reconnection time, written in whole milliseconds
    /// (anything below a millisecond is dropped).
    pub fn retry(mut self, retry: Duration) -> Self {
        self.retry = Some(retry);
        self
    }

    /// Adds a comment. Clients ignore comments; they are useful to keep a
    /// connection alive or to annotate a stream. A comment with line breaks
    /// becomes several comment lines.
    pub fn comment(mut self, comment: impl Into<Cow<'a, str>>) -> Self {
        self.comments.push(comment.into());
        self
    }

    /// Encodes the event, or returns the first error met while building it.
    pub fn build(self) -> Result<Event, EventError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let frame = Fields {
            comments: &self.comments,
            // An empty type is no type: the client falls back to `message`
            // either way, so the line would only cost bytes.
            event_type: self.event_type.as_deref().filter(|t| !t.is_empty()),
            id: self.id.as_deref(),
            retry: self.retry,
            data: self.data.as_deref(),
        }
        .encode();
        Ok(Event { frame })
    }

    fn fail(&mut self, error: EventError) {
        self.error.get_or_insert(error);
    }
}
