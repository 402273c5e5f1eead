//! The [`LastEventId`] extractor and its [`LastEventIdRejection`].

use std::error::Error;
use std::fmt;

use http::{HeaderMap, StatusCode, header};
use poem::error::ResponseError;
use poem::{FromRequest, Request, RequestBody, Response};
use ssekit_tower::InvalidLastEventId;

/// The id a reconnecting client last received: the `Last-Event-ID` header,
/// or else the `lastEventId` query parameter; `None` on a first
/// connection.
///
/// Both are read by [`ssekit_tower::LastEventId::from_headers_or_query`] with
/// the default limit of [`ssekit_tower::LastEventId::DEFAULT_MAX_LEN`] bytes.
/// The header wins when both are present, even when it is invalid. An
/// invalid value (not UTF-8, NUL/CR/LF, too long, repeated) rejects the
/// request with [`LastEventIdRejection`]: `400 Bad Request` and a plain-text
/// reason (a [`poem::Error`] made from it).
///
/// ```
/// use poem::{Route, get, handler};
/// use ssekit_poem::LastEventId;
///
/// #[handler]
/// fn events(last_event_id: LastEventId) -> String {
///     last_event_id.as_str().unwrap_or("none").to_owned()
/// }
/// let app = Route::new().at("/events", get(events));
/// # let _ = app;
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct LastEventId(Option<String>);

impl LastEventId {
    /// The id `id`, or none.
    ///
    /// ```
    /// # use ssekit_poem::LastEventId;
    /// assert_eq!(LastEventId::new(Some("7".into())).as_str(), Some("7"));
    /// ```
    pub fn new(id: Option<String>) -> Self {
        LastEventId(id)
    }

    /// The id, or `None` when the client sent none.
    ///
    /// ```
    /// # use ssekit_poem::LastEventId;
    /// assert_eq!(LastEventId::default().as_str(), None);
    /// ```
    pub fn as_str(&self) -> Option<&str> {
        self.0.as_deref()
    }

    /// The id, owned.
    ///
    /// ```
    /// # use ssekit_poem::LastEventId;
    /// assert_eq!(LastEventId::new(Some("7".into())).into_inner(), Some("7".to_owned()));
    /// ```
    pub fn into_inner(self) -> Option<String> {
        self.0
    }

    /// Reads the id from a request's headers and query string, as the
    /// extractor does.
    ///
    /// ```
    /// use http::HeaderMap;
    /// use ssekit_poem::LastEventId;
    ///
    /// let id = LastEventId::from_headers_or_query(&HeaderMap::new(), Some("lastEventId=41"));
    /// assert_eq!(id.unwrap().as_str(), Some("41"));
    /// ```
    pub fn from_headers_or_query(
        headers: &HeaderMap,
        query: Option<&str>,
    ) -> Result<Self, LastEventIdRejection> {
        ssekit_tower::LastEventId::from_headers_or_query(
            headers,
            query,
            ssekit_tower::LastEventId::DEFAULT_MAX_LEN,
        )
        .into_result()
        .map(LastEventId)
        .map_err(|reason| LastEventIdRejection { reason })
    }
}

impl From<LastEventId> for ssekit_tower::LastEventId {
    fn from(id: LastEventId) -> Self {
        ssekit_tower::LastEventId::from(id.0)
    }
}

impl<'a> FromRequest<'a> for LastEventId {
    async fn from_request(request: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        Ok(LastEventId::from_headers_or_query(
            request.headers(),
            request.uri().query(),
        )?)
    }
}

/// The rejection of an invalid `Last-Event-ID` (header or `lastEventId`
/// query parameter): `400 Bad Request` with the reason as plain text, e.g.
/// `the last event id contains NUL, CR or LF` (the `Display` of
/// [`InvalidLastEventId`]).
///
/// As a [`ResponseError`] (and so a [`poem::Error`]) it answers `400 Bad
/// Request` with the reason as plain text.
///
/// ```
/// use http::HeaderMap;
/// use poem::error::ResponseError;
///
/// let rejection = ssekit_poem::LastEventId::from_headers_or_query(&HeaderMap::new(), Some("lastEventId=a%0Ab"))
///     .unwrap_err();
/// assert_eq!(rejection.as_response().status(), 400);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LastEventIdRejection {
    reason: InvalidLastEventId,
}

impl LastEventIdRejection {
    /// Why the value was refused.
    ///
    /// ```
    /// # use ssekit_tower::InvalidLastEventId;
    /// # use http::HeaderMap;
    /// let rejection = ssekit_poem::LastEventId::from_headers_or_query(&HeaderMap::new(), Some("lastEventId=%FF"))
    ///     .unwrap_err();
    /// assert_eq!(rejection.reason(), InvalidLastEventId::NotUtf8);
    /// ```
    pub fn reason(&self) -> InvalidLastEventId {
        self.reason
    }
}

impl fmt::Display for LastEventIdRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.reason, f)
    }
}

impl Error for LastEventIdRejection {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.reason)
    }
}

impl ResponseError for LastEventIdRejection {
    fn status(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }

    fn as_response(&self) -> Response {
        Response::builder()
            .status(StatusCode::BAD_REQUEST)
            .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(self.to_string())
    }
}
