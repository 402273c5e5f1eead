//! Delivered events/s and publish-to-receive latency: the in-memory broker,
//! two brokers in one process through Redis, and two OS processes through
//! Redis, in one run against a `redis-server` of its own.
//!
//! `cargo bench -p ssekit-redis --bench redis`
//!
//! Throughput: 16 publishing tasks publish 20 000 events to one topic as
//! fast as they can; `SUBSCRIBERS` subscribers on the receiving broker read
//! them; delivered/s = events × subscribers ÷ (last receive − first
//! publish). Latency: one event per millisecond, 1 subscriber; the event's
//! data is its publish time, the subscriber subtracts it from its receive
//! time (the same clock, also across processes).

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use ssekit_core::Event;
use ssekit_core::broker::{Broker, Subscription, TopicConfig};
use ssekit_redis::RedisBackend;
use support::{Peer, now_nanos, published_at, quantile_us, quick_unless_bench, sized};

const SUBSCRIBERS: usize = 100;
const PUBLISHERS: usize = 16;
const PEER: &str = "SSE_REDIS_BENCH_PEER";

/// Events per throughput run.
fn events() -> usize {
    sized(1_000, 20_000)
}

/// Events per latency run.
fn latency_events() -> usize {
    sized(100, 2_000)
}

/// What the receiving side measured.
#[derive(Debug)]
struct Measured {
    delivered_per_s: f64,
    p50_us: f64,
    p99_us: f64,
}

/// Reads `events` from each subscription; latencies from the first one.
async fn receive(subscriptions: Vec<Subscription>, events: usize) -> Measured {
    let tasks: Vec<_> = subscriptions
        .into_iter()
        .enumerate()
        .map(|(i, mut subscription)| {
            tokio::spawn(async move {
                let mut first = u64::MAX;
                let mut last = 0;
                let mut latencies = Vec::new();
                for _ in 0..events {
                    let event = tokio::time::timeout(Duration::from_secs(60), subscription.next())
                        .await
                        .expect("events keep coming")
                        .expect("the subscription stays open");
                    let now = now_nanos();
                    let at = published_at(&event);
                    first = first.min(at);
                    last = now;
                    if i == 0 {
                        latencies.push(now.saturating_sub(at));
                    }
                }
                (first, last, latencies)
            })
        })
        .collect();
    let mut first = u64::MAX;
    let mut last = 0;
    let mut latencies = Vec::new();
    let count = tasks.len();
    for task in tasks {
        let (f, l, lat) = task.await.expect("a receiver task");
        first = first.min(f);
        last = last.max(l);
        if !lat.is_empty() {
            latencies = lat;
        }
    }
    latencies.sort_unstable();
    Measured {
        delivered_per_s: (events * count) as f64 / ((last - first) as f64 / 1e9),
        p50_us: quantile_us(&latencies, 0.5),
        p99_us: quantile_us(&latencies, 0.99),
    }
}

