//! Two real `chat` processes share a room through a real Redis: a message
//! posted on one reaches a page of the other, and a page that reconnects to
//! either with `Last-Event-ID` gets exactly what it missed; on one Redis
//! and on a Redis Cluster.

use std::time::Duration;

use browser_test::{Example, within};
use futures_util::StreamExt;
use sse_test_support::redis::RedisServer;
use sse_test_support::redis_cluster::RedisCluster;
use ssekit_client::{EventSource, Item};

/// The next `message` event of `source` (stats events are skipped): its id
/// and its data.
async fn next_message(source: &mut EventSource) -> (String, String) {
    within("the next message event", async {
        loop {
            match source.next().await.expect("the stream goes on") {
                Item::Event(event) if event.event_type() == "message" => {
                    return (event.last_event_id().to_owned(), event.into_data());
                }
                Item::Closed(error) => panic!("the stream closed: {error}"),
                _ => {}
            }
        }
    })
    .await
}

async fn post(chat: &Example, room: &str, message: &str) -> String {
    let (status, id) = chat
        .post(
            &format!("/room/{room}"),
            "application/x-www-form-urlencoded",
            &format!("user=ann&message={message}"),
        )
        .await;
    assert_eq!(status, 202, "{id}");
    id
}

/// The room's event stream on `chat`, once connected (the server has
/// subscribed by the time the response head arrives).
async fn stream(chat: &Example, room: &str, last_event_id: Option<&str>) -> EventSource {
    let uri = format!("{}/stream/{room}", chat.url()).parse().unwrap();
    let mut builder = EventSource::builder(uri).retry(Duration::from_millis(100));
    if let Some(id) = last_event_id {
        builder = builder.last_event_id(id.to_owned());
    }
    let mut source = builder.build();
    within("the stream to open", async {
        match source.next().await {
            Some(Item::Open) => {}
            other => panic!("expected the stream to open, got {other:?}"),
        }
    })
    .await;
    source
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_chat_processes_share_a_room_through_redis() {
    let redis = RedisServer::start();
    let binary = env!("CARGO_BIN_EXE_chat");
    let a = Example::start(binary, &["--redis", &redis.url()]).await;
    let b = Example::start(binary, &["--redis", &redis.url()]).await;

    // A page of process B receives what is posted on process A, with A's id.
    let mut on_b = stream(&b, "shared", None).await;
    let first = post(&a, "shared", "one").await;
    let (id, data) = next_message(&mut on_b).await;
    assert_eq!(id, first);
    assert_eq!(data, r#"{"user":"ann","message":"one"}"#);
    drop(on_b);

    // Posted while no page is connected.
    let second = post(&a, "shared", "two").await;
    let third = post(&b, "shared", "three").await;

    // Reconnecting to either process with the first id gets exactly the
    // two missed messages, in order, then live ones.
    for chat in [&a, &b] {
        let mut resumed = stream(chat, "shared", Some(&first)).await;
        let missed = [
            next_message(&mut resumed).await,
            next_message(&mut resumed).await,
        ];
        assert_eq!(
            missed.map(|(id, data)| (id, data.contains("\"two\"") || data.contains("\"three\""))),
            [(second.clone(), true), (third.clone(), true)]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_chat_processes_share_a_room_through_a_redis_cluster() {
    let cluster = tokio::task::spawn_blocking(RedisCluster::start)
        .await
        .expect("the cluster starts");
    let nodes = cluster.urls().join(",");
    let binary = env!("CARGO_BIN_EXE_chat");
    let a = Example::start(binary, &["--redis-cluster", &nodes]).await;
    let b = Example::start(binary, &["--redis-cluster", &nodes]).await;

    // The page reads its room and `stats`, two slots: its id names both,
    // the room's part being the id the post was given.
    let mut on_b = stream(&b, "shared", None).await;
    let first = post(&a, "shared", "one").await;
    let (position, data) = next_message(&mut on_b).await;
    assert_eq!(data, r#"{"user":"ann","message":"one"}"#);
    assert!(
        position
            .split('.')
            .any(|part| part.ends_with(&format!(":{first}"))),
        "{position} names {first}"
    );
    drop(on_b);

    post(&a, "shared", "two").await;
    post(&b, "shared", "three").await;

    // Either process resumes the page exactly: the two it missed, in order.
    for chat in [&a, &b] {
        let mut resumed = stream(chat, "shared", Some(&position)).await;
        let missed = [
            next_message(&mut resumed).await.1,
            next_message(&mut resumed).await.1,
        ];
        assert_eq!(
            missed,
            [
                r#"{"user":"ann","message":"two"}"#,
                r#"{"user":"ann","message":"three"}"#
            ]
        );
    }
}
