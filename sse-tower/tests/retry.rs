//! The `retry:` a stream opens with: the usual reconnection time, so a
//! longer one asked by a refusal or a shutdown does not stick. (The draw
//! each body makes on shutdown is tested in `body.rs` and `shutdown.rs`.)

use std::time::Duration;

use http_body_util::BodyExt;
use ssekit_core::Event;
use ssekit_core::decode::{Decoded, Decoder};
use ssekit_tower::{Retry, Shutdown, SseBody, SseConfig};
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
