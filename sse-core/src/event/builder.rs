use std::borrow::Cow;
use std::time::Duration;

use memchr::{memchr, memchr2};

use super::encode::Fields;
use super::{Event, EventError, Field};

/// Builds an [`Event`] field by field.
///
/// No method panics: a value that would break the stream (a line break in
/// the event type or id, a NUL in the id) makes [`build`](EventBuilder::build)
/// return the first such error. Setting a field twice keeps the last value.
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
/// assert_eq!(event.as_bytes(), b"event: chat\nid: 42\nretry: 3000\ndata: hello\ndata: world\n\n");
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

    /// Sets the data, any text: it is split on every line break (CRLF, LF or
    /// a lone CR) into `data:` lines, and a client receives it with each line
    /// break as LF.
    pub fn data(mut self, data: impl Into<Cow<'a, str>>) -> Self {
        self.data = Some(data.into());
        self
    }

    /// Sets the data to `value` serialized as JSON, framed like any data
    /// (a `serde_json::value::RawValue` may hold line breaks).
    #[cfg(feature = "json")]
    pub fn json<T: serde::Serialize + ?Sized>(mut self, value: &T) -> Self {
        match serde_json::to_string(value) {
            Ok(json) => self.data = Some(Cow::Owned(json)),
            Err(source) => self.fail(EventError::Json { source }),
        }
        self
    }

    /// Sets the event type, the name a browser's listeners wait for; without
    /// one, or with an empty one, it is `message`. A CR or LF in it makes
    /// [`build`](Self::build) fail with [`EventError::LineBreak`].
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

    /// Sets the id, which the client sends back as `Last-Event-ID` when it
    /// reconnects; an empty id resets it. A CR or LF in it makes
    /// [`build`](Self::build) fail with [`EventError::LineBreak`], a NUL with
    /// [`EventError::Nul`].
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

    /// Adds a comment, which clients ignore; each line of it becomes a
    /// comment line. Each call adds one.
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
