//! What holds between two processes on one Redis and on a Redis Cluster
//! alike, written once: `tests/redis.rs` and `tests/cluster.rs` run each
//! scenario over their own backends. `a` and `b` are two "processes" (two
//! backends, two brokers) on the same store.

use std::time::Duration;

use futures_util::StreamExt;
use sse_test_support::id_of;
use ssekit_core::Event;
use ssekit_core::broker::{Broker, EventId, Resume, Subscription, stamp};

/// How long a test waits for an event.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// The next item, within [`WAIT`].
pub(crate) async fn next(subscription: &mut Subscription) -> Option<Event> {
    tokio::time::timeout(WAIT, subscription.next())
        .await
        .expect("an event or the end within 10 s")
}

/// The next event, which must come.
pub(crate) async fn next_event(subscription: &mut Subscription) -> Event {
    next(subscription).await.expect("an event, not the end")
}

/// Nothing more arrives within a short while.
pub(crate) async fn assert_quiet(subscription: &mut Subscription) {
    let more = tokio::time::timeout(Duration::from_millis(300), subscription.next()).await;
    assert!(more.is_err(), "unexpected event: {more:?}");
}

/// Three events published on `a` reach a subscriber of `topic` on `b`, as
/// the frames `a` stamped, with ids 1, 2 and 3.
pub(crate) async fn an_event_published_on_a_is_received_on_b(a: &Broker, b: &Broker, topic: &str) {
    let mut on_b = b.subscribe(&[topic], None).await.unwrap();
    let mut ids = Vec::new();
    for text in ["one", "two", "three"] {
        ids.push(a.publish(topic, Event::data(text)).await.unwrap());
    }
    for (id, text) in ids.iter().zip(["one", "two", "three"]) {
        assert_eq!(next_event(&mut on_b).await, stamp(&Event::data(text), *id));
    }
    assert_eq!(ids.iter().map(EventId::seq).collect::<Vec<_>>(), [1, 2, 3]);
    assert_quiet(&mut on_b).await;
}

/// An id `a` gave out resumes on `b`: exactly the events after it, then
/// live ones.
pub(crate) async fn an_id_issued_by_a_resumes_on_b_without_loss_or_duplicate(
    a: &Broker,
    b: &Broker,
    topic: &str,
) {
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(a.publish(topic, Event::data(&n.to_string())).await.unwrap());
    }
    let mut on_b = b
        .subscribe(&[topic], Some(&ids[1].to_string()))
        .await
        .unwrap();
    assert_eq!(on_b.resume(), Resume::Replayed { events: 3 });
    ids.push(a.publish(topic, Event::data("5")).await.unwrap());
    for (n, id) in ids.iter().enumerate().skip(2) {
        assert_eq!(
            next_event(&mut on_b).await,
            stamp(&Event::data(&n.to_string()), *id)
        );
    }
    assert_quiet(&mut on_b).await;
}

/// `b` resumes `feed` from an early id while `a` publishes 300 events to
/// it: every event after the id once, in order. `b` already reads `warm`
/// (`feed` itself, or a topic of its ordering unit), so the resume meets
/// live delivery under way; `a` counts the sequence up on `probe`, of the
/// same unit. `b` needs a lag limit above 300.
pub(crate) async fn resume_while_a_publishes_continuously_has_no_gap_and_no_duplicate(
    (a, b): (&Broker, &Broker),
    feed: &str,
    probe: &str,
    warm: &str,
) {
    let _warm = b.subscribe(&[warm], None).await.unwrap();
    let publisher = {
        let (a, feed) = (a.clone(), feed.to_owned());
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for n in 0..300 {
                ids.push(a.publish(&feed, Event::data(&n.to_string())).await.unwrap());
                if n % 50 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            ids
        })
    };
    // Resume from an early id while publishing goes on.
    let first = loop {
        let id = a.publish(probe, Event::data("x")).await.unwrap();
        if id.seq() > 60 {
            break EventId::new(id.epoch(), 10);
        }
    };
    let mut on_b = b
        .subscribe(&[feed], Some(&first.to_string()))
        .await
        .unwrap();
    let ids = publisher.await.unwrap();
    let expected: Vec<String> = (ids.iter())
        .filter(|id| id.seq() > 10)
        .map(ToString::to_string)
        .collect();
    let mut got = Vec::new();
    while got.len() < expected.len() {
        got.push(id_of(&next_event(&mut on_b).await));
    }
    assert_eq!(got, expected);
    assert_quiet(&mut on_b).await;
}