async fn publish_burst(broker: &Broker, topic: &str, events: usize) {
    let tasks: Vec<_> = (0..PUBLISHERS)
        .map(|p| {
            let broker = broker.clone();
            let topic = topic.to_owned();
            let share = events / PUBLISHERS + usize::from(p < events % PUBLISHERS);
            tokio::spawn(async move {
                for _ in 0..share {
                    let now = now_nanos().to_string();
                    broker
                        .publish(&topic, Event::data(&now))
                        .await
                        .expect("publish");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a publisher task");
    }
}

async fn publish_paced(broker: &Broker, topic: &str, events: usize) {
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    for _ in 0..events {
        tick.tick().await;
        let now = now_nanos().to_string();
        broker
            .publish(topic, Event::data(&now))
            .await
            .expect("publish");
    }
}

async fn subscribe_many(broker: &Broker, topic: &str, count: usize) -> Vec<Subscription> {
    let mut subscriptions = Vec::with_capacity(count);
    for _ in 0..count {
        subscriptions.push(broker.subscribe(&[topic], None).await.expect("subscribe"));
    }
    subscriptions
}

fn config() -> TopicConfig {
    // Every subscriber keeps up with the burst: no lag disconnects.
    TopicConfig::new()
        .lag_limit(events() + 1)
        .max_events(10_000)
}

async fn redis_broker(url: &str) -> Broker {
    let backend = RedisBackend::builder(url)
        .defaults(config())
        .connect()
        .await
        .expect("connect");
    Broker::builder().build_with(backend)
}

/// Publisher and subscribers on `publisher` and `receiver` (the same broker
/// for the in-memory run).
async fn in_process(publisher: &Broker, receiver: &Broker, name: &str) -> (Measured, Measured) {
    let topic = format!("{name}-burst");
    let subscriptions = subscribe_many(receiver, &topic, SUBSCRIBERS).await;
    let reading = tokio::spawn(receive(subscriptions, events()));
    publish_burst(publisher, &topic, events()).await;
    let burst = reading.await.expect("receive");

    let topic = format!("{name}-paced");
    let subscriptions = subscribe_many(receiver, &topic, 1).await;
    let reading = tokio::spawn(receive(subscriptions, latency_events()));
    publish_paced(publisher, &topic, latency_events()).await;
    (burst, reading.await.expect("receive"))
}

/// The subscribers in another OS process (this binary again).
async fn two_processes(publisher: &Broker, url: &str) -> (Measured, Measured) {
    let mut results = Vec::new();
    for (topic, subscribers, events, paced) in [
        ("proc-burst", SUBSCRIBERS, events(), false),
        ("proc-paced", 1, latency_events(), true),
    ] {
        let peer = Peer::start(PEER, &format!("{url} {topic} {subscribers} {events}"));
        if paced {
            publish_paced(publisher, topic, events).await;
        } else {
            publish_burst(publisher, topic, events).await;
        }
        let figures = peer.figures();
        results.push(Measured {
            delivered_per_s: figures[0],
            p50_us: figures[1],
            p99_us: figures[2],
        });
    }
    let paced = results.pop().expect("two runs");
    (results.pop().expect("two runs"), paced)
}

async fn peer(spec: &str) {
    let parts: Vec<&str> = spec.split_whitespace().collect();
    let [url, topic, subscribers, events] = parts[..] else {
        panic!("bad {PEER}: {spec}");
    };
    let broker = redis_broker(url).await;
    let subscriptions = subscribe_many(&broker, topic, subscribers.parse().expect("a count")).await;
    println!("ready");
    let measured = receive(subscriptions, events.parse().expect("a count")).await;
    println!(
        "{} {} {}",
        measured.delivered_per_s, measured.p50_us, measured.p99_us
    );
}

fn row(name: &str, (burst, paced): &(Measured, Measured)) {
    println!(
        "| {name} | {:.0} | {:.0} | {:.0} | {:.0} |",
        burst.delivered_per_s, burst.p99_us, paced.p50_us, paced.p99_us
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    if let Ok(spec) = std::env::var(PEER) {
        runtime.block_on(peer(&spec));
        return;
    }
    // `cargo bench` passes `--bench`; anything else (e.g. `cargo test
    // --benches`) gets a quick smoke run only.
    quick_unless_bench();
    runtime.block_on(async {
        let server = sse_test_support::redis::RedisServer::start();
        let url = server.url();
        let memory = Broker::builder().defaults(config()).build();
        let memory = in_process(&memory, &memory, "memory").await;
        let (a, b) = (redis_broker(&url).await, redis_broker(&url).await);
        let two_brokers = in_process(&a, &b, "brokers").await;
        let processes = two_processes(&a, &url).await;
        println!(
            "{} events, {SUBSCRIBERS} subscribers, {PUBLISHERS} publishing tasks; latency at 1 event/ms, 1 subscriber, {} events",
            events(),
            latency_events()
        );
        println!("| broker | delivered events/s | burst p99 latency (µs) | paced p50 (µs) | paced p99 (µs) |");
        println!("|---|---:|---:|---:|---:|");
        row("in-memory, one process", &memory);
        row("Redis, two brokers in one process", &two_brokers);
        row("Redis, two OS processes", &processes);
    });
}
