//! [`request_parts`]: the request's head, for an [`Authorize`] hook.

use http::request::Parts;
use http::{HeaderMap, Method, Uri};
use warp::Filter;
use warp::filters::path::FullPath;

#[cfg(doc)]
use ssekit_tower::Authorize;

/// Extracts the request's method, URI (path and query) and headers as an
/// [`http::request::Parts`], what an [`Authorize`] hook reads. warp keeps
/// no request object to hand on, so this rebuilds its head; extensions
/// are empty.
///
/// ```
/// use warp::Filter;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let route = ssekit_warp::request_parts().map(|request: http::request::Parts| request.uri.to_string());
/// let response = warp::test::request().path("/events?token=t").reply(&route).await;
/// assert_eq!(response.body(), "/events?token=t");
/// # }
/// ```
pub fn request_parts() -> impl Filter<Extract = (Parts,), Error = std::convert::Infallible> + Clone
{
    let query = warp::query::raw()
        .map(Some)
        .or(warp::any().map(|| None))
        .unify();
    warp::method()
        .and(warp::path::full())
        .and(query)
        .and(warp::header::headers_cloned())
        .map(
            |method: Method, path: FullPath, query: Option<String>, headers: HeaderMap| {
                let target = match query {
                    Some(query) => format!("{}?{query}", path.as_str()),
                    None => path.as_str().to_owned(),
                };
                // warp parsed this URI from the request line already.
                let uri = target.parse::<Uri>().unwrap_or_default();
                let (mut parts, ()) = http::Request::new(()).into_parts();
                parts.method = method;
                parts.uri = uri;
                parts.headers = headers;
                parts
            },
        )
}
