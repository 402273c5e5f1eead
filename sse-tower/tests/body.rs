//! `SseBody` on its own, polled in memory; timing on paused Tokio time.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Waker};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream;
use http_body::Body;
use http_body_util::BodyExt;
use ssekit_core::Event;
use ssekit_tower::{KeepAlive, Retry, Shutdown, SseBody, SseConfig};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_util::sync::CancellationToken;

const LONG: Duration = Duration::from_secs(3600);

/// What every body opens with by default (`SseConfig::DEFAULT_RETRY`).
const OPENING: &str = "retry: 3000\n\n";

/// No keep-alive, no coalescing, no opening `retry:`: one frame per event
/// of the stream's own.
fn no_keep_alive() -> SseConfig {
    SseConfig::new()
        .keep_alive(KeepAlive::disabled())
        .coalesce(0)
        .retry(None)
}

/// A shutdown retry without jitter, for exact bytes.
fn one_second() -> Retry {
    Retry::new(Duration::from_secs(1))
}

async fn next_data<B>(body: &mut B) -> Option<Bytes>
where
    B: Body<Data = Bytes, Error = std::convert::Infallible> + Unpin,
{
    let frame = tokio::time::timeout(LONG, body.frame())
        .await
        .expect("a frame or the end within the bound")?;
    Some(frame.unwrap().into_data().unwrap())
}

type PushedBody = Pin<Box<SseBody<UnboundedReceiverStream<Event>>>>;

fn pushed(config: &SseConfig) -> (mpsc::UnboundedSender<Event>, PushedBody) {
    let (tx, rx) = mpsc::unbounded_channel();
    (
        tx,
        Box::pin(SseBody::with_config(
            UnboundedReceiverStream::new(rx),
            config,
        )),
    )
}

#[tokio::test]
async fn each_event_is_one_frame_in_order_and_the_end_of_the_stream_ends_the_body() {
    let events = [
        Event::data("one"),
        Event::data("two"),
        Event::comment("three"),
    ];
    let mut body = Box::pin(SseBody::with_config(stream::iter(events), &no_keep_alive()));

    assert_eq!(next_data(&mut body).await.unwrap(), "data: one\n\n");
    assert_eq!(next_data(&mut body).await.unwrap(), "data: two\n\n");
    assert_eq!(next_data(&mut body).await.unwrap(), ":three\n\n");
    assert_eq!(next_data(&mut body).await, None);
    assert!(body.is_end_stream());
}

#[tokio::test]
async fn an_event_goes_out_as_its_own_bytes_without_a_copy() {
    let event = Event::data("shared with many clients");
    let mut body = Box::pin(SseBody::with_config(
        stream::iter([event.clone()]),
        &no_keep_alive(),
    ));

    let data = next_data(&mut body).await.unwrap();
    assert_eq!(data.as_ptr(), event.as_bytes().as_ptr());
    assert_eq!(data.len(), event.len());
}

#[tokio::test]
async fn the_body_has_no_known_length() {
    let body = Box::pin(SseBody::new(stream::iter([Event::data("x")])));
    assert_eq!(body.size_hint().exact(), None);
    assert!(!body.is_end_stream());
}

#[tokio::test(start_paused = true)]
async fn an_idle_stream_gets_a_keep_alive_comment_after_the_default_15_seconds() {
    let (_tx, mut body) = pushed(&SseConfig::new());
    let start = Instant::now();

    assert_eq!(next_data(&mut body).await.unwrap(), OPENING);
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(next_data(&mut body).await.unwrap(), ":\n\n");
    assert_eq!(start.elapsed(), Duration::from_secs(15));
}

#[tokio::test(start_paused = true)]
async fn keep_alive_comments_repeat_at_the_configured_interval() {
    let config = SseConfig::new().keep_alive(KeepAlive::new().interval(Duration::from_secs(5)));
    let (_tx, mut body) = pushed(&config);
    let start = Instant::now();

    assert_eq!(next_data(&mut body).await.unwrap(), OPENING);
    for n in 1..=3 {
        assert_eq!(next_data(&mut body).await.unwrap(), ":\n\n");
        assert_eq!(start.elapsed(), Duration::from_secs(5 * n));
    }
}

