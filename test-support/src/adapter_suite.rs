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
//!
//! Every stream opens with [`OPENING`] (`retry: 3000`, the routes keep the
//! default); a refusal that passes (a full limit, a broker shut down) is
//! answered `200` with a jittered `retry:` and an `unavailable` notice, so
//! that a browser keeps reconnecting; a final one (`400`, `401`, `403`) is
//! its status with the reason as text.

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
    Client, FrameReader, GzipLines, OPENING, gzip_lines, next_line_promptly, private,
    subscriptions_become, text, within,
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
            a_full_admission_limit_is_answered_200_with_a_retry_and_a_notice,
            a_broker_that_shut_down_is_answered_200_with_a_retry,
            a_stream_served_normally_restores_the_usual_retry_first,
            missing_or_invalid_topics_are_400_with_the_reason,
            missing_topics_are_still_400,
            an_unauthenticated_request_is_still_401,
            forbidden_topics_are_still_403,
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

/// `/numbered` opens with the usual retry, sends its three events in
/// order, then ends.
pub async fn events_arrive_in_order_and_the_end_of_the_stream_ends_the_response(serve: impl Serve) {
    let response = get(serve, "/numbered", &[]).await;

    assert_eq!(
        text(response).await,
        "retry: 3000\n\n\
         id: 0\ndata: event 0\n\nid: 1\ndata: event 1\n\nid: 2\ndata: event 2\n\n"
    );
}

/// `/idle` sends keep-alive comments.
pub async fn an_idle_stream_gets_keep_alive_comments(serve: impl Serve) {
    let response = get(serve, "/idle", &[]).await;
    let mut frames = FrameReader::opened(response).await;

    assert_eq!(frames.next().await.unwrap(), ":\n\n");
    assert_eq!(frames.next().await.unwrap(), ":\n\n");
}

/// `/numbered` after id 41: the opening, then events 42 to 44.
const AFTER_41: &str = "retry: 3000\n\n\
    id: 42\ndata: event 42\n\nid: 43\ndata: event 43\n\nid: 44\ndata: event 44\n\n";

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
    let mut frames = FrameReader::opened(response).await;

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
    let first = FrameReader::opened(response).await.next().await.unwrap();
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

/// Cancelling the shutdown token ends two open `/closing` streams with a
/// `retry:` each draws from `Shutdown::DEFAULT_RETRY` (1 s plus up to 4 s)
/// and their final event, and the server stops within a second.
pub async fn graceful_shutdown_ends_open_streams_within_a_second(serve: impl Serve) {
    let (served, fixture) = start(serve, Broker::new()).await;
    let mut streams = Vec::new();
    for _ in 0..2 {
        let response = Client::connect(served.addr)
            .await
            .get("/closing", &[])
            .await;
        streams.push(FrameReader::opened(response).await);
    }

    let started = Instant::now();
    fixture.shutdown.cancel();
    within("the server to stop", served.server).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    for mut frames in streams {
        let retry = retry_ms(&frames.next().await.unwrap());
        assert!((1000..=5000).contains(&retry), "retry: {retry}");
        assert_eq!(frames.next().await.unwrap(), ":bye\n\n");
        assert_eq!(frames.next().await, None);
    }
}

/// The milliseconds of a frame that is only `retry: <ms>`.
fn retry_ms(frame: &str) -> u64 {
    frame
        .strip_prefix("retry: ")
        .and_then(|rest| rest.strip_suffix("\n\n"))
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("a retry alone, not {frame:?}"))
}

