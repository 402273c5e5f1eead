//! Against this workspace's own server: events encoded by `ssekit_core::Event`
//! and served by `ssekit_tower::SseLayer` over hyper, read back by the client.

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use proptest::prelude::*;
use ssekit_client::{Disconnect, EventSource, Item};
use ssekit_core::Event;
use ssekit_tower::{KeepAlive, LastEventId, SseConfig, SseLayer};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::time::timeout;
use tower::{ServiceBuilder, ServiceExt};

/// One event to serve, and what the client must receive for it.
#[derive(Debug, Clone)]
struct Sample {
    event_type: String,
    data: String,
}

impl Sample {
    fn encode(&self, id: usize) -> Event {
        Event::builder()
            .event(self.event_type.as_str())
            .id(id.to_string())
            .data(self.data.as_str())
            .build()
            .expect("types and ids have no line breaks")
    }

    /// `(type, data, id)` as the client must see it: the default type for
    /// an empty one, every line break as LF.
    fn expected(&self, id: usize) -> (String, String, String) {
        let event_type = if self.event_type.is_empty() {
            "message"
        } else {
            &self.event_type
        };
        let data = self.data.replace("\r\n", "\n").replace('\r', "\n");
        (event_type.to_owned(), data, id.to_string())
    }
}

/// How a response of the feed server ends.
#[derive(Debug, Clone, Copy)]
enum Cut {
    /// The stream serves everything that is left.
    Never,
    /// Request `n` is served at most `budget(n)` events; then, on odd
    /// requests the response ends cleanly, on even ones the connection is
    /// dropped mid-response.
    After(fn(usize) -> usize),
}

/// Serves `samples` as ids 0, 1, …, resuming after `Last-Event-ID`; every
/// stream starts with `retry: 1` so that the client comes back at once.
/// Returns the address and the count of requests served.
async fn serve_feed(samples: Arc<Vec<Sample>>, cut: Cut) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let count = requests.clone();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let count = count.clone();
            let samples = samples.clone();
            let kill = Arc::new(Notify::new());
            let killed = kill.clone();
            let events = tower::service_fn(move |request: Request<Incoming>| {
                // The client may reuse a connection for several requests.
                let index = count.fetch_add(1, Ordering::SeqCst);
                let start = match request.extensions().get::<LastEventId>() {
                    Some(LastEventId::Present(id)) => id.parse::<usize>().unwrap() + 1,
                    _ => 0,
                };
                let (end, abort) = match cut {
                    Cut::Never => (samples.len(), false),
                    Cut::After(budget) => {
                        ((start + budget(index)).min(samples.len()), index % 2 == 0)
                    }
                };
                let samples = samples.clone();
                let kill = abort.then(|| kill.clone());
                let stream = futures_util::stream::iter(start..end)
                    .map(move |id| samples[id].encode(id))
                    .chain(
                        futures_util::stream::once(async move {
                            // Past the budget: cut the connection, or end the
                            // response (a `None` stream item ends it cleanly).
                            if let Some(kill) = kill {
                                kill.notify_one();
                                std::future::pending::<()>().await;
                            }
                        })
                        .filter_map(|()| async { None }),
                    );
                async move { Ok::<_, Infallible>(Response::new(stream)) }
            });
            let config = SseConfig::new()
                .keep_alive(KeepAlive::disabled())
                .first_event(Event::retry(Duration::from_millis(1)));
            let service = ServiceBuilder::new()
                .layer(SseLayer::with_config(config))
                .service(events);
            let service =
                hyper::service::service_fn(move |request| service.clone().oneshot(request));
            tokio::spawn(async move {
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(socket), service);
                tokio::select! {
                    _ = connection => {}
                    // Dropping the connection closes the socket mid-body.
                    () = killed.notified() => {}
                }
            });
        }
    });
    (addr, requests)
}

