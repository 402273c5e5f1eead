//! The behaviour suite every framework adapter passes, over the framework's
//! own server on a loopback listener.
//!
//! An adapter's test file writes one `serve(Fixture) -> Served` that serves
//! these routes with the framework's server until [`Fixture::shutdown`] is
//! cancelled (then shuts down gracefully), and expands
//! [`adapter_suite!`](crate::adapter_suite!) with it: one `#[tokio::test]` per
//! rule below, named after it.
//!
//! | route | answers |
//! |---|---|
//! | `/numbered` | `SseResponse` over [`numbered_after`] the request's `LastEventId` |
//! | `/idle` | a pending stream with [`fast_keep_alive`] |
//! | `/closing` | a pending stream with [`closing`] of [`Fixture::shutdown`] |
//! | `/pushed` | [`pushed`] from [`Fixture::senders`], keep-alive disabled |
//! | `/not-sync` | [`not_sync`] |
//! | `/events?topic=…` | `SseResponse::subscribe` to the `Topics` extracted, after the `LastEventId`, on [`Fixture::broker`]; a refusal returned with `?` as the adapter's `Error` |
//! | `/private?topic=…` | the same through `subscribe_authorized` with [`by_token`](crate::private::by_token) |

use std::cell::Cell;
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::stream::{self, Stream, StreamExt};
use http::Response;
use hyper::body::Incoming;
use ssekit_core::Event;
use ssekit_core::broker::Broker;
use ssekit_tower::{KeepAlive, LastEventId, Shutdown};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::{
    Client, FrameReader, GzipLines, gzip_lines, next_line_promptly, private, subscriptions_become,
    text, within,
};

/// What an adapter's routes serve from.
#[derive(Clone)]
pub struct Fixture {
    /// The broker of `/events` and `/private`.
    pub broker: Broker,
    /// Ends `/closing`'s streams and, once cancelled, the server.
    pub shutdown: CancellationToken,
    /// Where each `/pushed` request sends the sender of its stream.
    pub senders: mpsc::UnboundedSender<mpsc::UnboundedSender<Event>>,
}

/// A server an adapter started: its address and its task, which ends once
/// the server has shut down.
pub struct Served {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The server's task.
    pub server: JoinHandle<()>,
}

/// What serves a [`Fixture`]: an adapter's `serve` function.
pub trait Serve {
    /// Serves `fixture`'s routes.
    fn serve(&self, fixture: Fixture) -> impl Future<Output = Served>;
}

impl<F, Fut> Serve for F
where
    F: Fn(Fixture) -> Fut,
    Fut: Future<Output = Served>,
{
    fn serve(&self, fixture: Fixture) -> impl Future<Output = Served> {
        self(fixture)
    }
}

/// `GET path` with `headers` on a new server's new connection.
async fn get(serve: impl Serve, path: &str, headers: &[(&str, &[u8])]) -> Response<Incoming> {
    Client::connect(addr(serve).await)
        .await
        .get(path, headers)
        .await
}

/// A fixture over `broker`, and the receiver of its `/pushed` senders.
pub fn fixture(
    broker: Broker,
) -> (
    Fixture,
    mpsc::UnboundedReceiver<mpsc::UnboundedSender<Event>>,
) {
    let (senders, senders_rx) = mpsc::unbounded_channel();
    let fixture = Fixture {
        broker,
        shutdown: CancellationToken::new(),
        senders,
    };
    (fixture, senders_rx)
}

/// Event `n`: id `n`, data `event n`.
pub fn numbered(n: u64) -> Event {
    Event::builder()
        .id(n.to_string())
        .data(format!("event {n}"))
        .build()
        .unwrap()
}

/// Three numbered events after `last_event_id` (from 0 without a number),
/// then the end.
pub fn numbered_after(last_event_id: &LastEventId) -> impl Stream<Item = Event> + Send + use<> {
    let last = last_event_id.as_str().and_then(|id| id.parse::<u64>().ok());
    let start = last.and_then(|id| id.checked_add(1)).unwrap_or(0);
    stream::iter((start..start.saturating_add(3)).map(numbered))
}

/// A keep-alive comment every 50 ms.
pub fn fast_keep_alive() -> KeepAlive {
    KeepAlive::new().interval(Duration::from_millis(50))
}

/// Ends a stream with the comment `bye` when `token` is cancelled.
pub fn closing(token: &CancellationToken) -> Shutdown {
    Shutdown::new(token.clone()).final_event(Event::comment("bye"))
}

/// A stream fed by the sender it sends to `senders`.
pub fn pushed(
    senders: &mpsc::UnboundedSender<mpsc::UnboundedSender<Event>>,
) -> impl Stream<Item = Event> + Send + use<> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    senders.send(tx).unwrap();
    stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Events 0 and 1 from a stream that is `Send` but not `Sync`.
