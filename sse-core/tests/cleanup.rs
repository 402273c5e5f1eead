//! The broker cleans up by itself (issue 20): a timer it owns evicts
//! expired history and removes idle topics, and a broker-wide budget bounds
//! history, with no call to `Broker::evict_expired` anywhere here. Time is
//! Tokio's paused clock, which the broker's history ages follow.
#![cfg(feature = "broker")]

use std::time::Duration;

use futures_util::StreamExt;
use ssekit_core::Event;
use ssekit_core::broker::{Broker, EventId, ResetReason, Resume, TopicConfig};

const SWEEP: Duration = Duration::from_secs(30);
const IDLE: Duration = Duration::from_secs(600);

fn topic_count(broker: &Broker) -> usize {
    broker.stats().topics.len()
}

fn retained_bytes(broker: &Broker) -> usize {
    broker.stats().topics.iter().map(|t| t.retained_bytes).sum()
}

/// Tasks alive on the current runtime: the sweep is the only one the
/// broker starts.
fn tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// Lets the sweep task run what it was woken for.
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn idle_topics_are_removed_after_the_idle_age_without_evict_expired() {
    // History outlives the idle timeout, so only the idle rule removes.
    let broker = Broker::builder()
        .defaults(
            TopicConfig::new()
                .max_age(Duration::from_secs(3600))
                .idle_timeout(IDLE),
        )
        .sweep_interval(SWEEP)
        .build();
    for room in 0..100 {
        broker
            .publish(&format!("room:{room}"), Event::data("hello"))
            .await
            .unwrap();
    }
    // A subscriber that came and went: idle time counts from its leaving.
    tokio::time::sleep(Duration::from_secs(60)).await;
    drop(broker.subscribe(&["room:0"], None).await.unwrap());
    assert_eq!(topic_count(&broker), 100);

    tokio::time::sleep(IDLE - SWEEP - Duration::from_secs(60)).await;
    assert_eq!(topic_count(&broker), 100, "not idle long enough yet");
    tokio::time::sleep(2 * SWEEP + Duration::from_secs(1)).await;
    let left: Vec<_> = broker.stats().topics.into_iter().map(|t| t.name).collect();
    assert_eq!(
        left,
        [std::sync::Arc::from("room:0")],
        "its idle time restarted"
    );
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(topic_count(&broker), 0);
    assert_eq!(broker.stats().evicted, 100, "their history went with them");
}

#[tokio::test(start_paused = true)]
async fn rooms_with_the_default_bounds_are_gone_after_max_age_and_a_sweep() {
    // The chat example's case: every POST to a new room makes a topic.
    let broker = Broker::new();
    for room in 0..1000 {
        broker
            .publish(&format!("room:{room}"), Event::data("hi"))
            .await
            .unwrap();
    }
    assert_eq!(topic_count(&broker), 1000);
    tokio::time::sleep(TopicConfig::DEFAULT_MAX_AGE - Duration::from_secs(1)).await;
    assert_eq!(topic_count(&broker), 1000, "history still young");
    tokio::time::sleep(Broker::DEFAULT_SWEEP_INTERVAL + Duration::from_secs(2)).await;
    assert_eq!(topic_count(&broker), 0);
    assert_eq!(retained_bytes(&broker), 0);
}

#[tokio::test(start_paused = true)]
async fn a_topic_with_a_subscriber_is_never_removed() {
    let broker = Broker::builder()
        .defaults(
            TopicConfig::new()
                .max_age(Duration::from_secs(1))
                .idle_timeout(Duration::from_secs(1)),
        )
        .sweep_interval(Duration::from_secs(1))
        .build();
    let mut watched = broker.subscribe(&["watched"], None).await.unwrap();
    let mut silent = broker.subscribe(&["silent"], None).await.unwrap();
    broker.publish("watched", Event::data("1")).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3600)).await;

    let stats = broker.stats();
    let names: Vec<&str> = stats.topics.iter().map(|t| &*t.name).collect();
    assert_eq!(names, ["silent", "watched"]);
    assert_eq!(stats.topics[1].retained_events, 0, "its history expired");
    // The live feeds are the same ones: both still deliver.
    broker.publish("watched", Event::data("2")).await.unwrap();
    broker.publish("silent", Event::data("3")).await.unwrap();
    for (subscription, data) in [(&mut watched, "1"), (&mut silent, "3")] {
        let event = subscription.next().await.unwrap();
        assert!(
            event
                .as_bytes()
                .starts_with(format!("data: {data}\n").as_bytes())
        );
    }
    let event = watched.next().await.unwrap();
    assert!(event.as_bytes().starts_with(b"data: 2\n"));
    drop((watched, silent));
    assert_eq!(topic_count(&broker), 2, "each keeps its event a second");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(topic_count(&broker), 0);
}

