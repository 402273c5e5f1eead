//! The [`SseService`].

use std::task::{Context, Poll};

use futures_core::Stream;
use http::{Request, Response};
use tower_service::Service;

use crate::body::SseBody;
use crate::config::SseConfig;
use crate::future::ResponseFuture;
use crate::item::SseItem;
use crate::last_event_id::LastEventId;
use crate::layer::SseLayer;

/// The service of [`SseLayer`]: puts the request's
/// [`LastEventId`](crate::LastEventId) (the header, or else the
/// `lastEventId` query parameter) in its extensions, calls the inner
/// service, and serves the stream it answers with as an event stream
/// response.
#[derive(Clone, Debug)]
pub struct SseService<S> {
    inner: S,
    config: SseConfig,
}

impl<S> SseService<S> {
    /// Wraps `inner` with the default [`SseConfig`].
    pub fn new(inner: S) -> Self {
        Self::with_config(inner, SseConfig::default())
    }

    /// Wraps `inner` with `config`.
    pub fn with_config(inner: S, config: SseConfig) -> Self {
        SseService { inner, config }
    }

    /// The same as [`SseLayer::new`].
    pub fn layer() -> SseLayer {
        SseLayer::new()
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    ///
    /// ```
    /// # use ssekit_tower::SseService;
    /// let mut service = SseService::new(5);
    /// *service.get_mut() += 1;
    /// assert_eq!(*service.get_ref(), 6);
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Takes the inner service back.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, St> Service<Request<ReqBody>> for SseService<S>
where
    S: Service<Request<ReqBody>, Response = Response<St>>,
    St: Stream,
    St::Item: SseItem,
{
    type Response = Response<SseBody<St>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let last_event_id = LastEventId::from_headers_or_query(
            request.headers(),
            request.uri().query(),
            self.config.inner.max_last_event_id_len,
        );
        request.extensions_mut().insert(last_event_id);
        ResponseFuture::new(self.inner.call(request), self.config.clone())
    }
}
