//! Decoding an event stream, as a client does.
//!
//! [`Decoder`] follows the WHATWG HTML algorithm "interpreting an event
//! stream" on chunks split anywhere, and yields [`Decoded`] items (events and
//! `retry` values) in stream order; [`DecodeStream`] does so over a `Stream`
//! of chunks.
//!
//! # Rules
//! - One leading UTF-8 BOM is skipped; invalid UTF-8 becomes U+FFFD.
//! - Lines end in CRLF, LF or a lone CR, even with a CRLF split across chunks.
//! - "Process the field": a line starting with `:` is a comment; a line
//!   without a colon is a field with an empty value; one space after the
//!   colon is removed; unknown fields are ignored. `data` lines are joined
//!   with LF, `event` sets the type (default `message`), `id` sets the last
//!   event ID buffer unless it holds a NUL, `retry` counts only if all ASCII
//!   digits.
//! - "Dispatch the event" on a blank line: nothing if the data is empty,
//!   else the data less one trailing LF. The last event ID is kept across
//!   events.
//! - At the end of the stream an incomplete event is discarded.
//! - Beyond the standard, an event over [`Decoder::max_event_size`] bytes is
//!   dropped and reported as a [`DecodeError`].

mod decoder;
mod error;
mod message;
mod stream;

pub use self::decoder::{DEFAULT_MAX_EVENT_SIZE, Decoder};
pub use self::error::{DecodeError, StreamError};
pub use self::message::{Decoded, MessageEvent};
pub use self::stream::DecodeStream;
