//! The `retry:` a stream sends: the usual reconnection time first, so a
//! longer one asked by a refusal or a shutdown does not stick, and on
//! shutdown a draw of its own, so a deploy's reconnections spread out.

use std::time::Duration;

use http_body_util::BodyExt;
use ssekit_core::Event;
use ssekit_core::decode::{Decoded, Decoder};
use ssekit_tower::{KeepAlive, Retry, Shutdown, SseBody, SseConfig};
use tokio_util::sync::CancellationToken;

async fn bytes_of(body: SseBody<impl futures_core::Stream<Item = Event>>) -> String {
    let bytes = body.collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn retries_in(body: &str) -> Vec<Duration> {
    Decoder::new()
        .decode(body.as_bytes())
        .filter_map(|item| match item.unwrap() {
            Decoded::Retry(retry) => Some(retry),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_stream_served_normally_opens_with_the_usual_retry() {
    let body = SseBody::new(futures_util::stream::iter([Event::data("hi")]));
    assert_eq!(bytes_of(body).await, "retry: 3000\n\ndata: hi\n\n");
}

#[tokio::test]
async fn the_opening_retry_and_the_first_event_go_out_in_one_frame() {
    let config = SseConfig::new()
        .retry(Duration::from_millis(1500))
        .first_event(Event::data("first"));
    let mut body = Box::pin(SseBody::with_config(
        futures_util::stream::pending::<Event>(),
        &config,
    ));
    let frame = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(frame, "retry: 1500\n\ndata: first\n\n");
}

#[tokio::test]
async fn retry_none_opens_with_the_stream_itself() {
    let config = SseConfig::new().retry(None);
    let body = SseBody::with_config(futures_util::stream::iter([Event::data("hi")]), &config);
    assert_eq!(bytes_of(body).await, "data: hi\n\n");
}

#[tokio::test]
async fn each_stream_draws_its_own_shutdown_retry_within_the_window() {
    let token = CancellationToken::new();
    let config = SseConfig::new()
        .retry(None)
        .keep_alive(KeepAlive::disabled())
        .shutdown(Shutdown::new(token.clone()).final_event(Event::data("bye")));
    let bodies: Vec<_> = (0..200)
        .map(|_| SseBody::with_config(futures_util::stream::pending::<Event>(), &config))
        .collect();
    token.cancel();
    let mut draws = Vec::new();
    for body in bodies {
        let bytes = bytes_of(body).await;
        assert!(bytes.ends_with("\n\ndata: bye\n\n"), "{bytes:?}");
        let [retry] = retries_in(&bytes)[..] else {
            panic!("one retry in {bytes:?}")
        };
        draws.push(retry);
    }
    let window = Duration::from_secs(1)..=Duration::from_secs(5);
    assert!(draws.iter().all(|retry| window.contains(retry)));
    // 200 draws over 4 s: each second of the window gets some.
    for second in 1..5 {
        let (low, high) = (Duration::from_secs(second), Duration::from_secs(second + 1));
        assert!(draws.iter().any(|d| (low..high).contains(d)), "{second}");
    }
}

#[tokio::test]
async fn a_final_events_own_retry_comes_last_and_wins() {
    let token = CancellationToken::new();
    let bye = Event::builder()
        .data("bye")
        .retry(Duration::from_secs(9))
        .build()
        .unwrap();
    let shutdown = Shutdown::new(token.clone())
        .retry(Retry::new(Duration::from_secs(2)))
        .final_event(bye);
    let config = SseConfig::new().retry(None).shutdown(shutdown);
    let body = SseBody::with_config(futures_util::stream::pending::<Event>(), &config);
    token.cancel();
    let bytes = bytes_of(body).await;
    assert_eq!(
        retries_in(&bytes),
        [Duration::from_secs(2), Duration::from_secs(9)]
    );
}

#[tokio::test]
async fn shutdown_retry_none_sends_only_the_final_event() {
    let token = CancellationToken::new();
    let shutdown = Shutdown::new(token.clone())
        .retry(None)
        .final_event(Event::data("bye"));
    let config = SseConfig::new().retry(None).shutdown(shutdown);
    let body = SseBody::with_config(futures_util::stream::pending::<Event>(), &config);
    token.cancel();
    assert_eq!(bytes_of(body).await, "data: bye\n\n");
}
