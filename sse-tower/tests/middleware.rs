//! `SseLayer` behind tower-http's compression and timeout layers, on a real
//! hyper server.

mod common;

use std::time::Duration;

use async_compression::tokio::bufread::GzipDecoder;
use bytes::Bytes;
use common::{Client, FrameReader, OPENING, Version, pushed_events, serve, within};
use futures_util::TryStreamExt;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use ssekit_core::Event;
use ssekit_tower::{KeepAlive, SseLayer};
use tokio::io::AsyncBufReadExt;
use tokio_util::io::StreamReader;
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::timeout::{ResponseBodyTimeoutLayer, TimeoutLayer};

/// How soon the first event must arrive to count as "not buffered".
const PROMPT: Duration = Duration::from_millis(500);

#[tokio::test]
async fn behind_compression_with_the_default_predicate_the_first_event_arrives_promptly_uncompressed()
 {
    let (service, mut senders) = pushed_events();
    let service = ServiceBuilder::new()
        .layer(CompressionLayer::new())
        .layer(SseLayer::new())
        .service(service);
    let server = serve(service, CancellationToken::new()).await;
    let mut client = Client::connect(server.addr, Version::Http1).await;
    let response = client.get("/events", &[("accept-encoding", "gzip")]).await;
    assert!(!response.headers().contains_key("content-encoding"));
    let tx = within("the stream", senders.recv()).await.unwrap();
    let mut frames = FrameReader::new(response.into_body());
    let opening = tokio::time::timeout(PROMPT, frames.next_unbounded()).await;
    assert_eq!(opening.expect("the opening promptly").unwrap(), OPENING);

    tx.send(Event::data("first")).unwrap();
    let first = tokio::time::timeout(PROMPT, frames.next_unbounded()).await;
    assert_eq!(
        first.expect("the first event promptly").unwrap(),
        "data: first\n\n"
    );
}

#[tokio::test]
async fn behind_compression_with_a_predicate_that_compresses_everything_each_event_arrives_promptly()
 {
    let (service, mut senders) = pushed_events();
    let compress_everything =
        |_: StatusCode, _: http::Version, _: &http::HeaderMap, _: &http::Extensions| true;
    let service = ServiceBuilder::new()
        .layer(CompressionLayer::new().compress_when(compress_everything))
        .layer(SseLayer::new())
        .service(service);
    let server = serve(service, CancellationToken::new()).await;
    let mut client = Client::connect(server.addr, Version::Http1).await;
    let response = client.get("/events", &[("accept-encoding", "gzip")]).await;
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let tx = within("the stream", senders.recv()).await.unwrap();

    let compressed = response
        .into_body()
        .into_data_stream()
        .map_err(std::io::Error::other);
    let mut lines =
        tokio::io::BufReader::new(GzipDecoder::new(StreamReader::new(compressed))).lines();
    // The opening `retry:` comes out of the compressor before any event.
    for expected in OPENING.lines() {
        let line = tokio::time::timeout(PROMPT, lines.next_line()).await;
        assert_eq!(
            line.expect("the opening promptly").unwrap().unwrap(),
            expected
        );
    }
    for n in 0..3 {
        // Each event must come out of the compressor before the next one is
        // even produced: the compressor flushes when the body is idle.
        tx.send(Event::data(&format!("event {n}"))).unwrap();
        let line = tokio::time::timeout(PROMPT, lines.next_line()).await;
        assert_eq!(
            line.expect("the event promptly").unwrap().unwrap(),
            format!("data: event {n}")
        );
        let blank = tokio::time::timeout(PROMPT, lines.next_line()).await;
        assert_eq!(
            blank.expect("the event's end promptly").unwrap().unwrap(),
            ""
        );
    }
}

#[tokio::test]
async fn behind_a_request_timeout_a_long_lived_stream_is_not_cut() {
    let timeout = Duration::from_millis(100);
    let service = ServiceBuilder::new()
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(SseLayer::new().keep_alive(KeepAlive::disabled()))
        .service(tower::service_fn(|_request: Request<Incoming>| async {
            // 8 events 50 ms apart: the stream lives four times the timeout.
            let ticks = tokio_stream::wrappers::IntervalStream::new(tokio::time::interval(
                Duration::from_millis(50),
            ));
            let events =
                futures_util::StreamExt::map(futures_util::StreamExt::take(ticks, 8), |_| {
                    Event::data("tick")
                });
            Ok::<_, std::convert::Infallible>(Response::new(events))
        }));
    let server = serve(service, CancellationToken::new()).await;
    let mut client = Client::connect(server.addr, Version::Http1).await;
    let response = client.get("/events", &[]).await;
    assert_eq!(response.status(), StatusCode::OK);

    let started = tokio::time::Instant::now();
    let frames = FrameReader::opened(response.into_body()).await.rest().await;
    assert_eq!(frames, vec!["data: tick\n\n".to_owned(); 8]);
    assert!(started.elapsed() > timeout * 3);
}

#[tokio::test]
async fn behind_a_response_body_timeout_keep_alives_keep_an_idle_stream_open() {
    let (service, mut senders) = pushed_events();
    let service = ServiceBuilder::new()
        .layer(ResponseBodyTimeoutLayer::new(Duration::from_millis(300)))
        .layer(SseLayer::new().keep_alive(KeepAlive::new().interval(Duration::from_millis(100))))
        .service(service);
    let server = serve(service, CancellationToken::new()).await;
    let mut client = Client::connect(server.addr, Version::Http1).await;
    let response = client.get("/events", &[]).await;
    let tx = within("the stream", senders.recv()).await.unwrap();
    let mut body = response.into_body();

    // One second idle: more than three body timeouts.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    let mut keep_alives = 0;
    while tokio::time::Instant::now() < deadline {
        let frame = within("a frame", body.frame())
            .await
            .expect("the body is still open");
        let data: Bytes = frame.expect("no body error").into_data().unwrap();
        keep_alives += data.windows(3).filter(|w| w == b":\n\n").count();
    }
    assert!(keep_alives >= 5, "{keep_alives} keep-alives in one second");

    tx.send(Event::data("still here")).unwrap();
    let mut frames = FrameReader::new(body);
    assert_eq!(frames.next().await.unwrap(), "data: still here\n\n");
}
