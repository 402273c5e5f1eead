//! The HTTP client behind a source, with its types erased: one boxed future
//! per connection attempt and one boxed body per connection, so that
//! [`EventSource`](crate::EventSource) is a plain type whatever the client.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use crate::BoxError;

pub(crate) type ResponseFuture =
    Pin<Box<dyn Future<Output = Result<Response<BoxBody>, BoxError>> + Send>>;

pub(crate) type BoxBody = Pin<Box<dyn FeedBody>>;

/// A response body that hands its data over chunk by chunk, without
/// copying it into an intermediate buffer.
pub(crate) trait FeedBody: Send {
    /// Passes the next frame's data to `sink`: `Some(Ok(()))` after a frame
    /// (trailers pass nothing), `None` at the end of the body.
    fn poll_feed(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        sink: &mut dyn FnMut(&[u8]),
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
        sink: &mut dyn FnMut(&[u8]),
    ) -> Poll<Option<Result<(), BoxError>>> {
        match ready!(self.poll_frame(cx)) {
            None => Poll::Ready(None),
            Some(Err(error)) => Poll::Ready(Some(Err(error.into()))),
            Some(Ok(frame)) => {
                if let Ok(mut data) = frame.into_data() {
                    while data.has_remaining() {
                        let chunk = data.chunk();
                        let len = chunk.len();
                        sink(chunk);
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
    fn call(&mut self, request: Request<Bytes>) -> ResponseFuture;
    /// Whether the client follows redirects itself, so that the source
    /// leaves them to it.
    fn follows_redirects(&self) -> bool {
        false
    }
    /// Whether `error` says the client gave up after too many redirects.
    fn is_redirect_limit(&self, _error: &BoxError) -> bool {
        false
    }
}

/// Adapts any `Service<Request<B>>` to [`Connector`]; the request body is
/// made with `B::from(Bytes)`.
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
    B: From<Bytes>,
    ResBody: Body + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.service.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<Bytes>) -> ResponseFuture {
        let response = self.service.call(request.map(B::from));
        Box::pin(async move {
            let response = response.await.map_err(Into::into)?;
            Ok(response.map(|body| Box::pin(body) as BoxBody))
        })
    }
}
