use std::time::Duration;

use ssekit_core::decode::{DecodeError, MessageEvent};

use crate::{Disconnect, Error};

/// What an [`EventSource`](crate::EventSource) yields, in order: `Open`,
/// the connection's events, `Reconnecting`, `Open`, … and, if the server
/// refuses the stream for good, `Closed`.
#[derive(Debug)]
#[non_exhaustive]
pub enum Item {
    /// A connection is established: the server answered `200 OK` with an
    /// event stream. The backoff starts over.
    Open,
    /// An event, as a browser's `EventSource` would dispatch it.
    Event(MessageEvent),
    /// The decoder dropped an event that went over
    /// [`Builder::max_event_size`](crate::Builder::max_event_size); the
    /// stream goes on with the next event.
    Dropped(DecodeError),
    /// A comment line, without its `:` and one leading space, if
    /// [`Builder::comments`](crate::Builder::comments) asks for them. It
    /// comes after the events completed in the same read.
    Comment(String),
    /// The connection ended or could not be made; the next attempt starts
    /// after `delay`.
    #[non_exhaustive]
    Reconnecting {
        /// How long the source waits before it reconnects (see
        /// [`Backoff`](crate::Backoff)).
        delay: Duration,
        /// 1 for the first reconnection since the last [`Item::Open`] (or
        /// since the start), 2 for the next, and so on.
        attempt: u32,
        /// Why the connection ended.
        reason: Disconnect,
    },
    /// The server refused the stream for good; this is the last item.
    Closed(Error),
}

impl Item {
    /// The event, if this item is one.
    pub fn into_event(self) -> Option<MessageEvent> {
        match self {
            Item::Event(event) => Some(event),
            _ => None,
        }
    }
}
