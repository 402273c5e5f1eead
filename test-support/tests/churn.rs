//! 10 000 clients connect to a broker topic served through `ssekit-axum` and
//! go away, in a burst, while events are published: every subscription is
//! dropped, file descriptors return to where they were, and memory returns
//! near its start (no leak per connection).

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use sse_test_support::process::{open_fds, rss_bytes};
use ssekit_axum::{Event, KeepAlive, LastEventId, SseResponse};
use ssekit_core::broker::{Broker, Subscription};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::Semaphore;

const CYCLES: usize = 10_000;
const WARM_UP: usize = 1_000;
const CONCURRENCY: usize = 64;

async fn events(
    State(broker): State<Broker>,
    last_event_id: LastEventId,
) -> SseResponse<Subscription> {
    SseResponse::subscribe(&broker, &["churn"], &last_event_id)
        .await
        .expect("the broker is running")
        .keep_alive(KeepAlive::disabled())
}

/// One client: connect from `source`, ask for the stream, read the response
/// head and the first event, and close the connection.
async fn cycle(server: SocketAddr, source: Ipv4Addr) {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind((source, 0).into()).unwrap();
    let mut tcp = socket.connect(server).await.unwrap();
    tcp.write_all(b"GET /events HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut buffer = [0; 4096];
    // The head, then at least one event (a publisher runs all along).
    while !(seen.windows(4).any(|w| w == b"\r\n\r\n") && seen.windows(6).any(|w| w == b"data: ")) {
        let n = tcp.read(&mut buffer).await.unwrap();
        assert_ne!(n, 0, "the server closed the stream early");
        seen.extend_from_slice(&buffer[..n]);
    }
    assert!(seen.starts_with(b"HTTP/1.1 200 OK\r\n"));
}

async fn burst(server: SocketAddr, cycles: usize) {
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let mut tasks = Vec::with_capacity(cycles);
    for i in 0..cycles {
        let permit = permits.clone().acquire_owned().await.unwrap();
        // Spread over 127.0.0.2–127.0.0.17 so client ports never run short.
        let source = Ipv4Addr::new(127, 0, 0, 2 + (i % 16) as u8);
        tasks.push(tokio::spawn(async move {
            cycle(server, source).await;
            drop(permit);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

async fn settle(broker: &Broker) {
    for _ in 0..500 {
        if broker.stats().subscriptions == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "subscriptions left after every client went away: {:?}",
        broker.stats()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_connect_disconnect_cycles_leak_no_subscription_descriptor_or_memory() {
    let broker = Broker::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/events", get(events))
        .with_state(broker.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let publisher = {
        let broker = broker.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(1));
            for n in 0u64.. {
                tick.tick().await;
                broker
                    .publish("churn", Event::data(&format!("tick {n}")))
                    .await
                    .unwrap();
            }
        })
    };

    // The first connections grow the runtime's and allocator's pools to
    // their working size; measure from there.
    burst(server, WARM_UP).await;
    settle(&broker).await;
    let (fds_before, rss_before) = (open_fds(), rss_bytes());

    burst(server, CYCLES).await;
    settle(&broker).await;
    publisher.abort();
    // Server-side sockets close as their tasks notice the end.
    let mut fds_after = open_fds();
    for _ in 0..200 {
        if fds_after <= fds_before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        fds_after = open_fds();
    }
    let rss_after = rss_bytes();

    let stats = broker.stats();
    assert_eq!(stats.subscriptions, 0);
    assert!(stats.topics.iter().all(|topic| topic.subscribers == 0));
    assert!(
        fds_after <= fds_before,
        "{fds_before} descriptors open before the burst, {fds_after} after"
    );
    let grown = rss_after.saturating_sub(rss_before);
    assert!(
        grown < 4 << 20,
        "resident memory grew by {grown} bytes over {CYCLES} cycles ({} bytes per cycle)",
        grown / CYCLES as u64
    );
}
