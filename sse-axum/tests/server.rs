//! ssekit-axum over a real TCP server on 127.0.0.1 (`axum::serve`).

use sse_test_support as common;

use std::cell::Cell;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use common::{Client, FrameReader, PROMPT, text, within};
use futures_util::StreamExt;
use futures_util::stream::{self, Stream};
use ssekit_axum::{Event, KeepAlive, LastEventId, SseResponse};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_util::sync::CancellationToken;
use tower_http::compression::CompressionLayer;

/// Serves `app` until `shutdown` is cancelled, then shuts down gracefully.
async fn serve(app: Router, shutdown: CancellationToken) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
            .unwrap();
    });
    (addr, task)
}

fn numbered(n: u64) -> Event {
    Event::builder()
        .id(n.to_string())
        .data(format!("event {n}"))
        .build()
        .unwrap()
}

/// Three events after the client's last event id (or from 0), then the end.
async fn resumable(last_event_id: LastEventId) -> SseResponse<impl Stream<Item = Event>> {
    let start = last_event_id
        .as_str()
        .map_or(0, |id| id.parse::<u64>().unwrap() + 1);
    SseResponse::new(stream::iter((start..start + 3).map(numbered)))
}

/// Each request hands the test a sender that feeds its stream.
type Senders = mpsc::UnboundedSender<mpsc::UnboundedSender<Event>>;

async fn pushed(State(senders): State<Senders>) -> impl IntoResponse {
    let (tx, rx) = mpsc::unbounded_channel();
    senders.send(tx).unwrap();
    SseResponse::new(UnboundedReceiverStream::new(rx)).keep_alive(KeepAlive::disabled())
}

fn pushed_app() -> (
    Router,
    mpsc::UnboundedReceiver<mpsc::UnboundedSender<Event>>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    (
        Router::new().route("/events", get(pushed)).with_state(tx),
        rx,
    )
}

fn resumable_app() -> Router {
    Router::new().route("/events", get(resumable))
}

#[tokio::test]
async fn the_response_has_the_event_stream_headers() {
    let (addr, _server) = serve(resumable_app(), CancellationToken::new()).await;
    let response = Client::connect(addr).await.get("/events", &[]).await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(
        response.headers()["cache-control"],
        "no-cache, no-transform"
    );
    assert_eq!(response.headers()["x-accel-buffering"], "no");
    assert!(!response.headers().contains_key("content-length"));
}

#[tokio::test]
async fn events_arrive_in_order_and_the_end_of_the_stream_ends_the_response() {
    let (addr, _server) = serve(resumable_app(), CancellationToken::new()).await;
    let response = Client::connect(addr).await.get("/events", &[]).await;

    assert_eq!(
        text(response).await,
        "id: 0\ndata: event 0\n\nid: 1\ndata: event 1\n\nid: 2\ndata: event 2\n\n"
    );
}

#[tokio::test]
async fn an_idle_stream_gets_keep_alive_comments() {
    let app = Router::new().route(
        "/events",
        get(|| async {
            SseResponse::new(stream::pending::<Event>())
                .keep_alive(KeepAlive::new().interval(Duration::from_millis(50)))
        }),
    );
    let (addr, _server) = serve(app, CancellationToken::new()).await;
    let mut frames = FrameReader::new(Client::connect(addr).await.get("/events", &[]).await);

    assert_eq!(frames.next().await.unwrap(), ":\n\n");
    assert_eq!(frames.next().await.unwrap(), ":\n\n");
}

#[tokio::test]
async fn resume_with_the_last_event_id_header() {
    let (addr, _server) = serve(resumable_app(), CancellationToken::new()).await;
    let response = Client::connect(addr)
        .await
        .get("/events", &[("last-event-id", b"41")])
        .await;

    assert_eq!(
        text(response).await,
        "id: 42\ndata: event 42\n\nid: 43\ndata: event 43\n\nid: 44\ndata: event 44\n\n"
    );
}

#[tokio::test]
async fn resume_with_the_last_event_id_query_parameter() {
    let (addr, _server) = serve(resumable_app(), CancellationToken::new()).await;
    let response = Client::connect(addr)
        .await
        .get("/events?lastEventId=41", &[])
        .await;

    assert_eq!(
        text(response).await,
        "id: 42\ndata: event 42\n\nid: 43\ndata: event 43\n\nid: 44\ndata: event 44\n\n"
    );
}