#[tokio::test(start_paused = true)]
async fn history_older_than_max_age_is_dropped_by_the_sweep() {
    let broker = Broker::builder()
        .defaults(TopicConfig::new().max_age(Duration::from_secs(60)))
        .build();
    let _subscriber = broker.subscribe(&["t"], None).await.unwrap();
    broker.publish("t", Event::data("old")).await.unwrap();
    tokio::time::sleep(Duration::from_secs(40)).await;
    broker.publish("t", Event::data("new")).await.unwrap();
    assert_eq!(broker.stats().topics[0].retained_events, 2);

    // Nothing touches the topic but the sweeps, at 60 s, 90 s, 120 s.
    tokio::time::sleep(Duration::from_secs(55)).await;
    let stats = broker.stats();
    assert_eq!((stats.topics[0].retained_events, stats.evicted), (1, 1));
    tokio::time::sleep(SWEEP).await;
    let stats = broker.stats();
    assert_eq!((stats.topics[0].retained_events, stats.evicted), (0, 2));
    assert_eq!(stats.topics[0].retained_bytes, 0);
}

#[tokio::test(start_paused = true)]
async fn the_sweep_task_ends_when_the_last_broker_is_dropped() {
    assert_eq!(tasks(), 0);
    let broker = Broker::builder().sweep_interval(SWEEP).build();
    assert_eq!(tasks(), 0, "nothing runs before the broker's first use");
    let clone = broker.clone();
    clone.publish("t", Event::data("x")).await.unwrap();
    let subscription = broker.subscribe(&["t"], None).await.unwrap();
    assert_eq!(tasks(), 1, "one sweep, however many uses");
    tokio::time::sleep(3 * SWEEP).await;
    assert_eq!(tasks(), 1);

    drop(broker);
    drop(clone);
    settle().await;
    assert_eq!(tasks(), 1, "a subscription keeps the broker's state");
    drop(subscription);
    // Not at its next tick: dropping the state wakes the task.
    settle().await;
    assert_eq!(tasks(), 0);

    let off = Broker::builder().sweep_interval(Duration::ZERO).build();
    off.publish("t", Event::data("x")).await.unwrap();
    assert_eq!(tasks(), 0, "Duration::ZERO starts no task");
}

#[test]
fn a_broker_built_outside_a_runtime_starts_its_sweep_on_first_use_inside_one() {
    let broker = Broker::builder()
        .defaults(TopicConfig::new().max_age(Duration::from_secs(10)))
        .sweep_interval(Duration::from_secs(1))
        .build();
    // Used outside a runtime, as a doctest would: no panic, no task.
    assert_eq!(topic_count(&broker), 0);
    broker.evict_expired();

    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap()
    };
    runtime().block_on(async {
        assert_eq!(tasks(), 0);
        broker.publish("t", Event::data("x")).await.unwrap();
        assert_eq!(tasks(), 1);
        tokio::time::sleep(Duration::from_secs(12)).await;
        assert_eq!(topic_count(&broker), 0, "the sweep ran");
    });
    // That runtime is gone, and its task with it; the next use inside
    // another starts a new one.
    runtime().block_on(async {
        broker.publish("t", Event::data("y")).await.unwrap();
        assert_eq!(tasks(), 1);
        tokio::time::sleep(Duration::from_secs(12)).await;
        assert_eq!(topic_count(&broker), 0, "the sweep runs again");
    });
}

