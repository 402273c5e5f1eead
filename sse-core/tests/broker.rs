//! The broker's rules: delivery, ids, resume, bounds, slow consumers,
//! unsubscribe, stats, shutdown.
#![cfg(feature = "broker")]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use proptest::prelude::*;
use ssekit_core::Event;
use ssekit_core::broker::{
    Backend, Broker, EventId, LagPolicy, MemoryBackend, ResetReason, Resume, Subscription,
    TopicConfig, stamp,
};

const WAIT: Duration = Duration::from_secs(10);

async fn next(subscription: &mut Subscription) -> Option<Event> {
    tokio::time::timeout(WAIT, subscription.next())
        .await
        .expect("an event or the end within the timeout")
}

/// The next event if one is ready now.
fn ready(subscription: &mut Subscription) -> Option<Option<Event>> {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    match subscription.poll_next_unpin(&mut cx) {
        std::task::Poll::Ready(item) => Some(item),
        std::task::Poll::Pending => None,
    }
}

fn data(event: &Event) -> String {
    let text = std::str::from_utf8(event.as_bytes()).unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix("data: "))
        .unwrap_or("")
        .to_owned()
}

fn id_of(event: &Event) -> EventId {
    let text = std::str::from_utf8(event.as_bytes()).unwrap();
    text.lines()
        .filter_map(|line| line.strip_prefix("id: "))
        .next_back()
        .expect("an id line")
        .parse()
        .unwrap()
}

#[tokio::test]
async fn every_subscriber_receives_the_same_bytes_with_the_id_appended() {
    let broker = Broker::new();
    let mut a = broker.subscribe(&["t"], None).await.unwrap();
    let mut b = broker.subscribe(&["t"], None).await.unwrap();
    let event = Event::builder().event("chat").data("hi").build().unwrap();
    let id = broker.publish("t", event.clone()).await.unwrap();

    let got_a = next(&mut a).await.unwrap();
    let got_b = next(&mut b).await.unwrap();
    assert_eq!(
        got_a.as_bytes(),
        format!("event: chat\ndata: hi\nid: {id}\n\n").as_bytes()
    );
    assert_eq!(got_a, stamp(&event, id));
    // One frame shared by both: no copy per subscriber.
    assert_eq!(got_a.as_bytes().as_ptr(), got_b.as_bytes().as_ptr());
}

#[tokio::test]
async fn without_an_id_a_subscription_gets_no_replay() {
    let broker = Broker::new();
    broker.publish("t", Event::data("old")).await.unwrap();
    let mut s = broker.subscribe(&["t"], None).await.unwrap();
    assert_eq!(s.resume(), Resume::Fresh);
    assert_eq!(ready(&mut s), None);
    broker.publish("t", Event::data("new")).await.unwrap();
    assert_eq!(data(&next(&mut s).await.unwrap()), "new");
}

#[tokio::test]
async fn resume_replays_what_followed_the_id_then_continues_live() {
    let broker = Broker::new();
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(
            broker
                .publish("t", Event::data(&n.to_string()))
                .await
                .unwrap(),
        );
    }
    let mut s = broker
        .subscribe(&["t"], Some(&ids[1].to_string()))
        .await
        .unwrap();
    assert_eq!(s.resume(), Resume::Replayed { events: 3 });
    broker.publish("t", Event::data("5")).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(data(&next(&mut s).await.unwrap()));
    }
    assert_eq!(seen, ["2", "3", "4", "5"]);
    assert_eq!(ready(&mut s), None);
}

#[tokio::test]
async fn an_id_from_another_epoch_resets_with_a_notice_carrying_the_position() {
    let broker = Broker::new();
    let last = broker.publish("t", Event::data("a")).await.unwrap();
    let foreign = EventId::new(broker.epoch() ^ 1, 1).to_string();
    let mut s = broker.subscribe(&["t"], Some(&foreign)).await.unwrap();
    assert_eq!(
        s.resume(),
        Resume::Reset {
            reason: ResetReason::OtherEpoch,
            position: last.into()
        }
    );
    let notice = next(&mut s).await.unwrap();
    assert_eq!(
        notice.as_bytes(),
        format!(
            "event: reset\nid: {:x}-1\ndata: other-epoch\n\n",
            broker.epoch()
        )
        .as_bytes()
    );
    // No replay after a reset.
    assert_eq!(ready(&mut s), None);
}