/// `/not-sync` serves a stream that is not `Sync`.
pub async fn a_stream_that_is_not_sync_is_served(serve: impl Serve) {
    let response = get(serve, "/not-sync", &[]).await;

    assert_eq!(
        text(response).await,
        "retry: 3000\n\nid: 0\ndata: event 0\n\nid: 1\ndata: event 1\n\n"
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
    assert_eq!(frames.next_promptly().await.unwrap(), OPENING);

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

    // The opening comes out of the compressor before any event exists.
    for line in OPENING.lines() {
        assert_eq!(next_line_promptly(&mut lines).await, line);
    }
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
    let mut frames = FrameReader::opened(response).await;

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
    let mut frames =
        FrameReader::opened(Client::connect(served.addr).await.get(&path, &[]).await).await;

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

/// What a refusal that passes is answered with: `200` text/event-stream,
/// its own status in `sse-refusal`, and a body of one event that sets the
/// retry and names the reason.
struct Unavailable {
    /// The `retry:` of the event, in milliseconds.
    retry: u64,
    /// The `reason` of its data.
    reason: String,
}

/// Checks that `response` answers a refusal whose own status is `status`
/// as a browser-safe notice: `200`, `content-type: text/event-stream`,
/// `sse-refusal: <status>`, `retry-after` the retry in seconds rounded up,
/// and a body that ends after exactly one event, made of a `retry:` from
/// `Unavailable::DEFAULT_RETRY` (5 s plus up to 5 s), `event: unavailable`
/// and `data: {"reason":…,"retry":<the same ms>}`, without an `id:` (the
/// browser keeps the last id it had).
async fn assert_unavailable(response: Response<Incoming>, status: u16) -> Unavailable {
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "text/event-stream");
    assert_eq!(headers["sse-refusal"], status.to_string().as_str());
    let body = text(response).await;

    let event = body
        .strip_suffix("\n\n")
        .filter(|event| !event.contains("\n\n"))
        .unwrap_or_else(|| panic!("exactly one event: {body:?}"));
    let (mut retry, mut name, mut data) = (None, None, None);
    for line in event.lines() {
        let (field, value) = line
            .split_once(": ")
            .unwrap_or_else(|| panic!("a field, not {line:?}: {body:?}"));
        let slot = match field {
            "retry" => &mut retry,
            "event" => &mut name,
            "data" => &mut data,
            _ => panic!("no {field:?} field (no id: above all): {body:?}"),
        };
        assert!(slot.replace(value).is_none(), "one {field}: {body:?}");
    }
    let retry: u64 = retry
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("a retry: {body:?}"));
    assert!((5000..=10_000).contains(&retry), "retry: {retry}");
    assert_eq!(name, Some("unavailable"), "{body:?}");
    assert_eq!(
        headers["retry-after"],
        retry.div_ceil(1000).to_string().as_str()
    );

    let data = data.unwrap_or_else(|| panic!("data: {body:?}"));
    let reason = data
        .strip_prefix("{\"reason\":\"")
        .and_then(|rest| rest.strip_suffix(&format!("\",\"retry\":{retry}}}")))
        .unwrap_or_else(|| panic!("the reason and the same retry, not {data:?}"));
    Unavailable {
        retry,
        // JSON's escapes of the reasons below: quotes only.
        reason: reason.replace("\\\"", "\""),
    }
}

/// With one subscriber per topic, a second client is answered `200` with a
/// `retry:` and an `unavailable` notice naming the topic, since an
/// `EventSource` given `503` stops for good; once the first leaves, a new
/// client is admitted.
pub async fn a_full_admission_limit_is_answered_200_with_a_retry_and_a_notice(serve: impl Serve) {
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
    let notice = assert_unavailable(refused, 503).await;
    assert_eq!(
        notice.reason,
        "topic \"chat\" already has its maximum of 1 subscribers"
    );
    assert_eq!(
        broker.stats().subscriptions,
        1,
        "the refused one holds none"
    );

    drop(held);
    first.disconnect();
    subscriptions_become(broker, 0).await;
    let again = Client::connect(addr)
        .await
        .get("/events?topic=chat", &[])
        .await;
    assert_eq!(again.status(), 200, "the place is free again");
}

