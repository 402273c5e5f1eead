//! What ssekit-tower reports through the `metrics` facade (feature
//! `metrics`): open streams and their ends by reason, refusals by kind,
//! write-deadline evictions.
//!
//! Each test records with its own recorder, set for its thread (the tests
//! run on current-thread runtimes), so that tests running at once do not
//! see each other's figures.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::task::Poll;
use std::time::Duration;

use http_body_util::BodyExt;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use ssekit_core::Event;
use ssekit_core::broker::BrokerError;
use ssekit_tower::{
    Denied, InvalidTopics, KeepAlive, Refusal, Refused, SseBody, SseConfig, Topics, Unavailable,
    WriteDeadline, refusal,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// Every series as `name{label=value,…}` → its value, summed over the
/// snapshots taken (the debugging recorder reports changes since the last
/// snapshot).
struct Figures {
    snapshotter: Snapshotter,
    totals: HashMap<String, f64>,
}

impl Figures {
    fn new(recorder: &DebuggingRecorder) -> Self {
        Figures {
            snapshotter: recorder.snapshotter(),
            totals: HashMap::new(),
        }
    }

    /// The totals now.
    fn now(&mut self) -> &HashMap<String, f64> {
        for (key, _, _, value) in self.snapshotter.snapshot().into_vec() {
            let key = key.key();
            let labels: Vec<String> = key
                .labels()
                .map(|label| format!("{}={}", label.key(), label.value()))
                .collect();
            let value = match value {
                DebugValue::Counter(n) => n as f64,
                DebugValue::Gauge(n) => n.into_inner(),
                DebugValue::Histogram(_) => f64::NAN,
            };
            *self
                .totals
                .entry(format!("{}{{{}}}", key.name(), labels.join(",")))
                .or_default() += value;
        }
        &self.totals
    }

    /// One series' total now, 0 if never reported.
    fn get(&mut self, series: &str) -> f64 {
        self.now().get(series).copied().unwrap_or(0.0)
    }
}

fn config() -> SseConfig {
    SseConfig::new().keep_alive(KeepAlive::disabled())
}

#[tokio::test(flavor = "current_thread")]
async fn a_stream_counts_open_until_it_ends_and_its_end_is_counted_by_reason() {
    let recorder = DebuggingRecorder::new();
    let _local = metrics::set_default_local_recorder(&recorder);
    let mut figures = Figures::new(&recorder);

    let body = SseBody::with_config(futures_util::stream::iter([Event::data("a")]), &config());
    assert_eq!(figures.get("sse_streams_open{}"), 1.0);
    body.collect().await.unwrap();
    assert_eq!(figures.get("sse_streams_open{}"), 0.0);
    assert_eq!(figures.get("sse_streams_closed_total{reason=end}"), 1.0);
}

#[tokio::test(flavor = "current_thread")]
async fn each_end_reason_is_counted() {
    let recorder = DebuggingRecorder::new();
    let _local = metrics::set_default_local_recorder(&recorder);
    let mut figures = Figures::new(&recorder);

    // error
    let failing = futures_util::stream::iter([Err::<Event, _>(io::Error::other("down"))]);
    SseBody::with_config(failing, &config())
        .collect()
        .await
        .unwrap();
    // panic
    let panics = futures_util::stream::poll_fn(|_| -> Poll<Option<Event>> { panic!("oops") });
    SseBody::with_config(panics, &config())
        .collect()
        .await
        .unwrap();
    // shutdown
    let token = CancellationToken::new();
    token.cancel();
    let pending = futures_util::stream::pending::<Event>();
    SseBody::with_config(pending, &config().shutdown(token))
        .collect()
        .await
        .unwrap();
    // disconnect: dropped before its end, whether polled or not
    let mut polled = Box::pin(SseBody::with_config(
        futures_util::stream::pending::<Event>(),
        &config(),
    ));
    let _retry = polled.frame().await;
    drop(polled);
    drop(SseBody::with_config(
        futures_util::stream::pending::<Event>(),
        &config(),
    ));

    let now = figures.now();
    assert_eq!(now["sse_streams_closed_total{reason=error}"], 1.0);
    assert_eq!(now["sse_streams_closed_total{reason=panic}"], 1.0);
    assert_eq!(now["sse_streams_closed_total{reason=shutdown}"], 1.0);
    assert_eq!(now["sse_streams_closed_total{reason=disconnect}"], 2.0);
    assert_eq!(now["sse_streams_open{}"], 0.0);
}

#[tokio::test(flavor = "current_thread")]
async fn a_stream_taken_back_is_no_longer_open_and_not_counted_closed() {
    let recorder = DebuggingRecorder::new();
    let _local = metrics::set_default_local_recorder(&recorder);
    let mut figures = Figures::new(&recorder);

    let body = SseBody::new(futures_util::stream::pending::<Event>());
    let _stream = body.into_inner();
    // An empty default body is no stream.
    drop(SseBody::<futures_util::stream::Pending<Event>>::default());

    let now = figures.now();
    assert_eq!(now["sse_streams_open{}"], 0.0);
    let closed: Vec<&String> = now
        .keys()
        .filter(|key| key.starts_with("sse_streams_closed_total"))
        .collect();
    assert!(closed.is_empty(), "closed: {closed:?}");
}

/// A refusal of our own, without a kind.
struct Busy;

impl std::fmt::Display for Busy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("busy")
    }
}

impl Refusal for Busy {
    fn status(&self) -> http::StatusCode {
        http::StatusCode::SERVICE_UNAVAILABLE
    }
}

