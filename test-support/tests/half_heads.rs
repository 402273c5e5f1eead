//! What the frameworks' own servers do with a client that sends half a
//! request head and stops (`GET / HTTP/1.1\r\n`), served as the adapters'
//! `WriteDeadlineListener` docs show them. Neither `axum::serve` nor
//! `poem::Server` gives hyper a timer, so hyper's request-head timeout
//! never applies, and hyper's graceful shutdown closes at once only a
//! connection that has read nothing: without the listener's first-head
//! deadline, the half head would hold the graceful shutdown until the
//! client went. With it, the connection is closed at the deadline and the
//! shutdown completes.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use poem::listener::{Acceptor, Listener};
use sse_test_support::within;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const DEADLINE: Duration = Duration::from_secs(30);
/// The first request head's deadline in these tests.
const HEAD: Duration = Duration::from_millis(500);

/// Sends half a request head and asks the server to shut down: the
/// connection is closed at the head deadline, and the server stops, while
/// the client is still there.
async fn a_half_head_is_closed_at_the_deadline_and_the_shutdown_completes(
    addr: SocketAddr,
    shutdown: CancellationToken,
    server: JoinHandle<()>,
) {
    let start = tokio::time::Instant::now();
    let mut half = TcpStream::connect(addr).await.unwrap();
    half.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    shutdown.cancel();

    let mut rest = Vec::new();
    within("the half head to be closed", half.read_to_end(&mut rest))
        .await
        .unwrap_or_default();
    let closed = start.elapsed();
    assert!(
        closed >= HEAD,
        "closed after {closed:?}, before the deadline"
    );
    assert!(closed < HEAD * 3, "closed only after {closed:?}");
    within("the server to stop", server).await.unwrap();
    drop(half);
}

#[tokio::test]
async fn axum_serve_with_the_listener_closes_a_half_sent_request_head() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let listener =
        ssekit_axum::WriteDeadlineListener::new(listener, DEADLINE).first_head_deadline(HEAD);
    let app = Router::new().route("/", get(|| async { "hello" }));
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone().cancelled_owned();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(signal)
            .await
            .unwrap();
    });
    a_half_head_is_closed_at_the_deadline_and_the_shutdown_completes(addr, shutdown, server).await;
}

#[tokio::test]
async fn poem_server_with_the_listener_closes_a_half_sent_request_head() {
    let listener = poem::listener::TcpListener::bind("127.0.0.1:0");
    let acceptor = ssekit_poem::WriteDeadlineListener::new(listener, DEADLINE)
        .first_head_deadline(HEAD)
        .into_acceptor()
        .await
        .unwrap();
    let addr = *acceptor.local_addr()[0].as_socket_addr().unwrap();
    #[poem::handler]
    fn hello() -> &'static str {
        "hello"
    }
    let app = poem::Route::new().at("/", poem::get(hello));
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone().cancelled_owned();
    let server = tokio::spawn(async move {
        poem::Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(app, signal, None)
            .await
            .unwrap();
    });
    a_half_head_is_closed_at_the_deadline_and_the_shutdown_completes(addr, shutdown, server).await;
}
