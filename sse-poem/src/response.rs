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
        let (parts, body) = self.into_tower().into_response().into_parts();
        // `from_bytes_stream` asks no `Sync` of the stream; each frame stays
        // one chunk.
        let body = Body::from_bytes_stream(
            BodyDataStream::new(body).map_err(|never| -> std::io::Error { match never {} }),
        );
        from_http(parts, body)
    }
}

impl ResponseError for Error {
    fn status(&self) -> StatusCode {
        Refusal::status(&self.0)
    }

    fn as_response(&self) -> Response {
        refusal(&self.0)
    }
}

/// [`ssekit_tower::refusal`] as a poem response.
pub fn refusal<R: Refusal + ?Sized>(reason: &R) -> Response {
    let (parts, body) = ssekit_tower::refusal(reason).into_parts();
    from_http(parts, Body::from_string(body))
}

/// A poem response with the head of an `http` one.
fn from_http(parts: http::response::Parts, body: Body) -> Response {
    let parts = ResponseParts {
        status: parts.status,
        version: parts.version,
        headers: parts.headers,
        extensions: parts.extensions,
    };
    Response::from_parts(parts, body)
}