#[tokio::test(start_paused = true)]
async fn an_event_pushes_the_next_keep_alive_back_by_a_whole_interval() {
    let config = SseConfig::new().keep_alive(KeepAlive::new().interval(Duration::from_secs(15)));
    let (tx, mut body) = pushed(&config);
    let start = Instant::now();

    let sender = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(10)).await;
        tx.send(Event::data("news")).unwrap();
        tx // keep the stream open
    });

    assert_eq!(next_data(&mut body).await.unwrap(), OPENING);
    assert_eq!(next_data(&mut body).await.unwrap(), "data: news\n\n");
    assert_eq!(start.elapsed(), Duration::from_secs(10));
    assert_eq!(next_data(&mut body).await.unwrap(), ":\n\n");
    assert_eq!(start.elapsed(), Duration::from_secs(25));
    drop(sender);
}

#[tokio::test(start_paused = true)]
async fn a_busy_stream_gets_no_keep_alive() {
    let config = SseConfig::new().keep_alive(KeepAlive::new().interval(Duration::from_secs(15)));
    let (tx, mut body) = pushed(&config);
    let sender = tokio::spawn(async move {
        for n in 0..10 {
            tokio::time::sleep(Duration::from_secs(10)).await;
            tx.send(Event::data(&n.to_string())).unwrap();
        }
    });

    assert_eq!(next_data(&mut body).await.unwrap(), OPENING);
    for n in 0..10 {
        assert_eq!(
            next_data(&mut body).await.unwrap(),
            format!("data: {n}\n\n")
        );
    }
    assert_eq!(next_data(&mut body).await, None);
    sender.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_keep_alive_text_is_configurable() {
    let config = SseConfig::new().keep_alive(KeepAlive::new().text("ping"));
    let (_tx, mut body) = pushed(&config);

    assert_eq!(next_data(&mut body).await.unwrap(), OPENING);
    assert_eq!(next_data(&mut body).await.unwrap(), ":ping\n\n");
}

#[tokio::test(start_paused = true)]
async fn the_keep_alive_frame_can_be_any_event() {
    let ping = Event::builder().event("ping").data("").build().unwrap();
    let config = SseConfig::new().keep_alive(KeepAlive::new().event(ping.clone()));
    let (_tx, mut body) = pushed(&config);

    assert_eq!(next_data(&mut body).await.unwrap(), OPENING);
    assert_eq!(next_data(&mut body).await.unwrap(), ping.to_bytes());
}

#[tokio::test(start_paused = true)]
async fn a_zero_keep_alive_interval_is_raised_to_the_minimum() {
    let config = SseConfig::new().keep_alive(KeepAlive::new().interval(Duration::ZERO));
    let (_tx, mut body) = pushed(&config);
    let start = Instant::now();

    assert_eq!(next_data(&mut body).await.unwrap(), OPENING);
    for n in 1..=3 {
        assert_eq!(next_data(&mut body).await.unwrap(), ":\n\n");
        assert_eq!(start.elapsed(), KeepAlive::MIN_INTERVAL * n);
    }
}

#[tokio::test(start_paused = true)]
async fn a_disabled_keep_alive_sends_nothing_on_an_idle_stream() {
    let (_tx, mut body) = pushed(&no_keep_alive());

    let waited = tokio::time::timeout(Duration::from_secs(24 * 3600), body.frame()).await;
    assert!(waited.is_err(), "no frame may arrive");
}

/// The first event follows the opening `retry:` in the same frame; a
/// `retry:` of its own overrides the opening one.
#[tokio::test(start_paused = true)]
async fn the_first_event_goes_out_at_once_and_counts_as_a_frame_for_keep_alive() {
    let first = Event::builder()
        .comment("hello")
        .retry(Duration::from_millis(1500))
        .build()
        .unwrap();
    let config = SseConfig::new()
        .first_event(first)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)));
    let (_tx, mut body) = pushed(&config);
    let start = Instant::now();

    assert_eq!(
        next_data(&mut body).await.unwrap(),
        "retry: 3000\n\n:hello\nretry: 1500\n\n"
    );
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(next_data(&mut body).await.unwrap(), ":\n\n");
    assert_eq!(start.elapsed(), Duration::from_secs(15));
}

