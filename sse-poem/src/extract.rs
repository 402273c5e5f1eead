//! The extractors: [`LastEventId`] and [`Topics`].

use http::request::Parts;
use poem::{FromRequest, Request, RequestBody};

use crate::{LastEventId, Topics};

impl<'a> FromRequest<'a> for LastEventId {
    async fn from_request(request: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        Ok(LastEventId::from_headers_or_query(
            request.headers(),
            request.uri().query(),
        ))
    }
}

impl<'a> FromRequest<'a> for Topics {
    async fn from_request(request: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        Ok(Topics::from_query(request.uri().query())?)
    }
}

/// The request's head, what an [`Authorize`](crate::Authorize) hook reads.
pub(crate) fn head(request: &Request) -> Parts {
    let (mut head, ()) = http::Request::new(()).into_parts();
    head.method = request.method().clone();
    head.uri = request.uri().clone();
    head.version = request.version();
    head.headers = request.headers().clone();
    head.extensions = request.extensions().clone();
    head
}
