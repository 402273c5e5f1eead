//! `ssekit_tower::subscribe` behind a real hyper server on 127.0.0.1: a
//! broker subscription served in one line, resumed with `Last-Event-ID`.
#![cfg(feature = "broker")]

mod common;

use common::{Client, FrameReader, Version, broker_service, serve, within};
use http::StatusCode;
use ssekit_core::Event;
use ssekit_core::broker::Broker;
use ssekit_tower::LastEventId;
use tokio_util::sync::CancellationToken;

async fn wait_for_subscribers(broker: &Broker, n: usize) {
    within("the subscription", async {
        while broker.stats().topics.first().map_or(0, |t| t.subscribers) != n {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await;
}

async fn resumes_after_last_event_id(version: Version) {
    let broker = Broker::new();
    let server = serve(broker_service(broker.clone()), CancellationToken::new()).await;

    let mut client = Client::connect(server.addr, version).await;
    let response = client.get("/events", &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut frames = FrameReader::opened(response.into_body()).await;
    wait_for_subscribers(&broker, 1).await;

    let first = broker.publish("room", Event::data("one")).await.unwrap();
    assert_eq!(
        frames.next().await.unwrap(),
        format!("data: one\nid: {first}\n\n")
    );
    // Dropping the body resets an HTTP/2 stream; the TCP close ends HTTP/1.
    drop(frames);
    client.disconnect();
    wait_for_subscribers(&broker, 0).await;

    // Published while the client was away.
    let second = broker.publish("room", Event::data("two")).await.unwrap();

    let mut client = Client::connect(server.addr, version).await;
    let response = client
        .get("/events", &[("last-event-id", &first.to_string())])
        .await;
    let mut frames = FrameReader::opened(response.into_body()).await;
    assert_eq!(
        frames.next().await.unwrap(),
        format!("data: two\nid: {second}\n\n")
    );
    wait_for_subscribers(&broker, 1).await;
    let third = broker.publish("room", Event::data("three")).await.unwrap();
    assert_eq!(
        frames.next().await.unwrap(),
        format!("data: three\nid: {third}\n\n")
    );

    broker.shutdown(Some(Event::comment("bye")));
    assert_eq!(frames.next().await.unwrap(), ":bye\n\n");
    assert_eq!(within("the end", frames.next()).await, None);
}

#[tokio::test]
async fn a_subscription_resumes_after_last_event_id_over_http1() {
    resumes_after_last_event_id(Version::Http1).await;
}

#[tokio::test]
async fn a_subscription_resumes_after_last_event_id_over_http2() {
    resumes_after_last_event_id(Version::Http2).await;
}

#[tokio::test]
async fn an_invalid_last_event_id_starts_with_a_reset_notice() {
    let broker = Broker::new();
    let server = serve(broker_service(broker.clone()), CancellationToken::new()).await;
    let mut client = Client::connect(server.addr, Version::Http1).await;
    // Over the 1 KiB limit: `LastEventId::Invalid`.
    let too_long = "1".repeat(2000);
    let response = client.get("/events", &[("last-event-id", &too_long)]).await;
    let mut frames = FrameReader::opened(response.into_body()).await;
    let notice = frames.next().await.unwrap();
    assert!(
        notice.starts_with("event: reset\nid: ") && notice.ends_with("\ndata: malformed\n\n"),
        "{notice:?}"
    );
}

#[tokio::test]
async fn an_empty_last_event_id_is_a_first_connection_not_a_reset() {
    let broker = Broker::new();
    broker.publish("room", Event::data("before")).await.unwrap();
    let response =
        ssekit_tower::subscribe(&broker, &["room"], &LastEventId::Present(String::new()))
            .await
            .unwrap();
    let (subscription, _config) = response.into_parts();
    assert_eq!(subscription.resume(), ssekit_core::broker::Resume::Fresh);
}
