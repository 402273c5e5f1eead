//! Event ids: an epoch fixed when the id space starts, and a sequence number.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{BufMut, BytesMut};

use crate::Event;

/// The id the broker gives a published event, and the position a
/// `Last-Event-ID` names, written `{epoch:x}-{seq}`: the id space, fixed
/// when the broker starts, and the event's place among all its events.
///
/// ```
/// use ssekit_core::broker::EventId;
///
/// let id = EventId::new(0xbeef, 42);
/// assert_eq!(id.to_string(), "beef-42");
/// assert_eq!("beef-42".parse::<EventId>(), Ok(id));
/// assert!("42".parse::<EventId>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId {
    epoch: u64,
    seq: u64,
}

impl EventId {
    /// The id of event `seq` in id space `epoch`.
    ///
    /// ```
    /// # use ssekit_core::broker::EventId;
    /// assert_eq!(EventId::new(1, 2).seq(), 2);
    /// ```
    pub const fn new(epoch: u64, seq: u64) -> Self {
        EventId { epoch, seq }
    }

    /// The id space.
    ///
    /// ```
    /// # use ssekit_core::broker::EventId;
    /// assert_eq!(EventId::new(7, 2).epoch(), 7);
    /// ```
    pub const fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The sequence number: later events have larger ones.
    ///
    /// ```
    /// # use ssekit_core::broker::EventId;
    /// assert!(EventId::new(7, 2).seq() < EventId::new(7, 3).seq());
    /// ```
    pub const fn seq(&self) -> u64 {
        self.seq
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}-{}", self.epoch, self.seq)
    }
}

/// A string that is not an [`EventId`].
///
/// ```
/// # use ssekit_core::broker::{EventId, ParseEventIdError};
/// assert_eq!("nope".parse::<EventId>(), Err(ParseEventIdError));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a broker event id (expected `{{epoch:x}}-{{seq}}`)")]
pub struct ParseEventIdError;

impl FromStr for EventId {
    type Err = ParseEventIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (epoch, seq) = s.split_once('-').ok_or(ParseEventIdError)?;
        // `from_str_radix` accepts a leading `+`; the ids we write never have one.
        let digits = |part: &str, hex: bool| {
            !part.is_empty()
                && part.len() <= 20
                && part.bytes().all(|b| {
                    if hex {
                        b.is_ascii_hexdigit()
                    } else {
                        b.is_ascii_digit()
                    }
                })
        };
        if !digits(epoch, true) || !digits(seq, false) {
            return Err(ParseEventIdError);
        }
        Ok(EventId {
            epoch: u64::from_str_radix(epoch, 16).map_err(|_| ParseEventIdError)?,
            seq: seq.parse().map_err(|_| ParseEventIdError)?,
        })
    }
}

/// A new epoch: different on every call and every process start (the
/// start time mixed with a random hash seed), never zero.
pub(crate) fn new_epoch() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(nanos);
    // Keep ids short: 48 bits is plenty to tell restarts apart.
    (hasher.finish() >> 16).max(1)
}

/// `event` with an `id:` line naming `id` added at its end, where it wins
/// over an id the event carried. Copies the frame once; a backend calls it
/// when it learns an event's id.
///
/// ```
/// use ssekit_core::Event;
/// use ssekit_core::broker::{EventId, stamp};
///
/// let stamped = stamp(&Event::data("hi"), EventId::new(0xa, 3));
/// assert_eq!(stamped.as_bytes(), b"data: hi\nid: a-3\n\n".as_slice());
/// ```
pub fn stamp(event: &Event, id: EventId) -> Event {
    let frame = event.as_bytes();
    // Every encoded event ends with a blank line: drop the final "\n".
    let body = &frame[..frame.len().saturating_sub(1)];
    let mut out = BytesMut::with_capacity(body.len() + 4 + 16 + 1 + 20 + 2);
    out.put_slice(body);
    out.put_slice(b"id: ");
    let mut hex = [0u8; 16];
    let mut n = 0;
    let mut epoch = id.epoch;
    loop {
        hex[n] = b"0123456789abcdef"[(epoch & 0xf) as usize];
        n += 1;
        epoch >>= 4;
        if epoch == 0 {
            break;
        }
    }
    hex[..n].reverse();
    out.put_slice(&hex[..n]);
    out.put_u8(b'-');
    out.put_slice(itoa::Buffer::new().format(id.seq).as_bytes());
    out.put_slice(b"\n\n");
    Event::from_encoded_unchecked(out.freeze())
}