#[tokio::test]
async fn an_error_item_ends_the_body_cleanly() {
    let items: Vec<Result<Event, io::Error>> = vec![
        Ok(Event::data("before")),
        Err(io::Error::other("feed broke")),
        Ok(Event::data("never sent")),
    ];
    let mut body = Box::pin(SseBody::with_config(stream::iter(items), &no_keep_alive()));

    assert_eq!(next_data(&mut body).await.unwrap(), "data: before\n\n");
    assert_eq!(next_data(&mut body).await, None);
    assert!(body.is_end_stream());
}

#[tokio::test]
async fn an_error_item_sends_the_configured_final_event_then_ends() {
    let items: Vec<Result<Event, io::Error>> = vec![Err(io::Error::other("feed broke"))];
    let config = no_keep_alive().error_event(|error| {
        Event::builder()
            .event("error")
            .data(error.to_string())
            .build()
            .ok()
    });
    let mut body = Box::pin(SseBody::with_config(stream::iter(items), &config));

    assert_eq!(
        next_data(&mut body).await.unwrap(),
        "event: error\ndata: feed broke\n\n"
    );
    assert_eq!(next_data(&mut body).await, None);
}

/// The last frame is a `retry:` drawn from `Shutdown::DEFAULT_RETRY` (1 s
/// plus up to 4 s), then the final event.
#[tokio::test]
async fn shutdown_sends_a_drawn_retry_and_the_final_event_and_ends_the_body() {
    let token = CancellationToken::new();
    let config =
        no_keep_alive().shutdown(Shutdown::new(token.clone()).final_event(Event::data("bye")));
    let (tx, mut body) = pushed(&config);

    tx.send(Event::data("hi")).unwrap();
    assert_eq!(next_data(&mut body).await.unwrap(), "data: hi\n\n");
    token.cancel();
    let last = next_data(&mut body).await.unwrap();
    let last = std::str::from_utf8(&last).unwrap();
    let ms = shutdown_retry_ms(last, "data: bye\n\n");
    assert!((1000..=5000).contains(&ms), "{last:?}");
    assert_eq!(next_data(&mut body).await, None);
    drop(tx);
}

/// The milliseconds of `retry: <ms>\n\n` followed by `rest`.
fn shutdown_retry_ms(frame: &str, rest: &str) -> u64 {
    frame
        .strip_prefix("retry: ")
        .and_then(|frame| frame.strip_suffix(rest))
        .and_then(|ms| ms.strip_suffix("\n\n"))
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("a retry, then {rest:?}, not {frame:?}"))
}

#[tokio::test]
async fn bodies_that_share_a_shutdown_each_draw_their_own_retry() {
    let token = CancellationToken::new();
    let config = no_keep_alive().shutdown(Shutdown::new(token.clone()));
    let bodies: Vec<_> = (0..50)
        .map(|_| SseBody::with_config(stream::pending::<Event>(), &config))
        .collect();
    token.cancel();

    let mut draws = std::collections::HashSet::new();
    for body in bodies {
        let bytes = body.collect().await.unwrap().to_bytes();
        let ms = shutdown_retry_ms(std::str::from_utf8(&bytes).unwrap(), "");
        assert!((1000..=5000).contains(&ms), "{bytes:?}");
        draws.insert(ms);
    }
    // 50 draws from 4001 values: one shared draw would be a single value.
    assert!(draws.len() > 25, "{draws:?}");
}

