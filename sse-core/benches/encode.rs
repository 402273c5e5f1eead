//! Encoding one event with data, ours against axum 0.8's `Event`.
//!
//! Every case encodes the same data into the same wire frame (`data: ` lines
//! and a blank line) and reports throughput in bytes of *input data*.
//!
//! What each benchmark measures, per iteration:
//! - `ours/builder`: `Event::builder().data(d).build()`, then `into_bytes()`:
//!   data in, the finished wire frame as `Bytes` out.
//! - `ours/data`: the same through the shortcut `Event::data(d)`.
//! - `ours/body`: `Event::data(d).into_bytes()` produced by a stream inside
//!   `axum::body::Body::from_stream`, taken out by polling the body for one
//!   frame: the same path as `axum/sse_body`, so the two compare like for like.
//! - `axum/sse_body`: `Event::default().data(d)` produced by a stream inside
//!   `axum::response::sse::Sse`, turned into a response once, and taken out by
//!   polling the body for one frame. axum's `Event` is only finished (its
//!   final blank line written and its buffer frozen, the private
//!   `Event::finalize`) by that body, so this is the cheapest public path from
//!   data to wire bytes.
//! - `axum/builder_only`: `Event::default().data(d)` alone, never finished: a
//!   lower bound on axum's cost (it lacks the last `\n` and the freeze).
//! - `axum/body_overhead`: the `Sse` body yielding the prebuilt
//!   `Event::DEFAULT_KEEP_ALIVE`: what polling costs without any encoding.

// `criterion_group!` defines functions without docs.
#![allow(missing_docs)]

use std::convert::Infallible;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::response::IntoResponse;
use axum::response::sse::{Event as AxumEvent, Sse};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use futures_util::stream;
use ssekit_core::Event;

/// `len` bytes of ASCII text; with `line` set, every `line`-th byte is an LF.
fn text(len: usize, line: Option<usize>) -> String {
    (0..len)
        .map(|i| match line {
            Some(line) if i % line == line - 1 => '\n',
            _ => char::from(b'a' + (i % 26) as u8),
        })
        .collect()
}

/// Polls `body` for its next data frame; the streams used here never pend.
fn next_frame(body: &mut Body) -> Bytes {
    let mut cx = Context::from_waker(Waker::noop());
    match Pin::new(body).poll_frame(&mut cx) {
        Poll::Ready(Some(Ok(frame))) => frame.into_data().expect("a data frame"),
        _ => unreachable!("the stream is endless and never pends"),
    }
}

fn axum_sse_body(data: Arc<str>) -> Body {
    let events =
        stream::repeat_with(move || Ok::<_, Infallible>(AxumEvent::default().data(&*data)));
    Sse::new(events).into_response().into_body()
}

fn ours_body(data: Arc<str>) -> Body {
    let frames = stream::repeat_with(move || Ok::<_, Infallible>(Event::data(&data).into_bytes()));
    Body::from_stream(frames)
}

fn encode(c: &mut Criterion) {
    let cases = [
        ("100B/single_line", text(100, None)),
        ("100B/multi_line", text(100, Some(64))),
        ("64KiB/single_line", text(64 * 1024, None)),
        ("64KiB/multi_line", text(64 * 1024, Some(64))),
    ];

    for (name, data) in &cases {
        // The wire frames must be identical, or the comparison means nothing.
        let shared: Arc<str> = Arc::from(data.as_str());
        let ours = Event::builder().data(data.as_str()).build().unwrap();
        assert_eq!(
            next_frame(&mut axum_sse_body(shared.clone())),
            ours.as_bytes()
        );
        assert_eq!(next_frame(&mut ours_body(shared.clone())), ours.as_bytes());

        let mut group = c.benchmark_group(format!("encode/{name}"));
        group.throughput(Throughput::Bytes(data.len() as u64));

        group.bench_function(BenchmarkId::new("ours", "builder"), |b| {
            b.iter(|| {
                Event::builder()
                    .data(black_box(data.as_str()))
                    .build()
                    .unwrap()
                    .into_bytes()
            })
        });
        group.bench_function(BenchmarkId::new("ours", "data"), |b| {
            b.iter(|| Event::data(black_box(data.as_str())).into_bytes())
        });
        group.bench_function(BenchmarkId::new("ours", "body"), |b| {
            let mut body = ours_body(shared.clone());
            b.iter(|| next_frame(&mut body))
        });
        group.bench_function(BenchmarkId::new("axum", "sse_body"), |b| {
            let mut body = axum_sse_body(shared.clone());
            b.iter(|| next_frame(&mut body))
        });
        group.bench_function(BenchmarkId::new("axum", "builder_only"), |b| {
            b.iter(|| AxumEvent::default().data(black_box(data.as_str())))
        });
        group.finish();
    }

    let mut group = c.benchmark_group("encode/overhead");
    group.bench_function(BenchmarkId::new("axum", "body_overhead"), |b| {
        let events = stream::repeat_with(|| Ok::<_, Infallible>(AxumEvent::DEFAULT_KEEP_ALIVE));
        let mut body = Sse::new(events).into_response().into_body();
        b.iter(|| next_frame(&mut body))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    // Short by default: the machines these run on are small and shared.
    // Command-line options (`--measurement-time`, …) override these.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = encode
}
criterion_main!(benches);
