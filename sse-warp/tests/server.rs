//! ssekit-warp over a real TCP server on 127.0.0.1 (`warp::serve`).

use sse_test_support as common;

use std::cell::Cell;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{Client, FrameReader, gzip_lines, next_line_promptly, text, within};
use futures_util::StreamExt;
use futures_util::stream::{self, Stream};
use ssekit_warp::{Event, KeepAlive, LastEventId, SseResponse};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_util::sync::CancellationToken;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Reply;

type Routes = BoxedFilter<(Box<dyn Reply>,)>;

fn boxed<R: Reply + 'static>(
    filter: impl Filter<Extract = (R,), Error = warp::Rejection> + Clone + Send + Sync + 'static,
) -> Routes {
    filter
        .map(|reply: R| Box::new(reply) as Box<dyn Reply>)
        .boxed()
}

/// Serves `routes` until `shutdown` is cancelled, then shuts down gracefully.
async fn serve(routes: Routes, shutdown: CancellationToken) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(
        warp::serve(routes)
            .incoming(listener)
            .graceful(shutdown.cancelled_owned())
            .run(),
    );
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
fn resumable(last_event_id: LastEventId) -> SseResponse<impl Stream<Item = Event>> {
    let start = last_event_id
        .as_str()
        .map_or(0, |id| id.parse::<u64>().unwrap() + 1);
    SseResponse::new(stream::iter((start..start + 3).map(numbered)))
}

fn resumable_routes() -> Routes {
    boxed(
        warp::path("events")
            .and(ssekit_warp::last_event_id())
            .map(resumable)
            .recover(ssekit_warp::recover),
    )
}

/// Each request hands the test a sender that feeds its stream.
#[allow(clippy::type_complexity)] // an `impl Filter` and its receiver
fn pushed_routes() -> (
    impl Filter<Extract = (SseResponse<UnboundedReceiverStream<Event>>,), Error = warp::Rejection>
    + Clone
    + Send
    + Sync
    + 'static,
    mpsc::UnboundedReceiver<mpsc::UnboundedSender<Event>>,
) {
    let (senders, senders_rx) = mpsc::unbounded_channel();
    let route = warp::path("events").map(move || {
        let (tx, rx) = mpsc::unbounded_channel();
        senders.send(tx).unwrap();
        SseResponse::new(UnboundedReceiverStream::new(rx)).keep_alive(KeepAlive::disabled())
    });
    (route, senders_rx)
}

#[tokio::test]
async fn the_response_has_the_event_stream_headers() {
    let (addr, _server) = serve(resumable_routes(), CancellationToken::new()).await;
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
    let (addr, _server) = serve(resumable_routes(), CancellationToken::new()).await;
    let response = Client::connect(addr).await.get("/events", &[]).await;

    assert_eq!(
        text(response).await,
        "id: 0\ndata: event 0\n\nid: 1\ndata: event 1\n\nid: 2\ndata: event 2\n\n"
    );
}

#[tokio::test]
async fn an_idle_stream_gets_keep_alive_comments() {
    let routes = boxed(warp::path("events").map(|| {
        SseResponse::new(stream::pending::<Event>())
            .keep_alive(KeepAlive::new().interval(Duration::from_millis(50)))
    }));
    let (addr, _server) = serve(routes, CancellationToken::new()).await;
    let mut frames = FrameReader::new(Client::connect(addr).await.get("/events", &[]).await);

    assert_eq!(frames.next().await.unwrap(), ":\n\n");
    assert_eq!(frames.next().await.unwrap(), ":\n\n");
}

#[tokio::test]
async fn resume_with_the_last_event_id_header() {
    let (addr, _server) = serve(resumable_routes(), CancellationToken::new()).await;
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
    let (addr, _server) = serve(resumable_routes(), CancellationToken::new()).await;
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
    let (addr, _server) = serve(resumable_routes(), CancellationToken::new()).await;
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
    let (addr, _server) = serve(resumable_routes(), CancellationToken::new()).await;
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
    let (addr, _server) = serve(resumable_routes(), CancellationToken::new()).await;
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
    let routes = boxed(warp::path("events").map(move || {
        SseResponse::new(stream::pending::<Event>())
            .shutdown(ssekit_warp::Shutdown::new(shutdown.clone()).final_event(Event::comment("bye")))
    }));
    let (addr, server) = serve(routes, token.clone()).await;
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
async fn outside_warp_compression_the_stream_is_uncompressed_and_unbuffered() {
    let (events, mut senders) = pushed_routes();
    let pages = warp::path("page")
        .map(|| "page")
        .with(warp::filters::compression::gzip());
    let (addr, _server) = serve(
        boxed(
            events
                .map(|r| Box::new(r) as Box<dyn Reply>)
                .or(pages.map(|r| Box::new(r) as Box<dyn Reply>))
                .unify(),
        ),
        CancellationToken::new(),
    )
    .await;
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
async fn warp_gzip_compresses_the_stream_but_each_event_arrives_promptly() {
    let (events, mut senders) = pushed_routes();
    let routes = boxed(events.with(warp::filters::compression::gzip()));
    let (addr, _server) = serve(routes, CancellationToken::new()).await;
    let response = Client::connect(addr)
        .await
        .get("/events", &[("accept-encoding", b"gzip")])
        .await;
    assert_eq!(response.headers()["content-encoding"], "gzip");
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let tx = within("the stream", senders.recv()).await.unwrap();
    let mut lines = gzip_lines(response);

    // Each event comes out of the compressor before the next one exists,
    // while the stream stays open.
    for n in 0..3 {
        tx.send(numbered(n)).unwrap();
        assert_eq!(next_line_promptly(&mut lines).await, format!("id: {n}"));
        assert_eq!(
            next_line_promptly(&mut lines).await,
            format!("data: event {n}")
        );
        assert_eq!(next_line_promptly(&mut lines).await, "");
    }
}

#[tokio::test]
async fn a_stream_that_is_not_sync_is_served() {
    let routes = boxed(warp::path("events").map(|| {
        // `Cell` is `Send` but not `Sync`, and so is the closure holding it.
        let seen = Cell::new(0);
        SseResponse::new(stream::iter(0..2).map(move |n| {
            seen.set(seen.get() + 1);
            numbered(n)
        }))
    }));
    let (addr, _server) = serve(routes, CancellationToken::new()).await;
    let response = Client::connect(addr).await.get("/events", &[]).await;

    assert_eq!(
        text(response).await,
        "id: 0\ndata: event 0\n\nid: 1\ndata: event 1\n\n"
    );
}
