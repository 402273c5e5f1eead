//! The responses: [`SseResponse`] and [`Error`] as poem's.

use futures_core::Stream;
use futures_util::TryStreamExt;
use http::StatusCode;
use http_body_util::BodyDataStream;
use poem::error::ResponseError;
use poem::{Body, IntoResponse, Response, ResponseParts};
use ssekit_tower::SseItem;

use crate::{Error, Refusal, SseResponse};

impl<S> IntoResponse for SseResponse<S>
where
    S: Stream + Send + 'static,
    S::Item: SseItem,
{
    fn into_response(self) -> Response {
        // `from_bytes_stream` asks no `Sync` of the stream; each frame stays
        // one chunk.
        from_http(self.into_tower().into_response().map(|body| {
            let data = BodyDataStream::new(body);
            Body::from_bytes_stream(data.map_err(|never| -> std::io::Error { match never {} }))
        }))
    }
}

impl ResponseError for Error {
    fn status(&self) -> StatusCode {
        Error::status(self)
    }

    fn as_response(&self) -> Response {
        from_http(self.answer().map(Body::from_string))
    }
}

/// [`ssekit_tower::refusal`] as a poem response.
pub fn refusal<R: Refusal + ?Sized>(reason: &R) -> Response {
    from_http(ssekit_tower::refusal(reason).map(Body::from_string))
}

/// An `http` response as poem's.
fn from_http(response: http::Response<Body>) -> Response {
    let (parts, body) = response.into_parts();
    let parts = ResponseParts {
        status: parts.status,
        version: parts.version,
        headers: parts.headers,
        extensions: parts.extensions,
    };
    Response::from_parts(parts, body)
}
