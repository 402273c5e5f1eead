//! Publishes/s and publish-to-receive latency with two server processes,
//! on one Redis and on a Redis Cluster of 3 masters + 3 replicas, in one
//! run, and how the writes spread over the cluster's masters.
//!
//! `cargo bench -p ssekit-redis --bench cluster`
//!
//! This process publishes; a second OS process (this binary again, with
//! `SSE_REDIS_CLUSTER_PEER` set) holds one subscription per topic. Burst:
//! 16 tasks publish `EVENTS` events round-robin over `TOPICS` topics, each
//! with a hash tag of its own (so the cluster spreads them over its slots);
//! published/s = events ÷ (last receive − first publish). Paced: one event
//! per millisecond over the same topics; each event carries its publish
//! time and the peer subtracts it from its receive time (one clock).
//! Afterwards, `INFO commandstats` of every master: the publish scripts
//! each ran, and the time Redis spent in each (`usec_per_call`), which
//! bounds what one master holds: a master runs one script at a time.

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::SelectAll;
use sse_test_support::redis::RedisServer;
use sse_test_support::redis_cluster::RedisCluster;
use ssekit_core::Event;
use ssekit_core::broker::{Broker, TopicConfig};
use ssekit_redis::{RedisBackend, RedisBackendBuilder};
use support::{Peer, now_nanos, published_at, quantile_us, quick_unless_bench, sized};

const TOPICS: usize = 24;
const PUBLISHERS: usize = 16;
const PEER: &str = "SSE_REDIS_CLUSTER_PEER";

fn events() -> usize {
    sized(480, 24_000)
}

fn paced_events() -> usize {
    sized(96, 2_400)
}

fn topic(i: usize) -> String {
    format!("{{t{i}}}:bench")
}

/// `standalone URL` or `cluster URL,URL,…`.
fn builder(target: &str) -> RedisBackendBuilder {
    let (mode, urls) = target.split_once(' ').expect("mode and urls");
    let builder = match mode {
        "standalone" => RedisBackend::builder(urls),
        "cluster" => RedisBackend::cluster_builder(urls.split(',')),
        other => panic!("unknown mode {other}"),
    };
    builder.defaults(
        TopicConfig::new()
            .lag_limit(events() + 1)
            .max_events(10_000),
    )
}

async fn broker(target: &str) -> Broker {
    let backend = builder(target).connect().await.expect("connect");
    Broker::builder().build_with(backend)
}