#[tokio::test(start_paused = true)]
async fn the_history_budget_holds_across_1000_topics() {
    const BUDGET: usize = 200_000;
    let broker = Broker::builder().max_history_bytes(BUDGET).build();
    let data = "x".repeat(100);
    let mut ids: Vec<Vec<EventId>> = vec![Vec::new(); 1000];
    // An upper bound on one event's frame: its data, `id:` and framing.
    const FRAME: usize = 200;
    for round in 0..5 {
        for (topic, ids) in ids.iter_mut().enumerate() {
            let id = broker
                .publish(&format!("topic:{topic}"), Event::data(&data))
                .await
                .unwrap();
            ids.push(id);
            if topic % 100 == 0 {
                let kept = retained_bytes(&broker);
                assert!(kept <= BUDGET, "round {round}, topic {topic}: {kept}");
            }
        }
    }
    // 5 000 events of about 120 bytes were published; what is kept is the
    // budget less at most a sixteenth and one event.
    let kept = retained_bytes(&broker);
    assert!(
        (BUDGET - BUDGET / 16 - FRAME..=BUDGET).contains(&kept),
        "{kept}"
    );

    // Oldest first, across topics: every event kept is newer than every
    // event evicted.
    let mut first_kept = u64::MAX;
    for (topic, ids) in ids.iter().enumerate() {
        let name = format!("topic:{topic}");
        let events = broker
            .stats()
            .topics
            .iter()
            .find(|t| *t.name == name)
            .map_or(0, |t| t.retained_events);
        if events > 0 {
            first_kept = first_kept.min(ids[ids.len() - events].seq());
        }
    }
    let stats = broker.stats();
    assert_eq!(
        stats.evicted,
        5000 - (stats
            .topics
            .iter()
            .map(|t| t.retained_events)
            .sum::<usize>() as u64)
    );
    assert_eq!(
        first_kept,
        stats.evicted + 1,
        "the evicted are ids 1..={}",
        stats.evicted
    );
}

/// The resumes after the sweep or the budget took the events: a `reset`,
/// never a silent gap.
#[tokio::test(start_paused = true)]
async fn resume_after_eviction_gives_the_reset() {
    let broker = Broker::builder()
        .defaults(
            TopicConfig::new()
                .max_age(Duration::from_secs(3600))
                .idle_timeout(IDLE),
        )
        .max_history_bytes(10_000)
        .build();
    // A room removed while idle, with its history.
    let first = broker.publish("room", Event::data("1")).await.unwrap();
    let last = broker.publish("room", Event::data("2")).await.unwrap();
    tokio::time::sleep(IDLE + 2 * SWEEP).await;
    assert_eq!(topic_count(&broker), 0);
    let mut stale = broker
        .subscribe(&["room"], Some(&first.to_string()))
        .await
        .unwrap();
    assert!(matches!(
        stale.resume(),
        Resume::Reset {
            reason: ResetReason::Evicted,
            ..
        }
    ));
    let notice = stale.next().await.unwrap();
    assert!(
        notice.as_bytes().starts_with(b"event: reset\n"),
        "{notice:?}"
    );
    // From its last event nothing was lost: a replay of nothing.
    let current = broker
        .subscribe(&["room"], Some(&last.to_string()))
        .await
        .unwrap();
    assert_eq!(current.resume(), Resume::Replayed { events: 0 });
    drop((stale, current));

    // A position followed by an event the budget evicted.
    let early = broker.publish("a", Event::data("early")).await.unwrap();
    broker.publish("a", Event::data("missed")).await.unwrap();
    for _ in 0..200 {
        broker
            .publish("b", Event::data(&"y".repeat(100)))
            .await
            .unwrap();
    }
    let resumed = broker
        .subscribe(&["a"], Some(&early.to_string()))
        .await
        .unwrap();
    assert!(matches!(
        resumed.resume(),
        Resume::Reset {
            reason: ResetReason::Evicted,
            ..
        }
    ));
}
