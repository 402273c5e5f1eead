//! For the adapters' `serve` functions: the suite's [`Serve`] over one of
//! them, and the rule that a handler sees the peer's address.

use std::future::IntoFuture;
use std::io;

use ssekit_core::broker::Broker;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::WaitForCancellationFutureOwned;

use crate::adapter_suite::{Fixture, Serve, Served, fixture};
use crate::within;

/// Starts `serve(listener, signal)` on a new loopback listener, with the
/// fixture's token as the graceful shutdown signal.
pub async fn spawn<F, S>(fixture: &Fixture, serve: F) -> Served
where
    F: FnOnce(TcpListener, WaitForCancellationFutureOwned) -> S,
    S: IntoFuture<Output = io::Result<()>>,
    S::IntoFuture: Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = serve(listener, fixture.shutdown.clone().cancelled_owned()).into_future();
    let server = tokio::spawn(async move { server.await.unwrap() });
    Served { addr, server }
}

/// `GET /peer` answers the client's own address (`127.0.0.1:port`), as
/// the framework's way of asking for it sees it.
pub async fn the_handler_sees_the_peers_address(serve: impl Serve) {
    let served = serve.serve(fixture(Broker::new()).0).await;
    let mut socket = TcpStream::connect(served.addr).await.unwrap();
    let peer = socket.local_addr().unwrap();
    socket
        .write_all(b"GET /peer HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    within("the response", socket.read_to_string(&mut response))
        .await
        .unwrap();
    assert!(
        response.ends_with(&format!("\r\n\r\n{peer}")),
        "{response:?}"
    );
}

/// Expands to the suite's rules that an adapter's `serve` function must
/// keep, then the rules of this module named after `$serve`, one
/// `#[tokio::test]` each, serving with `$serve`.
#[macro_export]
macro_rules! serve_suite {
    ($serve:path $(, $rule:ident)*) => {
        $crate::adapter_suite!(@rules $serve;
            the_response_has_the_event_stream_headers,
            events_arrive_in_order_and_the_end_of_the_stream_ends_the_response,
            graceful_shutdown_ends_open_streams_within_a_second,
        );
        $(
            #[::tokio::test]
            async fn $rule() {
                $crate::serve::$rule($serve).await;
            }
        )*
    };
}
