//! The data every part of the broker shares: [`Entry`], [`Visibility`] and
//! [`ResetReason`]. Imports no other module of the broker.

use std::fmt;
use std::sync::Arc;

use crate::Event;

/// One published event as it travels to subscribers: its ordering unit
/// and sequence number in it, its frame with the `id:` line added
/// ([`stamp`](super::stamp)), its topics when it went to several or is
/// private, and its [`Visibility`]. Cloning one copies no bytes.
///
/// ```
/// use std::sync::Arc;
/// use ssekit_core::Event;
/// use ssekit_core::broker::{Entry, Visibility};
///
/// let topics = vec![Arc::from("a"), Arc::from("b")];
/// let entry = Entry::new(1, Event::data("x"), Visibility::Public).with_topics(topics);
/// assert_eq!((entry.seq(), entry.topics().map(<[_]>::len)), (1, Some(2)));
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Entry {
    pub(crate) unit: u16,
    pub(crate) seq: u64,
    pub(crate) event: Event,
    pub(crate) topics: Option<Arc<[Arc<str>]>>,
    pub(crate) visibility: Visibility,
}

impl Entry {
    /// Event `seq` of unit 0, already stamped with its id, for one topic.
    pub fn new(seq: u64, event: Event, visibility: Visibility) -> Self {
        Entry {
            unit: 0,
            seq,
            event,
            topics: None,
            visibility,
        }
    }

    /// Names every topic the event was published to: required when there
    /// are several or the event is private, so a merged replay can tell
    /// which grant admits it.
    pub fn with_topics(mut self, topics: impl Into<Arc<[Arc<str>]>>) -> Self {
        self.topics = Some(topics.into());
        self
    }

    /// Places the event in ordering unit `unit` (see
    /// [`Backend::unit`](super::Backend::unit)); its `seq` counts in that
    /// unit.
    ///
    /// ```
    /// # use ssekit_core::{Event, broker::{Entry, Visibility}};
    /// let entry = Entry::new(4, Event::data("x"), Visibility::Public).with_unit(12);
    /// assert_eq!((entry.unit(), entry.seq()), (12, 4));
    /// ```
    pub fn with_unit(mut self, unit: u16) -> Self {
        self.unit = unit;
        self
    }

    /// The ordering unit; 0 unless set.
    pub fn unit(&self) -> u16 {
        self.unit
    }

    /// The sequence number in its unit's id space.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The encoded event, id included.
    pub fn event(&self) -> &Event {
        &self.event
    }

    /// Every topic the event was published to, when named.
    pub fn topics(&self) -> Option<&[Arc<str>]> {
        self.topics.as_deref()
    }

    /// Public, or only for subscribers granted one of its topics.
    pub fn visibility(&self) -> Visibility {
        self.visibility
    }
}

/// Who may receive a published event; `Public` by default.
///
/// ```
/// use ssekit_core::broker::Visibility;
///
/// assert_eq!(Visibility::default(), Visibility::Public);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Visibility {
    /// Every subscriber of the event's topics.
    #[default]
    Public,
    /// Only subscribers granted one of the event's topics (see
    /// [`Grant`](super::Grant)).
    Private,
}

/// Why a `Last-Event-ID` could not be resumed from.
///
/// ```
/// use ssekit_core::broker::ResetReason;
///
/// assert_eq!(ResetReason::OtherEpoch.to_string(), "other-epoch");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResetReason {
    /// Not an id this broker writes (includes an invalid header).
    Malformed,
    /// An id of another epoch: the broker restarted since.
    OtherEpoch,
    /// An id of this epoch that was never given out.
    Unknown,
    /// Events after the id are no longer in history.
    Evicted,
}

impl ResetReason {
    /// The reason as the `reset` notice's data: `malformed`, `other-epoch`,
    /// `unknown` or `evicted`.
    ///
    /// ```
    /// # use ssekit_core::broker::ResetReason;
    /// assert_eq!(ResetReason::Evicted.as_str(), "evicted");
    /// ```
    pub fn as_str(&self) -> &'static str {
        match self {
            ResetReason::Malformed => "malformed",
            ResetReason::OtherEpoch => "other-epoch",
            ResetReason::Unknown => "unknown",
            ResetReason::Evicted => "evicted",
        }
    }
}

impl fmt::Display for ResetReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
