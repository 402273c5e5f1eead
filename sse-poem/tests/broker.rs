//! `SseResponse::subscribe` over a real TCP server: resume, cleanup,
//! admission limits and private events.

use sse_test_support as common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Client, FrameReader, subscriptions_become};
use poem::listener::TcpAcceptor;
use poem::web::Data;
use poem::{EndpointExt, IntoResponse, Request, Response, Route, Server, get, handler};
use ssekit_core::broker::Broker;
use ssekit_poem::{Event, KeepAlive, LastEventId, SseResponse};
use ssekit_tower::Topics;
use tokio::net::TcpListener;

#[handler]
async fn events(broker: Data<&Broker>, last_event_id: LastEventId) -> Response {
    match SseResponse::subscribe(&broker, &["chat"], &last_event_id).await {
        // poem's server notices a closed connection only when it writes to
        // it (unlike axum's and warp's): the keep-alive is what drops the
        // subscription of a client that went away.
        Ok(response) => response
            .keep_alive(KeepAlive::new().interval(Duration::from_millis(50)))
            .into_response(),
        Err(error) => ssekit_poem::refusal(&error),
    }
}

#[handler]
async fn private(request: &Request, broker: Data<&Broker>, last_event_id: LastEventId) -> Response {
    let topics = Topics::from_query(request.uri().query())
        .unwrap()
        .into_inner();
    let authorize = common::private::by_token;
    match SseResponse::subscribe_authorized(&broker, &authorize, request, &topics, &last_event_id)
        .await
    {
        Ok(response) => response
            .keep_alive(KeepAlive::new().interval(Duration::from_millis(50)))
            .into_response(),
        Err(refused) => ssekit_poem::refusal(&refused),
    }
}

async fn serve(broker: Broker) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = TcpAcceptor::from_tokio(listener).unwrap();
    let app = Route::new()
        .at("/events", get(events))
        .at("/private", get(private))
        .data(broker);
    tokio::spawn(async move { Server::new_with_acceptor(acceptor).run(app).await.unwrap() });
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
