//! With `metrics`, the sweep's removals reach the facade: topics removed
//! and history events evicted. Its own test binary: one recorder per
//! process.
#![cfg(feature = "metrics")]

use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use ssekit_core::Event;
use ssekit_core::broker::{Broker, TopicConfig};

#[tokio::test(start_paused = true)]
async fn removed_topics_and_their_evicted_history_are_counted() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only recorder of this test binary");

    let broker = Broker::builder()
        .defaults(
            TopicConfig::new()
                .max_age(Duration::from_secs(3600))
                .idle_timeout(Duration::from_secs(60)),
        )
        .sweep_interval(Duration::from_secs(10))
        .build();
    for room in 0..3 {
        let name = format!("room:{room}");
        broker.publish(&name, Event::data("a")).await.unwrap();
        broker.publish(&name, Event::data("b")).await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(75)).await;
    assert!(broker.stats().topics.is_empty());

    // One snapshot: the debugging recorder resets what it reports.
    let snapshot = snapshotter.snapshot().into_vec();
    let counter = |name: &str| {
        snapshot
            .iter()
            .find(|(key, ..)| key.key().name() == name)
            .map(|(.., value)| value)
    };
    assert_eq!(
        counter("sse_broker_topics_removed_total"),
        Some(&DebugValue::Counter(3))
    );
    assert_eq!(
        counter("sse_broker_evicted_total"),
        Some(&DebugValue::Counter(6))
    );
}
