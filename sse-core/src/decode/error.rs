/// Why the decoder dropped part of a stream.
///
/// Decoding itself never fails (the event stream format gives every byte a
/// meaning); these errors report that a configured bound was hit. The
/// decoder skips the offending event and carries on with the next one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The event's buffered fields grew past the limit; the event was not
    /// dispatched (see [`Decoder::with_max_event_size`](super::Decoder::with_max_event_size)).
    #[error("event larger than the limit of {limit} bytes; it was discarded")]
    EventTooLarge {
        /// The limit in force, in bytes.
        limit: usize,
    },
}

/// An error from a [`DecodeStream`](super::DecodeStream): either the byte
/// stream underneath failed, or the decoder dropped an event.
#[derive(Debug, thiserror::Error)]
pub enum StreamError<E> {
    /// The underlying byte stream returned an error.
    #[error("reading the event stream failed: {0}")]
    Source(#[source] E),
    /// The decoder dropped an event.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}
