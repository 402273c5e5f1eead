//! Event ids: an epoch fixed when the id space starts, and a sequence number.

use std::collections::hash_map::RandomState;
use std::fmt::{self, Write as _};
use std::hash::{BuildHasher, Hasher};
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};

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

/// The position a subscription has reached, as its `Last-Event-ID`
/// carries it: one [`EventId`] when the subscription reads one ordering
/// unit (every topic of a [`MemoryBackend`](super::MemoryBackend), or
/// topics that share a unit of a sharded backend), written the same way;
/// otherwise one id per unit, written `{unit}:{epoch:x}-{seq}` joined by
/// `.`, in unit order.
///
/// ```
/// use ssekit_core::broker::{EventId, Position};
///
/// let one = Position::from(EventId::new(0xbeef, 42));
/// assert_eq!(one.to_string(), "beef-42");
/// let two = Position::units([(9, EventId::new(0xb, 7)), (3, EventId::new(0xa, 1))]);
/// assert_eq!(two.to_string(), "3:a-1.9:b-7");
/// assert_eq!("3:a-1.9:b-7".parse::<Position>(), Ok(two));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Position(Repr);

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Repr {
    One(EventId),
    Units(Box<[(u16, EventId)]>),
}

impl Position {
    /// One id per unit; sorted by unit, the first id of a unit kept.
    pub fn units(ids: impl IntoIterator<Item = (u16, EventId)>) -> Self {
        let mut ids: Vec<(u16, EventId)> = ids.into_iter().collect();
        ids.sort_by_key(|&(unit, _)| unit);
        ids.dedup_by_key(|&mut (unit, _)| unit);
        Position(Repr::Units(ids.into_boxed_slice()))
    }

    /// The id, when the position is written as one.
    ///
    /// ```
    /// # use ssekit_core::broker::{EventId, Position};
    /// assert_eq!(Position::from(EventId::new(1, 2)).id(), Some(EventId::new(1, 2)));
    /// assert_eq!(Position::units([(0, EventId::new(1, 2))]).id(), None);
    /// ```
    pub fn id(&self) -> Option<EventId> {
        match &self.0 {
            Repr::One(id) => Some(*id),
            Repr::Units(_) => None,
        }
    }

    /// The id of each unit, in unit order, when the position names units.
    ///
    /// ```
    /// # use ssekit_core::broker::{EventId, Position};
    /// let position: Position = "4:a-1".parse().unwrap();
    /// assert_eq!(position.unit_ids(), &[(4, EventId::new(0xa, 1))]);
    /// ```
    pub fn unit_ids(&self) -> &[(u16, EventId)] {
        match &self.0 {
            Repr::One(_) => &[],
            Repr::Units(ids) => ids,
        }
    }
}

impl From<EventId> for Position {
    fn from(id: EventId) -> Self {
        Position(Repr::One(id))
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::One(id) => id.fmt(f),
            Repr::Units(ids) => UnitIds(ids).fmt(f),
        }
    }
}

/// One id per unit, written `{unit}:{epoch:x}-{seq}` joined by `.`.
struct UnitIds<'a>(&'a [(u16, EventId)]);

impl fmt::Display for UnitIds<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (unit, id)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{unit}:{id}")?;
        }
        Ok(())
    }
}

impl FromStr for Position {
    type Err = ParseEventIdError;

    /// Only what [`Display`](fmt::Display) writes: units in strictly
    /// increasing order, each once, at most [`u16::MAX`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if !s.contains(':') {
            return s.parse::<EventId>().map(Position::from);
        }
        let mut ids = Vec::new();
        for part in s.split('.') {
            let (unit, id) = part.split_once(':').ok_or(ParseEventIdError)?;
            if unit.is_empty() || unit.len() > 5 || !unit.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ParseEventIdError);
            }
            let unit: u16 = unit.parse().map_err(|_| ParseEventIdError)?;
            if ids.last().is_some_and(|&(last, _)| last >= unit) {
                return Err(ParseEventIdError);
            }
            ids.push((unit, id.parse()?));
        }
        Ok(Position(Repr::Units(ids.into_boxed_slice())))
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

/// The frame of a stamped `event` without its `id:` line and the blank line
/// after it, sharing its bytes: what a subscription reading several units
/// writes before an `id:` line of its own. A frame not ending in an `id:`
/// line loses only its blank line (a later `id:` field wins anyway).
pub(crate) fn unstamped(event: &Event) -> Bytes {
    let frame = event.to_bytes();
    let Some(end) = frame.len().checked_sub(1) else {
        return frame;
    };
    // `frame[..end]` ends with the id line's own newline.
    let start = (frame[..end.saturating_sub(1)]
        .iter()
        .rposition(|&b| b == b'\n'))
    .map_or(0, |i| i + 1);
    if frame[start..end].starts_with(b"id: ") {
        frame.slice(..start)
    } else {
        frame.slice(..end)
    }
}

/// `id: ` the position of `ids` (one per unit, in unit order) and the
/// blank line that ends an event, in one allocation.
pub(crate) fn id_line(ids: &[(u16, EventId)]) -> Event {
    let mut line = String::with_capacity(6 + ids.len() * 40);
    // Writing to a `String` cannot fail.
    let _ = write!(line, "id: {}\n\n", UnitIds(ids));
    Event::from_encoded_unchecked(Bytes::from(line))
}
