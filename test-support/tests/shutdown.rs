//! Graceful shutdown with 1 000 open event streams (`ssekit-axum` over
//! `axum::serve(..).with_graceful_shutdown(..)`, broker subscriptions):
//! the server stops in under a second, and every client has received the
//! final event and the end of its response.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use sse_test_support::process::ensure_nofile_limit;
use sse_test_support::within;
use ssekit_axum::{Event, KeepAlive, LastEventId, Shutdown, SseResponse};
use ssekit_core::broker::{Broker, Subscription};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket};
use tokio_util::sync::CancellationToken;

const STREAMS: usize = 1_000;

#[derive(Clone)]
struct App {
    broker: Broker,
    shutdown: CancellationToken,
}

async fn events(State(app): State<App>, last_event_id: LastEventId) -> SseResponse<Subscription> {
    SseResponse::subscribe(&app.broker, &["all"], &last_event_id)
        .await
        .expect("the broker is running")
        .keep_alive(KeepAlive::disabled())
        .shutdown(Shutdown::new(app.shutdown.clone()).final_event(Event::comment("bye")))
}

/// Connects, asks for the stream and returns everything received until the
/// server closes the connection.
async fn client(
    server: SocketAddr,
    source: Ipv4Addr,
    opened: tokio::sync::mpsc::Sender<()>,
) -> Vec<u8> {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind((source, 0).into()).unwrap();
    let mut tcp = socket.connect(server).await.unwrap();
    tcp.write_all(b"GET /events HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut buffer = [0; 1024];
    let mut told = false;
    loop {
        let n = tcp.read(&mut buffer).await.unwrap();
        if n == 0 {
            return seen;
        }
        seen.extend_from_slice(&buffer[..n]);
        if !told && seen.windows(4).any(|w| w == b"\r\n\r\n") {
            told = true;
            opened.send(()).await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_with_a_thousand_open_streams_takes_under_a_second() {
    ensure_nofile_limit(4 * STREAMS as u64);
    let app = App {
        broker: Broker::new(),
        shutdown: CancellationToken::new(),
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server_addr = listener.local_addr().unwrap();
    let token = app.shutdown.clone();
    let signal = app.shutdown.clone();
    let server = tokio::spawn(async move {
        let router = Router::new().route("/events", get(events)).with_state(app);
        axum::serve(listener, router)
            .with_graceful_shutdown(token.cancelled_owned())
            .await
            .unwrap();
    });

    let (opened_tx, mut opened) = tokio::sync::mpsc::channel(STREAMS);
    let clients: Vec<_> = (0..STREAMS)
        .map(|i| {
            let source = Ipv4Addr::new(127, 0, 0, 2 + (i % 8) as u8);
            tokio::spawn(client(server_addr, source, opened_tx.clone()))
        })
        .collect();
    within("every stream to open", async {
        for _ in 0..STREAMS {
            opened.recv().await.unwrap();
        }
    })
    .await;

    let start = Instant::now();
    // The application's shutdown signal: one token ends the streams and
    // stops the server.
    signal.cancel();
    within("the server to stop", server).await.unwrap();
    let took = start.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "graceful shutdown took {took:?}"
    );

    for client in clients {
        let seen = within("a client's end", client).await.unwrap();
        let text = String::from_utf8(seen).unwrap();
        assert!(
            text.contains(":bye\n\n"),
            "a client missed the final event: {text}"
        );
        assert!(
            text.ends_with("\r\n0\r\n\r\n"),
            "a response did not end cleanly: {text}"
        );
    }
}
