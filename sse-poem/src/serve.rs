//! [`serve`]: a poem endpoint served by [`ssekit_tower::serve()`].

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Request;
use http::uri::Scheme;
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Addr, Endpoint, IntoEndpoint};
use ssekit_tower::Serve;
use ssekit_tower::serve::Listener;
use tower_service::Service;

/// Serves `endpoint` on `listener` (a `tokio::net::TcpListener`, or any
/// [`Listener`]) through [`ssekit_tower::serve()`], in place of
/// `poem::Server`, whose connection handling cannot hand a stream off:
/// event streams leave hyper after their head and all end on graceful
/// shutdown; options and defaults are [`Serve`]'s. `RemoteAddr` and
/// `LocalAddr` extract as under `poem::Server`. HTTPS and HTTP/2 with
/// [`Serve::tls`] (feature `tls`), where `Request::scheme` still says
/// `http`; no upgrades (WebSocket).
///
/// ```no_run
/// use poem::{Route, get, handler};
///
/// #[handler]
/// fn hello() -> &'static str {
///     "hello"
/// }
///
/// # async fn run() -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// ssekit_poem::serve(listener, Route::new().at("/", get(hello)))
///     .with_graceful_shutdown(async { tokio::signal::ctrl_c().await.unwrap() })
///     .await
/// # }
/// ```
pub fn serve<L, E>(listener: L, endpoint: E) -> Serve<L, EndpointService<E::Endpoint>>
where
    L: Listener,
    L::Addr: Into<Addr> + Clone,
    E: IntoEndpoint,
    E::Endpoint: 'static,
{
    let endpoint = Arc::new(endpoint.into_endpoint());
    let local = LocalAddr(listener.local_addr().map(Into::into).unwrap_or_default());
    ssekit_tower::serve::serve_with(listener, move |peer: &L::Addr| EndpointService {
        endpoint: Arc::clone(&endpoint),
        local: local.clone(),
        remote: RemoteAddr(peer.clone().into()),
    })
}

/// A poem endpoint as a tower service, for one connection: what [`serve`]
/// serves.
#[derive(Debug)]
pub struct EndpointService<E> {
    endpoint: Arc<E>,
    local: LocalAddr,
    remote: RemoteAddr,
}

impl<E> Clone for EndpointService<E> {
    fn clone(&self) -> Self {
        EndpointService {
            endpoint: Arc::clone(&self.endpoint),
            local: self.local.clone(),
            remote: self.remote.clone(),
        }
    }
}

type ResponseFuture = Pin<
    Box<dyn Future<Output = Result<http::Response<BoxBody<Bytes, io::Error>>, Infallible>> + Send>,
>;

impl<E: Endpoint + 'static> Service<Request<Incoming>> for EndpointService<E> {
    type Response = http::Response<BoxBody<Bytes, io::Error>>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Incoming>) -> ResponseFuture {
        let endpoint = Arc::clone(&self.endpoint);
        let parts = (
            request,
            self.local.clone(),
            self.remote.clone(),
            Scheme::HTTP,
        );
        let request = poem::Request::from(parts);
        Box::pin(async move { Ok(endpoint.get_response(request).await.into()) })
    }
}