#[test]
fn each_refusal_is_counted_by_its_kind() {
    let recorder = DebuggingRecorder::new();
    let _local = metrics::set_default_local_recorder(&recorder);
    let mut figures = Figures::new(&recorder);

    refusal(&BrokerError::TooManySubscriptions { max: 1 });
    refusal(&BrokerError::TooManySubscribers {
        topic: "room".into(),
        max: 1,
    });
    refusal(&BrokerError::Backend("down".into()));
    refusal(&BrokerError::Closed);
    refusal(&BrokerError::NoTopic);
    refusal(&Denied::Unauthenticated);
    refusal(&Denied::Forbidden {
        topic: "payroll".into(),
    });
    let invalid: InvalidTopics = Topics::from_query(None).unwrap_err();
    refusal(&invalid);
    // Through `Refused`, and answered by status, each still counts once.
    let status_answer = Unavailable::new().status_answer();
    status_answer.answer(&Refused::from(BrokerError::Closed));
    status_answer.answer(&Refused::from(Denied::Unauthenticated));
    refusal(&Busy);

    let now = figures.now();
    for (kind, count) in [
        ("subscriptions_full", 1.0),
        ("topic_full", 1.0),
        ("backend", 1.0),
        ("closed", 2.0),
        ("topics", 2.0),
        ("unauthenticated", 2.0),
        ("forbidden", 1.0),
        ("other", 1.0),
    ] {
        assert_eq!(
            now[&format!("sse_refusals_total{{kind={kind}}}")],
            count,
            "{kind}"
        );
    }
    // The kind is the only label: no topic, no reason text.
    assert_eq!(
        now.keys()
            .filter(|key| key.starts_with("sse_refusals_total"))
            .count(),
        8
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_write_deadline_eviction_is_counted_once_per_connection() {
    let recorder = DebuggingRecorder::new();
    let _local = metrics::set_default_local_recorder(&recorder);
    let mut figures = Figures::new(&recorder);

    // A peer that never reads: its side of the pipe holds 64 bytes.
    let (ours, _peer) = tokio::io::duplex(64);
    let mut io = WriteDeadline::new(ours, Duration::from_millis(50));
    let error = io.write_all(&[0; 1024]).await.unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    // The server writes again: the same eviction.
    assert!(io.write_all(&[0; 1024]).await.is_err());

    assert_eq!(figures.get("sse_write_deadline_evictions_total{}"), 1.0);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_stream_evicted_by_its_write_deadline_ends_as_a_disconnect() {
    let recorder = DebuggingRecorder::new();
    let _local = metrics::set_default_local_recorder(&recorder);
    let mut figures = Figures::new(&recorder);

    let (server, mut client) = tokio::io::duplex(4096);
    let io = hyper_util::rt::TokioIo::new(WriteDeadline::new(server, Duration::from_secs(1)));
    let service = hyper::service::service_fn(|_request| async {
        let events = futures_util::stream::repeat_with(|| Event::data(&"x".repeat(512)));
        let body = SseBody::with_config(events, &config());
        Ok::<_, Infallible>(http::Response::new(body))
    });
    let connection =
        tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(io, service));
    client
        .write_all(b"GET /events HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    // Reads the head, then stops reading.
    let mut head = [0; 64];
    let _ = client.read(&mut head).await.unwrap();

    let served = connection.await.unwrap();
    assert!(served.is_err(), "the deadline ends the connection");
    let now = figures.now();
    assert_eq!(now["sse_write_deadline_evictions_total{}"], 1.0);
    assert_eq!(now["sse_streams_closed_total{reason=disconnect}"], 1.0);
    assert_eq!(now["sse_streams_open{}"], 0.0);
}

/// `http1::serve_connection` takes an event stream's body back from hyper
/// and writes it itself: the body still reports its end and its eviction.
#[cfg(feature = "http1")]
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_stream_taken_back_from_hyper_reports_its_end_and_its_eviction() {
    let recorder = DebuggingRecorder::new();
    let _local = metrics::set_default_local_recorder(&recorder);
    let mut figures = Figures::new(&recorder);

    let service = tower::service_fn(|request: http::Request<hyper::body::Incoming>| async move {
        let response = if request.uri().path() == "/once" {
            let events = futures_util::stream::iter([Event::data("a")]);
            ssekit_tower::SseResponse::new(futures_util::StreamExt::boxed(events))
        } else {
            let events = futures_util::stream::repeat_with(|| Event::data(&"x".repeat(512)));
            ssekit_tower::SseResponse::new(futures_util::StreamExt::boxed(events))
        };
        Ok::<_, Infallible>(response.keep_alive(KeepAlive::disabled()).into_response())
    });
    let builder = hyper::server::conn::http1::Builder::new();
    for path in ["/once", "/forever"] {
        let (server, mut client) = tokio::io::duplex(4096);
        let io = WriteDeadline::new(server, Duration::from_secs(1));
        let connection = tokio::spawn(ssekit_tower::http1::serve_connection(&builder, io, service));
        let request = format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n");
        client.write_all(request.as_bytes()).await.unwrap();
        if path == "/once" {
            let mut all = Vec::new();
            client.read_to_end(&mut all).await.unwrap();
        }
        // `/forever`: reads nothing, so the deadline evicts it.
        let _ = connection.await.unwrap();
    }

    let now = figures.now();
    assert_eq!(now["sse_streams_closed_total{reason=end}"], 1.0);
    assert_eq!(now["sse_streams_closed_total{reason=disconnect}"], 1.0);
    assert_eq!(now["sse_write_deadline_evictions_total{}"], 1.0);
    assert_eq!(now["sse_streams_open{}"], 0.0);
}
