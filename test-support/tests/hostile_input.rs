//! Hostile requests against a live server (`ssekit-axum` over `axum::serve`,
//! its `Topics` and `LastEventId` extractors): each gets a clear 4xx, or the
//! documented fallback (an invalid id opens the stream with the broker's
//! reset), never a panic and nothing left subscribed; the server goes on
//! serving.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sse_test_support::{Client, FrameReader, subscriptions_become, text};
use ssekit_axum::broker::Broker;
use ssekit_axum::{Error, Event, KeepAlive, LastEventId, SseResponse, Topics};
use tokio::net::TcpListener;

/// The broker's stream; an invalid id's reason, which the extractor
/// keeps, goes back in `x-invalid-last-event-id`.
async fn events(
    State(broker): State<Broker>,
    topics: Topics,
    last_event_id: LastEventId,
) -> Result<Response, Error> {
    let reason = last_event_id
        .invalid_reason()
        .map(|reason| reason.to_string());
    let response = SseResponse::subscribe(&broker, &topics, &last_event_id).await?;
    let mut response = response.keep_alive(KeepAlive::disabled()).into_response();
    if let Some(reason) = reason {
        let value = reason.parse().unwrap();
        response
            .headers_mut()
            .insert("x-invalid-last-event-id", value);
    }
    Ok(response)
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
    subscriptions_become(broker, 0).await;
    let mut client = Client::connect(addr).await;
    let response = client.get("/events?topic=feed", &[]).await;
    assert_eq!(response.status(), 200);
    drop(response);
    client.disconnect();
}

/// Opens `path` with `headers` on a broker that holds one event, checks
/// that the stream opens with the broker's `reset` notice and replays
/// nothing, and returns the reason the handler was given, then leaves.
async fn opens_with_a_reset(addr: SocketAddr, path: &str, headers: &[(&str, &[u8])]) -> String {
    let mut client = Client::connect(addr).await;
    let response = client.get(path, headers).await;
    assert_eq!(response.status(), 200);
    let reason = response.headers()["x-invalid-last-event-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let first = FrameReader::opened(response).await.next().await.unwrap();
    assert!(first.starts_with("event: reset\n"), "{first:?}");
    assert!(!first.contains("old"), "nothing is replayed: {first:?}");
    client.disconnect();
    reason
}

/// A server over a broker that holds one event of `feed`.
async fn serve_one_event() -> (SocketAddr, Broker) {
    let broker = Broker::new();
    broker.publish("feed", Event::data("old")).await.unwrap();
    (serve(broker.clone()).await, broker)
}

#[tokio::test]
async fn a_64_kib_last_event_id_opens_the_stream_with_a_reset_and_a_reason() {
    let (addr, broker) = serve_one_event().await;
    let id = vec![b'7'; 64 << 10];
    let reason = opens_with_a_reset(addr, "/events?topic=feed", &[("last-event-id", &id)]).await;
    assert!(
        reason.contains("limit"),
        "the reason names the limit: {reason}"
    );
    still_serves(addr, &broker).await;
}

#[tokio::test]
async fn a_last_event_id_that_is_not_utf8_opens_the_stream_with_a_reset_and_a_reason() {
    let (addr, broker) = serve_one_event().await;
    let headers: &[(&str, &[u8])] = &[("last-event-id", b"12\xff\xfe")];
    let reason = opens_with_a_reset(addr, "/events?topic=feed", headers).await;
    assert!(reason.contains("UTF-8"), "the reason says why: {reason}");
    still_serves(addr, &broker).await;
}

#[tokio::test]
async fn a_last_event_id_query_of_invalid_bytes_opens_the_stream_with_a_reset() {
    let (addr, broker) = serve_one_event().await;
    let path = "/events?topic=feed&lastEventId=%FF%00%0A%C3";
    let reason = opens_with_a_reset(addr, path, &[]).await;
    assert!(!reason.is_empty());
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
    let mut frames = FrameReader::opened(response).await;
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
