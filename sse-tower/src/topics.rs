//! The topics a request subscribes to, from its `topic` query parameters,
//! parsed within a count and a length limit checked before anything is
//! copied.

use std::error::Error;
use std::fmt;
use std::ops::Deref;

use crate::query::{form_decode, params};

/// The topics named by a request's `topic` query parameters, in order.
///
/// ```
/// use ssekit_tower::Topics;
///
/// let topics = Topics::from_query(Some("topic=news&topic=room%3A1&x=y"))?;
/// assert_eq!(topics.as_slice(), ["news", "room:1"]);
/// # Ok::<(), ssekit_tower::InvalidTopics>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Topics(Vec<String>);

/// Why a request's topics were refused.
///
/// ```
/// use ssekit_tower::{InvalidTopics, Topics};
///
/// assert_eq!(Topics::from_query(Some("x=1")), Err(InvalidTopics::Missing));
/// assert_eq!(Topics::from_query(Some("topic=")), Err(InvalidTopics::Empty));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InvalidTopics {
    /// The query names no topic.
    Missing,
    /// A topic is the empty string.
    Empty,
    /// A topic is not UTF-8 once decoded.
    NotUtf8,
    /// A topic is longer than the limit.
    TooLong {
        /// The topic's length in bytes, decoded.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// The query names more topics than the limit.
    TooMany {
        /// The limit.
        max: usize,
    },
}

impl Topics {
    /// The name of the query parameter read, `topic` (repeated for several
    /// topics, as in `?topic=a&topic=b`).
    pub const QUERY_PARAM: &'static str = "topic";

    /// The default limit on the number of topics in one request: 64.
    pub const DEFAULT_MAX_COUNT: usize = 64;

    /// The default limit on one topic's length: 256 bytes.
    pub const DEFAULT_MAX_LEN: usize = 256;

    /// Reads the `topic` parameters of `query` with the default limits.
    ///
    /// ```
    /// # use ssekit_tower::{InvalidTopics, Topics};
    /// let many = vec!["topic=t"; 65].join("&");
    /// assert_eq!(Topics::from_query(Some(&many)), Err(InvalidTopics::TooMany { max: 64 }));
    /// ```
    pub fn from_query(query: Option<&str>) -> Result<Self, InvalidTopics> {
        Self::from_query_with_limits(query, Self::DEFAULT_MAX_COUNT, Self::DEFAULT_MAX_LEN)
    }

    /// Reads the `topic` parameters of `query` (`%XX` escapes decoded, `+`
    /// a space), refusing more than `max_count` topics or one longer than
    /// `max_len` bytes. Parsing stops at the first topic over a limit, and
    /// a topic's length is checked before it is copied.
    ///
    /// ```
    /// # use ssekit_tower::{InvalidTopics, Topics};
    /// assert_eq!(
    ///     Topics::from_query_with_limits(Some("topic=abcdef"), 8, 4),
    ///     Err(InvalidTopics::TooLong { len: 6, max: 4 })
    /// );
    /// assert_eq!(
    ///     Topics::from_query_with_limits(Some("topic=%FF"), 8, 4),
    ///     Err(InvalidTopics::NotUtf8)
    /// );
    /// ```
    pub fn from_query_with_limits(
        query: Option<&str>,
        max_count: usize,
        max_len: usize,
    ) -> Result<Self, InvalidTopics> {
        let mut topics = Vec::new();
        for value in params(query, Self::QUERY_PARAM) {
            if topics.len() == max_count {
                return Err(InvalidTopics::TooMany { max: max_count });
            }
            let len = form_decode(value.as_bytes()).count();
            if len == 0 {
                return Err(InvalidTopics::Empty);
            }
            if len > max_len {
                return Err(InvalidTopics::TooLong { len, max: max_len });
            }
            let bytes: Vec<u8> = form_decode(value.as_bytes()).collect();
            let topic = String::from_utf8(bytes).map_err(|_| InvalidTopics::NotUtf8)?;
            topics.push(topic);
        }
        if topics.is_empty() {
            return Err(InvalidTopics::Missing);
        }
        Ok(Topics(topics))
    }

    /// The topics, in the order the query gave them.
    ///
    /// ```
    /// # use ssekit_tower::Topics;
    /// let topics = Topics::from_query(Some("topic=a"))?;
    /// assert_eq!(topics.as_slice(), ["a"]);
    /// # Ok::<(), ssekit_tower::InvalidTopics>(())
    /// ```
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// The topics, owned.
    ///
    /// ```
    /// # use ssekit_tower::Topics;
    /// let topics = Topics::from_query(Some("topic=a&topic=b"))?.into_inner();
    /// assert_eq!(topics, ["a", "b"]);
    /// # Ok::<(), ssekit_tower::InvalidTopics>(())
    /// ```
    pub fn into_inner(self) -> Vec<String> {
        self.0
    }
}

impl Deref for Topics {
    type Target = [String];

    fn deref(&self) -> &[String] {
        &self.0
    }
}

impl From<Vec<String>> for Topics {
    /// Topics the application chose itself, with no limits applied (the
    /// broker applies its own).
    fn from(topics: Vec<String>) -> Self {
        Topics(topics)
    }
}

impl fmt::Display for InvalidTopics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidTopics::Missing => f.write_str("no topic given (add ?topic=…)"),
            InvalidTopics::Empty => f.write_str("a topic is empty"),
            InvalidTopics::NotUtf8 => f.write_str("a topic is not valid UTF-8"),
            InvalidTopics::TooLong { len, max } => {
                write!(f, "a topic is {len} bytes long, over the limit of {max}")
            }
            InvalidTopics::TooMany { max } => {
                write!(f, "more than {max} topics in one subscription")
            }
        }
    }
}

impl Error for InvalidTopics {}
