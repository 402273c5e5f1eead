//! The `Last-Event-ID` request header (or `lastEventId` query parameter),
//! parsed once for every framework: absent, a valid id, or invalid, never
//! copying more than a limit.

use std::error::Error;
use std::fmt;

use http::{HeaderMap, HeaderName};

use crate::query::{form_decode, params};

/// The name of the header, `last-event-id`.
pub const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");

/// The request's `Last-Event-ID` header: absent, a valid id, or invalid.
///
/// [`SseLayer`](crate::SseLayer) puts one in every request's extensions, so
/// the inner service can read it:
///
/// ```
/// use http::Request;
/// use ssekit_tower::LastEventId;
///
/// fn resume_point<B>(request: &Request<B>) -> Option<u64> {
///     match request.extensions().get::<LastEventId>()? {
///         LastEventId::Present(id) => id.parse().ok(),
///         LastEventId::Absent | LastEventId::Invalid(_) => None,
///     }
/// }
/// # let request = Request::builder().body(()).unwrap();
/// # assert_eq!(resume_point(&request), None);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum LastEventId {
    /// The request has no `Last-Event-ID` header: a first connection.
    #[default]
    Absent,
    /// The header holds this id (possibly empty).
    Present(String),
    /// The header is there but unusable; the value was not kept.
    Invalid(InvalidLastEventId),
}

/// Why a `Last-Event-ID` was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InvalidLastEventId {
    /// The value is not UTF-8.
    NotUtf8,
    /// The value contains NUL, CR or LF, which no event id can contain.
    ForbiddenChar,
    /// The value is longer than the limit.
    TooLong {
        /// The value's length in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// The request has more than one `Last-Event-ID` header.
    Repeated,
}

impl LastEventId {
    /// The default limit on the header's length: 1 KiB.
    pub const DEFAULT_MAX_LEN: usize = 1024;

    /// Reads the header from `headers`, with the default limit.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        Self::from_headers_with_limit(headers, Self::DEFAULT_MAX_LEN)
    }

    /// Reads the header from `headers`, refusing values longer than
    /// `max_len` bytes; several headers are [`InvalidLastEventId::Repeated`].
    pub fn from_headers_with_limit(headers: &HeaderMap, max_len: usize) -> Self {
        let mut values = headers.get_all(LAST_EVENT_ID).iter();
        let Some(value) = values.next() else {
            return LastEventId::Absent;
        };
        if values.next().is_some() {
            return LastEventId::Invalid(InvalidLastEventId::Repeated);
        }
        Self::parse(value.as_bytes(), max_len)
    }

    /// Parses one header value, refusing values longer than `max_len`
    /// bytes (checked before anything is copied).
    ///
    /// ```
    /// use ssekit_tower::{InvalidLastEventId, LastEventId};
    ///
    /// assert_eq!(LastEventId::parse(b"7", 1024), LastEventId::Present("7".to_owned()));
    /// assert_eq!(LastEventId::parse(b"a\nb", 1024).invalid_reason(), Some(InvalidLastEventId::ForbiddenChar));
    /// ```
    pub fn parse(value: &[u8], max_len: usize) -> Self {
        if value.len() > max_len {
            return LastEventId::Invalid(InvalidLastEventId::TooLong {
                len: value.len(),
                max: max_len,
            });
        }
        if value.iter().any(|&b| matches!(b, b'\0' | b'\r' | b'\n')) {
            return LastEventId::Invalid(InvalidLastEventId::ForbiddenChar);
        }
        match std::str::from_utf8(value) {
            Ok(id) => LastEventId::Present(id.to_owned()),
            Err(_) => LastEventId::Invalid(InvalidLastEventId::NotUtf8),
        }
    }

    /// The query parameter [`from_query`](Self::from_query) reads,
    /// `lastEventId`, for clients that cannot set request headers.
    pub const QUERY_PARAM: &'static str = "lastEventId";

    /// Reads the [`QUERY_PARAM`](Self::QUERY_PARAM) parameter of a query
    /// string (form-decoded) with the rules of [`parse`](Self::parse);
    /// repeated, it is [`InvalidLastEventId::Repeated`].
    pub fn from_query(query: Option<&str>, max_len: usize) -> Self {
        let mut values = params(query, Self::QUERY_PARAM);
        let Some(value) = values.next() else {
            return LastEventId::Absent;
        };
        if values.next().is_some() {
            return LastEventId::Invalid(InvalidLastEventId::Repeated);
        }
        let len = form_decode(value.as_bytes()).count();
        if len > max_len {
            return LastEventId::Invalid(InvalidLastEventId::TooLong { len, max: max_len });
        }
        Self::parse(&form_decode(value.as_bytes()).collect::<Vec<u8>>(), max_len)
    }

    /// Reads the header or, when there is none, the query parameter; the
    /// header wins even when it is invalid.
    ///
    /// ```
    /// use ssekit_tower::LastEventId;
    ///
    /// let id = LastEventId::from_headers_or_query(&http::HeaderMap::new(), Some("lastEventId=7"), 1024);
    /// assert_eq!(id.as_str(), Some("7"));
    /// ```
    pub fn from_headers_or_query(headers: &HeaderMap, query: Option<&str>, max_len: usize) -> Self {
        match Self::from_headers_with_limit(headers, max_len) {
            LastEventId::Absent => Self::from_query(query, max_len),
            from_header => from_header,
        }
    }

    /// The id, when present and valid.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            LastEventId::Present(id) => Some(id),
            LastEventId::Absent | LastEventId::Invalid(_) => None,
        }
    }

    /// Whether the request named no id.
    pub fn is_absent(&self) -> bool {
        matches!(self, LastEventId::Absent)
    }

    /// Why the id was refused, when it was.
    pub fn invalid_reason(&self) -> Option<InvalidLastEventId> {
        match self {
            LastEventId::Invalid(reason) => Some(*reason),
            LastEventId::Absent | LastEventId::Present(_) => None,
        }
    }
}

impl fmt::Display for InvalidLastEventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidLastEventId::NotUtf8 => f.write_str("the last event id is not valid UTF-8"),
            InvalidLastEventId::ForbiddenChar => {
                f.write_str("the last event id contains NUL, CR or LF")
            }
            InvalidLastEventId::TooLong { len, max } => {
                write!(
                    f,
                    "the last event id is {len} bytes long, over the limit of {max}"
                )
            }
            InvalidLastEventId::Repeated => f.write_str(
                "more than one last event id (Last-Event-ID headers or lastEventId parameters)",
            ),
        }
    }
}

impl Error for InvalidLastEventId {}

/// An id the application chose: `Present`, or `Absent` for none.
impl From<Option<String>> for LastEventId {
    fn from(id: Option<String>) -> Self {
        match id {
            Some(id) => LastEventId::Present(id),
            None => LastEventId::Absent,
        }
    }
}
