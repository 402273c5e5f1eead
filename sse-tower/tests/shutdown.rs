//! Graceful shutdown of a real hyper server with open event streams.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{Client, FrameReader, Version, retry_ms, serve, within};
use http::{Request, Response};
use hyper::body::Incoming;
use ssekit_core::Event;
use ssekit_tower::{KeepAlive, Shutdown, SseLayer};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;

/// Each stream ends with a `retry:` of its own draw from
/// `Shutdown::DEFAULT_RETRY` (1 s plus up to 4 s), then the final event:
/// the clients come back spread over the window, not all at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_with_100_open_streams_completes_under_a_second_and_every_client_gets_the_final_event()
 {
    let token = CancellationToken::new();
    let bye = Event::builder()
        .event("shutdown")
        .data("bye")
        .build()
        .unwrap();
    let service = ServiceBuilder::new()
        .layer(
            SseLayer::new()
                .keep_alive(KeepAlive::disabled())
                .shutdown(Shutdown::new(token.clone()).final_event(bye)),
        )
        .service(tower::service_fn(|_request: Request<Incoming>| async {
            // A stream that would never end by itself.
            let stream = futures_util::StreamExt::chain(
                futures_util::stream::iter([Event::data("hello")]),
                futures_util::stream::pending(),
            );
            Ok::<_, std::convert::Infallible>(Response::new(stream))
        }));
    let server = serve(service, token.clone()).await;

    let mut readers = Vec::new();
    for n in 0..100 {
        let version = if n % 2 == 0 {
            Version::Http1
        } else {
            Version::Http2
        };
        let mut client = Client::connect(server.addr, version).await;
        let response = client.get("/events", &[]).await;
        let mut frames = FrameReader::opened(response.into_body()).await;
        assert_eq!(frames.next().await.unwrap(), "data: hello\n\n");
        readers.push(tokio::spawn(async move {
            let rest = frames.rest().await;
            drop(client);
            rest
        }));
    }

    let started = Instant::now();
    token.cancel();
    within("the server to shut down", server.task)
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "graceful shutdown took {took:?}"
    );

    let mut retries = HashSet::new();
    for reader in readers {
        let rest = within("a client to read to the end", reader).await.unwrap();
        let [retry, last] = &rest[..] else {
            panic!("a retry and the final event, not {rest:?}")
        };
        let ms = retry_ms(retry);
        assert!((1000..=5000).contains(&ms), "retry: {ms}");
        assert_eq!(last, "event: shutdown\ndata: bye\n\n");
        retries.insert(ms);
    }
    // 100 draws from 4001 values: a handful of distinct ones would mean
    // the streams share a draw.
    assert!(
        retries.len() > 50,
        "{} distinct retries of 100",
        retries.len()
    );
}
