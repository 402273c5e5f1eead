//! For the adapters' `serve` functions: the suite's [`Serve`] over one of
//! them, the rule that a handler sees the peer's address, and the rule that
//! a client that closes a quiet stream is noticed at once.
//!
//! Besides the suite's routes, a server here serves `/quiet`:
//! `SseResponse::subscribe(&fixture.broker, &["quiet"], &last_event_id)`
//! with the default keep-alive (a comment after 15 s of silence), so
//! nothing is written to a quiet stream while a test runs.

use std::future::IntoFuture;
use std::io;
use std::time::{Duration, Instant};

use ssekit_core::broker::Broker;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::WaitForCancellationFutureOwned;

use crate::adapter_suite::{Fixture, Serve, Served, fixture};
use crate::{subscriptions_become, within};

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

/// How many quiet streams [`a_client_that_closes_a_quiet_stream_is_noticed_within_a_second`]
/// opens and closes.
pub const QUIET_STREAMS: u64 = 200;

/// Opens `GET /quiet` on a new connection to `addr` and reads until the
/// response head has arrived.
pub async fn open_quiet(addr: std::net::SocketAddr) -> TcpStream {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(b"GET /quiet HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut buffer = [0; 512];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = socket.read(&mut buffer).await.unwrap();
        assert!(n > 0, "closed before the head: {head:?}");
        head.extend_from_slice(&buffer[..n]);
    }
    assert!(head.starts_with(b"HTTP/1."), "{head:?}");
    assert!(
        head.windows(3).any(|w| w == b" 20"),
        "{:?}",
        String::from_utf8_lossy(&head)
    );
    socket
}

/// [`QUIET_STREAMS`] clients open `/quiet`, on which nothing is written
/// (no event, the keep-alive comment is 15 s away), then all close their
/// connection: within a second the server has dropped every stream (the
/// broker's subscription count is back to 0), without waiting for a write
/// to fail.
pub async fn a_client_that_closes_a_quiet_stream_is_noticed_within_a_second(serve: impl Serve) {
    let (fixture, _senders) = fixture(Broker::new());
    let served = serve.serve(fixture.clone()).await;
    let mut sockets = Vec::new();
    for _ in 0..QUIET_STREAMS {
        sockets.push(within("a quiet stream's head", open_quiet(served.addr)).await);
    }
    subscriptions_become(&fixture.broker, QUIET_STREAMS).await;

    drop(sockets);
    let closed = Instant::now();
    while fixture.broker.stats().subscriptions > 0 && closed.elapsed() < Duration::from_secs(1) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let left = fixture.broker.stats().subscriptions;
    assert_eq!(
        left,
        0,
        "{left} of {QUIET_STREAMS} closed streams still held {:?} after the clients closed",
        closed.elapsed()
    );
}

/// Expands to the suite's rules that an adapter's `serve` function must
/// keep, [`a_client_that_closes_a_quiet_stream_is_noticed_within_a_second`],
/// then the rules of this module named after `$serve`, one
/// `#[tokio::test]` each, serving with `$serve`.
#[macro_export]
macro_rules! serve_suite {
    ($serve:path $(, $rule:ident)*) => {
        $crate::adapter_suite!(@rules $serve;
            the_response_has_the_event_stream_headers,
            events_arrive_in_order_and_the_end_of_the_stream_ends_the_response,
            graceful_shutdown_ends_open_streams_within_a_second,
        );
        $crate::serve_suite!(@rules $serve;
            a_client_that_closes_a_quiet_stream_is_noticed_within_a_second
            $(, $rule)*
        );
    };
    (@rules $serve:path; $($rule:ident),*) => {
        $(
            #[::tokio::test]
            async fn $rule() {
                $crate::serve::$rule($serve).await;
            }
        )*
    };
}