/// After `Broker::shutdown`, a subscription is answered `200` with a
/// `retry:` and an `unavailable` notice: the next process will serve it.
pub async fn a_broker_that_shut_down_is_answered_200_with_a_retry(serve: impl Serve) {
    let (served, fixture) = start(serve, Broker::new()).await;
    fixture.broker.shutdown(None);

    let refused = Client::connect(served.addr)
        .await
        .get("/events?topic=chat", &[])
        .await;
    let notice = assert_unavailable(refused, 503).await;
    assert_eq!(notice.reason, "the broker has been shut down");
}

/// A client refused while the limit is full, that comes back once there is
/// room, gets a stream whose first frame restores the usual `retry: 3000`
/// over the longer retry of the refusal, then the events.
pub async fn a_stream_served_normally_restores_the_usual_retry_first(serve: impl Serve) {
    let broker = Broker::builder().max_subscribers_per_topic(1).build();
    let (served, fixture) = start(serve, broker).await;
    let (addr, broker) = (served.addr, &fixture.broker);
    let mut first = Client::connect(addr).await;
    let held = first.get("/events?topic=chat", &[]).await;
    subscriptions_become(broker, 1).await;
    let refused = Client::connect(addr)
        .await
        .get("/events?topic=chat", &[])
        .await;
    let notice = assert_unavailable(refused, 503).await;
    assert!(notice.retry > 3000, "the refusal asked for longer");
    drop(held);
    first.disconnect();
    subscriptions_become(broker, 0).await;

    let again = Client::connect(addr)
        .await
        .get("/events?topic=chat", &[])
        .await;
    assert_eq!(again.status(), 200);
    let mut frames = FrameReader::new(again);
    assert_eq!(frames.next().await.unwrap(), "retry: 3000\n\n");
    subscriptions_become(broker, 1).await;
    let id = broker.publish("chat", Event::data("back")).await.unwrap();
    assert_eq!(
        frames.next().await.unwrap(),
        format!("data: back\nid: {id}\n\n")
    );
}

/// Checks that `response` is a final refusal as before: `status`, the
/// reason as plain text, and none of the headers of a refusal that passes.
async fn assert_final_refusal(response: Response<Incoming>, status: u16, reason: &str) {
    assert_eq!(response.status(), status);
    let headers = response.headers();
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    assert!(!headers.contains_key("sse-refusal"), "{headers:?}");
    assert!(!headers.contains_key("retry-after"), "{headers:?}");
    assert_eq!(text(response).await, reason);
}

/// `/events` without a topic is still `400` with the reason as text: no
/// retry would help.
pub async fn missing_topics_are_still_400(serve: impl Serve) {
    let response = get(serve, "/events", &[]).await;

    assert_final_refusal(response, 400, "no topic given (add ?topic=…)").await;
}

/// `/private` without a token is still `401` with `WWW-Authenticate:
/// Bearer` and the reason as text.
pub async fn an_unauthenticated_request_is_still_401(serve: impl Serve) {
    let response = get(serve, "/private?topic=orders", &[]).await;

    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_final_refusal(response, 401, "no valid credentials for this subscription").await;
}

/// `/private` asking for a topic the hook forbids is still `403` with the
/// reason as text.
pub async fn forbidden_topics_are_still_403(serve: impl Serve) {
    let response = get(serve, "/private?topic=orders&topic=admin&token=guest", &[]).await;

    assert!(!response.headers().contains_key("www-authenticate"));
    assert_final_refusal(response, 403, "not allowed to read topic \"admin\"").await;
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
        assert_final_refusal(response, 400, reason).await;
    }
}

/// `/private` gives private events only to the clients the hook granted
/// them, live and replayed, and refuses with `401` and `403`.
pub async fn private_events_reach_only_the_clients_the_hook_authorized(serve: impl Serve) {
    let (served, fixture) = start(serve, Broker::new()).await;
    private::assert_private_events_reach_only_authorized(served.addr, &fixture.broker).await;
}
