//! The Redis backend on a real Redis Cluster (three masters, three
//! replicas) started by each test.

use std::collections::BTreeSet;
use std::time::Duration;

use sse_test_support::id_of;
use sse_test_support::private;
use sse_test_support::redis::RedisServer;
use sse_test_support::redis_cluster::{RedisCluster, Reply};
use ssekit_core::Event;
use ssekit_core::broker::{
    Broker, BrokerError, ResetReason, Resume, Subscription, TopicConfig, stamp,
};
use ssekit_redis::{RedisBackend, RedisBackendBuilder};

mod scenarios;

use scenarios::{assert_quiet, next, next_event};

fn builder(cluster: &RedisCluster) -> RedisBackendBuilder {
    RedisBackend::cluster_builder(cluster.urls())
        .command_timeout(Duration::from_secs(2))
        .reconnect_backoff(Duration::from_millis(20), Duration::from_millis(200))
}

/// A broker over its own backend: one "process".
async fn broker(cluster: &RedisCluster) -> Broker {
    broker_with(builder(cluster)).await
}

async fn broker_with(builder: RedisBackendBuilder) -> Broker {
    let backend = builder.connect().await.expect("connect to the cluster");
    assert!(backend.is_cluster());
    Broker::builder().build_with(backend)
}

/// A cluster of the test's own, started off the runtime's threads.
async fn start() -> RedisCluster {
    tokio::task::spawn_blocking(RedisCluster::start)
        .await
        .expect("the cluster starts")
}

/// The `data:` of an event.
fn data_of(event: &Event) -> String {
    let frame = std::str::from_utf8(event.as_bytes()).expect("UTF-8 frames");
    frame
        .lines()
        .find_map(|line| line.strip_prefix("data: "))
        .unwrap_or_else(|| panic!("an event with data, not {frame:?}"))
        .to_owned()
}

/// The next event of a subscription spanning several units, which comes
/// as two items, the shared frame then its own `id:` line: its data and
/// its id.
async fn next_spanning(subscription: &mut Subscription) -> (String, String) {
    let frame = next_event(subscription).await;
    let id = next_event(subscription).await;
    let id = String::from_utf8_lossy(id.as_bytes()).into_owned();
    let id = id
        .strip_prefix("id: ")
        .and_then(|id| id.strip_suffix("\n\n"))
        .unwrap_or_else(|| panic!("an id line, not {id:?}"))
        .to_owned();
    (data_of(&frame), id)
}

/// A topic name whose stream key (`sse:topic:{name}`) hashes to a slot
/// that the master on `port` serves, not `avoid`ing another unit.
fn topic_on(cluster: &RedisCluster, port: u16, stem: &str) -> String {
    (0..10_000)
        .map(|n| format!("{stem}-{n}"))
        .find(|name| cluster.master_of(RedisCluster::slot_of(&format!("sse:topic:{name}"))) == port)
        .expect("a topic on every master")
}