#[tokio::test]
async fn a_shutdown_without_a_retry_sends_only_the_final_event() {
    let token = CancellationToken::new();
    let shutdown = Shutdown::new(token.clone())
        .retry(None)
        .final_event(Event::data("bye"));
    let body = SseBody::with_config(
        stream::pending::<Event>(),
        &no_keep_alive().shutdown(shutdown),
    );
    token.cancel();

    assert_eq!(body.collect().await.unwrap().to_bytes(), "data: bye\n\n");
}

#[tokio::test]
async fn shutdown_ends_a_stream_that_is_always_ready() {
    let token = CancellationToken::new();
    let config = no_keep_alive().shutdown(Shutdown::new(token.clone()).retry(one_second()));
    let mut body = Box::pin(SseBody::with_config(
        stream::repeat(Event::data("again")),
        &config,
    ));

    assert_eq!(next_data(&mut body).await.unwrap(), "data: again\n\n");
    token.cancel();
    assert_eq!(next_data(&mut body).await.unwrap(), "retry: 1000\n\n");
    assert_eq!(next_data(&mut body).await, None);
}

#[tokio::test]
async fn a_body_made_after_shutdown_ends_at_once() {
    let token = CancellationToken::new();
    token.cancel();
    let config = no_keep_alive().shutdown(Shutdown::new(token).retry(one_second()));
    let mut body = Box::pin(SseBody::with_config(
        stream::repeat(Event::data("again")),
        &config,
    ));

    assert_eq!(next_data(&mut body).await.unwrap(), "retry: 1000\n\n");
    assert_eq!(next_data(&mut body).await, None);
}

struct DropFlag(Arc<AtomicUsize>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A config whose disconnect hook records how many times it ran, and
/// whether the stream's drop flag had already been set when it ran.
fn counting_hook(
    stream_dropped: Arc<AtomicUsize>,
) -> (SseConfig, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let stream_gone_when_called = Arc::new(AtomicUsize::new(0));
    let (c, g) = (calls.clone(), stream_gone_when_called.clone());
    let config = no_keep_alive().on_disconnect(move || {
        c.fetch_add(1, Ordering::SeqCst);
        g.store(stream_dropped.load(Ordering::SeqCst), Ordering::SeqCst);
    });
    (config, calls, stream_gone_when_called)
}

#[tokio::test]
async fn dropping_an_unfinished_body_drops_the_stream_then_calls_on_disconnect() {
    let stream_dropped = Arc::new(AtomicUsize::new(0));
    let (config, calls, stream_gone) = counting_hook(stream_dropped.clone());
    let flag = DropFlag(stream_dropped.clone());
    let events = stream::repeat(Event::data("x")).map(move |e| {
        let _ = &flag;
        e
    });
    let mut body = Box::pin(SseBody::with_config(events, &config));
    assert!(next_data(&mut body).await.is_some());

    drop(body);
    assert_eq!(stream_dropped.load(Ordering::SeqCst), 1);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        stream_gone.load(Ordering::SeqCst),
        1,
        "the stream was dropped first"
    );
}

use futures_util::StreamExt;

