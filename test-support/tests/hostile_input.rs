//! Hostile requests against a live server (`ssekit-axum` over `axum::serve`,
//! topics from the query as `ssekit_tower::Topics` parses them): each gets a
//! clear 4xx, or the documented fallback, never a panic and nothing left
//! subscribed; the server goes on serving.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ssekit_axum::{Event, KeepAlive, LastEventId, SseResponse};
use ssekit_core::broker::Broker;
use sse_test_support::{Client, FrameReader, text};
use ssekit_tower::Topics;
use tokio::net::TcpListener;

async fn events(
    State(broker): State<Broker>,
    RawQuery(query): RawQuery,
    last_event_id: LastEventId,
) -> Response {
    let topics = match Topics::from_query(query.as_deref()) {
        Ok(topics) => topics,
        Err(reason) => return (StatusCode::BAD_REQUEST, reason.to_string()).into_response(),
    };
    match SseResponse::subscribe(&broker, topics.as_slice(), &last_event_id).await {
        Ok(response) => response.keep_alive(KeepAlive::disabled()).into_response(),
        Err(error) => (StatusCode::SERVICE_UNAVAILABLE, error.to_string()).into_response(),
    }
}

async fn serve(broker: Broker) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/events", get(events))
        .with_state(broker);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Sends one request on a new connection and returns its status and, for
/// a refusal, its body.
async fn refused(addr: SocketAddr, path: &str, headers: &[(&str, &[u8])]) -> (u16, String) {
    let response = Client::connect(addr).await.get(path, headers).await;
    let status = response.status().as_u16();
    (status, text(response).await)
}

/// The server still serves a well-formed subscription, and the broker
/// holds no subscription from the hostile requests.
async fn still_serves(addr: SocketAddr, broker: &Broker) {
    assert_eq!(broker.stats().subscriptions, 0);
    let mut client = Client::connect(addr).await;
    let response = client.get("/events?topic=feed", &[]).await;
    assert_eq!(response.status(), 200);
    drop(response);
    client.disconnect();
}

#[tokio::test]
async fn a_64_kib_last_event_id_is_refused_with_a_reason() {
    let broker = Broker::new();
    let addr = serve(broker.clone()).await;
    let id = vec![b'7'; 64 << 10];
    let (status, body) = refused(addr, "/events?topic=feed", &[("last-event-id", &id)]).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("limit"), "the reason names the limit: {body}");
    still_serves(addr, &broker).await;
}

#[tokio::test]
async fn a_last_event_id_that_is_not_utf8_is_refused_with_a_reason() {
    let broker = Broker::new();
    let addr = serve(broker.clone()).await;
    let (status, body) = refused(
        addr,
        "/events?topic=feed",
        &[("last-event-id", b"12\xff\xfe")],
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("UTF-8"), "the reason says why: {body}");
    still_serves(addr, &broker).await;
}

#[tokio::test]
async fn a_last_event_id_query_of_invalid_bytes_is_refused() {
    let broker = Broker::new();
    let addr = serve(broker.clone()).await;
    let (status, body) = refused(addr, "/events?topic=feed&lastEventId=%FF%00%0A%C3", &[]).await;
    assert_eq!(status, 400, "{body}");
    still_serves(addr, &broker).await;
}

#[tokio::test]
async fn a_last_event_id_query_of_garbage_text_starts_with_the_reset_notice() {
    // Valid text but no position of this broker: the documented fallback is
    // the broker's `reset` notice, then live events.
    let broker = Broker::new();
    broker.publish("feed", Event::data("old")).await.unwrap();
    let addr = serve(broker.clone()).await;
    let mut client = Client::connect(addr).await;
    let response = client
        .get(
            "/events?topic=feed&lastEventId=%3Cscript%3E..%2F..%2F%20%E2%80%A8",
            &[],
        )
        .await;
    assert_eq!(response.status(), 200);
    let mut frames = FrameReader::new(response);
    let first = frames.next().await.unwrap();
    assert!(first.starts_with("event: reset\n"), "{first:?}");
    assert!(!first.contains("old"), "nothing is replayed: {first:?}");
}

#[tokio::test]
async fn thousands_of_topics_in_one_subscription_are_refused_with_a_reason() {
    let broker = Broker::new();
    let addr = serve(broker.clone()).await;
    let query: Vec<String> = (0..5_000).map(|n| format!("topic=t{n}")).collect();
    let path = format!("/events?{}", query.join("&"));
    let (status, body) = refused(addr, &path, &[]).await;
    assert_eq!(status, 400);
    assert!(body.contains("more than 64 topics"), "{body}");
    assert!(broker.stats().topics.is_empty(), "no topic was created");
    still_serves(addr, &broker).await;
}