pub fn not_sync() -> impl Stream<Item = Event> + Send + use<> {
    let seen = Cell::new(0);
    stream::iter(0..2).map(move |n| {
        seen.set(seen.get() + 1);
        numbered(n)
    })
}

/// Serves a fixture over `broker` with `serve`.
async fn start(serve: impl Serve, broker: Broker) -> (Served, Fixture) {
    let (fixture, _senders) = fixture(broker);
    (serve.serve(fixture.clone()).await, fixture)
}

/// The address of a new server over a new broker.
async fn addr(serve: impl Serve) -> SocketAddr {
    start(serve, Broker::new()).await.0.addr
}

/// Expands to one `#[tokio::test]` per rule of the suite, each serving
/// with `$serve`.
#[macro_export]
macro_rules! adapter_suite {
    ($serve:path) => {
        $crate::adapter_suite!(@rules $serve;
            the_response_has_the_event_stream_headers,
            events_arrive_in_order_and_the_end_of_the_stream_ends_the_response,
            an_idle_stream_gets_keep_alive_comments,
            resume_with_the_last_event_id_header,
            resume_with_the_last_event_id_query_parameter,
            the_header_wins_over_the_query_parameter,
            an_invalid_last_event_id_header_opens_the_stream_with_a_reset,
            an_invalid_last_event_id_query_parameter_opens_the_stream_with_a_reset,
            graceful_shutdown_ends_open_streams_within_a_second,
            a_stream_that_is_not_sync_is_served,
            resume_from_the_broker_with_the_last_event_id_header,
            resume_from_the_broker_with_the_last_event_id_query_parameter,
            the_subscriber_count_is_back_to_0_after_the_client_disconnects,
            beyond_the_admission_limit_a_subscription_is_503_with_retry_after,
            missing_or_invalid_topics_are_400_with_the_reason,
            private_events_reach_only_the_clients_the_hook_authorized,
        );
    };
    (@rules $serve:path; $($rule:ident,)*) => {
        $(
            #[::tokio::test]
            async fn $rule() {
                $crate::adapter_suite::$rule($serve).await;
            }
        )*
    };
}

/// `/numbered` carries the event stream headers and no length.
pub async fn the_response_has_the_event_stream_headers(serve: impl Serve) {
    let response = get(serve, "/numbered", &[]).await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(
        response.headers()["cache-control"],
        "no-cache, no-transform"
    );
    assert_eq!(response.headers()["x-accel-buffering"], "no");
    assert!(!response.headers().contains_key("content-length"));
}

/// `/numbered` sends its three events in order, then ends.
pub async fn events_arrive_in_order_and_the_end_of_the_stream_ends_the_response(serve: impl Serve) {
    let response = get(serve, "/numbered", &[]).await;

    assert_eq!(
        text(response).await,
        "id: 0\ndata: event 0\n\nid: 1\ndata: event 1\n\nid: 2\ndata: event 2\n\n"
    );
}

/// `/idle` sends keep-alive comments.
pub async fn an_idle_stream_gets_keep_alive_comments(serve: impl Serve) {
    let response = get(serve, "/idle", &[]).await;
    let mut frames = FrameReader::new(response);

    assert_eq!(frames.next().await.unwrap(), ":\n\n");
    assert_eq!(frames.next().await.unwrap(), ":\n\n");
}

/// The events after id 41 of `/numbered`.
const AFTER_41: &str =
    "id: 42\ndata: event 42\n\nid: 43\ndata: event 43\n\nid: 44\ndata: event 44\n\n";

/// `Last-Event-ID: 41` resumes `/numbered` at 42.
pub async fn resume_with_the_last_event_id_header(serve: impl Serve) {
    let response = get(serve, "/numbered", &[("last-event-id", b"41")]).await;

    assert_eq!(text(response).await, AFTER_41);
}

/// `?lastEventId=41` resumes `/numbered` at 42.
pub async fn resume_with_the_last_event_id_query_parameter(serve: impl Serve) {
    let response = get(serve, "/numbered?lastEventId=41", &[]).await;

    assert_eq!(text(response).await, AFTER_41);
}

/// With both, the header is the id.
pub async fn the_header_wins_over_the_query_parameter(serve: impl Serve) {
    let response = get(
        serve,
        "/numbered?lastEventId=7",
        &[("last-event-id", b"41")],
    )
    .await;
    let mut frames = FrameReader::new(response);

    assert_eq!(frames.next().await.unwrap(), "id: 42\ndata: event 42\n\n");
}