#[tokio::test]
async fn on_disconnect_is_not_called_after_a_normal_end_an_error_or_a_shutdown() {
    let (config, calls, _) = counting_hook(Arc::new(AtomicUsize::new(0)));

    let mut ended = Box::pin(SseBody::with_config(
        stream::iter([Event::data("x")]),
        &config,
    ));
    while next_data(&mut ended).await.is_some() {}
    drop(ended);

    let failing: Vec<Result<Event, io::Error>> = vec![Err(io::Error::other("x"))];
    let mut failed = Box::pin(SseBody::with_config(stream::iter(failing), &config));
    while next_data(&mut failed).await.is_some() {}
    drop(failed);

    let token = CancellationToken::new();
    token.cancel();
    let mut shut = Box::pin(SseBody::with_config(
        stream::pending::<Event>(),
        &config.clone().shutdown(token),
    ));
    while next_data(&mut shut).await.is_some() {}
    drop(shut);

    let taken_back = SseBody::with_config(stream::pending::<Event>(), &config).into_inner();
    assert!(taken_back.is_some());

    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[test]
fn a_body_polled_outside_a_tokio_runtime_does_not_panic() {
    let mut body = Box::pin(SseBody::new(stream::pending::<Event>()));
    let mut cx = Context::from_waker(Waker::noop());

    let opening = body.as_mut().poll_frame(&mut cx);
    let std::task::Poll::Ready(Some(Ok(frame))) = opening else {
        panic!("the opening at once, not {opening:?}");
    };
    assert_eq!(frame.into_data().unwrap(), OPENING);
    let polled = body.as_mut().poll_frame(&mut cx);
    assert!(polled.is_pending());
}

#[tokio::test]
async fn events_ready_together_are_coalesced_into_frames_of_at_most_the_bound() {
    // Each event is 11 bytes; 30 bytes hold two of them.
    let events = (0..5).map(|n| Event::data(&format!("ev{n}")));
    let config = SseConfig::new()
        .keep_alive(KeepAlive::disabled())
        .coalesce(30);
    let mut body = Box::pin(SseBody::with_config(stream::iter(events), &config));

    // The opening goes out on its own, at once.
    assert_eq!(next_data(&mut body).await.unwrap(), OPENING);
    assert_eq!(
        next_data(&mut body).await.unwrap(),
        "data: ev0\n\ndata: ev1\n\n"
    );
    assert_eq!(
        next_data(&mut body).await.unwrap(),
        "data: ev2\n\ndata: ev3\n\n"
    );
    assert_eq!(next_data(&mut body).await.unwrap(), "data: ev4\n\n");
    assert!(body.is_end_stream(), "the stream ended while gathering");
    assert_eq!(next_data(&mut body).await, None);
}

#[tokio::test]
async fn by_default_events_ready_together_are_coalesced_up_to_16_kib() {
    assert_eq!(SseConfig::DEFAULT_COALESCE, 16 * 1024);
    // Each event is 1 KiB on the wire ("data: " + 1016 bytes + "\n\n").
    let event = Event::data(&"x".repeat(1024 - 8));
    assert_eq!(event.len(), 1024);
    let config = SseConfig::new().keep_alive(KeepAlive::disabled());
    let mut body = Box::pin(SseBody::with_config(stream::iter(vec![event; 20]), &config));

    assert_eq!(next_data(&mut body).await.unwrap(), OPENING);
    assert_eq!(next_data(&mut body).await.unwrap().len(), 16 * 1024);
    assert_eq!(next_data(&mut body).await.unwrap().len(), 4 * 1024);
    assert_eq!(next_data(&mut body).await, None);
}

#[tokio::test]
async fn coalescing_zero_sends_each_event_as_its_own_frame() {
    let events = [Event::data("a"), Event::data("b")];
    let config = SseConfig::new()
        .keep_alive(KeepAlive::disabled())
        .coalesce(0);
    let mut body = Box::pin(SseBody::with_config(stream::iter(events), &config));

    assert_eq!(next_data(&mut body).await.unwrap(), OPENING);
    assert_eq!(next_data(&mut body).await.unwrap(), "data: a\n\n");
    assert_eq!(next_data(&mut body).await.unwrap(), "data: b\n\n");
    assert_eq!(next_data(&mut body).await, None);
}

#[tokio::test]
async fn an_event_ready_alone_is_not_copied_even_with_coalescing_on() {
    let (tx, mut body) = pushed(&SseConfig::new());
    let event = Event::data("alone");
    tx.send(event.clone()).unwrap();

    assert_eq!(next_data(&mut body).await.unwrap(), OPENING);
    let data = next_data(&mut body).await.unwrap();
    assert_eq!(data.as_ptr(), event.as_bytes().as_ptr());
}

#[tokio::test]
async fn an_event_larger_than_the_bound_is_not_copied() {
    let big = Event::data(&"x".repeat(100));
    let events = [Event::data("small"), big.clone(), Event::data("small")];
    let config = SseConfig::new()
        .keep_alive(KeepAlive::disabled())
        .coalesce(64);
    let mut body = Box::pin(SseBody::with_config(stream::iter(events), &config));

    assert_eq!(next_data(&mut body).await.unwrap(), OPENING);
    assert_eq!(next_data(&mut body).await.unwrap(), "data: small\n\n");
    let data = next_data(&mut body).await.unwrap();
    assert_eq!(data.as_ptr(), big.as_bytes().as_ptr());
    assert_eq!(next_data(&mut body).await.unwrap(), "data: small\n\n");
    assert_eq!(next_data(&mut body).await, None);
}

#[tokio::test]
async fn an_error_while_coalescing_sends_the_gathered_events_then_the_error_event() {
    let items: Vec<Result<Event, io::Error>> = vec![
        Ok(Event::data("a")),
        Ok(Event::data("b")),
        Err(io::Error::other("broke")),
    ];
    let config = SseConfig::new()
        .keep_alive(KeepAlive::disabled())
        .error_event(|_| Some(Event::comment("failed")));
    let mut body = Box::pin(SseBody::with_config(stream::iter(items), &config));

    assert_eq!(next_data(&mut body).await.unwrap(), OPENING);
    assert_eq!(
        next_data(&mut body).await.unwrap(),
        "data: a\n\ndata: b\n\n"
    );
    assert_eq!(next_data(&mut body).await.unwrap(), ":failed\n\n");
    assert_eq!(next_data(&mut body).await, None);
}

#[tokio::test(start_paused = true)]
async fn a_burst_pushes_the_keep_alive_back_from_its_end() {
    let config = SseConfig::new().keep_alive(KeepAlive::new().interval(Duration::from_secs(15)));
    let (tx, mut body) = pushed(&config);
    let start = Instant::now();
    let sender = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(4)).await;
        for n in 0..3 {
            tx.send(Event::data(&n.to_string())).unwrap();
        }
        tx
    });

    assert_eq!(next_data(&mut body).await.unwrap(), OPENING);
    assert_eq!(
        next_data(&mut body).await.unwrap(),
        "data: 0\n\ndata: 1\n\ndata: 2\n\n"
    );
    assert_eq!(next_data(&mut body).await.unwrap(), ":\n\n");
    assert_eq!(start.elapsed(), Duration::from_secs(19));
    drop(sender);
}

