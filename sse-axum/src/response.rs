//! The responses: [`SseResponse`] and [`Error`] as axum's.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use futures_core::Stream;
use ssekit_tower::SseItem;

use crate::{Error, Refusal, SseResponse};

impl<S> IntoResponse for SseResponse<S>
where
    S: Stream + Send + 'static,
    S::Item: SseItem,
{
    fn into_response(self) -> Response {
        self.into_tower().into_response().map(Body::new)
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        self.answer().into_response()
    }
}

/// [`ssekit_tower::refusal`] as an axum response.
pub fn refusal<R: Refusal + ?Sized>(reason: &R) -> Response {
    ssekit_tower::refusal(reason).into_response()
}
