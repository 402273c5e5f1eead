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

/// Why a `Last-Event-ID` header was not accepted.
///
/// ```
/// # use ssekit_tower::{InvalidLastEventId, LastEventId};
/// let parsed = LastEventId::parse(b"\xff", 1024);
/// assert_eq!(parsed, LastEventId::Invalid(InvalidLastEventId::NotUtf8));
/// ```
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
    ///
    /// ```
    /// use http::HeaderMap;
    /// use ssekit_tower::LastEventId;
    ///
    /// let mut headers = HeaderMap::new();
    /// assert_eq!(LastEventId::from_headers(&headers), LastEventId::Absent);
    ///
    /// headers.insert("last-event-id", "42".parse().unwrap());
    /// assert_eq!(LastEventId::from_headers(&headers).as_str(), Some("42"));
    /// ```
    pub fn from_headers(headers: &HeaderMap) -> Self {
        Self::from_headers_with_limit(headers, Self::DEFAULT_MAX_LEN)
    }

    /// Reads the header from `headers`, refusing values longer than
    /// `max_len` bytes. Several `Last-Event-ID` headers are
    /// [`InvalidLastEventId::Repeated`]: which one to trust is ambiguous.
    ///
    /// ```
    /// use http::HeaderMap;
    /// use ssekit_tower::{InvalidLastEventId, LastEventId};
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert("last-event-id", "0123456789".parse().unwrap());
    /// assert_eq!(
    ///     LastEventId::from_headers_with_limit(&headers, 4),
    ///     LastEventId::Invalid(InvalidLastEventId::TooLong { len: 10, max: 4 })
    /// );
    /// ```
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
    /// bytes. The length is checked first, so an oversized value costs
    /// nothing more.
    ///
    /// ```
    /// use ssekit_tower::{InvalidLastEventId, LastEventId};
    ///
    /// assert_eq!(LastEventId::parse(b"7", 1024), LastEventId::Present("7".to_owned()));
    /// assert_eq!(
    ///     LastEventId::parse(b"a\0b", 1024),
    ///     LastEventId::Invalid(InvalidLastEventId::ForbiddenChar)
    /// );
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

    /// The name of the query parameter [`from_query`](Self::from_query)
    /// reads, `lastEventId`: the name of the `EventSource` property, used by
    /// polyfills and by clients that cannot set request headers.
    pub const QUERY_PARAM: &'static str = "lastEventId";

    /// Reads the [`QUERY_PARAM`](Self::QUERY_PARAM) parameter from a URI's
    /// query string (`application/x-www-form-urlencoded`: `%XX` escapes are
    /// decoded and `+` is a space), with the same rules as the header: absent
    /// without the parameter, [`InvalidLastEventId::Repeated`] when it is
    /// there more than once, and the checks of [`parse`](Self::parse) on the
    /// decoded value. The decoded length is checked before anything is
    /// copied.
    ///
    /// ```
    /// use ssekit_tower::{InvalidLastEventId, LastEventId};
    ///
    /// assert_eq!(LastEventId::from_query(Some("a=1&lastEventId=evt%2042"), 1024).as_str(), Some("evt 42"));
    /// assert_eq!(LastEventId::from_query(Some("a=1"), 1024), LastEventId::Absent);
    /// assert_eq!(LastEventId::from_query(None, 1024), LastEventId::Absent);
    /// assert_eq!(
    ///     LastEventId::from_query(Some("lastEventId=a%0Ab"), 1024),
    ///     LastEventId::Invalid(InvalidLastEventId::ForbiddenChar)
    /// );
    /// ```
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

    /// Reads the `Last-Event-ID` header and, when the request has none, the
    /// [`QUERY_PARAM`](Self::QUERY_PARAM) query parameter: the header wins
    /// when both are there, even when it is invalid.
    ///
    /// ```
    /// use http::HeaderMap;
    /// use ssekit_tower::LastEventId;
    ///
    /// let mut headers = HeaderMap::new();
    /// let query = Some("lastEventId=7");
    /// assert_eq!(LastEventId::from_headers_or_query(&headers, query, 1024).as_str(), Some("7"));
    ///
    /// headers.insert("last-event-id", "9".parse().unwrap());
    /// assert_eq!(LastEventId::from_headers_or_query(&headers, query, 1024).as_str(), Some("9"));
    /// ```
    pub fn from_headers_or_query(headers: &HeaderMap, query: Option<&str>, max_len: usize) -> Self {
        match Self::from_headers_with_limit(headers, max_len) {
            LastEventId::Absent => Self::from_query(query, max_len),
            from_header => from_header,
        }
    }

    /// The id, when the header was present and valid.
    ///
    /// ```
    /// # use ssekit_tower::LastEventId;
    /// assert_eq!(LastEventId::Present("9".into()).as_str(), Some("9"));
    /// assert_eq!(LastEventId::Absent.as_str(), None);
    /// ```
    pub fn as_str(&self) -> Option<&str> {
        match self {
            LastEventId::Present(id) => Some(id),
            LastEventId::Absent | LastEventId::Invalid(_) => None,
        }
    }

    /// Whether the request had no `Last-Event-ID` header.
    ///
    /// ```
    /// # use ssekit_tower::LastEventId;
    /// assert!(LastEventId::Absent.is_absent());
    /// ```
    pub fn is_absent(&self) -> bool {
        matches!(self, LastEventId::Absent)
    }

    /// The id as a `Result`: `Ok(None)` when absent, `Ok(Some(id))` when
    /// present, `Err(reason)` when invalid.
    ///
    /// ```
    /// use ssekit_tower::{InvalidLastEventId, LastEventId};
    ///
    /// assert_eq!(LastEventId::Absent.into_result(), Ok(None));
    /// assert_eq!(LastEventId::parse(b"7", 1024).into_result(), Ok(Some("7".to_owned())));
    /// assert_eq!(
    ///     LastEventId::parse(b"a\nb", 1024).into_result(),
    ///     Err(InvalidLastEventId::ForbiddenChar)
    /// );
    /// ```
    pub fn into_result(self) -> Result<Option<String>, InvalidLastEventId> {
        match self {
            LastEventId::Absent => Ok(None),
            LastEventId::Present(id) => Ok(Some(id)),
            LastEventId::Invalid(reason) => Err(reason),
        }
    }

    /// Why the header was refused, when it was.
    ///
    /// ```
    /// # use ssekit_tower::{InvalidLastEventId, LastEventId};
    /// assert_eq!(
    ///     LastEventId::parse(b"\xc3", 8).invalid_reason(),
    ///     Some(InvalidLastEventId::NotUtf8)
    /// );
    /// ```
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

/// An id known to be valid, or none: `Present` or `Absent`.
///
/// ```
/// use ssekit_tower::LastEventId;
///
/// assert_eq!(LastEventId::from(Some("7".to_owned())), LastEventId::Present("7".to_owned()));
/// assert_eq!(LastEventId::from(None), LastEventId::Absent);
/// ```
impl From<Option<String>> for LastEventId {
    fn from(id: Option<String>) -> Self {
        match id {
            Some(id) => LastEventId::Present(id),
            None => LastEventId::Absent,
        }
    }
}
