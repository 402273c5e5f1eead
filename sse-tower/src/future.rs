//! The response future of [`SseService`](crate::SseService).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;

use crate::body::SseBody;
use crate::config::SseConfig;
use crate::response::set_event_stream_headers;

pin_project! {
    /// Response future of [`SseService`](crate::SseService): the inner
    /// response with the event stream headers and an [`SseBody`]. It
    /// resolves as soon as the inner service answers, so a timeout on it
    /// (such as `tower_http`'s `TimeoutLayer`) never cuts a stream.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        config: Option<SseConfig>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, config: SseConfig) -> Self {
        ResponseFuture {
            inner,
            config: Some(config),
        }
    }
}

impl<F, St, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<St>, E>>,
{
    type Output = Result<Response<SseBody<St>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx))?;
        // Taken, not cloned; a future polled again after completion (a
        // contract violation) gets the defaults rather than a panic.
        let config = this.config.take().unwrap_or_default();
        let (mut parts, stream) = response.into_parts();
        set_event_stream_headers(&mut parts.headers);
        Poll::Ready(Ok(Response::from_parts(
            parts,
            SseBody::with_config(stream, &config),
        )))
    }
}