#[tokio::test]
async fn a_malformed_or_future_id_resets() {
    let broker = Broker::new();
    broker.publish("t", Event::data("a")).await.unwrap();
    let s = broker.subscribe(&["t"], Some("hello")).await.unwrap();
    assert!(matches!(
        s.resume(),
        Resume::Reset {
            reason: ResetReason::Malformed,
            ..
        }
    ));
    let future = EventId::new(broker.epoch(), 99).to_string();
    let s = broker.subscribe(&["t"], Some(&future)).await.unwrap();
    assert!(matches!(
        s.resume(),
        Resume::Reset {
            reason: ResetReason::Unknown,
            ..
        }
    ));
}

#[tokio::test]
async fn an_evicted_id_resets() {
    let broker = Broker::builder()
        .defaults(TopicConfig::new().max_events(2))
        .build();
    let first = broker.publish("t", Event::data("0")).await.unwrap();
    for n in 1..4 {
        broker
            .publish("t", Event::data(&n.to_string()))
            .await
            .unwrap();
    }
    let mut s = broker
        .subscribe(&["t"], Some(&first.to_string()))
        .await
        .unwrap();
    assert!(matches!(
        s.resume(),
        Resume::Reset {
            reason: ResetReason::Evicted,
            ..
        }
    ));
    assert!(
        next(&mut s)
            .await
            .unwrap()
            .as_bytes()
            .starts_with(b"event: reset\n")
    );
    // The last retained id still resumes.
    let s = broker
        .subscribe(&["t"], Some(&EventId::new(broker.epoch(), 2).to_string()))
        .await
        .unwrap();
    assert_eq!(s.resume(), Resume::Replayed { events: 2 });
}

#[tokio::test]
async fn history_is_bounded_by_count() {
    let broker = Broker::builder()
        .defaults(TopicConfig::new().max_events(3))
        .build();
    for n in 0..10 {
        broker
            .publish("t", Event::data(&n.to_string()))
            .await
            .unwrap();
    }
    let stats = broker.stats();
    assert_eq!(stats.topics[0].retained_events, 3);
    assert_eq!(stats.evicted, 7);
}

#[tokio::test]
async fn history_is_bounded_by_bytes() {
    // Room for two frames `data: x\nid: {epoch}-N\n\n` with one-digit N.
    let backend = MemoryBackend::new();
    let frame = stamp(&Event::data("x"), EventId::new(backend.epoch(), 1)).len();
    let broker = Broker::builder()
        .build_with(backend.defaults(TopicConfig::new().max_bytes(2 * frame + frame / 2)));
    for _ in 0..5 {
        broker.publish("t", Event::data("x")).await.unwrap();
    }
    let stats = broker.stats();
    assert_eq!(stats.topics[0].retained_events, 2);
    assert_eq!(stats.topics[0].retained_bytes, 2 * frame);
}

#[tokio::test]
async fn history_is_bounded_by_age() {
    let broker = Broker::builder()
        .defaults(TopicConfig::new().max_age(Duration::from_millis(50)))
        .build();
    let first = broker.publish("t", Event::data("old")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(80)).await;
    broker.publish("t", Event::data("new")).await.unwrap();
    assert_eq!(broker.stats().topics[0].retained_events, 1);
    let s = broker
        .subscribe(&["t"], Some(&first.to_string()))
        .await
        .unwrap();
    assert_eq!(s.resume(), Resume::Replayed { events: 1 });
    drop(s);
    tokio::time::sleep(Duration::from_millis(80)).await;
    broker.evict_expired();
    assert!(
        broker.stats().topics.is_empty(),
        "an idle, empty topic is forgotten"
    );
}

