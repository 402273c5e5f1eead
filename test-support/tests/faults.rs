//! Faults on a live server (`ssekit-axum` over `axum::serve`): a stream that
//! panics, and clients that go away in the middle of a frame. The server
//! keeps serving, nothing is left subscribed.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use futures_util::StreamExt;
use sse_test_support::{Client, FrameReader, within};
use ssekit_axum::{Event, KeepAlive, LastEventId, SseResponse};
use ssekit_core::broker::{Broker, Subscription};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// `data: one`, then a panic inside the stream's `poll_next`.
async fn panicking() -> SseResponse<impl futures_util::Stream<Item = Event>> {
    let events =
        futures_util::stream::iter([Event::data("one")]).chain(futures_util::stream::poll_fn(
            |_| -> std::task::Poll<Option<Event>> { panic!("a bug in the application's stream") },
        ));
    SseResponse::new(events).keep_alive(KeepAlive::disabled())
}

async fn subscribed(
    State(broker): State<Broker>,
    last_event_id: LastEventId,
) -> SseResponse<Subscription> {
    SseResponse::subscribe(&broker, &["big"], &last_event_id)
        .await
        .expect("the broker is running")
        .keep_alive(KeepAlive::disabled())
}

async fn serve(broker: Broker) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/panics", get(panicking))
        .route("/big", get(subscribed))
        .with_state(broker);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Reads one whole chunked HTTP/1.1 response (head and body to the last
/// chunk) from `tcp`, leaving the connection open.
async fn read_response(tcp: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    let mut buffer = [0; 4096];
    while !seen.ends_with(b"\r\n0\r\n\r\n") {
        let n = within("the end of the response", tcp.read(&mut buffer))
            .await
            .unwrap();
        assert_ne!(n, 0, "the connection closed before the response ended");
        seen.extend_from_slice(&buffer[..n]);
    }
    String::from_utf8(seen).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_panics_ends_its_response_cleanly_and_the_connection_serves_on() {
    let addr = serve(Broker::new()).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let request = b"GET /panics HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n";

    tcp.write_all(request).await.unwrap();
    let first = read_response(&mut tcp).await;
    assert!(first.starts_with("HTTP/1.1 200 OK\r\n"), "{first}");
    assert!(first.contains("data: one\n\n"), "{first}");

    // The same connection answers the next request: the panic ended one
    // response, not the connection's task.
    tcp.write_all(request).await.unwrap();
    let second = read_response(&mut tcp).await;
    assert!(second.contains("data: one\n\n"), "{second}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_leave_in_the_middle_of_a_frame_are_unsubscribed_and_others_get_whole_frames()
{
    let broker = Broker::new();
    let addr = serve(broker.clone()).await;
    let big = "x".repeat(1 << 20);

    for _ in 0..20 {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"GET /big HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
        within("the subscription", async {
            while broker.stats().subscriptions == 0 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
        .await;
        broker.publish("big", Event::data(&big)).await.unwrap();
        // Read part of the 1 MiB frame, then vanish.
        let mut part = vec![0; 64 * 1024];
        tcp.read_exact(&mut part).await.unwrap();
        drop(tcp);
        within("the unsubscription", async {
            while broker.stats().subscriptions != 0 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
        .await;
    }

    // A client that stays gets the frame whole.
    let mut client = Client::connect(addr).await;
    let mut frames = FrameReader::opened(client.get("/big", &[]).await).await;
    within("the subscription", async {
        while broker.stats().subscriptions == 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    let id = broker.publish("big", Event::data(&big)).await.unwrap();
    assert_eq!(
        frames.next().await.unwrap(),
        format!("data: {big}\nid: {id}\n\n")
    );
}
