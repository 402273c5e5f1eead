//! The Redis backend against a real `redis-server` started by each test.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use sse_test_support::id_of;
use sse_test_support::private;
use sse_test_support::redis::RedisServer;
use ssekit_core::Event;
use ssekit_core::broker::{
    Broker, BrokerError, EventId, Grant, LagPolicy, ResetReason, Resume, Subscription, TopicConfig,
    stamp,
};
use ssekit_redis::{RedisBackend, RedisBackendBuilder};

mod scenarios;

use scenarios::{WAIT, assert_quiet, next, next_event};

fn builder(server: &RedisServer) -> RedisBackendBuilder {
    RedisBackend::builder(&server.url())
        .command_timeout(Duration::from_millis(500))
        .reconnect_backoff(Duration::from_millis(20), Duration::from_millis(200))
}

/// A broker over its own backend: one "process".
async fn broker(server: &RedisServer) -> Broker {
    broker_with(builder(server)).await
}

async fn broker_with(builder: RedisBackendBuilder) -> Broker {
    let backend = builder.connect().await.expect("connect to redis-server");
    Broker::builder().build_with(backend)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_published_on_a_is_received_on_b() {
    let server = RedisServer::start();
    let (a, b) = (broker(&server).await, broker(&server).await);
    assert_eq!(a.epoch(), b.epoch());
    scenarios::an_event_published_on_a_is_received_on_b(&a, &b, "room").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_events_published_on_a_reach_only_granted_subscribers_on_b() {
    let server = RedisServer::start();
    let (a, b) = (broker(&server).await, broker(&server).await);
    let (script, readers) = private::every_case();
    // The flag and the topics travel through Redis: B filters what A wrote,
    // live (B's reader) and replayed (B's range reads), in id order.
    private::check(&a, &b, &script, &readers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_issued_by_a_resumes_on_b_without_loss_or_duplicate() {
    let server = RedisServer::start();
    let (a, b) = (broker(&server).await, broker(&server).await);
    scenarios::an_id_issued_by_a_resumes_on_b_without_loss_or_duplicate(&a, &b, "feed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_while_a_publishes_continuously_has_no_gap_and_no_duplicate() {
    let server = RedisServer::start();
    let a = broker(&server).await;
    let b = broker_with(builder(&server).defaults(TopicConfig::new().lag_limit(1024))).await;
    // B already reads the topic, so the new subscription meets a running reader.
    scenarios::resume_while_a_publishes_continuously_has_no_gap_and_no_duplicate(
        (&a, &b),
        "busy",
        "other",
        "busy",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_of_another_epoch_or_never_given_out_reset() {
    let server = RedisServer::start();
    let (a, b) = (broker(&server).await, broker(&server).await);
    let id = a.publish("t", Event::data("x")).await.unwrap();
    let foreign = EventId::new(a.epoch() ^ 1, 1).to_string();
    let mut other = b.subscribe(&["t"], Some(&foreign)).await.unwrap();
    assert_eq!(
        other.resume(),
        Resume::Reset {
            reason: ResetReason::OtherEpoch,
            position: id.into()
        }
    );
    let notice = next_event(&mut other).await;
    assert_eq!(
        notice.as_bytes(),
        format!("event: reset\nid: {id}\ndata: other-epoch\n\n").as_bytes()
    );
    let future = EventId::new(a.epoch(), 99).to_string();
    let unknown = b.subscribe(&["t"], Some(&future)).await.unwrap();
    assert!(matches!(
        unknown.resume(),
        Resume::Reset {
            reason: ResetReason::Unknown,
            ..
        }
    ));
}

/// The path of an example binary of this package, built by `cargo test`.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/{profile}/deps");
    dir.join("examples").join(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_os_process_publishes_and_resumes_with_ids_of_this_one() {
    let server = RedisServer::start();
    let here = broker(&server).await;
    let peer = example("redis_peer");
    assert!(
        peer.is_file(),
        "{} missing: `cargo test -p ssekit-redis` builds it",
        peer.display()
    );

    // The other process publishes; this one receives.
    let mut live = here.subscribe(&["shared"], None).await.unwrap();
    let output = tokio::time::timeout(
        WAIT,
        tokio::process::Command::new(&peer)
            .args([&server.url(), "publish", "shared", "3"])
            .output(),
    )
    .await
    .expect("the peer finishes")
    .expect("run the peer");
    assert!(output.status.success(), "{output:?}");
    let ids: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(ids.len(), 3);
    for (n, id) in ids.iter().enumerate() {
        let event = next_event(&mut live).await;
        assert_eq!(
            event,
            stamp(&Event::data(&format!("peer {n}")), id.parse().unwrap())
        );
    }

    // This one published; the other process resumes with the first id.
    let more = [
        here.publish("shared", Event::data("a")).await.unwrap(),
        here.publish("shared", Event::data("b")).await.unwrap(),
    ];
    let mut child = Command::new(&peer)
        .args([&server.url(), "subscribe", "shared", "4", &ids[0]])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run the peer");
    let stdout = child.stdout.take().unwrap();
    let lines = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map(|line| line.unwrap())
            .collect::<Vec<_>>()
    });
    let lines = tokio::time::timeout(WAIT * 2, lines)
        .await
        .unwrap()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    // Replayed: the other 2 of its own ids, then the 2 published here.
    let expected: Vec<String> = std::iter::once("ready".to_owned())
        .chain(ids[1..].iter().cloned())
        .chain(more.iter().map(ToString::to_string))
        .collect();
    assert_eq!(lines, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_without_persistence_errors_publishes_then_resets_subscribers() {
    let mut server = RedisServer::start();
    let (a, b) = (broker(&server).await, broker(&server).await);
    let mut on_b = b.subscribe(&["news"], None).await.unwrap();
    let first = a.publish("news", Event::data("before")).await.unwrap();
    assert_eq!(
        next_event(&mut on_b).await,
        stamp(&Event::data("before"), first)
    );

    server.kill();
    let failed = a.publish("news", Event::data("during")).await;
    assert!(matches!(failed, Err(BrokerError::Backend(_))), "{failed:?}");
    server.restart();

    // The epoch and the stream are gone: B's subscription ends, and the
    // client's reconnect with its last id gets the explicit reset.
    assert_eq!(next(&mut on_b).await, None);
    let after = publish_retrying(&a, "news", "after").await;
    assert_ne!(after.epoch(), first.epoch());
    let mut again = b
        .subscribe(&["news"], Some(&first.to_string()))
        .await
        .unwrap();
    assert_eq!(
        again.resume(),
        Resume::Reset {
            reason: ResetReason::OtherEpoch,
            position: after.into()
        }
    );
    assert!(
        next_event(&mut again)
            .await
            .as_bytes()
            .starts_with(b"event: reset\n")
    );
    let live = a.publish("news", Event::data("live")).await.unwrap();
    assert_eq!(
        next_event(&mut again).await,
        stamp(&Event::data("live"), live)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_with_persistence_delivers_what_subscribers_missed() {
    let mut server = RedisServer::start_persistent();
    let (a, b) = (broker(&server).await, broker(&server).await);
    let mut on_b = b.subscribe(&["news"], None).await.unwrap();
    let mut published = vec![a.publish("news", Event::data("0")).await.unwrap()];
    assert_eq!(
        id_of(&next_event(&mut on_b).await),
        published[0].to_string()
    );

    server.kill();
    assert!(a.publish("news", Event::data("lost")).await.is_err());
    server.restart();
    // Published while B's reader is still reconnecting, and after.
    for n in 1..=5 {
        published.push(publish_retrying(&a, "news", &n.to_string()).await);
    }
    assert!(
        published
            .iter()
            .all(|id| id.epoch() == published[0].epoch())
    );
    for id in &published[1..] {
        assert_eq!(id_of(&next_event(&mut on_b).await), id.to_string());
    }
    assert_quiet(&mut on_b).await;
}

/// Redis put back at an older snapshot: A published 6 events to `news`,
/// which B's subscription received, then the epoch, the sequence and the
/// stream are restored as they were after the third (`DUMP` then
/// `RESTORE … REPLACE`), as after a restart from that snapshot.
struct RolledBack {
    server: RedisServer,
    a: Broker,
    b: Broker,
    on_b: Subscription,
    /// The id of the sixth event, which B's client holds.
    last: EventId,
}

async fn rolled_back() -> RolledBack {
    let server = RedisServer::start();
    let (a, b) = (broker(&server).await, broker(&server).await);
    let mut on_b = b.subscribe(&["news"], None).await.unwrap();
    let mut ids = Vec::new();
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut older = Vec::new();
    for n in 0..6 {
        if n == 3 {
            for key in ["sse:epoch", "sse:seq", "sse:topic:news"] {
                let value: Vec<u8> = redis::cmd("DUMP")
                    .arg(key)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                older.push((key, value));
            }
        }
        let id = a
            .publish("news", Event::data(&n.to_string()))
            .await
            .unwrap();
        assert_eq!(id_of(&next_event(&mut on_b).await), id.to_string());
        ids.push(id);
    }
    for (key, value) in older {
        let () = redis::cmd("RESTORE")
            .arg(key)
            .arg(0)
            .arg(value)
            .arg("REPLACE")
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    RolledBack {
        server,
        a,
        b,
        on_b,
        last: ids[5],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_back_at_an_older_snapshot_moves_to_a_new_epoch_at_the_next_publish() {
    let RolledBack {
        server: _server,
        a,
        b,
        mut on_b,
        last,
    } = rolled_back().await;

    // Redis would give out ids 4, 5, 6 again, for other events: a browser
    // holding `last` would then resume past events it never saw. A, which
    // saw 6, moves Redis to a new epoch instead.
    let after = a.publish("news", Event::data("after")).await.unwrap();
    assert_ne!(after.epoch(), last.epoch());
    // B's subscription ends (its position is gone) rather than going on
    // silently, and `last` resets.
    assert_eq!(next(&mut on_b).await, None);
    let resumed = b
        .subscribe(&["news"], Some(&last.to_string()))
        .await
        .unwrap();
    assert!(
        matches!(
            resumed.resume(),
            Resume::Reset {
                reason: ResetReason::OtherEpoch,
                ..
            }
        ),
        "{:?}",
        resumed.resume()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_sees_redis_back_at_an_older_snapshot_moves_it_to_a_new_epoch() {
    let RolledBack {
        server,
        mut on_b,
        last,
        ..
    } = rolled_back().await;

    // Nobody publishes: B's reader, which sent up to 6, sees the sequence
    // at 3 on its next read, moves Redis on and ends its subscriptions.
    assert_eq!(next(&mut on_b).await, None);
    // A process that never saw 4 to 6 then publishes in the new epoch.
    let fresh = broker(&server).await;
    let id = fresh.publish("news", Event::data("later")).await.unwrap();
    assert_ne!(id.epoch(), last.epoch());
}

async fn publish_retrying(broker: &Broker, topic: &str, data: &str) -> EventId {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match broker.publish(topic, Event::data(data)).await {
            Ok(id) => return id,
            Err(error) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "publish still fails: {error}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// The sequence number of an event's id.
fn seq_of(event: &Event) -> u64 {
    id_of(event).parse::<EventId>().expect("a broker id").seq()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_to_several_topics_receives_them_in_id_order_under_concurrent_publishing() {
    // Its `Last-Event-ID` is the last id it received: had a later id of
    // one topic come before an earlier one of another, a reconnect in
    // between would resume past the earlier one and lose it.
    let server = RedisServer::start();
    let (a, b) = (broker(&server).await, broker(&server).await);
    let topics = ["x", "y", "z"];
    let mut merged = b.subscribe(&topics, None).await.unwrap();
    const PER_TASK: usize = 400;
    let publishers: Vec<_> = (0..6)
        .map(|task| {
            let a = a.clone();
            tokio::spawn(async move {
                for n in 0..PER_TASK {
                    let topic = topics[(task + n) % topics.len()];
                    a.publish(topic, Event::data("e")).await.unwrap();
                }
            })
        })
        .collect();
    let mut last = 0;
    for received in 0..6 * PER_TASK {
        let seq = seq_of(&next_event(&mut merged).await);
        assert!(seq > last, "event {received}: id {seq} after {last}");
        last = seq;
    }
    for publisher in publishers {
        publisher.await.unwrap();
    }
    assert_eq!(last, (6 * PER_TASK) as u64);
    assert_quiet(&mut merged).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_topics_each_get_their_own_events_once() {
    let server = RedisServer::start();
    let (a, b) = (broker(&server).await, broker(&server).await);
    let names: Vec<String> = (0..40).map(|n| format!("topic-{n}")).collect();
    let mut singles = Vec::new();
    for name in &names {
        singles.push(b.subscribe(&[name.as_str()], None).await.unwrap());
    }
    let mut all = b.subscribe(&names, None).await.unwrap();
    let mut ids = Vec::new();
    for name in &names {
        ids.push(a.publish(name, Event::data(name.as_str())).await.unwrap());
    }
    let both = a
        .publish_to(&["topic-0", "topic-1"], Event::data("both"))
        .await
        .unwrap();
    for ((subscription, name), id) in singles.iter_mut().zip(&names).zip(&ids) {
        assert_eq!(
            next_event(subscription).await,
            stamp(&Event::data(name.as_str()), *id)
        );
    }
    for id in &ids {
        assert_eq!(id_of(&next_event(&mut all).await), id.to_string());
    }
    assert_eq!(
        next_event(&mut all).await,
        stamp(&Event::data("both"), both)
    );
    assert_quiet(&mut all).await;
    // The multi-topic event, resumed on another broker, also comes once.
    let mut resumed = a
        .subscribe(&["topic-0", "topic-1"], Some(&ids[1].to_string()))
        .await
        .unwrap();
    assert_eq!(resumed.resume(), Resume::Replayed { events: 1 });
    assert_eq!(id_of(&next_event(&mut resumed).await), both.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_reader_per_process_serves_every_topic_and_subscriber() {
    let server = RedisServer::start();
    let (a, b) = (broker(&server).await, broker(&server).await);
    let names: Vec<String> = (0..20).map(|n| format!("crowd-{n}")).collect();
    let mut subscriptions = Vec::new();
    for name in &names {
        for _ in 0..5 {
            subscriptions.push((name, b.subscribe(&[name], None).await.unwrap()));
        }
    }
    let mut ids = std::collections::HashMap::new();
    for name in &names {
        ids.insert(name, a.publish(name, Event::data(name)).await.unwrap());
    }
    for (name, subscription) in &mut subscriptions {
        assert_eq!(
            next_event(subscription).await,
            stamp(&Event::data(name), ids[name])
        );
    }
    // Each backend has one command connection; B has one reader for all
    // of its topics, A (no subscriber) one that waits without reading.
    let clients = server.command(&["CLIENT", "LIST"]);
    let readers = clients
        .lines()
        .filter(|line| line.contains("cmd=xread"))
        .count();
    assert_eq!(readers, 1, "{clients}");
    assert_eq!(b.stats().topics.len(), 20);
    assert!(b.stats().topics.iter().all(|topic| topic.subscribers == 5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_added_while_the_reader_waits_is_read_at_once() {
    let server = RedisServer::start();
    let (a, b) = (broker(&server).await, broker(&server).await);
    let _quiet = b.subscribe(&["quiet"], None).await.unwrap();
    // The reader is now blocked on `quiet` for up to `block` (2 s); the
    // new topic interrupts it (`CLIENT UNBLOCK`) instead of waiting.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    let mut new = b.subscribe(&["new"], None).await.unwrap();
    let id = a.publish("new", Event::data("now")).await.unwrap();
    assert_eq!(next_event(&mut new).await, stamp(&Event::data("now"), id));
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(1),
        "{waited:?}: the reader waited out its block"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_trimmed_exactly_at_the_bound() {
    let server = RedisServer::start();
    let config = TopicConfig::new().max_events(10);
    let a = broker_with(builder(&server).defaults(config.clone()).exact_trim(true)).await;
    let b = broker_with(builder(&server).defaults(config).exact_trim(true)).await;
    let mut ids = Vec::new();
    for n in 0..25 {
        ids.push(
            a.publish("log", Event::data(&format!("{n}")))
                .await
                .unwrap(),
        );
    }
    assert_eq!(server.command(&["XLEN", "sse:topic:log"]), ":10\r\n");
    // The oldest kept is #15: resuming after #14 loses nothing.
    let kept = b
        .subscribe(&["log"], Some(&ids[14].to_string()))
        .await
        .unwrap();
    assert_eq!(kept.resume(), Resume::Replayed { events: 10 });
    let lost = b
        .subscribe(&["log"], Some(&ids[13].to_string()))
        .await
        .unwrap();
    assert!(matches!(
        lost.resume(),
        Resume::Reset {
            reason: ResetReason::Evicted,
            ..
        }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approximate_trimming_keeps_at_least_the_bound_and_says_what_it_lost() {
    let server = RedisServer::start();
    let config = TopicConfig::new().max_events(10);
    let a = broker_with(builder(&server).defaults(config.clone())).await;
    let b = broker_with(builder(&server).defaults(config)).await;
    let mut ids = Vec::new();
    for n in 0..500 {
        ids.push(
            a.publish("log", Event::data(&format!("{n}")))
                .await
                .unwrap(),
        );
    }
    let len: usize = server
        .command(&["XLEN", "sse:topic:log"])
        .trim()
        .trim_start_matches(':')
        .parse()
        .unwrap();
    assert!((10..500).contains(&len), "XLEN {len}");
    let recent = b
        .subscribe(&["log"], Some(&ids[489].to_string()))
        .await
        .unwrap();
    assert_eq!(recent.resume(), Resume::Replayed { events: 10 });
    let old = b
        .subscribe(&["log"], Some(&ids[0].to_string()))
        .await
        .unwrap();
    assert!(matches!(
        old.resume(),
        Resume::Reset {
            reason: ResetReason::Evicted,
            ..
        }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_past_the_lag_limit_is_disconnected_locally() {
    let server = RedisServer::start();
    let config = TopicConfig::new()
        .lag_limit(4)
        .lag_policy(LagPolicy::Disconnect);
    let a = broker(&server).await;
    let b = broker_with(builder(&server).defaults(config)).await;
    let mut slow = b.subscribe(&["fast"], None).await.unwrap();
    let mut last = None;
    for n in 0..20 {
        last = Some(
            a.publish("fast", Event::data(&format!("{n}")))
                .await
                .unwrap(),
        );
    }
    // Wait until B's reader has sent everything, then read.
    let mut watcher = b.subscribe(&["fast"], None).await.unwrap();
    let probe = a.publish("fast", Event::data("probe")).await.unwrap();
    assert!(probe > last.unwrap());
    while id_of(&next_event(&mut watcher).await) != probe.to_string() {}
    let mut received = 0;
    while next(&mut slow).await.is_some() {
        received += 1;
    }
    assert!(received <= 4, "{received}");
    assert_eq!(b.stats().dropped, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_trimmed_before_this_process_read_them_end_the_subscription_then_reset() {
    let server = RedisServer::start();
    let (a, b) = (broker(&server).await, broker(&server).await);
    let mut both = b.subscribe(&["x", "y"], None).await.unwrap();
    let seen = a.publish("x", Event::data("seen")).await.unwrap();
    assert_eq!(id_of(&next_event(&mut both).await), seen.to_string());
    // An entry whose predecessor in the topic (seq 999) B never read: as
    // if the stream had been trimmed while B's reader was away.
    let epoch = format!("{:x}", a.epoch());
    server.command(&["SET", "sse:seq", "1000"]);
    server.command(&[
        "XADD",
        "sse:topic:x",
        "1000-0",
        "e",
        &format!("data: after a gap\nid: {epoch}-1000\n\n"),
        "p",
        "999",
    ]);
    // The whole subscription ends (not just the lane of `x`)…
    assert_eq!(next(&mut both).await, None);
    // …and the client's reconnect is told its position is gone.
    let again = b
        .subscribe(&["x", "y"], Some(&seen.to_string()))
        .await
        .unwrap();
    assert!(matches!(
        again.resume(),
        Resume::Reset {
            reason: ResetReason::Evicted,
            ..
        }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_event_of_a_topic_containing_nul_reaches_no_grant_of_its_prefix() {
    let server = RedisServer::start();
    let (a, b) = (broker(&server).await, broker(&server).await);
    let tricky = "a\0b";
    let before = a.publish("a", Event::data("before")).await.unwrap();
    // Live: B reads both topics, granted only `a`.
    let mut live = b
        .subscribe_granted(&[tricky, "a"], None, &Grant::topics(["a"]))
        .await
        .unwrap();
    let secret = a
        .publish_private(tricky, Event::data("secret"))
        .await
        .unwrap();
    let probe = a.publish("a", Event::data("probe")).await.unwrap();
    assert_eq!(id_of(&next_event(&mut live).await), probe.to_string());
    assert_quiet(&mut live).await;
    // Replayed: the same rule.
    let mut replayed = b
        .subscribe_granted(
            &[tricky, "a"],
            Some(&before.to_string()),
            &Grant::topics(["a"]),
        )
        .await
        .unwrap();
    assert_eq!(id_of(&next_event(&mut replayed).await), probe.to_string());
    // The grant of the exact name still receives it.
    let mut granted = b
        .subscribe_granted(
            &[tricky],
            Some(&before.to_string()),
            &Grant::topics([tricky]),
        )
        .await
        .unwrap();
    assert_eq!(id_of(&next_event(&mut granted).await), secret.to_string());
}

const TTL: Duration = Duration::from_millis(300);

fn pttl(server: &RedisServer, key: &str) -> i64 {
    server
        .command(&["PTTL", key])
        .trim()
        .trim_start_matches(':')
        .parse()
        .expect("an integer reply")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_not_published_for_its_ttl_is_removed_from_redis() {
    let server = RedisServer::start();
    let a = broker_with(builder(&server).topic_ttl(Some(TTL))).await;
    a.publish("room", Event::data("one")).await.unwrap();
    let ttl = pttl(&server, "sse:topic:room");
    assert!((1..=300).contains(&ttl), "PTTL {ttl}");
    // Each publish sets the TTL again: alive past the first one's.
    tokio::time::sleep(Duration::from_millis(200)).await;
    a.publish("room", Event::data("two")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.command(&["EXISTS", "sse:topic:room"]), ":1\r\n");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(server.command(&["EXISTS", "sse:topic:room"]), ":0\r\n");
    // What ids are made of never expires.
    assert_eq!(pttl(&server, "sse:epoch"), -1);
    assert_eq!(pttl(&server, "sse:seq"), -1);
    // Without a TTL, as before.
    let forever = broker_with(builder(&server).topic_ttl(None)).await;
    forever
        .publish("archive", Event::data("kept"))
        .await
        .unwrap();
    assert_eq!(pttl(&server, "sse:topic:archive"), -1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_topic_resumed_from_an_old_id_gets_the_reset_notice() {
    let server = RedisServer::start();
    let a = broker_with(builder(&server).topic_ttl(Some(TTL))).await;
    let b = broker_with(builder(&server).topic_ttl(Some(TTL))).await;
    let first = a.publish("room", Event::data("one")).await.unwrap();
    let last = a.publish("room", Event::data("two")).await.unwrap();
    tokio::time::sleep(TTL * 2).await;
    assert_eq!(server.command(&["EXISTS", "sse:topic:room"]), ":0\r\n");

    // Gone: event two may have been lost to the client of event one.
    let mut gone = b
        .subscribe(&["room"], Some(&first.to_string()))
        .await
        .unwrap();
    let Resume::Reset { reason, position } = gone.resume() else {
        panic!("{:?}", gone.resume());
    };
    assert_eq!(reason, ResetReason::Evicted);
    assert_eq!(
        next_event(&mut gone).await.as_bytes(),
        format!("event: reset\nid: {position}\ndata: evicted\n\n").as_bytes()
    );
    // The client of event two lost nothing.
    let up_to_date = b
        .subscribe(&["room"], Some(&last.to_string()))
        .await
        .unwrap();
    assert_eq!(up_to_date.resume(), Resume::Replayed { events: 0 });

    // Published to again: a new stream, which still tells.
    let again = a.publish("room", Event::data("three")).await.unwrap();
    let old = b
        .subscribe(&["room"], Some(&first.to_string()))
        .await
        .unwrap();
    assert!(matches!(
        old.resume(),
        Resume::Reset {
            reason: ResetReason::Evicted,
            ..
        }
    ));
    let mut recent = b
        .subscribe(&["room"], Some(&last.to_string()))
        .await
        .unwrap();
    assert_eq!(recent.resume(), Resume::Replayed { events: 1 });
    assert_eq!(id_of(&next_event(&mut recent).await), again.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_never_published_resumes_from_a_recent_id_without_a_reset() {
    let server = RedisServer::start();
    let a = broker_with(builder(&server).topic_ttl(Some(Duration::from_secs(60)))).await;
    let mut id = None;
    for n in 0..5 {
        id = Some(
            a.publish("busy", Event::data(&format!("{n}")))
                .await
                .unwrap(),
        );
    }
    let id = id.unwrap().to_string();
    let both = a.subscribe(&["busy", "new"], Some(&id)).await.unwrap();
    assert_eq!(both.resume(), Resume::Replayed { events: 0 });
    // Its first event, read live, is not taken for a gap either.
    let mut live = a.subscribe(&["new"], None).await.unwrap();
    a.publish("busy", Event::data("elsewhere")).await.unwrap();
    let first = a.publish("new", Event::data("first")).await.unwrap();
    assert_eq!(id_of(&next_event(&mut live).await), first.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_are_never_issued_twice_after_keys_expire() {
    let server = RedisServer::start();
    let a = broker_with(builder(&server).topic_ttl(Some(TTL))).await;
    let b = broker_with(builder(&server).topic_ttl(Some(TTL))).await;
    let mut ids = Vec::new();
    for round in 0..3 {
        for broker in [&a, &b] {
            ids.push(
                broker
                    .publish("t", Event::data(&format!("{round}")))
                    .await
                    .unwrap(),
            );
        }
        // Every topic key expires; the epoch and the sequence stay.
        tokio::time::sleep(TTL * 2).await;
        assert_eq!(server.command(&["EXISTS", "sse:topic:t"]), ":0\r\n");
        // A process that connects now finds the same epoch.
        let late = broker_with(builder(&server).topic_ttl(Some(TTL))).await;
        assert_eq!(late.epoch(), a.epoch());
        ids.push(late.publish("t", Event::data("late")).await.unwrap());
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert!(ids.iter().all(|id| id.epoch() == a.epoch()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sequence_lost_without_its_epoch_moves_to_a_new_epoch() {
    let server = RedisServer::start();
    let a = broker(&server).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(a.publish("t", Event::data(&format!("{n}"))).await.unwrap());
    }
    // As a maxmemory eviction could: the sequence goes, the epoch stays.
    server.command(&["DEL", "sse:seq"]);
    // A process that never saw the old sequence cannot count again from 1
    // in the old epoch.
    let fresh = broker(&server).await;
    let after = fresh.publish("t", Event::data("after")).await.unwrap();
    assert_ne!(after.epoch(), ids[0].epoch());
    assert!(!ids.contains(&after));
    // The stream held ids above the new sequence: it was replaced.
    let mut replay = fresh
        .subscribe(&["t"], Some(&EventId::new(after.epoch(), 0).to_string()))
        .await
        .unwrap();
    assert_eq!(replay.resume(), Resume::Replayed { events: 1 });
    assert_eq!(id_of(&next_event(&mut replay).await), after.to_string());
}

/// `cmdstat_{command}`'s calls in `INFO commandstats`.
fn calls(server: &RedisServer, command: &str) -> u64 {
    let info = server.command(&["INFO", "commandstats"]);
    info.lines()
        .find_map(|line| line.strip_prefix(&format!("cmdstat_{command}:calls=")))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().expect("a count"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_from_a_trimmed_position_reads_one_entry_per_topic_at_most() {
    let server = RedisServer::start();
    let config = TopicConfig::new().max_events(10);
    let a = broker_with(builder(&server).defaults(config).exact_trim(true)).await;
    let names: Vec<String> = (0..8).map(|n| format!("room{n}")).collect();
    for n in 0..400 {
        a.publish(&names[n % names.len()], Event::data("x"))
            .await
            .unwrap();
    }
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    server.command(&["CONFIG", "RESETSTAT"]);
    let old = a
        .subscribe(&names, Some(&format!("{:x}-1", a.epoch())))
        .await
        .unwrap();
    assert!(matches!(
        old.resume(),
        Resume::Reset {
            reason: ResetReason::Evicted,
            ..
        }
    ));
    // The first topic's first entry after the position says it was
    // trimmed: one `XRANGE … COUNT 1`, and the script stops.
    assert_eq!(calls(&server, "xrange"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_replays_no_more_than_the_history_bound() {
    let server = RedisServer::start();
    // The writer keeps 100 events; the reader's bound is 10.
    let writer = broker_with(builder(&server).defaults(TopicConfig::new().max_events(100))).await;
    let reader = broker_with(builder(&server).defaults(TopicConfig::new().max_events(10))).await;
    let mut ids = Vec::new();
    for n in 0..30 {
        ids.push(
            writer
                .publish("log", Event::data(&format!("{n}")))
                .await
                .unwrap(),
        );
    }
    let far = reader
        .subscribe(&["log"], Some(&ids[0].to_string()))
        .await
        .unwrap();
    assert!(matches!(
        far.resume(),
        Resume::Reset {
            reason: ResetReason::Evicted,
            ..
        }
    ));
    let near = reader
        .subscribe(&["log"], Some(&ids[19].to_string()))
        .await
        .unwrap();
    assert_eq!(near.resume(), Resume::Replayed { events: 10 });
}
