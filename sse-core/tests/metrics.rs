//! What the broker reports through the `metrics` facade (feature
//! `metrics`): subscriptions in total, per topic when asked, and publishes.
//!
//! Each test records with its own recorder, set for its thread (the tests
//! run on current-thread runtimes), so that tests running at once do not
//! see each other's figures.

use std::collections::HashMap;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use ssekit_core::Event;
use ssekit_core::broker::Broker;

/// Every series as `name{label=value,…}` → its change since the last
/// snapshot (the debugging recorder resets what it reports).
fn series(snapshotter: &Snapshotter) -> HashMap<String, f64> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let labels: Vec<String> = key
                .labels()
                .map(|label| format!("{}={}", label.key(), label.value()))
                .collect();
            let value = match value {
                DebugValue::Counter(n) => n as f64,
                DebugValue::Gauge(n) => n.into_inner(),
                DebugValue::Histogram(_) => f64::NAN,
            };
            (format!("{}{{{}}}", key.name(), labels.join(",")), value)
        })
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn subscriptions_per_topic_and_in_total_and_publishes_reach_the_facade() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);

    let broker = Broker::builder().topic_metrics(true).build();
    let both = broker.subscribe(&["a", "b"], None).await.unwrap();
    let only_a = broker.subscribe(&["a"], None).await.unwrap();
    broker.publish("a", Event::data("x")).await.unwrap();

    let now = series(&snapshotter);
    assert_eq!(now["sse_broker_subscriptions{}"], 2.0);
    assert_eq!(now["sse_broker_topic_subscribers{topic=a}"], 2.0);
    assert_eq!(now["sse_broker_topic_subscribers{topic=b}"], 1.0);
    assert_eq!(now["sse_broker_published_total{}"], 1.0);

    // Dropping both brings every gauge back to 0.
    drop(both);
    drop(only_a);
    let change = series(&snapshotter);
    assert_eq!(change["sse_broker_subscriptions{}"], -2.0);
    assert_eq!(change["sse_broker_topic_subscribers{topic=a}"], -2.0);
    assert_eq!(change["sse_broker_topic_subscribers{topic=b}"], -1.0);
}

#[tokio::test(flavor = "current_thread")]
async fn topics_are_no_metric_label_by_default() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);

    let broker = Broker::new();
    let subscription = broker.subscribe(&["a", "b"], None).await.unwrap();

    let now = series(&snapshotter);
    assert_eq!(now["sse_broker_subscriptions{}"], 1.0);
    let labelled: Vec<&String> = now.keys().filter(|key| key.contains("topic")).collect();
    assert!(labelled.is_empty(), "series with topics: {labelled:?}");
    drop(subscription);
}
