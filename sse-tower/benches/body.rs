//! Body throughput: `SseBody` against axum 0.8's `Sse` body over the same
//! events, in the same run; and, through a real hyper HTTP/1.1 connection on
//! loopback, `SseBody` with and without coalescing of ready events, and
//! axum's body, served by the same hyper HTTP/1.1 server.
//!
//! Run: `cargo bench -p ssekit-tower --bench body`

// `criterion_group!` defines functions without docs.
#![allow(missing_docs)]

use std::convert::Infallible;

use axum::response::IntoResponse;
use bytes::Bytes;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use http::{Request, Response};
use http_body::Body;
use http_body_util::BodyExt;
use ssekit_core::Event;
use ssekit_tower::{KeepAlive, SseBody, SseConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;

/// Events per iteration.
const EVENTS: usize = 10_000;
/// `data: ` + 92 characters + `\n\n`: 100 bytes, the size in PERF-NOTES.
const PAYLOAD: &str =
    "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890x";

fn sse_core_events() -> Vec<Event> {
    let event = Event::data(PAYLOAD);
    assert_eq!(event.len(), 100);
    vec![event; EVENTS]
}

fn axum_events() -> Vec<Result<axum::response::sse::Event, Infallible>> {
    (0..EVENTS)
        .map(|_| Ok(axum::response::sse::Event::default().data(PAYLOAD)))
        .collect()
}

/// Drains `body`, returning (frames, bytes).
async fn drain<B>(body: B) -> (usize, usize)
where
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let mut body = std::pin::pin!(body);
    let (mut frames, mut bytes) = (0, 0);
    while let Some(frame) = body.frame().await {
        let data = frame.unwrap().into_data().unwrap();
        frames += 1;
        bytes += data.len();
    }
    (frames, bytes)
}

fn in_memory(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // One frame per event, as axum sends: the like-for-like comparison.
    let with_keep_alive = SseConfig::new().coalesce(0);
    let without_keep_alive = SseConfig::new()
        .coalesce(0)
        .keep_alive(KeepAlive::disabled());
    // The defaults: keep-alive on, ready events coalesced up to 16 KiB.
    let defaults = SseConfig::new();

    for (group_name, throughput) in [
        ("body/frames", Throughput::Elements(EVENTS as u64)),
        ("body/bytes", Throughput::Bytes((EVENTS * 100) as u64)),
    ] {
        let mut group = c.benchmark_group(group_name);
        group.throughput(throughput);

        group.bench_function(
            "ssekit-tower SseBody, defaults (keep-alive on, coalescing 16 KiB)",
            |b| {
                b.iter_batched(
                    sse_core_events,
                    |events| {
                        let body =
                            SseBody::with_config(futures_util::stream::iter(events), &defaults);
                        assert_eq!(rt.block_on(drain(body)).1, EVENTS * 100);
                    },
                    BatchSize::LargeInput,
                )
            },
        );
        group.bench_function("ssekit-tower SseBody, keep-alive on", |b| {
            b.iter_batched(
                sse_core_events,
                |events| {
                    let body =
                        SseBody::with_config(futures_util::stream::iter(events), &with_keep_alive);
                    assert_eq!(rt.block_on(drain(body)), (EVENTS, EVENTS * 100));
                },
                BatchSize::LargeInput,
            )
        });
        group.bench_function("ssekit-tower SseBody, keep-alive off", |b| {
            b.iter_batched(
                sse_core_events,
                |events| {
                    let body = SseBody::with_config(
                        futures_util::stream::iter(events),
                        &without_keep_alive,
                    );
                    assert_eq!(rt.block_on(drain(body)), (EVENTS, EVENTS * 100));
                },
                BatchSize::LargeInput,
            )
        });
        group.bench_function("ssekit-tower SseBody boxed as axum::body::Body", |b| {
            b.iter_batched(
                sse_core_events,
                |events| {
                    let body =
                        SseBody::with_config(futures_util::stream::iter(events), &with_keep_alive);
                    let body = axum::body::Body::new(body);
                    assert_eq!(rt.block_on(drain(body)), (EVENTS, EVENTS * 100));
                },
                BatchSize::LargeInput,
            )
        });
        group.bench_function("axum Sse, keep-alive on", |b| {
            b.iter_batched(
                axum_events,
                |events| {
                    rt.block_on(async {
                        let sse = axum::response::Sse::new(futures_util::stream::iter(events))
                            .keep_alive(axum::response::sse::KeepAlive::default());
                        let body = sse.into_response().into_body();
                        assert_eq!(drain(body).await, (EVENTS, EVENTS * 100));
                    })
                },
                BatchSize::LargeInput,
            )
        });
        group.bench_function("axum Sse, keep-alive off", |b| {
            b.iter_batched(
                axum_events,
                |events| {
                    let body = axum::response::Sse::new(futures_util::stream::iter(events))
                        .into_response()
                        .into_body();
                    assert_eq!(rt.block_on(drain(body)), (EVENTS, EVENTS * 100));
                },
                BatchSize::LargeInput,
            )
        });
        group.finish();
    }
}

#[derive(Clone, Copy)]
enum Served {
    SseTower { coalesce: usize },
    Axum,
}

/// Serves one HTTP/1.1 connection per request on loopback, each response
/// being `EVENTS` ready events.
async fn start_server(served: Served) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |_: Request<hyper::body::Incoming>| async move {
                        let body = match served {
                            Served::SseTower { coalesce } => {
                                let events = futures_util::stream::iter(sse_core_events());
                                let config = SseConfig::new().coalesce(coalesce);
                                axum::body::Body::new(SseBody::with_config(events, &config))
                            }
                            Served::Axum => {
                                let events = futures_util::stream::iter(axum_events());
                                axum::response::Sse::new(events).into_response().into_body()
                            }
                        };
                        Ok::<_, Infallible>(Response::new(body))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    addr
}

/// One request: reads the whole chunked response, returns the body bytes.
async fn fetch(addr: std::net::SocketAddr) -> usize {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nhost: bench\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buffer = vec![0; 64 * 1024];
    let mut total = 0;
    loop {
        let n = tcp.read(&mut buffer).await.unwrap();
        if n == 0 {
            return total;
        }
        total += n;
    }
}

fn through_hyper(c: &mut Criterion) {
    let rt: Runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let plain = rt.block_on(start_server(Served::SseTower { coalesce: 0 }));
    let coalesced_16k = rt.block_on(start_server(Served::SseTower {
        coalesce: 16 * 1024,
    }));
    let coalesced_64k = rt.block_on(start_server(Served::SseTower {
        coalesce: 64 * 1024,
    }));
    let axum = rt.block_on(start_server(Served::Axum));

    let mut group = c.benchmark_group("hyper-h1/frames");
    group.throughput(Throughput::Elements(EVENTS as u64));
    for (name, addr) in [
        ("axum Sse, one frame per event", axum),
        (
            "ssekit-tower SseBody, coalesce 0 (one frame per event)",
            plain,
        ),
        (
            "ssekit-tower SseBody, coalesce 16 KiB (default)",
            coalesced_16k,
        ),
        ("ssekit-tower SseBody, coalesce 64 KiB", coalesced_64k),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let received = rt.block_on(fetch(addr));
                assert!(received > EVENTS * 100);
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = in_memory, through_hyper
}
criterion_main!(benches);