#[tokio::test]
async fn a_never_polled_subscriber_delays_no_one_and_is_disconnected() {
    let broker = Broker::builder()
        .defaults(TopicConfig::new().lag_limit(8).max_events(16))
        .build();
    let mut stalled = broker.subscribe(&["t"], None).await.unwrap();
    let mut reader = broker.subscribe(&["t"], None).await.unwrap();
    for n in 0..100 {
        broker
            .publish("t", Event::data(&n.to_string()))
            .await
            .unwrap();
        assert_eq!(data(&next(&mut reader).await.unwrap()), n.to_string());
    }
    // Memory stays within the bounds whatever the stalled one does.
    assert_eq!(broker.stats().topics[0].retained_events, 16);
    // Its stream ends when it finally looks (the default policy).
    assert_eq!(next(&mut stalled).await, None);
    assert_eq!(broker.stats().dropped, 1);
    assert_eq!(broker.stats().topics[0].subscribers, 1);
}

#[tokio::test]
async fn skip_ahead_sends_a_lagged_notice_then_continues() {
    let broker = Broker::builder()
        .defaults(
            TopicConfig::new()
                .lag_limit(4)
                .lag_policy(LagPolicy::SkipAhead),
        )
        .build();
    let mut s = broker.subscribe(&["t"], None).await.unwrap();
    for n in 0..10 {
        broker
            .publish("t", Event::data(&n.to_string()))
            .await
            .unwrap();
    }
    assert_eq!(
        next(&mut s).await.unwrap().as_bytes(),
        b"event: lagged\ndata: 6\n\n"
    );
    let rest: Vec<String> = (0..4)
        .map(|_| ready(&mut s).unwrap().unwrap())
        .map(|e| data(&e))
        .collect();
    assert_eq!(rest, ["6", "7", "8", "9"]);
    assert_eq!(broker.stats().skipped, 6);
}

#[tokio::test]
async fn the_lag_limit_in_bytes_bounds_a_subscriber_behind_few_large_events() {
    // Each event encodes to about 1 030 bytes: three fit in 3 300, four
    // do not, far below the lag limit in events.
    let broker = Broker::builder()
        .defaults(
            TopicConfig::new()
                .lag_limit(1_000)
                .lag_limit_bytes(3_300)
                .lag_policy(LagPolicy::SkipAhead),
        )
        .build();
    let mut s = broker.subscribe(&["t"], None).await.unwrap();
    for n in 0..10 {
        let data = format!("{n}{}", "x".repeat(999));
        broker.publish("t", Event::data(&data)).await.unwrap();
    }
    assert_eq!(
        next(&mut s).await.unwrap().as_bytes(),
        b"event: lagged\ndata: 7\n\n"
    );
    let rest: Vec<String> = (0..3)
        .map(|_| ready(&mut s).unwrap().unwrap())
        .map(|e| data(&e)[..1].to_owned())
        .collect();
    assert_eq!(rest, ["7", "8", "9"]);
}

