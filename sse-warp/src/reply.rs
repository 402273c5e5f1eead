//! The replies: [`SseResponse`] and [`Error`] as warp's.

use futures_core::Stream;
use http_body_util::BodyDataStream;
use ssekit_tower::SseItem;
use sync_wrapper::SyncStream;
use warp::Reply;
use warp::reject::Reject;
use warp::reply::Response;

use crate::{Error, Refusal, SseResponse};

impl<S> Reply for SseResponse<S>
where
    S: Stream + Send + 'static,
    S::Item: SseItem,
{
    fn into_response(self) -> Response {
        // `reply::stream` wants a `Sync` stream; `SyncStream` is `Sync`
        // without asking it of the stream, and each frame stays one chunk.
        let stream = |body| SyncStream::new(BodyDataStream::new(body));
        let response = self.into_tower().into_response();
        response.map(|body| {
            warp::reply::stream(stream(body))
                .into_response()
                .into_body()
        })
    }
}

impl Reply for Error {
    fn into_response(self) -> Response {
        self.answer().map(Into::into)
    }
}

impl Reject for Error {}

/// [`ssekit_tower::refusal`] as a warp reply.
pub fn refusal<R: Refusal + ?Sized>(reason: &R) -> Response {
    ssekit_tower::refusal(reason).map(Into::into)
}
