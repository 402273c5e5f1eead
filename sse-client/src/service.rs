//! The HTTP client behind a source, with its types erased: one boxed future
//! per connection attempt and one boxed body per connection, so that
//! [`EventSource`](crate::EventSource) is a plain type whatever the client.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Buf;
use http::{Request, Response};
use http_body::Body;
use ssekit_core::decode::Decoder;
use tower_service::Service;

use crate::BoxError;

pub(crate) type ResponseFuture =
    Pin<Box<dyn Future<Output = Result<Response<BoxBody>, BoxError>> + Send>>;

pub(crate) type BoxBody = Pin<Box<dyn FeedBody>>;

/// A response body that feeds its data straight into a decoder, without
/// copying it into an intermediate buffer.
pub(crate) trait FeedBody: Send {
    /// Feeds the next frame's data to `decoder`: `Some(Ok(()))` after a
    /// frame (trailers feed nothing), `None` at the end of the body.
    fn poll_feed(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        decoder: &mut Decoder,
    ) -> Poll<Option<Result<(), BoxError>>>;
}

impl<B> FeedBody for B
where
    B: Body + Send,
    B::Error: Into<BoxError>,
{
    fn poll_feed(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        decoder: &mut Decoder,
    ) -> Poll<Option<Result<(), BoxError>>> {
        match ready!(self.poll_frame(cx)) {
            None => Poll::Ready(None),
            Some(Err(error)) => Poll::Ready(Some(Err(error.into()))),
            Some(Ok(frame)) => {
                if let Ok(mut data) = frame.into_data() {
                    while data.has_remaining() {
                        let chunk = data.chunk();
                        let len = chunk.len();
                        decoder.feed(chunk);
                        data.advance(len);
                    }
                }
                Poll::Ready(Some(Ok(())))
            }
        }
    }
}

/// A tower service that takes the source's requests.
pub(crate) trait Connector: Send {
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>>;
    fn call(&mut self, request: Request<()>) -> ResponseFuture;
}

/// Adapts any `Service<Request<B>>` to [`Connector`]; the request body is
/// `B::default()`, empty for every body type that matters.
pub(crate) struct Erased<S, B> {
    service: S,
    _body: PhantomData<fn() -> B>,
}

impl<S, B> Erased<S, B> {
    pub(crate) fn new(service: S) -> Self {
        Erased {
            service,
            _body: PhantomData,
        }
    }
}

impl<S, B, ResBody> Connector for Erased<S, B>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    B: Default,
    ResBody: Body + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.service.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<()>) -> ResponseFuture {
        let response = self.service.call(request.map(|()| B::default()));
        Box::pin(async move {
            let response = response.await.map_err(Into::into)?;
            Ok(response.map(|body| Box::pin(body) as BoxBody))
        })
    }
}