fn slot_of_topic(topic: &str) -> u16 {
    RedisCluster::slot_of(&format!("sse:topic:{topic}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_published_on_a_is_received_on_b() {
    let cluster = start().await;
    let (a, b) = (broker(&cluster).await, broker(&cluster).await);
    scenarios::an_event_published_on_a_is_received_on_b(&a, &b, "room").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_issued_by_a_resumes_on_b_without_loss_or_duplicate() {
    let cluster = start().await;
    let (a, b) = (broker(&cluster).await, broker(&cluster).await);
    scenarios::an_id_issued_by_a_resumes_on_b_without_loss_or_duplicate(&a, &b, "feed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_with_one_hash_tag_are_one_unit_and_an_event_to_both_arrives_once() {
    let cluster = start().await;
    let (a, b) = (broker(&cluster).await, broker(&cluster).await);
    let topics = ["{room-7}:messages", "{room-7}:typing"];
    let mut on_b = b.subscribe(&topics, None).await.unwrap();
    let first = a.publish(topics[0], Event::data("hi")).await.unwrap();
    let both = a.publish_to(&topics, Event::data("both")).await.unwrap();
    let second = a.publish(topics[1], Event::data("typing")).await.unwrap();
    // One sequence for the unit: consecutive numbers across its topics.
    assert_eq!(
        (first.seq() + 1, first.seq() + 2),
        (both.seq(), second.seq())
    );
    assert_eq!(
        next_event(&mut on_b).await,
        stamp(&Event::data("hi"), first)
    );
    assert_eq!(
        next_event(&mut on_b).await,
        stamp(&Event::data("both"), both)
    );
    assert_eq!(
        next_event(&mut on_b).await,
        stamp(&Event::data("typing"), second)
    );
    assert_quiet(&mut on_b).await;
    // And a resume on A replays the event to both once.
    let mut resumed = a
        .subscribe(&topics, Some(&first.to_string()))
        .await
        .unwrap();
    assert_eq!(resumed.resume(), Resume::Replayed { events: 2 });
    assert_eq!(id_of(&next_event(&mut resumed).await), both.to_string());
    assert_eq!(id_of(&next_event(&mut resumed).await), second.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_whose_topics_span_two_slots_is_refused_with_spans_units() {
    let cluster = start().await;
    let a = broker(&cluster).await;
    let (x, y) = ("alpha", "beta");
    assert_ne!(slot_of_topic(x), slot_of_topic(y));
    let refused = a.publish_to(&[x, y], Event::data("both")).await;
    assert!(
        matches!(refused, Err(BrokerError::SpansUnits { units: 2, max: 1 })),
        "{refused:?}"
    );
    // Nothing was written: the topics' first events get sequence 1.
    assert_eq!(a.publish(x, Event::data("x")).await.unwrap().seq(), 1);
    assert_eq!(a.publish(y, Event::data("y")).await.unwrap().seq(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_events_published_on_a_reach_only_granted_subscribers_on_b() {
    let cluster = start().await;
    // The script publishes to several topics at once: a prefix with a
    // hash tag puts them all in one slot.
    let prefixed = || builder(&cluster).key_prefix("{private}:");
    let (a, b) = (broker_with(prefixed()).await, broker_with(prefixed()).await);
    let (script, readers) = private::every_case();
    private::check(&a, &b, &script, &readers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prefix_with_an_unbalanced_brace_is_refused_at_connect() {
    let cluster = start().await;
    let refused = builder(&cluster).key_prefix("{sse:").connect().await;
    let error = refused.expect_err("an unbalanced prefix");
    assert!(error.to_string().contains("unbalanced"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_with_durability_one_replica_succeed_on_a_healthy_cluster() {
    let cluster = start().await;
    let a = broker_with(builder(&cluster).durability(1, Duration::from_secs(2))).await;
    let b = broker(&cluster).await;
    let topics: Vec<String> = cluster
        .masters()
        .into_iter()
        .map(|port| topic_on(&cluster, port, "durable"))
        .collect();
    let mut on_b = Vec::new();
    for topic in &topics {
        on_b.push(b.subscribe(&[topic], None).await.unwrap());
    }
    for (topic, subscription) in topics.iter().zip(&mut on_b) {
        let id = a.publish(topic, Event::data("kept")).await.unwrap();
        assert_eq!(
            next_event(subscription).await,
            stamp(&Event::data("kept"), id)
        );
    }
    // Each master has one replica: asking for two can never be confirmed,
    // and is an error, never a false success.
    let greedy = broker_with(builder(&cluster).durability(2, Duration::from_millis(100))).await;
    let error = greedy
        .publish(&topics[0], Event::data("unconfirmed"))
        .await
        .expect_err("two replicas cannot acknowledge");
    assert!(
        error.to_string().contains("not confirmed durable"),
        "{error}"
    );
    // It was written, though: subscribers get it.
    assert_eq!(data_of(&next_event(&mut on_b[0]).await), "unconfirmed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_spanning_all_three_masters_resumes_exactly_on_another_process() {
    let cluster = start().await;
    let (a, b, c) = (
        broker(&cluster).await,
        broker(&cluster).await,
        broker(&cluster).await,
    );
    let topics: Vec<String> = cluster
        .masters()
        .into_iter()
        .map(|port| topic_on(&cluster, port, "span"))
        .collect();
    assert_eq!(topics.len(), 3);
    let mut on_b = b.subscribe(&topics, None).await.unwrap();
    let mut published = BTreeSet::new();
    for n in 0..30 {
        let topic = &topics[n % 3];
        a.publish(topic, Event::data(&n.to_string())).await.unwrap();
        published.insert(n.to_string());
    }
    // B reads the first half, then its connection drops.
    let mut seen = BTreeSet::new();
    let mut last_id = String::new();
    for _ in 0..15 {
        let (data, id) = next_spanning(&mut on_b).await;
        assert!(seen.insert(data), "a duplicate on B");
        last_id = id;
    }
    // An id per unit, each unit's own epoch and sequence number.
    assert_eq!(last_id.split('.').count(), 3, "{last_id}");
    drop(on_b);
    for n in 30..45 {
        let topic = &topics[n % 3];
        a.publish(topic, Event::data(&n.to_string())).await.unwrap();
        published.insert(n.to_string());
    }
    // It reconnects to C with the last id it got.
    let mut on_c = c.subscribe(&topics, Some(&last_id)).await.unwrap();
    assert_eq!(on_c.resume(), Resume::Replayed { events: 30 });
    for n in 45..48 {
        let topic = &topics[n % 3];
        a.publish(topic, Event::data(&n.to_string())).await.unwrap();
        published.insert(n.to_string());
    }
    while seen.len() < published.len() {
        let (data, _) = next_spanning(&mut on_c).await;
        assert!(
            seen.insert(data.clone()),
            "a duplicate after the resume: {data}"
        );
    }
    assert_eq!(seen, published, "no gap");
    assert_quiet(&mut on_c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounds_and_replays_hold_per_topic_on_the_cluster() {
    let cluster = start().await;
    let a = broker_with(
        builder(&cluster)
            .defaults(TopicConfig::new().max_events(3))
            .exact_trim(true),
    )
    .await;
    let mut ids = Vec::new();
    for n in 0..6 {
        ids.push(
            a.publish("short", Event::data(&n.to_string()))
                .await
                .unwrap(),
        );
    }
    // Three kept: a resume from the third-last replays them, from before
    // it resets.
    let kept = a
        .subscribe(&["short"], Some(&ids[2].to_string()))
        .await
        .unwrap();
    assert_eq!(kept.resume(), Resume::Replayed { events: 3 });
    let gone = a
        .subscribe(&["short"], Some(&ids[1].to_string()))
        .await
        .unwrap();
    assert!(
        matches!(gone.resume(), Resume::Reset { .. }),
        "{:?}",
        gone.resume()
    );
}

/// Publishes `n`, `n+1`, … to `topic` until `stop`, one at a time; returns
/// the data of each publish acknowledged and how many failed.
fn publisher(
    broker: &Broker,
    topic: String,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<(Vec<String>, usize)> {
    let broker = broker.clone();
    tokio::spawn(async move {
        let (mut acked, mut failed) = (Vec::new(), 0);
        let mut n = 0u64;
        while !*stop.borrow() {
            let data = format!("{topic}/{n}");
            match broker.publish(&topic, Event::data(&data)).await {
                Ok(_) => acked.push(data),
                Err(_) => failed += 1,
            }
            n += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        (acked, failed)
    })
}

/// Every string in `reply`, nested ones included.
fn strings(reply: &Reply, out: &mut Vec<String>) {
    match reply {
        Reply::Bulk(Some(bytes)) => out.push(String::from_utf8_lossy(bytes).into_owned()),
        Reply::Status(text) => out.push(text.clone()),
        Reply::Array(Some(items)) => items.iter().for_each(|item| strings(item, out)),
        _ => {}
    }
}

/// The `data:` of every event in `topic`'s stream, read on the node on
/// `port`.
fn stream_data(cluster: &RedisCluster, port: u16, topic: &str) -> BTreeSet<String> {
    let reply = cluster.command(port, &["XRANGE", &format!("sse:topic:{topic}"), "-", "+"]);
    let mut all = Vec::new();
    strings(&reply, &mut all);
    all.iter()
        .filter_map(|field| field.strip_prefix("data: "))
        .map(|rest| rest.lines().next().unwrap_or_default().to_owned())
        .collect()
}

/// Reads `subscription` until `until` is received; when the stream ends
/// (its unit's position was lost), resumes on `again` from the last id,
/// as a browser does. Returns the data received and the resets seen.
async fn read_all(
    mut subscription: Subscription,
    again: &Broker,
    topic: &str,
    until: &str,
) -> (Vec<String>, usize) {
    let (mut data, mut resets) = (Vec::new(), 0);
    let mut last_id = None;
    loop {
        match next(&mut subscription).await {
            Some(event) => {
                let frame = String::from_utf8_lossy(event.as_bytes()).into_owned();
                if frame.starts_with("event: reset") {
                    resets += 1;
                    last_id = Some(id_of(&event));
                    continue;
                }
                last_id = Some(id_of(&event));
                let value = data_of(&event);
                if value == until {
                    return (data, resets);
                }
                data.push(value);
            }
            None => {
                // A reset comes as the first event, `event: reset`.
                subscription = again
                    .subscribe(&[topic], last_id.as_deref())
                    .await
                    .expect("resubscribe after the stream ended");
            }
        }
    }
}

/// Publishes `data` to `topic`, retrying until it is acknowledged.
async fn publish_surely(broker: &Broker, topic: &str, data: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match broker.publish(topic, Event::data(data)).await {
            Ok(_) => return,
            Err(error) if tokio::time::Instant::now() < deadline => {
                eprintln!("publish of {data} failed, retrying: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("cannot publish {data}: {error}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_a_master_is_killed_only_its_slots_subscribers_reset_and_nothing_is_lost_silently() {
    let mut cluster = start().await;
    let masters = cluster.masters();
    let killed_topic = topic_on(&cluster, masters[0], "doomed");
    let other_topic = topic_on(&cluster, masters[1], "safe");
    let durable_topic = topic_on(&cluster, masters[0], "durable");
    let slot = slot_of_topic(&killed_topic);
    let (a, b, c) = (
        broker(&cluster).await,
        broker(&cluster).await,
        broker(&cluster).await,
    );
    let durable = broker_with(builder(&cluster).durability(1, Duration::from_secs(1))).await;
    let on_killed = b.subscribe(&[&killed_topic], None).await.unwrap();
    let on_other = b.subscribe(&[&other_topic], None).await.unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let publishers = [
        publisher(&a, killed_topic.clone(), stopped.clone()),
        publisher(&a, other_topic.clone(), stopped.clone()),
        publisher(&durable, durable_topic.clone(), stopped),
    ];
    let readers = [
        tokio::spawn({
            let (c, topic) = (c.clone(), killed_topic.clone());
            async move { read_all(on_killed, &c, &topic, "end").await }
        }),
        tokio::spawn({
            let (c, topic) = (c.clone(), other_topic.clone());
            async move { read_all(on_other, &c, &topic, "end").await }
        }),
    ];
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (mut cluster, killed, promoted) = tokio::task::spawn_blocking(move || {
        let port = cluster.kill_master(slot);
        let promoted = cluster.wait_for_failover(slot, Duration::from_secs(30));
        eprintln!("killed master {port}; {promoted} took slot {slot} over");
        (cluster, port, promoted)
    })
    .await
    .unwrap();
    // Publishing goes on after the promotion.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.send(true).unwrap();
    let mut acked = Vec::new();
    for publisher in publishers {
        let (data, failed) = publisher.await.unwrap();
        eprintln!("publisher: {} acknowledged, {failed} failed", data.len());
        acked.push(data);
    }
    publish_surely(&a, &killed_topic, "end").await;
    publish_surely(&a, &other_topic, "end").await;
    let mut results = Vec::new();
    for reader in readers {
        let result = tokio::time::timeout(Duration::from_secs(30), reader)
            .await
            .expect("the readers finish")
            .unwrap();
        results.push(result);
    }
    let [(killed_data, killed_resets), (other_data, other_resets)] = &results[..] else {
        unreachable!()
    };
    // No publish acknowledged by a replica (`WAIT`) was lost: the promoted
    // master holds each.
    let kept = stream_data(&cluster, promoted, &durable_topic);
    let lost: Vec<&String> = acked[2]
        .iter()
        .filter(|data| !kept.contains(*data))
        .collect();
    eprintln!(
        "durable publisher: {} acknowledged by a replica, {} of them lost",
        acked[2].len(),
        lost.len()
    );
    assert!(!acked[2].is_empty());
    assert!(
        lost.is_empty(),
        "acknowledged with WAIT, then lost: {lost:?}"
    );
    eprintln!(
        "killed master's topic: {} received, {} resets; other: {} received, {} resets",
        killed_data.len(),
        killed_resets,
        other_data.len(),
        other_resets
    );
    // The other master's subscriber: every acknowledged event, once, in
    // order, and no reset.
    assert_eq!(*other_resets, 0);
    let received: Vec<&String> = other_data
        .iter()
        .filter(|data| acked[1].contains(data))
        .collect();
    assert_eq!(received.len(), acked[1].len(), "every acknowledged event");
    let unique: BTreeSet<&String> = other_data.iter().collect();
    assert_eq!(unique.len(), other_data.len(), "no duplicate");
    // The killed master's subscriber: every acknowledged event, or a reset.
    let unique: BTreeSet<&String> = killed_data.iter().collect();
    assert_eq!(unique.len(), killed_data.len(), "no duplicate");
    let missing = acked[0].iter().filter(|d| !unique.contains(d)).count();
    assert!(
        missing == 0 || *killed_resets > 0,
        "{missing} acknowledged events lost without a reset"
    );
    // Subscribing and publishing work on the promoted master.
    let mut fresh = c.subscribe(&[&killed_topic], None).await.unwrap();
    let id = a
        .publish(&killed_topic, Event::data("after"))
        .await
        .unwrap();
    assert_eq!(
        next_event(&mut fresh).await,
        stamp(&Event::data("after"), id)
    );
    // The killed node comes back, as a replica: streams go on, no reset.
    let mut staying = c.subscribe(&[&other_topic], None).await.unwrap();
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.restart_node(killed);
        cluster
    })
    .await
    .unwrap();
    for (topic, subscription) in [(&killed_topic, &mut fresh), (&other_topic, &mut staying)] {
        let id = a.publish(topic, Event::data("back")).await.unwrap();
        assert_eq!(
            next_event(subscription).await,
            stamp(&Event::data("back"), id)
        );
    }
    drop(cluster);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slot_migrated_while_streaming_causes_no_reset_and_no_gap() {
    let cluster = start().await;
    let masters = cluster.masters();
    let topic = topic_on(&cluster, masters[0], "moving");
    // Another slot of the same master, which stays.
    let staying = topic_on(&cluster, masters[0], "staying");
    let slot = slot_of_topic(&topic);
    assert_ne!(slot, slot_of_topic(&staying));
    let (a, b) = (broker(&cluster).await, broker(&cluster).await);
    let subscription = b.subscribe(&[&topic], None).await.unwrap();
    let staying_subscription = b.subscribe(&[&staying], None).await.unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let publishing = publisher(&a, topic.clone(), stopped.clone());
    let publishing_staying = publisher(&a, staying.clone(), stopped);
    let reader = tokio::spawn({
        let (b, topic) = (b.clone(), topic.clone());
        async move { read_all(subscription, &b, &topic, "end").await }
    });
    let staying_reader = tokio::spawn({
        let (b, topic) = (b.clone(), staying.clone());
        async move { read_all(staying_subscription, &b, &topic, "end").await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let to = masters[1];
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.migrate_slot(slot, to);
        assert_eq!(cluster.master_of(slot), to);
        cluster
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.send(true).unwrap();
    let (acked, failed) = publishing.await.unwrap();
    publish_surely(&a, &topic, "end").await;
    let (data, resets) = tokio::time::timeout(Duration::from_secs(30), reader)
        .await
        .expect("the reader finishes")
        .unwrap();
    eprintln!(
        "{} acknowledged, {failed} failed, {} received, {resets} resets",
        acked.len(),
        data.len()
    );
    assert_eq!(resets, 0, "no reset");
    // Every acknowledged event, in the order published, none twice (a
    // failed publish may have been applied too).
    let received: Vec<&String> = data.iter().filter(|d| acked.contains(d)).collect();
    assert_eq!(received, acked.iter().collect::<Vec<_>>(), "no gap");
    let unique: BTreeSet<&String> = data.iter().collect();
    assert_eq!(unique.len(), data.len(), "no duplicate");
    // The slot that stayed on the old master streamed on, untouched.
    let (acked, _) = publishing_staying.await.unwrap();
    publish_surely(&a, &staying, "end").await;
    let (data, resets) = tokio::time::timeout(Duration::from_secs(30), staying_reader)
        .await
        .expect("the other reader finishes")
        .unwrap();
    assert_eq!(resets, 0, "no reset for the slot that stayed");
    let received: Vec<&String> = data.iter().filter(|d| acked.contains(d)).collect();
    assert_eq!(
        received,
        acked.iter().collect::<Vec<_>>(),
        "no gap where the slot stayed"
    );
    drop(cluster);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durability_on_a_single_redis_without_replicas_is_an_error_not_a_false_success() {
    let server = RedisServer::start();
    let backend = RedisBackend::builder(&server.url())
        .durability(1, Duration::from_millis(100))
        .connect()
        .await
        .unwrap();
    assert!(!backend.is_cluster());
    let a = Broker::builder().build_with(backend);
    let b = Broker::builder().build_with(RedisBackend::connect(&server.url()).await.unwrap());
    let mut on_b = b.subscribe(&["t"], None).await.unwrap();
    let error = a
        .publish("t", Event::data("x"))
        .await
        .expect_err("no replica can acknowledge");
    assert!(matches!(error, BrokerError::Backend(_)));
    assert!(
        error.to_string().contains("not confirmed durable"),
        "{error}"
    );
    // Written all the same: subscribers get it, with the next id.
    let event = next_event(&mut on_b).await;
    assert_eq!(data_of(&event), "x");
    let id = b.publish("t", Event::data("y")).await.unwrap();
    assert_eq!(id.seq(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_while_a_publishes_continuously_has_no_gap_and_no_duplicate() {
    let cluster = start().await;
    let a = broker(&cluster).await;
    let b = broker_with(builder(&cluster).defaults(TopicConfig::new().lag_limit(1024))).await;
    // B already reads the unit, so the new subscription meets live
    // delivery under way.
    scenarios::resume_while_a_publishes_continuously_has_no_gap_and_no_duplicate(
        (&a, &b),
        "{busy}:feed",
        "{busy}:other",
        "{busy}:other",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_spanning_subscription_resumed_while_all_masters_publish_has_no_gap_and_no_duplicate() {
    let cluster = start().await;
    let (a, b, c) = (
        broker(&cluster).await,
        broker(&cluster).await,
        broker_with(builder(&cluster).defaults(TopicConfig::new().lag_limit(4096))).await,
    );
    let topics: Vec<String> = cluster
        .masters()
        .into_iter()
        .map(|port| topic_on(&cluster, port, "busy"))
        .collect();
    // C already reads every unit: the resume meets live delivery under way.
    let _warm = c.subscribe(&topics, None).await.unwrap();
    let mut on_b = b.subscribe(&topics, None).await.unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let publishers: Vec<_> = topics
        .iter()
        .map(|topic| publisher(&a, topic.clone(), stopped.clone()))
        .collect();
    let mut seen = BTreeSet::new();
    let mut last_id = String::new();
    for _ in 0..60 {
        let (data, id) = next_spanning(&mut on_b).await;
        assert!(seen.insert(data), "a duplicate on B");
        last_id = id;
    }
    drop(on_b);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut on_c = c.subscribe(&topics, Some(&last_id)).await.unwrap();
    assert!(
        matches!(on_c.resume(), Resume::Replayed { .. }),
        "{:?}",
        on_c.resume()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.send(true).unwrap();
    let mut published = BTreeSet::new();
    for publisher in publishers {
        let (acked, failed) = publisher.await.unwrap();
        assert_eq!(failed, 0);
        published.extend(acked);
    }
    eprintln!(
        "{} published, {} read before the resume",
        published.len(),
        seen.len()
    );
    while seen.len() < published.len() {
        let (data, _) = next_spanning(&mut on_c).await;
        assert!(
            seen.insert(data.clone()),
            "a duplicate after the resume: {data}"
        );
    }
    assert_eq!(seen, published, "no gap");
    assert_quiet(&mut on_c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_subscribers_connection_killed_mid_stream_is_recovered_with_no_reset_and_no_gap() {
    let cluster = start().await;
    let masters = cluster.masters();
    let topic = topic_on(&cluster, masters[0], "cut");
    let (a, b) = (broker(&cluster).await, broker(&cluster).await);
    let subscription = b.subscribe(&[&topic], None).await.unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let publishing = publisher(&a, topic.clone(), stopped);
    let reader = tokio::spawn({
        let (b, topic) = (b.clone(), topic.clone());
        async move { read_all(subscription, &b, &topic, "end").await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    // B's connection to the topic's master (the one that holds its
    // subscription) is cut; messages published meanwhile never reach it.
    let killed = cluster.command(masters[0], &["CLIENT", "KILL", "TYPE", "pubsub"]);
    eprintln!("CLIENT KILL TYPE pubsub: {killed:?}");
    assert!(matches!(killed, Reply::Integer(n) if n >= 1), "{killed:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.send(true).unwrap();
    let (acked, failed) = publishing.await.unwrap();
    publish_surely(&a, &topic, "end").await;
    let (data, resets) = tokio::time::timeout(Duration::from_secs(30), reader)
        .await
        .expect("the reader finishes")
        .unwrap();
    eprintln!(
        "{} acknowledged, {failed} failed, {} received, {resets} resets",
        acked.len(),
        data.len()
    );
    assert_eq!(resets, 0, "no reset");
    let received: Vec<&String> = data.iter().filter(|d| acked.contains(d)).collect();
    assert_eq!(received, acked.iter().collect::<Vec<_>>(), "no gap");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_of_the_single_redis_format_resets_on_the_cluster_and_is_never_misread() {
    // An id a single Redis gave out: one epoch for every topic.
    let server = RedisServer::start();
    let single = Broker::builder().build_with(RedisBackend::connect(&server.url()).await.unwrap());
    single.publish("{r}:a", Event::data("one")).await.unwrap();
    let old = single.publish("{r}:a", Event::data("two")).await.unwrap();

    let cluster = start().await;
    let broker = broker(&cluster).await;
    for _ in 0..3 {
        broker
            .publish("{r}:a", Event::data("on the cluster"))
            .await
            .unwrap();
    }
    // One unit: the id's epoch is not the slot's, so a reset, not a replay
    // of whatever follows sequence number 2 there.
    let mut one = broker
        .subscribe(&["{r}:a"], Some(&old.to_string()))
        .await
        .unwrap();
    assert!(
        matches!(
            one.resume(),
            Resume::Reset {
                reason: ResetReason::OtherEpoch,
                ..
            }
        ),
        "{:?}",
        one.resume()
    );
    assert!(
        next_event(&mut one)
            .await
            .as_bytes()
            .starts_with(b"event: reset\n")
    );
    assert_quiet(&mut one).await;
    // Two units: one id cannot name both, so a reset as well.
    let two = broker
        .subscribe(&["{r}:a", "{s}:a"], Some(&old.to_string()))
        .await
        .unwrap();
    assert!(
        matches!(
            two.resume(),
            Resume::Reset {
                reason: ResetReason::Unknown,
                ..
            }
        ),
        "{:?}",
        two.resume()
    );
}