/// Reads events until `count` have arrived, within `limit`; returns them and
/// the reasons of the reconnections.
async fn read_events(
    source: &mut EventSource,
    count: usize,
    limit: Duration,
) -> (Vec<(String, String, String)>, Vec<Disconnect>) {
    let mut events = Vec::with_capacity(count);
    let mut reasons = Vec::new();
    let read = async {
        while events.len() < count {
            match source.next().await.expect("the stream ended") {
                Item::Event(e) => events.push((
                    e.event_type().to_owned(),
                    e.data().to_owned(),
                    e.last_event_id().to_owned(),
                )),
                Item::Reconnecting { reason, .. } => reasons.push(reason),
                Item::Open => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    };
    timeout(limit, read)
        .await
        .expect("the events did not arrive in time");
    (events, reasons)
}

fn source_for(addr: SocketAddr) -> EventSource {
    let uri: Uri = format!("http://{addr}/feed").parse().unwrap();
    EventSource::builder(uri).build()
}

/// A small deterministic generator (SplitMix64) for arbitrary text.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Text full of what could confuse a parser: every kind of line break,
    /// field-like text, a BOM, NUL, multi-byte characters, any scalar value.
    fn text(&mut self) -> String {
        const PIECES: &[&str] = &[
            "\r",
            "\n",
            "\r\n",
            "\n\r",
            " ",
            ":",
            "data: x",
            "id: 9",
            "retry: 1",
            "\u{FEFF}",
            "\0",
            "é",
            "日本語",
            "😀",
            "\u{2028}",
            "plain words",
        ];
        let len = match self.below(50) {
            0 => 2000,
            _ => self.below(24),
        };
        let mut text = String::new();
        for _ in 0..len {
            if self.below(4) == 0 {
                let c = char::from_u32(self.below(0x11_0000) as u32).unwrap_or('\u{FFFD}');
                text.push(c);
            } else {
                text.push_str(PIECES[self.below(PIECES.len() as u64) as usize]);
            }
        }
        text
    }

    fn sample(&mut self) -> Sample {
        const TYPES: &[&str] = &["", "message", "update", "δ", "a:b", " spaced"];
        Sample {
            event_type: TYPES[self.below(TYPES.len() as u64) as usize].to_owned(),
            data: self.text(),
        }
    }
}

fn samples(count: usize, seed: u64) -> Arc<Vec<Sample>> {
    let mut generator = Gen(seed);
    Arc::new((0..count).map(|_| generator.sample()).collect())
}

fn expected(samples: &[Sample]) -> Vec<(String, String, String)> {
    samples
        .iter()
        .enumerate()
        .map(|(id, sample)| sample.expected(id))
        .collect()
}

#[tokio::test]
async fn thousands_of_arbitrary_events_round_trip() {
    let samples = samples(5000, 1);
    let (addr, requests) = serve_feed(samples.clone(), Cut::Never).await;
    let mut source = source_for(addr);
    let (events, reasons) = read_events(&mut source, samples.len(), Duration::from_secs(60)).await;
    assert!(reasons.is_empty(), "unexpected reconnections: {reasons:?}");
    for (got, want) in events.iter().zip(expected(&samples)) {
        assert_eq!(*got, want);
    }
    assert_eq!(events.len(), samples.len());
    assert_eq!(requests.load(Ordering::SeqCst), 1);
    assert_eq!(source.last_event_id(), "4999");
    assert_eq!(source.reconnection_time(), Duration::from_millis(1));
}

#[tokio::test]
async fn server_disconnects_then_resume_loses_nothing_and_repeats_nothing() {
    let samples = samples(3000, 2);
    let (addr, requests) = serve_feed(samples.clone(), Cut::After(|n| 150 + (n * 97) % 400)).await;
    let mut source = source_for(addr);
    let (events, reasons) = read_events(&mut source, samples.len(), Duration::from_secs(60)).await;
    // Exactly the samples, in order: each resume started right after the
    // last event received, whatever the server had sent but not delivered.
    let ids: Vec<usize> = events
        .iter()
        .map(|(_, _, id)| id.parse().unwrap())
        .collect();
    assert_eq!(ids, (0..samples.len()).collect::<Vec<_>>());
    assert_eq!(events, expected(&samples));
    // Both kinds of disconnect happened: clean ends and cut connections.
    assert!(
        reasons.iter().any(|r| matches!(r, Disconnect::Ended)),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| matches!(r, Disconnect::Body(_))),
        "{reasons:?}"
    );
    assert_eq!(requests.load(Ordering::SeqCst), reasons.len() + 1);
    assert!(reasons.len() >= 6, "only {} reconnections", reasons.len());
}

fn arbitrary_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("\r".to_owned()),
        Just("\n".to_owned()),
        Just("\r\n".to_owned()),
        Just(":".to_owned()),
        Just(" ".to_owned()),
        any::<char>().prop_map(String::from),
        "[a-z: ]{0,8}",
    ];
    prop::collection::vec(piece, 0..30).prop_map(|pieces| pieces.concat())
}

fn arbitrary_sample() -> impl Strategy<Value = Sample> {
    ("[^\r\n]{0,6}", arbitrary_text()).prop_map(|(event_type, data)| Sample { event_type, data })
}

proptest! {
    // A failing case times out after 10 s at worst; few shrink steps keep a
    // failure bounded too.
    #![proptest_config(ProptestConfig { cases: 24, max_shrink_iters: 8, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_events_round_trip(samples in prop::collection::vec(arbitrary_sample(), 1..120)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let samples = Arc::new(samples);
        let events = runtime.block_on(async {
            let (addr, _) = serve_feed(samples.clone(), Cut::After(|n| 1 + n * 7)).await;
            let mut source = source_for(addr);
            read_events(&mut source, samples.len(), Duration::from_secs(10)).await.0
        });
        prop_assert_eq!(events, expected(&samples));
    }
}
