//! `ssekit-client` against an adapter: a broker topic served by `ssekit-axum`,
//! read by the client across a server restart. Thousands of events with
//! arbitrary data arrive exactly once, in order, byte for byte.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::StreamExt;
use ssekit_axum::{Event, KeepAlive, LastEventId, SseResponse};
use ssekit_client::{Backoff, EventSource, Item};
use ssekit_core::broker::Broker;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const TOPIC: &str = "feed";

#[derive(Clone)]
struct App {
    broker: Broker,
    shutdown: CancellationToken,
}

async fn events(State(app): State<App>, last_event_id: LastEventId) -> Response {
    match SseResponse::subscribe(&app.broker, &[TOPIC], &last_event_id).await {
        Ok(response) => response
            .keep_alive(KeepAlive::disabled())
            .shutdown(app.shutdown.clone())
            .into_response(),
        Err(error) => (StatusCode::SERVICE_UNAVAILABLE, error.to_string()).into_response(),
    }
}

/// Serves the broker on `listener` until `shutdown` fires; the handle ends
/// once every stream has ended and the port is free again.
fn serve(listener: TcpListener, broker: Broker, shutdown: CancellationToken) -> JoinHandle<()> {
    let app = Router::new().route("/events", get(events)).with_state(App {
        broker,
        shutdown: shutdown.clone(),
    });
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
            .unwrap();
    })
}

/// Deterministic arbitrary text: every kind of line break, a leading
/// space, colons, field look-alikes, multi-byte and line-separator
/// characters, and the empty string.
fn arbitrary_data(seed: u64) -> String {
    const PIECES: [&str; 12] = [
        "a", "\r\n", "\n", "\r", " ", ":", "data: x", "id: 9", "é", "\u{2028}", "🦀", "event: e",
    ];
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let len = next() % 9;
    (0..len)
        .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
        .collect()
}

/// What a client must read for `data`: every line break as LF.
fn as_received(data: &str) -> String {
    data.replace("\r\n", "\n").replace('\r', "\n")
}

/// Publishes events `range` and returns `(id, data as received)` for each.
async fn publish(broker: &Broker, range: std::ops::Range<u64>) -> Vec<(String, String)> {
    let mut published = Vec::new();
    for n in range {
        let data = arbitrary_data(n);
        let id = broker
            .publish(TOPIC, Event::data(data.as_str()))
            .await
            .unwrap();
        published.push((id.to_string(), as_received(&data)));
    }
    published
}

/// Reads events until `count` have arrived, and counts the connections.
async fn read(source: &mut EventSource, count: usize) -> (Vec<(String, String)>, usize) {
    let mut received = Vec::new();
    let mut opens = 0;
    while received.len() < count {
        match tokio::time::timeout(Duration::from_secs(10), source.next()).await {
            Ok(Some(Item::Event(event))) => {
                assert_eq!(event.event_type(), "message");
                received.push((event.last_event_id().to_owned(), event.into_data()));
            }
            Ok(Some(Item::Open)) => opens += 1,
            Ok(Some(Item::Reconnecting { .. })) => {}
            Ok(Some(other)) => panic!("unexpected item {other:?}"),
            Ok(None) => panic!("the source ended after {} events", received.len()),
            Err(_) => panic!("no item for 10 s after {} events", received.len()),
        }
    }
    (received, opens)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_arbitrary_events_survive_a_server_restart_exactly_once() {
    // Within the default history (1000 events), so that the gap while the
    // server is down can be replayed.
    let broker = Broker::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let first_shutdown = CancellationToken::new();
    let first = serve(listener, broker.clone(), first_shutdown.clone());

    let uri = format!("http://{addr}/events").parse().unwrap();
    let mut source = EventSource::builder(uri)
        .retry(Duration::from_millis(20))
        .backoff(Backoff::new().max_delay(Duration::from_millis(100)))
        .build();
    // The first connection is open (and subscribed) before anything is
    // published, so that nothing is published before the client is there.
    match tokio::time::timeout(Duration::from_secs(10), source.next()).await {
        Ok(Some(Item::Open)) => {}
        other => panic!("expected the connection to open, got {other:?}"),
    }
    while broker.stats().subscriptions != 1 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // In steps below the broker's lag limit (256), so that the client is
    // never dropped as a slow consumer.
    let mut published = Vec::new();
    let mut received = Vec::new();
    for step in 0..10 {
        published.extend(publish(&broker, step * 200..(step + 1) * 200).await);
        received.extend(read(&mut source, 200).await.0);
    }

    // The server goes away mid-stream; events go on being published.
    first_shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), first)
        .await
        .expect("graceful shutdown ends the open stream")
        .unwrap();
    published.extend(publish(&broker, 2000..2600).await);

    // A new server on the same port and broker: the client resumes from
    // its Last-Event-ID, gets the 600 it missed, then live events.
    let listener = TcpListener::bind(addr).await.unwrap();
    let second_shutdown = CancellationToken::new();
    let second = serve(listener, broker.clone(), second_shutdown.clone());
    let (missed, opens) = read(&mut source, 600).await;
    assert_eq!(opens, 1, "one reconnection that stuck");
    received.extend(missed);
    for step in 13..15 {
        published.extend(publish(&broker, step * 200..(step + 1) * 200).await);
        received.extend(read(&mut source, 200).await.0);
    }

    assert_eq!(received.len(), published.len());
    for (n, (got, sent)) in received.iter().zip(&published).enumerate() {
        assert_eq!(got, sent, "event {n}");
    }

    source.close();
    second_shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), second)
        .await
        .unwrap()
        .unwrap();
    // `axum::serve` returns once every connection task has let go of its
    // shutdown signal, which it does just before the connection (and the
    // stream's subscription) is dropped: wait for that, within a bound.
    sse_test_support::subscriptions_become(&broker, 0).await;
}
