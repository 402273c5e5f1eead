//! `SseResponse::subscribe` over a real TCP server: resume, cleanup,
//! admission limits and private events.

use sse_test_support as common;

use std::net::SocketAddr;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use common::{Client, FrameReader, subscriptions_become};
use http::request::Parts;
use ssekit_axum::{Event, KeepAlive, LastEventId, SseResponse};
use ssekit_core::broker::Broker;
use ssekit_tower::Topics;
use tokio::net::TcpListener;

async fn events(State(broker): State<Broker>, last_event_id: LastEventId) -> Response {
    match SseResponse::subscribe(&broker, &["chat"], &last_event_id).await {
        Ok(response) => response.keep_alive(KeepAlive::disabled()).into_response(),
        Err(error) => ssekit_axum::refusal(&error),
    }
}

async fn private(
    State(broker): State<Broker>,
    request: Parts,
    last_event_id: LastEventId,
) -> Response {
    let topics = Topics::from_query(request.uri.query())
        .unwrap()
        .into_inner();
    let authorize = common::private::by_token;
    match SseResponse::subscribe_authorized(&broker, &authorize, &request, &topics, &last_event_id)
        .await
    {
        Ok(response) => response.keep_alive(KeepAlive::disabled()).into_response(),
        Err(refused) => ssekit_axum::refusal(&refused),
    }
}

async fn serve(broker: Broker) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/events", get(events))
        .route("/private", get(private))
        .with_state(broker);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Publishes `a`, `b`, `c` and returns their ids.
async fn publish_three(broker: &Broker) -> Vec<String> {
    let mut ids = Vec::new();
    for data in ["a", "b", "c"] {
        ids.push(
            broker
                .publish("chat", Event::data(data))
                .await
                .unwrap()
                .to_string(),
        );
    }
    ids
}

#[tokio::test]
async fn resume_from_the_broker_with_the_last_event_id_header() {
    let broker = Broker::new();
    let ids = publish_three(&broker).await;
    let addr = serve(broker.clone()).await;
    let mut frames = FrameReader::new(
        Client::connect(addr)
            .await
            .get("/events", &[("last-event-id", ids[0].as_bytes())])
            .await,
    );

    assert_eq!(
        frames.next().await.unwrap(),
        format!("data: b\nid: {}\n\n", ids[1])
    );
    assert_eq!(
        frames.next().await.unwrap(),
        format!("data: c\nid: {}\n\n", ids[2])
    );
}

#[tokio::test]
async fn resume_from_the_broker_with_the_last_event_id_query_parameter() {
    let broker = Broker::new();
    let ids = publish_three(&broker).await;
    let addr = serve(broker.clone()).await;
    let path = format!("/events?lastEventId={}", ids[1]);
    let mut frames = FrameReader::new(Client::connect(addr).await.get(&path, &[]).await);

    assert_eq!(
        frames.next().await.unwrap(),
        format!("data: c\nid: {}\n\n", ids[2])
    );
    let id = broker.publish("chat", Event::data("d")).await.unwrap();
    assert_eq!(
        frames.next().await.unwrap(),
        format!("data: d\nid: {id}\n\n")
    );
}

#[tokio::test]
async fn the_subscriber_count_is_back_to_0_after_the_client_disconnects() {
    let broker = Broker::new();
    let addr = serve(broker.clone()).await;
    let mut client = Client::connect(addr).await;
    let response = client.get("/events", &[]).await;
    assert_eq!(response.status(), 200);
    subscriptions_become(&broker, 1).await;

    drop(response);
    client.disconnect();
    subscriptions_become(&broker, 0).await;
}

#[tokio::test]
async fn beyond_the_admission_limit_a_subscription_is_503_with_retry_after() {
    let broker = Broker::builder().max_subscribers_per_topic(1).build();
    let addr = serve(broker.clone()).await;
    common::assert_one_subscriber_per_topic_is_admitted(addr, &broker).await;
}

#[tokio::test]
async fn private_events_reach_only_the_clients_the_hook_authorized() {
    let broker = Broker::new();
    let addr = serve(broker.clone()).await;
    common::private::assert_private_events_reach_only_authorized(addr, &broker).await;
}
