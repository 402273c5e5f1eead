use std::fmt;

/// The event field an [`EventError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Field {
    /// The `event:` field, the event type a client listens for.
    EventType,
    /// The `id:` field, which becomes the client's `Last-Event-ID`.
    Id,
    /// The `data:` field.
    Data,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::EventType => "event type",
            Field::Id => "event id",
            Field::Data => "event data",
        })
    }
}

/// Why an [`Event`](crate::Event) could not be built; every variant names
/// the [`Field`] at fault.
///
/// ```
/// use ssekit_core::{Event, EventError, Field};
///
/// let err = Event::builder().id("1\nevent: admin").data("hi").build().unwrap_err();
/// assert!(matches!(err, EventError::LineBreak { field: Field::Id }));
/// assert_eq!(err.to_string(), "event id must not contain a line break (CR or LF)");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The field's value contains a CR or an LF.
    #[error("{field} must not contain a line break (CR or LF)")]
    LineBreak {
        /// The field at fault.
        field: Field,
    },
    /// The id contains U+0000 NULL, which makes clients ignore it.
    #[error("{field} must not contain NUL (U+0000)")]
    Nul {
        /// The field at fault.
        field: Field,
    },
    /// The value given as JSON data could not be serialized.
    #[cfg(feature = "json")]
    #[error("{} could not be serialized as JSON: {source}", Field::Data)]
    Json {
        /// The serializer's error.
        #[source]
        source: serde_json::Error,
    },
}

impl EventError {
    /// The field the error is about.
    pub fn field(&self) -> Field {
        match self {
            EventError::LineBreak { field } | EventError::Nul { field } => *field,
            #[cfg(feature = "json")]
            EventError::Json { .. } => Field::Data,
        }
    }
}
