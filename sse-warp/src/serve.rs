//! [`serve`]: a warp filter served by [`ssekit_tower::serve()`].

use std::convert::Infallible;

use http::Request;
use hyper::body::Incoming;
use ssekit_tower::Serve;
use ssekit_tower::serve::Listener;
use tower_service::Service;
use warp::reply::{Reply, Response};
use warp::{Filter, Rejection};

/// Serves `filter` on `listener` (a `tokio::net::TcpListener`, or any
/// [`Listener`]) through [`ssekit_tower::serve()`], in place of
/// `warp::serve`: event streams leave hyper after their head and all end
/// on graceful shutdown; options and defaults are [`Serve`]'s.
/// `warp::addr::remote()` finds no address (warp keeps its type private).
/// HTTPS and HTTP/2 with [`Serve::tls`] (feature `tls`); no upgrades
/// (WebSocket).
///
/// ```no_run
/// use warp::Filter;
///
/// # async fn run() -> std::io::Result<()> {
/// let route = warp::path("hello").map(|| "hello");
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// ssekit_warp::serve(listener, route)
///     .with_graceful_shutdown(async { tokio::signal::ctrl_c().await.unwrap() })
///     .await
/// # }
/// ```
pub fn serve<L, F>(listener: L, filter: F) -> Serve<L, impl FilterService>
where
    L: Listener,
    F: Filter + Clone + Send + Sync + 'static,
    F::Extract: Reply,
    F::Error: Rejects,
{
    ssekit_tower::serve(listener, F::Error::service(filter))
}

/// What [`serve`] serves: `warp::service(filter)`.
pub trait FilterService:
    Service<Request<Incoming>, Response = Response, Error = Infallible, Future: Send + 'static>
    + Clone
    + Send
    + 'static
{
}

impl<S> FilterService for S where
    S: Service<Request<Incoming>, Response = Response, Error = Infallible, Future: Send + 'static>
        + Clone
        + Send
        + 'static
{
}

/// The error of a filter that [`serve`] serves: [`Rejection`], or
/// [`Infallible`] after `recover`; sealed.
pub trait Rejects: sealed::Sealed + Sized {
    /// `warp::service(filter)`, which asks for warp's private `IsReject`.
    #[doc(hidden)]
    fn service<F>(filter: F) -> impl FilterService
    where
        F: Filter<Error = Self> + Clone + Send + Sync + 'static,
        F::Extract: Reply;
}

macro_rules! rejects {
    ($($error:ty),*) => {$(
        impl sealed::Sealed for $error {}

        impl Rejects for $error {
            fn service<F>(filter: F) -> impl FilterService
            where
                F: Filter<Error = Self> + Clone + Send + Sync + 'static,
                F::Extract: Reply,
            {
                warp::service(filter)
            }
        }
    )*};
}

rejects!(Rejection, Infallible);

#[allow(unreachable_pub)] // the sealing trait must be `pub` to be a supertrait
mod sealed {
    pub trait Sealed {}
}