/// Asks `/events?topic=chat` with `path_query` and `headers` after one
/// publish, and checks that the stream opens with the broker's reset
/// notice and replays nothing.
async fn assert_opens_with_a_reset(serve: impl Serve, query: &str, headers: &[(&str, &[u8])]) {
    let (served, fixture) = start(serve, Broker::new()).await;
    fixture
        .broker
        .publish("chat", Event::data("old"))
        .await
        .unwrap();
    let path = format!("/events?topic=chat{query}");
    let response = Client::connect(served.addr).await.get(&path, headers).await;

    assert_eq!(response.status(), 200);
    let first = FrameReader::new(response).next().await.unwrap();
    assert!(first.starts_with("event: reset\n"), "{first:?}");
    assert!(!first.contains("old"), "nothing is replayed: {first:?}");
}

/// A `Last-Event-ID` that is not UTF-8 is an id the broker cannot place:
/// `200`, and the stream opens with its `reset` notice.
pub async fn an_invalid_last_event_id_header_opens_the_stream_with_a_reset(serve: impl Serve) {
    assert_opens_with_a_reset(serve, "", &[("last-event-id", b"caf\xe9")]).await;
}

/// A `lastEventId` with a line break opens the stream with the `reset`
/// notice.
pub async fn an_invalid_last_event_id_query_parameter_opens_the_stream_with_a_reset(
    serve: impl Serve,
) {
    assert_opens_with_a_reset(serve, "&lastEventId=a%0Ab", &[]).await;
}

/// Cancelling the shutdown token ends two open `/closing` streams with
/// their final event, and the server stops within a second.
pub async fn graceful_shutdown_ends_open_streams_within_a_second(serve: impl Serve) {
    let (served, fixture) = start(serve, Broker::new()).await;
    let mut first = FrameReader::new(
        Client::connect(served.addr)
            .await
            .get("/closing", &[])
            .await,
    );
    let mut second = FrameReader::new(
        Client::connect(served.addr)
            .await
            .get("/closing", &[])
            .await,
    );

    let started = Instant::now();
    fixture.shutdown.cancel();
    within("the server to stop", served.server).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(first.next().await.unwrap(), ":bye\n\n");
    assert_eq!(first.next().await, None);
    assert_eq!(second.next().await.unwrap(), ":bye\n\n");
    assert_eq!(second.next().await, None);
}

/// `/not-sync` serves a stream that is not `Sync`.
pub async fn a_stream_that_is_not_sync_is_served(serve: impl Serve) {
    let response = get(serve, "/not-sync", &[]).await;

    assert_eq!(
        text(response).await,
        "id: 0\ndata: event 0\n\nid: 1\ndata: event 1\n\n"
    );
}

/// `GET /pushed` with `Accept-Encoding: gzip` on a new server, and the
/// sender that feeds its stream.
async fn get_pushed_with_gzip(
    serve: impl Serve,
) -> (Response<Incoming>, mpsc::UnboundedSender<Event>) {
    let (fixture, mut senders) = fixture(Broker::new());
    let served = serve.serve(fixture).await;
    let response = Client::connect(served.addr)
        .await
        .get("/pushed", &[("accept-encoding", b"gzip")])
        .await;
    (
        response,
        within("the stream", senders.recv()).await.unwrap(),
    )
}

/// `/pushed` with `Accept-Encoding: gzip` (served by `serve`, which puts
/// the framework's compression on other routes or none) comes
/// uncompressed, each event at once while the stream stays open.
pub async fn assert_pushed_events_arrive_uncompressed_and_promptly(serve: impl Serve) {
    let (response, tx) = get_pushed_with_gzip(serve).await;
    assert!(!response.headers().contains_key("content-encoding"));
    let mut frames = FrameReader::new(response);

    for n in 0..3 {
        tx.send(numbered(n)).unwrap();
        assert_eq!(
            frames.next_promptly().await.unwrap(),
            format!("id: {n}\ndata: event {n}\n\n")
        );
    }
}

/// `/pushed` under the framework's gzip compression (served so by `serve`)
/// is compressed, and each event comes out of the compressor before the
/// next one exists, while the stream stays open.
pub async fn assert_gzip_events_arrive_promptly(serve: impl Serve) {
    let (response, tx) = get_pushed_with_gzip(serve).await;
    assert_eq!(response.headers()["content-encoding"], "gzip");
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut lines: GzipLines = gzip_lines(response);

    for n in 0..3 {
        tx.send(numbered(n)).unwrap();
        assert_eq!(next_line_promptly(&mut lines).await, format!("id: {n}"));
        assert_eq!(
            next_line_promptly(&mut lines).await,
            format!("data: event {n}")
        );
        assert_eq!(next_line_promptly(&mut lines).await, "");
    }
}