#[tokio::test(start_paused = true)]
async fn a_stream_that_panics_ends_the_body_cleanly_with_the_error_event() {
    let mut sent = false;
    let events = futures_util::stream::poll_fn(move |_cx| {
        if std::mem::replace(&mut sent, true) {
            panic!("bug in the feed");
        }
        std::task::Poll::Ready(Some(Event::data("one")))
    });
    let config = no_keep_alive().coalesce(0).error_event(|error| {
        let panicked = error.downcast_ref::<ssekit_tower::StreamPanicked>()?;
        Event::builder()
            .event("error")
            .data(panicked.message().unwrap_or_default())
            .build()
            .ok()
    });
    let body = SseBody::with_config(events, &config);
    let bytes = body.collect().await.unwrap().to_bytes();
    assert_eq!(
        bytes,
        "data: one\n\nevent: error\ndata: bug in the feed\n\n"
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_sends_an_event_held_over_from_a_coalesced_frame_before_the_final_event() {
    let token = tokio_util::sync::CancellationToken::new();
    let config = no_keep_alive().coalesce(12).shutdown(
        Shutdown::new(token.clone())
            .retry(one_second())
            .final_event(Event::comment("bye")),
    );
    let (tx, mut body) = pushed(&config);
    tx.send(Event::data("one")).unwrap();
    tx.send(Event::data("two")).unwrap();
    // "data: one\n\n" is 11 bytes: "two" does not fit and is held over.
    assert_eq!(next_data(&mut body).await.unwrap(), "data: one\n\n");
    token.cancel();
    let rest = body.collect().await.unwrap().to_bytes();
    assert_eq!(rest, "data: two\n\nretry: 1000\n\n:bye\n\n");
}