#[tokio::test]
async fn the_header_wins_over_the_query_parameter() {
    let (addr, _server) = serve(resumable_app(), CancellationToken::new()).await;
    let mut frames = FrameReader::new(
        Client::connect(addr)
            .await
            .get("/events?lastEventId=7", &[("last-event-id", b"41")])
            .await,
    );

    assert_eq!(frames.next().await.unwrap(), "id: 42\ndata: event 42\n\n");
}

#[tokio::test]
async fn an_invalid_last_event_id_header_is_400_with_the_reason() {
    let (addr, _server) = serve(resumable_app(), CancellationToken::new()).await;
    let response = Client::connect(addr)
        .await
        .get("/events", &[("last-event-id", b"caf\xe9")])
        .await;

    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; charset=utf-8"
    );
    assert_eq!(text(response).await, "the last event id is not valid UTF-8");
}

#[tokio::test]
async fn an_invalid_last_event_id_query_parameter_is_400_with_the_reason() {
    let (addr, _server) = serve(resumable_app(), CancellationToken::new()).await;
    let response = Client::connect(addr)
        .await
        .get("/events?lastEventId=a%0Ab", &[])
        .await;

    assert_eq!(response.status(), 400);
    assert_eq!(
        text(response).await,
        "the last event id contains NUL, CR or LF"
    );
}

#[tokio::test]
async fn graceful_shutdown_ends_open_streams_within_a_second() {
    let token = CancellationToken::new();
    let shutdown = token.clone();
    let app = Router::new().route(
        "/events",
        get(move || {
            let shutdown = shutdown.clone();
            async move {
                SseResponse::new(stream::pending::<Event>())
                    .shutdown(ssekit_axum::Shutdown::new(shutdown).final_event(Event::comment("bye")))
            }
        }),
    );
    let (addr, server) = serve(app, token.clone()).await;
    let mut first = FrameReader::new(Client::connect(addr).await.get("/events", &[]).await);
    let mut second = FrameReader::new(Client::connect(addr).await.get("/events", &[]).await);

    let started = Instant::now();
    token.cancel();
    within("the server to stop", server).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(first.next().await.unwrap(), ":bye\n\n");
    assert_eq!(first.next().await, None);
    assert_eq!(second.next().await.unwrap(), ":bye\n\n");
    assert_eq!(second.next().await, None);
}

#[tokio::test]
async fn compression_layer_leaves_the_stream_uncompressed_and_unbuffered() {
    let (app, mut senders) = pushed_app();
    let app = app.layer(CompressionLayer::new());
    let (addr, _server) = serve(app, CancellationToken::new()).await;
    let response = Client::connect(addr)
        .await
        .get("/events", &[("accept-encoding", b"gzip")])
        .await;
    assert!(!response.headers().contains_key("content-encoding"));
    let tx = within("the stream", senders.recv()).await.unwrap();
    let mut frames = FrameReader::new(response);

    // The stream stays open (the sender is alive) while each event arrives.
    for n in 0..3 {
        tx.send(numbered(n)).unwrap();
        assert_eq!(
            frames.next_promptly().await.unwrap(),
            format!("id: {n}\ndata: event {n}\n\n")
        );
    }
}

#[tokio::test]
async fn a_stream_that_is_not_sync_is_served() {
    async fn handler() -> impl IntoResponse {
        // `Cell` is `Send` but not `Sync`, and so is the closure holding it.
        let seen = Cell::new(0);
        let events = stream::iter(0..2).map(move |n| {
            seen.set(seen.get() + 1);
            numbered(n)
        });
        SseResponse::new(events)
    }
    let app = Router::new().route("/events", get(handler));
    let (addr, _server) = serve(app, CancellationToken::new()).await;
    let response = Client::connect(addr).await.get("/events", &[]).await;

    assert_eq!(
        text(response).await,
        "id: 0\ndata: event 0\n\nid: 1\ndata: event 1\n\n"
    );
    let _ = PROMPT;
}
