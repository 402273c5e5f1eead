//! Decoding an event stream, as a client does.
//!
//! [`Decoder`] implements the WHATWG HTML algorithm "interpreting an event
//! stream" incrementally: it takes bytes in chunks split anywhere and yields
//! [`Decoded`] items — dispatched [`MessageEvent`]s and `retry` hints — in
//! stream order. [`DecodeStream`] does the same over a `Stream` of chunks,
//! which makes it a client's parser.
//!
//! What it does, rule by rule:
//! - one leading UTF-8 byte order mark is skipped; invalid UTF-8 becomes
//!   U+FFFD and decoding carries on;
//! - lines end in CRLF, LF or a lone CR, also when a CRLF is split between
//!   two chunks;
//! - a line starting with `:` is a comment and is ignored; a line without a
//!   colon is a field with an empty value; one space after the colon is
//!   removed; unknown fields are ignored;
//! - `data` lines are joined with LF; `event` sets the type (default
//!   `message`); `id` sets the last event id unless it contains NUL, and the
//!   id is kept across events; `retry` is used only when it is all ASCII
//!   digits;
//! - a blank line dispatches the event, unless it has no data; one trailing
//!   LF is removed from the data;
//! - at the end of the stream an incomplete event is discarded.
//!
//! Beyond the standard, one event may buffer at most
//! [`Decoder::max_event_size`] bytes; a larger one is dropped and reported as
//! a [`DecodeError`], and decoding resumes after it.

mod decoder;
mod error;
mod message;
mod stream;

pub use self::decoder::{DEFAULT_MAX_EVENT_SIZE, Decoder};
pub use self::error::{DecodeError, StreamError};
pub use self::message::{Decoded, MessageEvent};
pub use self::stream::DecodeStream;
