//! The [`last_event_id`] filter, its [`LastEventIdRejection`] and
//! [`recover`].

use std::error::Error;
use std::fmt;

use http::{HeaderMap, StatusCode, header};
use ssekit_tower::InvalidLastEventId;
use warp::reject::Reject;
use warp::{Filter, Rejection, Reply};

/// The id a reconnecting client last received: the `Last-Event-ID` header,
/// or else the `lastEventId` query parameter; `None` on a first
/// connection. Extracted by the [`last_event_id`] filter.
///
/// ```
/// use ssekit_warp::LastEventId;
///
/// assert_eq!(LastEventId::new(Some("7".into())).as_str(), Some("7"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct LastEventId(Option<String>);

impl LastEventId {
    /// The id `id`, or none.
    ///
    /// ```
    /// # use ssekit_warp::LastEventId;
    /// assert_eq!(LastEventId::new(None).as_str(), None);
    /// ```
    pub fn new(id: Option<String>) -> Self {
        LastEventId(id)
    }

    /// The id, or `None` when the client sent none.
    ///
    /// ```
    /// # use ssekit_warp::LastEventId;
    /// assert_eq!(LastEventId::default().as_str(), None);
    /// ```
    pub fn as_str(&self) -> Option<&str> {
        self.0.as_deref()
    }

    /// The id, owned.
    ///
    /// ```
    /// # use ssekit_warp::LastEventId;
    /// assert_eq!(LastEventId::new(Some("7".into())).into_inner(), Some("7".to_owned()));
    /// ```
    pub fn into_inner(self) -> Option<String> {
        self.0
    }

    /// Reads the id from a request's headers and query string, as the
    /// filter does.
    ///
    /// ```
    /// use http::HeaderMap;
    /// use ssekit_warp::LastEventId;
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

/// A filter that extracts the [`LastEventId`]: the `Last-Event-ID` header,
/// or else the `lastEventId` query parameter.
///
/// Both are read by [`ssekit_tower::LastEventId::from_headers_or_query`] with
/// the default limit of [`ssekit_tower::LastEventId::DEFAULT_MAX_LEN`] bytes;
/// the header wins when both are present, even when it is invalid. An
/// invalid value (not UTF-8, NUL/CR/LF, too long, repeated) rejects the
/// request with [`LastEventIdRejection`]; add
/// [`.recover(ssekit_warp::recover)`](recover) to answer it with `400 Bad
/// Request` and the reason as plain text.
///
/// ```
/// use warp::Filter;
///
/// let route = warp::path("events")
///     .and(ssekit_warp::last_event_id())
///     .map(|id: ssekit_warp::LastEventId| id.as_str().unwrap_or("none").to_owned())
///     .recover(ssekit_warp::recover);
/// # let _ = route;
/// ```
pub fn last_event_id() -> impl Filter<Extract = (LastEventId,), Error = Rejection> + Copy {
    let query = warp::query::raw()
        .map(Some)
        .or(warp::any().map(|| None))
        .unify();
    warp::header::headers_cloned().and(query).and_then(
        |headers: HeaderMap, query: Option<String>| async move {
            LastEventId::from_headers_or_query(&headers, query.as_deref())
                .map_err(warp::reject::custom)
        },
    )
}

/// Answers a [`LastEventIdRejection`] with `400 Bad Request` and its reason
/// as plain text, and passes any other rejection on. Use it with
/// [`Filter::recover`].
///
/// ```
/// use warp::Filter;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let route = ssekit_warp::last_event_id().map(|_| "ok").recover(ssekit_warp::recover);
/// let response = warp::test::request().path("/?lastEventId=a%0Ab").reply(&route).await;
/// assert_eq!(response.status(), 400);
/// assert_eq!(response.body(), "the last event id contains NUL, CR or LF");
/// # }
/// ```
pub async fn recover(rejection: Rejection) -> Result<LastEventIdRejection, Rejection> {
    match rejection.find::<LastEventIdRejection>() {
        Some(invalid) => Ok(*invalid),
        None => Err(rejection),
    }
}

/// The rejection of an invalid `Last-Event-ID` (header or `lastEventId`
/// query parameter). As a [`Reply`] it is `400 Bad Request` with the reason
/// as plain text, e.g. `the last event id contains NUL, CR or LF` (the
/// `Display` of [`InvalidLastEventId`]).
///
/// ```
/// use http::HeaderMap;
/// use warp::Reply;
///
/// let rejection = ssekit_warp::LastEventId::from_headers_or_query(&HeaderMap::new(), Some("lastEventId=%FF"))
///     .unwrap_err();
/// assert_eq!(rejection.into_response().status(), 400);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LastEventIdRejection {
    reason: InvalidLastEventId,
}

impl LastEventIdRejection {
    /// Why the value was refused.
    ///
    /// ```
    /// # use http::HeaderMap;
    /// # use ssekit_tower::InvalidLastEventId;
    /// let rejection = ssekit_warp::LastEventId::from_headers_or_query(&HeaderMap::new(), Some("lastEventId=%FF"))
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

impl Reject for LastEventIdRejection {}

impl Reply for LastEventIdRejection {
    fn into_response(self) -> warp::reply::Response {
        let mut response = self.to_string().into_response();
        *response.status_mut() = StatusCode::BAD_REQUEST;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        response
    }
}