async fn publish_burst(broker: &Broker, events: usize) {
    let tasks: Vec<_> = (0..PUBLISHERS)
        .map(|p| {
            let broker = broker.clone();
            tokio::spawn(async move {
                for n in (p..events).step_by(PUBLISHERS) {
                    let now = now_nanos().to_string();
                    broker
                        .publish(&topic(n % TOPICS), Event::data(&now))
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

async fn publish_paced(broker: &Broker, events: usize) {
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    for n in 0..events {
        tick.tick().await;
        let now = now_nanos().to_string();
        broker
            .publish(&topic(n % TOPICS), Event::data(&now))
            .await
            .expect("publish");
    }
}

/// The peer: one subscription per topic, `events` events in all; prints
/// "ready", then `published/s p50_us p99_us`.
async fn peer(spec: &str) {
    let (events, target) = spec.split_once(' ').expect("events and target");
    let events: usize = events.parse().expect("a count");
    let broker = broker(target).await;
    let mut all = SelectAll::new();
    for i in 0..TOPICS {
        all.push(
            broker
                .subscribe(&[topic(i)], None)
                .await
                .expect("subscribe"),
        );
    }
    println!("ready");
    let (mut first, mut last) = (u64::MAX, 0);
    let mut latencies = Vec::with_capacity(events);
    for _ in 0..events {
        let event = tokio::time::timeout(Duration::from_secs(60), all.next())
            .await
            .expect("events keep coming")
            .expect("the subscriptions stay open");
        let now = now_nanos();
        let at = published_at(&event);
        first = first.min(at);
        last = now;
        latencies.push(now.saturating_sub(at));
    }
    latencies.sort_unstable();
    let rate = events as f64 / ((last - first) as f64 / 1e9);
    println!(
        "{rate} {} {}",
        quantile_us(&latencies, 0.5),
        quantile_us(&latencies, 0.99)
    );
}

/// Published/s, p50 and p99 (µs) of one burst or paced run against `target`.
async fn run(publisher: &Broker, target: &str, events: usize, paced: bool) -> [f64; 3] {
    let peer = Peer::start(PEER, &format!("{events} {target}"));
    if paced {
        publish_paced(publisher, events).await;
    } else {
        publish_burst(publisher, events).await;
    }
    let figures = peer.figures();
    [figures[0], figures[1], figures[2]]
}

/// `EVALSHA`'s calls and microseconds per call in an `INFO commandstats`
/// answer.
fn evalsha(stats: &str) -> (u64, f64) {
    let Some(line) = stats
        .lines()
        .find_map(|line| line.strip_prefix("cmdstat_evalsha:"))
    else {
        return (0, 0.0);
    };
    let field = |name: &str| {
        line.split(',')
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
            .unwrap_or("0")
            .to_owned()
    };
    (
        field("calls").parse().unwrap_or(0),
        field("usec_per_call").parse().unwrap_or(0.0),
    )
}

/// `INFO commandstats` of a standalone Redis (`reset`: `CONFIG RESETSTAT`
/// instead).
async fn standalone_stats(url: &str, reset: bool) -> String {
    let client = redis::Client::open(url).expect("a redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    if reset {
        let _: () = redis::cmd("CONFIG")
            .arg("RESETSTAT")
            .query_async(&mut conn)
            .await
            .expect("CONFIG RESETSTAT");
        return String::new();
    }
    redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .expect("INFO commandstats")
}

async fn measure(name: &str, target: &str) {
    let publisher = broker(target).await;
    let burst = run(&publisher, target, events(), false).await;
    let paced = run(&publisher, target, paced_events(), true).await;
    println!(
        "| {name} | {:.0} | {:.0} | {:.0} | {:.0} |",
        burst[0], burst[2], paced[1], paced[2]
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
    quick_unless_bench();
    runtime.block_on(async {
        let server = RedisServer::start();
        let cluster = RedisCluster::start();
        println!(
            "{} events over {TOPICS} topics, {PUBLISHERS} publishing tasks; paced: 1 event/ms, {} events",
            events(),
            paced_events()
        );
        println!("| Redis | published events/s | burst p99 (µs) | paced p50 (µs) | paced p99 (µs) |");
        println!("|---|---:|---:|---:|---:|");
        standalone_stats(&server.url(), true).await;
        measure("one redis-server", &format!("standalone {}", server.url())).await;
        let (calls, usec) = evalsha(&standalone_stats(&server.url(), false).await);
        cluster.reset_stats();
        measure(
            "cluster, 3 masters + 3 replicas",
            &format!("cluster {}", cluster.urls().join(",")),
        )
        .await;
        println!();
        println!("| Redis node | scripts run | share | µs per script | scripts/s it holds |");
        println!("|---|---:|---:|---:|---:|");
        let holds = |usec: f64| if usec > 0.0 { 1e6 / usec } else { 0.0 };
        println!(
            "| one redis-server | {calls} | 100 % | {usec:.1} | {:.0} |",
            holds(usec)
        );
        let stats: Vec<(u16, (u64, f64))> = (cluster.masters().into_iter())
            .map(|port| (port, evalsha(&cluster.info_commandstats(port))))
            .collect();
        let total: u64 = stats.iter().map(|(_, (calls, _))| calls).sum();
        for (port, (calls, usec)) in &stats {
            println!(
                "| master 127.0.0.1:{port} | {calls} | {:.0} % | {usec:.1} | {:.0} |",
                *calls as f64 * 100.0 / total.max(1) as f64,
                holds(*usec)
            );
        }
    });
}