#[tokio::test]
async fn dropping_a_subscription_unsubscribes_at_once_and_counts_fall_to_zero() {
    let joined = Arc::new(AtomicUsize::new(0));
    let left = Arc::new(AtomicUsize::new(0));
    let broker = Broker::builder()
        .defaults(TopicConfig::new().max_events(0))
        .on_subscribe({
            let joined = Arc::clone(&joined);
            move |_| {
                joined.fetch_add(1, Ordering::SeqCst);
            }
        })
        .on_unsubscribe({
            let left = Arc::clone(&left);
            move |_| {
                left.fetch_add(1, Ordering::SeqCst);
            }
        })
        .build();
    let a = broker.subscribe(&["x", "y"], None).await.unwrap();
    let b = broker.subscribe(&["x"], None).await.unwrap();
    let stats = broker.stats();
    assert_eq!(stats.subscriptions, 2);
    let counts: Vec<(String, usize)> = stats
        .topics
        .iter()
        .map(|t| (t.name.to_string(), t.subscribers))
        .collect();
    assert_eq!(counts, [("x".to_owned(), 2), ("y".to_owned(), 1)]);
    drop(a);
    drop(b);
    let stats = broker.stats();
    assert_eq!(stats.subscriptions, 0);
    assert!(
        stats.topics.is_empty(),
        "idle topics are removed: {:?}",
        stats.topics
    );
    assert_eq!(joined.load(Ordering::SeqCst), 3);
    assert_eq!(left.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn an_event_published_to_two_topics_arrives_once_with_one_id() {
    let broker = Broker::new();
    let mut both = broker.subscribe(&["a", "b"], None).await.unwrap();
    let mut only_b = broker.subscribe(&["b"], None).await.unwrap();
    let shared = broker
        .publish_to(&["a", "b"], Event::data("both"))
        .await
        .unwrap();
    broker.publish("a", Event::data("a")).await.unwrap();
    broker.publish("b", Event::data("b")).await.unwrap();

    let got: Vec<String> = (0..3)
        .map(|_| ready(&mut both).unwrap().unwrap())
        .map(|e| data(&e))
        .collect();
    assert_eq!(got, ["both", "a", "b"]);
    assert_eq!(ready(&mut both), None);
    let first_b = next(&mut only_b).await.unwrap();
    assert_eq!(id_of(&first_b), shared);

    // Resuming both topics from before it replays it once too.
    let before = EventId::new(broker.epoch(), shared.seq() - 1);
    let mut again = broker
        .subscribe(&["b", "a"], Some(&before.to_string()))
        .await
        .unwrap();
    assert_eq!(again.resume(), Resume::Replayed { events: 3 });
    let got: Vec<String> = (0..3)
        .map(|_| ready(&mut again).unwrap().unwrap())
        .map(|e| data(&e))
        .collect();
    assert_eq!(got, ["both", "a", "b"]);
}

#[tokio::test]
async fn shutdown_ends_every_subscription_after_pending_events_and_the_final_event() {
    let broker = Broker::new();
    let mut one = broker.subscribe(&["a"], None).await.unwrap();
    let mut two = broker.subscribe(&["a", "b"], None).await.unwrap();
    broker.publish("a", Event::data("last")).await.unwrap();
    broker.shutdown(Some(Event::data("bye")));
    for s in [&mut one, &mut two] {
        assert_eq!(data(&next(s).await.unwrap()), "last");
        assert_eq!(next(s).await, Some(Event::data("bye")));
        assert_eq!(next(s).await, None);
    }
    assert!(broker.publish("a", Event::data("late")).await.is_err());
    assert!(broker.subscribe(&["a"], None).await.is_err());
}

#[tokio::test]
async fn shutdown_wakes_a_waiting_subscriber() {
    let broker = Broker::new();
    let mut s = broker.subscribe(&["a"], None).await.unwrap();
    let waiting = tokio::spawn(async move { next(&mut s).await });
    tokio::task::yield_now().await;
    broker.shutdown(None);
    assert_eq!(
        tokio::time::timeout(WAIT, waiting).await.unwrap().unwrap(),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_publishers_and_subscribers_lose_nothing_and_keep_topic_order() {
    const PUBLISHERS: usize = 4;
    const PER_PUBLISHER: usize = 250;
    let broker = Broker::builder()
        .defaults(TopicConfig::new().lag_limit(4096))
        .build();
    let topics = ["red", "blue"];
    let mut readers = Vec::new();
    for n in 0..16 {
        let topic = topics[n % 2];
        let mut s = broker.subscribe(&[topic], None).await.unwrap();
        readers.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            while seen.len() < PUBLISHERS * PER_PUBLISHER {
                let Some(event) = next(&mut s).await else {
                    break;
                };
                seen.push((id_of(&event).seq(), data(&event)));
            }
            seen
        }));
    }
    let mut publishers = Vec::new();
    for p in 0..PUBLISHERS {
        let broker = broker.clone();
        publishers.push(tokio::spawn(async move {
            for n in 0..PER_PUBLISHER {
                for topic in ["red", "blue"] {
                    broker
                        .publish(topic, Event::data(&format!("{p}:{n}")))
                        .await
                        .unwrap();
                }
                if n % 16 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        }));
    }
    for publisher in publishers {
        tokio::time::timeout(WAIT, publisher)
            .await
            .unwrap()
            .unwrap();
    }
    for reader in readers {
        let seen = tokio::time::timeout(WAIT, reader).await.unwrap().unwrap();
        assert_eq!(seen.len(), PUBLISHERS * PER_PUBLISHER, "no loss");
        assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "ids increase");
        for p in 0..PUBLISHERS {
            let mine: Vec<usize> = seen
                .iter()
                .filter_map(|(_, d)| d.strip_prefix(&format!("{p}:")))
                .map(|n| n.parse().unwrap())
                .collect();
            assert_eq!(
                mine,
                (0..PER_PUBLISHER).collect::<Vec<_>>(),
                "publisher order"
            );
        }
    }
    assert_eq!(
        broker.stats().published,
        (2 * PUBLISHERS * PER_PUBLISHER) as u64
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// A publisher thread publishes while a client resumes from a random
    /// earlier id at a random moment: it gets every later event exactly once.
    #[test]
    fn resume_under_concurrent_publishing_has_no_gap_and_no_duplicate(
        before in 1usize..40,
        during in 1usize..200,
        resume_at in 0usize..40,
        topics in 1usize..3,
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        runtime.block_on(async move {
            let names = ["a", "b"];
            let broker = Broker::new();
            let mut ids = Vec::new();
            for n in 0..before {
                ids.push(broker.publish(names[n % topics], Event::data(&n.to_string())).await.unwrap());
            }
            let from = ids[resume_at.min(before - 1)];
            let publisher = {
                let broker = broker.clone();
                std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
                    runtime.block_on(async {
                        for n in before..before + during {
                            broker.publish(names[n % topics], Event::data(&n.to_string())).await.unwrap();
                            if n % 7 == 0 {
                                std::thread::yield_now();
                            }
                        }
                    });
                })
            };
            let mut s = broker.subscribe(&names[..topics], Some(&from.to_string())).await.unwrap();
            let replayed = matches!(s.resume(), Resume::Replayed { .. });
            prop_assert!(replayed);
            let last = before + during - 1;
            let mut seen = Vec::new();
            while seen.last() != Some(&last) {
                let event = next(&mut s).await.unwrap();
                seen.push(data(&event).parse::<usize>().unwrap());
            }
            publisher.join().unwrap();
            let first = (from.seq() as usize).min(before); // seq n+1 carries data n
            prop_assert_eq!(seen, (first..=last).collect::<Vec<_>>());
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn with_the_defaults_a_subscriber_cut_off_for_lagging_resumes_from_history() {
    let broker = Broker::new();
    let mut slow = broker.subscribe(&["t"], None).await.unwrap();
    broker.publish("t", Event::data("first")).await.unwrap();
    let last_seen = id_of(&next(&mut slow).await.unwrap());

    // It stops reading while more than the lag limit is published...
    for n in 0..=TopicConfig::DEFAULT_LAG_LIMIT {
        broker
            .publish("t", Event::data(&n.to_string()))
            .await
            .unwrap();
    }
    // ...so its stream ends (the default policy is to disconnect)...
    assert_eq!(next(&mut slow).await, None);

    // ...and its reconnection still finds its position in the history.
    let resumed = broker
        .subscribe(&["t"], Some(&last_seen.to_string()))
        .await
        .unwrap();
    assert_eq!(
        resumed.resume(),
        Resume::Replayed {
            events: TopicConfig::DEFAULT_LAG_LIMIT + 1
        }
    );
}

/// Polls `future` once; these tests use the in-memory broker, whose
/// publish and subscribe are ready at once.
fn at_once<F: std::future::Future>(future: F) -> F::Output {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::pin!(future).poll(&mut cx) {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("the in-memory broker answers at once"),
    }
}

/// Two publisher threads on two topics, one subscriber of both: ids arrive
/// strictly increasing, so a browser's `Last-Event-ID` is always a position
/// that resumes without a gap or a duplicate.
#[test]
fn a_subscription_to_several_topics_gets_ids_in_order_under_concurrent_publishers() {
    const PER_TOPIC: usize = 20_000;
    for _round in 0..5 {
        let broker = Broker::builder()
            .defaults(TopicConfig::new().lag_limit(1 << 16).max_events(10))
            .build();
        let mut s = at_once(broker.subscribe(&["a", "b"], None)).unwrap();
        let publishers: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|topic| {
                let broker = broker.clone();
                std::thread::spawn(move || {
                    for n in 0..PER_TOPIC {
                        at_once(broker.publish(topic, Event::data(&n.to_string()))).unwrap();
                    }
                })
            })
            .collect();
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let mut seen = Vec::with_capacity(2 * PER_TOPIC);
        let deadline = std::time::Instant::now() + WAIT;
        while seen.len() < 2 * PER_TOPIC {
            assert!(
                std::time::Instant::now() < deadline,
                "every event within {WAIT:?}"
            );
            match s.poll_next_unpin(&mut cx) {
                std::task::Poll::Ready(Some(event)) => seen.push(id_of(&event).seq()),
                std::task::Poll::Ready(None) => panic!("the subscription ended"),
                std::task::Poll::Pending => std::thread::yield_now(),
            }
        }
        for publisher in publishers {
            publisher.join().unwrap();
        }
        let inversions = seen.windows(2).filter(|w| w[0] >= w[1]).count();
        assert_eq!(inversions, 0, "ids strictly increase");
    }
}

/// A subscribe racing `shutdown` either fails with `Closed` or gets a
/// subscription that ends: never one left open for ever. A publisher keeps
/// the topic map busy, which widens the window the race needs.
#[test]
fn a_subscription_opened_during_shutdown_ends() {
    for _round in 0..2_000 {
        let broker = Broker::new();
        let _listener = at_once(broker.subscribe(&["t"], None)).unwrap();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let publisher = {
            let broker = broker.clone();
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let _ = at_once(broker.publish("t", Event::data("x")));
                }
            })
        };
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let subscriber = {
            let broker = broker.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                at_once(broker.subscribe(&["u"], None))
            })
        };
        barrier.wait();
        broker.shutdown(None);
        stop.store(true, Ordering::Relaxed);
        publisher.join().unwrap();
        if let Ok(mut s) = subscriber.join().unwrap() {
            assert!(
                matches!(ready(&mut s), Some(None)),
                "a subscription opened around shutdown has ended"
            );
        }
    }
}

