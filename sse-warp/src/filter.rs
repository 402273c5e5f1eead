//! The filters: [`last_event_id`], [`topics`], [`request_parts`], and
//! [`recover`] for their rejections.

use std::convert::Infallible;

use http::request::Parts;
use http::{HeaderMap, Method, Uri};
use warp::filters::path::FullPath;
use warp::reply::Response;
use warp::{Filter, Rejection};

use crate::{Error, LastEventId, Topics};

/// The raw query string, if the request has one.
fn query() -> impl Filter<Extract = (Option<String>,), Error = Infallible> + Copy {
    warp::query::raw()
        .map(Some)
        .or(warp::any().map(|| None))
        .unify()
}

/// Extracts the [`LastEventId`]; never rejects.
pub fn last_event_id() -> impl Filter<Extract = (LastEventId,), Error = Infallible> + Copy {
    warp::header::headers_cloned()
        .and(query())
        .map(|headers: HeaderMap, query: Option<String>| {
            LastEventId::from_headers_or_query(&headers, query.as_deref())
        })
}

/// Extracts the [`Topics`]; rejects with an [`Error`] when they are
/// missing or invalid, which [`recover`] answers.
pub fn topics() -> impl Filter<Extract = (Topics,), Error = Rejection> + Copy {
    query().and_then(|query: Option<String>| async move {
        Topics::from_query(query.as_deref()).map_err(warp::reject::custom)
    })
}

/// Extracts the request's method, URI and headers, what an
/// [`Authorize`](crate::Authorize) hook reads; extensions are empty.
pub fn request_parts() -> impl Filter<Extract = (Parts,), Error = Infallible> + Clone {
    warp::method()
        .and(warp::path::full())
        .and(query())
        .and(warp::header::headers_cloned())
        .map(
            |method: Method, path: FullPath, query: Option<String>, headers: HeaderMap| {
                let target = match query {
                    Some(query) => format!("{}?{query}", path.as_str()),
                    None => path.as_str().to_owned(),
                };
                let (mut parts, ()) = http::Request::new(()).into_parts();
                parts.method = method;
                // warp parsed this URI from the request line already.
                parts.uri = target.parse::<Uri>().unwrap_or_default();
                parts.headers = headers;
                parts
            },
        )
}

/// Answers an [`Error`] rejection with [`Error::answer`] and passes any other
/// on; use it with [`Filter::recover`].
pub async fn recover(rejection: Rejection) -> Result<Response, Rejection> {
    match rejection.find::<Error>() {
        Some(error) => Ok(error.answer().map(Into::into)),
        None => Err(rejection),
    }
}
