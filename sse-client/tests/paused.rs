//! Timing on tokio's paused clock, over an in-process client (no sockets,
//! so every wait is exact).

mod support;

use std::time::Duration;

use http::{StatusCode, Uri};
use ssekit_client::{Backoff, Disconnect, EventSource, Item, RetryPolicy};
use support::{Mock, MockLog, mock_source, next, until_end_within};

/// A bound on virtual time, which passes in an instant.
const HOUR: Duration = Duration::from_secs(3600);

async fn until_end(source: &mut EventSource) -> Vec<Item> {
    until_end_within(HOUR, source).await
}

fn builder() -> ssekit_client::Builder {
    EventSource::builder(Uri::from_static("http://in.process/events"))
}

/// How long after each `Reconnecting` the next request came, with its delay
/// and attempt number.
fn waits(items: &[Item], log: &MockLog) -> Vec<(Duration, u32, Duration)> {
    let log = log.lock().unwrap();
    let announced: Vec<_> = items
        .iter()
        .filter_map(|item| match item {
            Item::Reconnecting { delay, attempt, .. } => Some((*delay, *attempt)),
            _ => None,
        })
        .collect();
    assert_eq!(
        announced.len() + 1,
        log.len(),
        "one request per reconnection"
    );
    announced
        .iter()
        .zip(log.windows(2))
        .map(|(&(delay, attempt), pair)| (delay, attempt, pair[1].0 - pair[0].0))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn default_reconnection_time_is_three_seconds() {
    let (mut source, log) = mock_source(builder(), vec![Mock::Stream("data: a\n\n")]);
    let items = until_end(&mut source).await;
    let secs = Duration::from_secs;
    assert_eq!(waits(&items, &log), [(secs(3), 1, secs(3))]);
}

#[tokio::test(start_paused = true)]
async fn retry_delay_is_honoured_exactly() {
    let (mut source, log) = mock_source(
        builder(),
        vec![
            Mock::Stream("retry: 1234\ndata: a\n\n"),
            Mock::Stream("data: b\n\n"),
        ],
    );
    let items = until_end(&mut source).await;
    let ms = Duration::from_millis;
    // The server's retry stays in force on later connections.
    assert_eq!(
        waits(&items, &log),
        [(ms(1234), 1, ms(1234)), (ms(1234), 1, ms(1234))]
    );
}

#[tokio::test(start_paused = true)]
async fn retry_zero_reconnects_at_once() {
    let (mut source, log) = mock_source(builder(), vec![Mock::Stream("retry: 0\ndata: a\n\n")]);
    let items = until_end(&mut source).await;
    assert_eq!(waits(&items, &log), [(Duration::ZERO, 1, Duration::ZERO)]);
}

#[tokio::test(start_paused = true)]
async fn backoff_grows_caps_and_resets_after_open() {
    let (mut source, log) = mock_source(
        builder()
            .retry(Duration::from_secs(1))
            .backoff(Backoff::new().jitter(0.0).max_delay(Duration::from_secs(5))),
        vec![
            Mock::Stream("data: a\n\n"),
            Mock::Fail,
            Mock::Fail,
            Mock::Fail,
            Mock::Fail,
            Mock::Stream("data: b\n\n"),
            Mock::Fail,
        ],
    );
    let items = until_end(&mut source).await;
    let secs = Duration::from_secs;
    assert_eq!(
        waits(&items, &log),
        [
            (secs(1), 1, secs(1)),
            (secs(2), 2, secs(2)),
            (secs(4), 3, secs(4)),
            (secs(5), 4, secs(5)),
            (secs(5), 5, secs(5)),
            (secs(1), 1, secs(1)),
            (secs(2), 2, secs(2)),
        ]
    );
    assert!(matches!(
        items[3],
        Item::Reconnecting {
            reason: Disconnect::Request(_),
            ..
        }
    ));
}

#[tokio::test(start_paused = true)]
async fn jittered_delays_stay_within_bounds() {
    let backoff = Backoff::new()
        .jitter(0.5)
        .max_delay(Duration::from_secs(60));
    let retry = Duration::from_secs(1);
    let failures = 12;
    let (mut source, log) = mock_source(
        builder().retry(retry).backoff(backoff),
        std::iter::repeat_with(|| Mock::Fail)
            .take(failures)
            .collect(),
    );
    let items = until_end(&mut source).await;
    let waits = waits(&items, &log);
    assert_eq!(waits.len(), failures);
    for &(delay, attempt, waited) in &waits {
        let bounds = backoff.bounds(retry, attempt);
        assert!(
            bounds.contains(&delay),
            "attempt {attempt}: {delay:?} not in {bounds:?}"
        );
        assert_eq!(waited, delay);
    }
    // Spelled out: attempt 4 waits between 4 and 8 seconds; the cap of 60
    // seconds bounds the last ones, which wait 30 to 60 seconds.
    assert!((Duration::from_secs(4)..=Duration::from_secs(8)).contains(&waits[3].0));
    assert!((Duration::from_secs(30)..=Duration::from_secs(60)).contains(&waits[11].0));
    // With half the delay left to chance, the delays are not all the ceiling.
    let ceilings = waits
        .iter()
        .filter(|&&(delay, attempt, _)| delay == *backoff.bounds(retry, attempt).end())
        .count();
    assert!(
        ceilings < failures - 1,
        "the delays were not jittered: {waits:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn last_event_id_goes_to_the_next_request() {
    let (mut source, log) = mock_source(
        builder(),
        vec![
            Mock::Stream("id: 5\ndata: a\n\n"),
            Mock::Fail,
            Mock::Stream(""),
        ],
    );
    assert!(matches!(next(&mut source).await, Item::Open));
    assert!(matches!(next(&mut source).await, Item::Event(_)));
    assert_eq!(source.last_event_id(), "5");
    until_end(&mut source).await;
    let ids: Vec<_> = log
        .lock()
        .unwrap()
        .iter()
        .map(|(_, headers)| headers.get("last-event-id").cloned())
        .collect();
    let five = Some(http::HeaderValue::from_static("5"));
    // A failed attempt and an empty stream keep the id.
    assert_eq!(ids, [None, five.clone(), five.clone(), five]);
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured_under_the_transient_policy() {
    let (mut source, log) = mock_source(
        builder().retry_policy(RetryPolicy::transient()),
        vec![
            Mock::Status(503, &[("retry-after", "1")]),
            Mock::Stream("data: a\n\n"),
        ],
    );
    let items = until_end(&mut source).await;
    assert!(
        matches!(
            items[0],
            Item::Reconnecting {
                reason: Disconnect::Status(StatusCode::SERVICE_UNAVAILABLE),
                ..
            }
        ),
        "{items:?}"
    );
    let secs = Duration::from_secs;
    // One second as the server asked, then the usual three after the stream.
    assert_eq!(
        waits(&items, &log),
        [(secs(1), 1, secs(1)), (secs(3), 1, secs(3))]
    );
}

#[tokio::test(start_paused = true)]
async fn retry_after_overrides_the_backoff_however_long() {
    let (mut source, log) = mock_source(
        builder().retry_policy(RetryPolicy::transient()),
        vec![
            Mock::Status(429, &[("retry-after", "120")]),
            Mock::Status(429, &[]),
        ],
    );
    let items = until_end(&mut source).await;
    let secs = Duration::from_secs;
    // Without `Retry-After` the backoff decides: attempt 2 of 3 seconds.
    let waits = waits(&items, &log);
    assert_eq!(waits[0], (secs(120), 1, secs(120)));
    assert!((secs(3)..=secs(6)).contains(&waits[1].0), "{waits:?}");
    assert_eq!(waits[1].1, 2);
}

#[tokio::test(start_paused = true)]
async fn service_unavailable_is_final_under_the_default_policy() {
    let (mut source, log) =
        mock_source(builder(), vec![Mock::Status(503, &[("retry-after", "1")])]);
    let items = until_end(&mut source).await;
    let [Item::Closed(error)] = &items[..] else {
        panic!("expected one Closed, got {items:?}");
    };
    assert_eq!(error.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
    assert_eq!(log.lock().unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn idle_timeout_drops_a_silent_stream_exactly_on_time() {
    let keep_alive = Duration::from_secs(15);
    let (mut source, log) = mock_source(
        builder().idle_timeout(keep_alive * 3),
        vec![Mock::Silent("id: 1\ndata: a\n\n")],
    );
    let items = until_end(&mut source).await;
    assert!(
        matches!(
            items[..],
            [
                Item::Open,
                Item::Event(_),
                Item::Reconnecting {
                    reason: Disconnect::Idle,
                    ..
                },
                Item::Closed(_),
            ]
        ),
        "{items:?}"
    );
    let log = log.lock().unwrap();
    // 45 seconds of silence, then the 3-second reconnection time.
    assert_eq!(log[1].0 - log[0].0, Duration::from_secs(48));
    assert_eq!(log[1].1["last-event-id"], "1");
}
