/// Why the decoder dropped an event; decoding carries on with the next one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The event grew past
    /// [`Decoder::max_event_size`](super::Decoder::max_event_size).
    #[error("event larger than the limit of {limit} bytes; it was discarded")]
    EventTooLarge {
        /// The limit in force, in bytes.
        limit: usize,
    },
}

/// An error from a [`DecodeStream`](super::DecodeStream).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError<E> {
    /// The underlying byte stream returned an error.
    #[error("reading the event stream failed: {0}")]
    Source(#[source] E),
    /// The decoder dropped an event.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}
