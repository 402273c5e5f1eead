//! [`serve`]: `axum::serve` over [`ssekit_tower::serve()`].

use std::io;

use axum::Router;
use axum::extract::ConnectInfo;
use ssekit_tower::Serve;
use tower_http::add_extension::AddExtension;

/// Serves `router` on `listener` (a `tokio::net::TcpListener` or any
/// `axum::serve::Listener`) like `axum::serve`, with [`Serve`]'s options,
/// defaults and graceful shutdown, which ends every event stream. Requests
/// carry the peer's `ConnectInfo`, as with
/// `into_make_service_with_connect_info`. HTTPS and HTTP/2 with
/// [`Serve::tls`] (feature `tls`); no upgrades (WebSocket).
///
/// ```no_run
/// # async fn run(app: axum::Router) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// ssekit_axum::serve(listener, app)
///     .with_graceful_shutdown(async { tokio::signal::ctrl_c().await.unwrap() })
///     .await
/// # }
/// ```
pub fn serve<L>(
    listener: L,
    router: Router,
) -> Serve<AxumListener<L>, AddExtension<Router, ConnectInfo<L::Addr>>>
where
    L: axum::serve::Listener,
    L::Addr: Clone + Sync,
{
    ssekit_tower::serve::serve_with(AxumListener(listener), move |addr: &L::Addr| {
        AddExtension::new(router.clone(), ConnectInfo(addr.clone()))
    })
}

/// An `axum::serve::Listener` as [`serve`] takes it.
#[derive(Debug)]
pub struct AxumListener<L>(L);

impl<L> ssekit_tower::serve::Listener for AxumListener<L>
where
    L: axum::serve::Listener,
    L::Addr: 'static,
{
    type Io = L::Io;
    type Addr = L::Addr;

    async fn accept(&mut self) -> io::Result<(L::Io, L::Addr)> {
        Ok(self.0.accept().await)
    }

    fn local_addr(&self) -> io::Result<L::Addr> {
        self.0.local_addr()
    }
}