/// The modules of `src/broker/` (`mod.rs` aside) import each other without
/// a circle: each `super::x` or `crate::broker::x` path in code (not in
/// comments, nor in unit tests) is an edge, and a depth-first walk finds no
/// way back.
#[test]
fn broker_modules_import_each_other_without_a_circle() {
    use std::collections::BTreeMap;

    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/broker");
    let mut sources = BTreeMap::new();
    for file in std::fs::read_dir(&dir).unwrap() {
        let path = file.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        if name != "mod" && path.extension().is_some_and(|ext| ext == "rs") {
            sources.insert(name, std::fs::read_to_string(&path).unwrap());
        }
    }
    let names: Vec<String> = sources.keys().cloned().collect();
    let mut graph: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, source) in &sources {
        let code: String = source
            .split("#[cfg(test)]\nmod tests")
            .next()
            .unwrap()
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let mut deps = Vec::new();
        for prefix in ["super::", "crate::broker::"] {
            for (at, _) in code.match_indices(prefix) {
                let rest = &code[at + prefix.len()..];
                let group = match rest.strip_prefix('{') {
                    Some(inner) => &inner[..inner.find('}').unwrap()],
                    None => rest,
                };
                for part in group.split(',') {
                    let module: String = part
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if names.contains(&module) && module != *name && !deps.contains(&module) {
                        deps.push(module);
                    }
                }
            }
        }
        graph.insert(name.clone(), deps);
    }

    fn walk<'a>(
        graph: &'a BTreeMap<String, Vec<String>>,
        module: &'a str,
        path: &mut Vec<&'a str>,
        done: &mut Vec<&'a str>,
    ) {
        if let Some(at) = path.iter().position(|m| *m == module) {
            panic!(
                "import circle: {}",
                [&path[at..], &[module]].concat().join(" -> ")
            );
        }
        if done.contains(&module) {
            return;
        }
        path.push(module);
        for dep in &graph[module] {
            walk(graph, dep, path, done);
        }
        path.pop();
        done.push(module);
    }
    let mut done = Vec::new();
    for module in graph.keys() {
        walk(&graph, module, &mut Vec::new(), &mut done);
    }
    assert!(graph["entry"].is_empty(), "entry.rs imports no sibling");
    assert_eq!(done.len(), names.len());
}
