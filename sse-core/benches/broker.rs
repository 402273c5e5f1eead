//! Publish-and-deliver through the broker against `tokio::sync::broadcast`
//! carrying axum `Event`s, and resume lookup with 100 000 retained events.

// `criterion_group!` defines functions without docs.
#![allow(missing_docs)]

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use futures_util::StreamExt;
use ssekit_core::Event;
use ssekit_core::broker::{Broker, EventId, Subscription, TopicConfig};

fn now<F: Future>(future: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(future).poll(&mut cx) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the memory backend is ready at once"),
    }
}

fn publish_deliver(c: &mut Criterion) {
    let mut group = c.benchmark_group("broker/publish_deliver");
    for size in [100usize, 4096] {
        let text = "x".repeat(size);
        for subscribers in [1usize, 1_000, 10_000, 100_000] {
            if subscribers >= 100_000 {
                group.sample_size(10);
            } else {
                group.sample_size(30);
            }
            group.throughput(Throughput::Elements(subscribers as u64));
            let case = format!("{size}B");

            let broker = Broker::builder()
                .defaults(TopicConfig::new().max_events(64))
                .build();
            let mut subscriptions: Vec<Subscription> = (0..subscribers)
                .map(|_| now(broker.subscribe(&["t"], None)).unwrap())
                .collect();
            let event = Event::data(&text);
            group.bench_function(BenchmarkId::new(format!("ours/{case}"), subscribers), |b| {
                let mut cx = Context::from_waker(Waker::noop());
                b.iter(|| {
                    now(broker.publish("t", event.clone())).unwrap();
                    for subscription in &mut subscriptions {
                        match subscription.poll_next_unpin(&mut cx) {
                            Poll::Ready(Some(event)) => {
                                black_box(event);
                            }
                            _ => unreachable!("one event each"),
                        }
                    }
                });
            });
            drop(subscriptions);

            let (sender, mut receivers) = {
                let (sender, first) = tokio::sync::broadcast::channel(64);
                let mut receivers = vec![first];
                receivers.extend((1..subscribers).map(|_| sender.subscribe()));
                (sender, receivers)
            };
            let event = axum::response::sse::Event::default().data(&text);
            group.bench_function(
                BenchmarkId::new(format!("axum broadcast/{case}"), subscribers),
                |b| {
                    b.iter(|| {
                        sender.send(event.clone()).unwrap();
                        for receiver in &mut receivers {
                            drop(black_box(receiver.try_recv().unwrap()));
                        }
                    });
                },
            );
        }
    }
    group.finish();
}

fn resume_lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("broker/resume");
    let broker = Broker::builder()
        .defaults(
            TopicConfig::new()
                .max_events(100_000)
                .max_age(Duration::from_secs(3600)),
        )
        .build();
    let event = Event::data(&"x".repeat(100));
    let mut last = EventId::new(0, 0);
    for _ in 0..100_000 {
        last = now(broker.publish("t", event.clone())).unwrap();
    }
    assert_eq!(broker.stats().topics[0].retained_events, 100_000);
    // A reader elsewhere keeps the topic's ring alive, as in a server.
    let _reader = now(broker.subscribe(&["t"], None)).unwrap();
    let id = last.to_string();
    group.bench_function(
        "subscribe with Last-Event-ID, 100000 retained, 0 to replay",
        |b| {
            b.iter(|| black_box(now(broker.subscribe(&["t"], Some(&id))).unwrap()));
        },
    );
    let middle = EventId::new(last.epoch(), last.seq() - 10).to_string();
    group.bench_function(
        "subscribe with Last-Event-ID, 100000 retained, 10 to replay",
        |b| {
            b.iter(|| black_box(now(broker.subscribe(&["t"], Some(&middle))).unwrap()));
        },
    );
    group.finish();
}

criterion_group!(benches, publish_deliver, resume_lookup);
criterion_main!(benches);
