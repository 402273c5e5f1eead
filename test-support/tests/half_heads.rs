//! What the frameworks' own servers do with a client that sends half a
//! request head and stops (`GET / HTTP/1.1\r\n`), served as the adapters'
//! `WriteDeadlineListener` docs show them: neither `axum::serve` nor
//! `poem::Server` gives hyper a timer, so no request-head timeout applies
//! and neither offers one, and hyper's graceful shutdown closes at once
//! only a connection that has read nothing: the half head holds the
//! graceful shutdown until the client goes. The adapters' `serve`
//! functions close it (`shutdown_under_load.rs`); these tests pin the
//! limitation their docs state.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use poem::listener::{Acceptor, Listener};
use sse_test_support::within;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const DEADLINE: Duration = Duration::from_secs(30);

/// Sends half a request head, asks the server to shut down, and checks
/// that it is still running a second later, then that it stops once the
/// client has gone.
async fn a_half_head_holds_the_shutdown(
    addr: SocketAddr,
    shutdown: CancellationToken,
    server: JoinHandle<()>,
) {
    let mut half = TcpStream::connect(addr).await.unwrap();
    half.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    shutdown.cancel();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!server.is_finished(), "the half head was closed");

    drop(half);
    within("the server to stop once the client went", server)
        .await
        .unwrap();
}

#[tokio::test]
async fn axum_serve_waits_on_a_half_sent_request_head() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let listener = ssekit_axum::WriteDeadlineListener::new(listener, DEADLINE);
    let app = Router::new().route("/", get(|| async { "hello" }));
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone().cancelled_owned();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(signal)
            .await
            .unwrap();
    });
    a_half_head_holds_the_shutdown(addr, shutdown, server).await;
}

#[tokio::test]
async fn poem_server_waits_on_a_half_sent_request_head() {
    let listener = poem::listener::TcpListener::bind("127.0.0.1:0");
    let acceptor = ssekit_poem::WriteDeadlineListener::new(listener, DEADLINE)
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
    a_half_head_holds_the_shutdown(addr, shutdown, server).await;
}