/// Publishes `a`, `b`, `c` to `chat` and returns their ids.
async fn publish_three(broker: &Broker) -> Vec<String> {
    let mut ids = Vec::new();
    for data in ["a", "b", "c"] {
        let id = broker.publish("chat", Event::data(data)).await.unwrap();
        ids.push(id.to_string());
    }
    ids
}

/// `/events` with the first of three ids in `Last-Event-ID` replays the
/// other two.
pub async fn resume_from_the_broker_with_the_last_event_id_header(serve: impl Serve) {
    let (served, fixture) = start(serve, Broker::new()).await;
    let ids = publish_three(&fixture.broker).await;
    let response = Client::connect(served.addr)
        .await
        .get(
            "/events?topic=chat",
            &[("last-event-id", ids[0].as_bytes())],
        )
        .await;
    let mut frames = FrameReader::new(response);

    assert_eq!(
        frames.next().await.unwrap(),
        format!("data: b\nid: {}\n\n", ids[1])
    );
    assert_eq!(
        frames.next().await.unwrap(),
        format!("data: c\nid: {}\n\n", ids[2])
    );
}

/// `/events?lastEventId=` the second of three ids replays the third, then
/// streams a live event.
pub async fn resume_from_the_broker_with_the_last_event_id_query_parameter(serve: impl Serve) {
    let (served, fixture) = start(serve, Broker::new()).await;
    let ids = publish_three(&fixture.broker).await;
    let path = format!("/events?topic=chat&lastEventId={}", ids[1]);
    let mut frames = FrameReader::new(Client::connect(served.addr).await.get(&path, &[]).await);

    assert_eq!(
        frames.next().await.unwrap(),
        format!("data: c\nid: {}\n\n", ids[2])
    );
    let id = fixture
        .broker
        .publish("chat", Event::data("d"))
        .await
        .unwrap();
    assert_eq!(
        frames.next().await.unwrap(),
        format!("data: d\nid: {id}\n\n")
    );
}

/// A client that disconnects leaves no subscription behind.
pub async fn the_subscriber_count_is_back_to_0_after_the_client_disconnects(serve: impl Serve) {
    let (served, fixture) = start(serve, Broker::new()).await;
    let mut client = Client::connect(served.addr).await;
    let response = client.get("/events?topic=chat", &[]).await;
    assert_eq!(response.status(), 200);
    subscriptions_become(&fixture.broker, 1).await;

    drop(response);
    client.disconnect();
    subscriptions_become(&fixture.broker, 0).await;
}

/// With one subscriber per topic, a second client gets `503` with
/// `Retry-After` and a reason naming the topic; once the first leaves, a
/// new client is admitted.
pub async fn beyond_the_admission_limit_a_subscription_is_503_with_retry_after(serve: impl Serve) {
    let broker = Broker::builder().max_subscribers_per_topic(1).build();
    let (served, fixture) = start(serve, broker).await;
    let (addr, broker) = (served.addr, &fixture.broker);
    let mut first = Client::connect(addr).await;
    let held = first.get("/events?topic=chat", &[]).await;
    assert_eq!(held.status(), 200);
    subscriptions_become(broker, 1).await;

    let refused = Client::connect(addr)
        .await
        .get("/events?topic=chat", &[])
        .await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "5");
    let reason = text(refused).await;
    assert!(reason.contains("topic \"chat\""), "{reason}");

    drop(held);
    first.disconnect();
    subscriptions_become(broker, 0).await;
    let again = Client::connect(addr)
        .await
        .get("/events?topic=chat", &[])
        .await;
    assert_eq!(again.status(), 200, "the place is free again");
}

/// `/events` without a topic, or with an empty one, is `400` with the
/// reason as plain text.
pub async fn missing_or_invalid_topics_are_400_with_the_reason(serve: impl Serve) {
    let addr = addr(serve).await;
    for (path, reason) in [
        ("/events", "no topic given (add ?topic=…)"),
        ("/events?topic=", "a topic is empty"),
    ] {
        let response = Client::connect(addr).await.get(path, &[]).await;
        assert_eq!(response.status(), 400, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "text/plain; charset=utf-8"
        );
        assert_eq!(text(response).await, reason);
    }
}

/// `/private` gives private events only to the clients the hook granted
/// them, live and replayed, and refuses with `401` and `403`.
pub async fn private_events_reach_only_the_clients_the_hook_authorized(serve: impl Serve) {
    let (served, fixture) = start(serve, Broker::new()).await;
    private::assert_private_events_reach_only_authorized(served.addr, &fixture.broker).await;
}
