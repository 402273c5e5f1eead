//! Ordering units: a backend whose topics have ids of their own per unit
//! (one sequence and epoch per shard, as on Redis Cluster), and what a
//! subscription spanning several units writes as its position.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use ssekit_core::Event;
use ssekit_core::broker::{
    Backend, BackendFuture, BackendStats, Broker, BrokerError, Entry, EventId, Live, LiveSender,
    Opened, Position, ResetReason, Resume, Subscription, TopicConfig, Visibility, stamp,
};

/// A sharded store in memory: the unit of a topic is the number before its
/// `:`; each unit counts its own sequence in its own epoch.
#[derive(Default)]
struct Sharded {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    seq: HashMap<u16, u64>,
    history: HashMap<String, Vec<Entry>>,
    feeds: HashMap<String, LiveSender>,
}

fn unit_of(topic: &str) -> u16 {
    topic
        .split(':')
        .next()
        .and_then(|unit| unit.parse().ok())
        .unwrap_or(0)
}

fn epoch_of(unit: u16) -> u64 {
    0xe000 + u64::from(unit)
}

impl State {
    fn feed(&mut self, topic: &str) -> &LiveSender {
        self.feeds
            .entry(topic.to_owned())
            .or_insert_with(|| TopicConfig::new().live_feed().0)
    }
}

impl Backend for Sharded {
    fn epoch(&self) -> u64 {
        0
    }

    fn unit(&self, topic: &str) -> u16 {
        unit_of(topic)
    }

    fn publish<'a>(
        &'a self,
        topics: &'a [&'a str],
        event: &'a Event,
        visibility: Visibility,
    ) -> BackendFuture<'a, Result<EventId, BrokerError>> {
        let mut units: Vec<u16> = topics.iter().map(|topic| unit_of(topic)).collect();
        units.dedup();
        if units.len() > 1 {
            return BackendFuture::ready(Err(BrokerError::SpansUnits {
                units: units.len(),
                max: 1,
            }));
        }
        let unit = units[0];
        let mut state = self.state.lock().unwrap();
        let seq = state.seq.entry(unit).or_default();
        *seq += 1;
        let id = EventId::new(epoch_of(unit), *seq);
        let mut entry = Entry::new(id.seq(), stamp(event, id), visibility).with_unit(unit);
        if topics.len() > 1 {
            entry = entry.with_topics(
                topics
                    .iter()
                    .map(|&topic| Arc::from(topic))
                    .collect::<Vec<_>>(),
            );
        }
        for topic in topics {
            state
                .history
                .entry((*topic).to_owned())
                .or_default()
                .push(entry.clone());
            state.feed(topic).send(entry.clone());
        }
        BackendFuture::ready(Ok(id))
    }

    fn open<'a>(
        &'a self,
        topics: &'a [&'a str],
        after: &'a [(u16, EventId)],
    ) -> BackendFuture<'a, Result<Opened, BrokerError>> {
        let mut state = self.state.lock().unwrap();
        let mut units: Vec<u16> = topics.iter().map(|topic| unit_of(topic)).collect();
        units.sort_unstable();
        units.dedup();
        let positions: Vec<(u16, EventId)> = (units.iter())
            .map(|&unit| {
                let seq = state.seq.get(&unit).copied().unwrap_or(0);
                (unit, EventId::new(epoch_of(unit), seq))
            })
            .collect();
        let mut reset = None;
        let mut replay = Vec::new();
        for (&(unit, id), &(_, now)) in after.iter().zip(&positions) {
            if id.epoch() != now.epoch() {
                reset = Some(ResetReason::OtherEpoch);
            } else if id.seq() > now.seq() {
                reset = Some(ResetReason::Unknown);
            }
            let mut entries: Vec<Entry> = (topics.iter())
                .filter(|topic| unit_of(topic) == unit)
                .flat_map(|topic| state.history.get(*topic).into_iter().flatten())
                .filter(|entry| entry.seq() > id.seq())
                .cloned()
                .collect();
            entries.sort_by_key(Entry::seq);
            entries.dedup_by_key(|entry| entry.seq());
            replay.extend(entries);
        }
        if reset.is_some() {
            replay.clear();
        }
        let live = (topics.iter())
            .map(|topic| {
                let receiver = state.feed(topic).subscribe();
                Live::new(Arc::from(*topic), receiver, Default::default())
            })
            .collect();
        BackendFuture::ready(Ok(Opened::new(live, replay, reset, positions)))
    }

    fn release(&self, _topics: &[Arc<str>]) {}

    fn shutdown(&self) {
        self.state.lock().unwrap().feeds.clear();
    }

    fn evict_expired(&self) {}

    fn stats(&self) -> BackendStats {
        BackendStats::default()
    }
}

fn broker() -> Broker {
    Broker::builder().build_with(Sharded::default())
}

/// The next item, within a second.
async fn item(subscription: &mut Subscription) -> Event {
    tokio::time::timeout(Duration::from_secs(1), subscription.next())
        .await
        .expect("an item within a second")
        .expect("an item, not the end")
}

/// The next event of a subscription spanning several units: its frame and
/// its id line, as one text.
async fn event(subscription: &mut Subscription) -> String {
    let frame = item(subscription).await;
    let id = item(subscription).await;
    assert!(id.as_bytes().starts_with(b"id: "), "{id:?}");
    format!(
        "{}{}",
        String::from_utf8_lossy(frame.as_bytes()),
        String::from_utf8_lossy(id.as_bytes())
    )
}

#[tokio::test]
async fn a_subscription_of_one_unit_gets_the_shared_frame_with_its_id() {
    let broker = broker();
    let mut one = broker.subscribe(&["1:a", "1:b"], None).await.unwrap();
    let id = broker.publish("1:b", Event::data("x")).await.unwrap();
    assert_eq!(item(&mut one).await, stamp(&Event::data("x"), id));
}

#[tokio::test]
async fn a_subscription_spanning_units_writes_an_id_per_unit() {
    let broker = broker();
    let mut both = broker.subscribe(&["1:a", "2:a"], None).await.unwrap();
    broker.publish("1:a", Event::data("one")).await.unwrap();
    assert_eq!(
        event(&mut both).await,
        "data: one\nid: 1:e001-1.2:e002-0\n\n"
    );
    broker.publish("2:a", Event::data("two")).await.unwrap();
    assert_eq!(
        event(&mut both).await,
        "data: two\nid: 1:e001-1.2:e002-1\n\n"
    );
}

#[tokio::test]
async fn the_frame_of_a_spanning_subscription_is_the_published_bytes_shared() {
    let broker = broker();
    let mut both = broker.subscribe(&["1:a", "2:a"], None).await.unwrap();
    let mut alone = broker.subscribe(&["1:a"], None).await.unwrap();
    broker.publish("1:a", Event::data("shared")).await.unwrap();
    let whole = item(&mut alone).await;
    let frame = item(&mut both).await;
    assert_eq!(frame.as_bytes(), b"data: shared\n");
    // The same allocation: the frame is a slice of the stamped event.
    assert_eq!(frame.as_bytes().as_ptr(), whole.as_bytes().as_ptr());
}

#[tokio::test]
async fn a_position_spanning_units_resumes_each_unit_exactly() {
    let broker = broker();
    let topics = ["1:a", "2:a", "3:a"];
    let mut first = broker.subscribe(&topics, None).await.unwrap();
    for topic in topics {
        broker.publish(topic, Event::data(topic)).await.unwrap();
    }
    let mut last = String::new();
    for _ in topics {
        last = event(&mut first).await;
    }
    drop(first);
    let position = last.rsplit("id: ").next().unwrap().trim_end().to_owned();
    assert_eq!(position, "1:e001-1.2:e002-1.3:e003-1");
    broker.publish("2:a", Event::data("missed")).await.unwrap();
    broker
        .publish("3:a", Event::data("missed too"))
        .await
        .unwrap();

    let mut again = broker.subscribe(&topics, Some(&position)).await.unwrap();
    assert_eq!(again.resume(), Resume::Replayed { events: 2 });
    assert_eq!(
        event(&mut again).await,
        "data: missed\nid: 1:e001-1.2:e002-2.3:e003-1\n\n"
    );
    assert_eq!(
        event(&mut again).await,
        "data: missed too\nid: 1:e001-1.2:e002-2.3:e003-2\n\n"
    );
    broker.publish("1:a", Event::data("live")).await.unwrap();
    assert_eq!(
        event(&mut again).await,
        "data: live\nid: 1:e001-2.2:e002-2.3:e003-2\n\n"
    );
}

#[tokio::test]
async fn a_position_naming_other_units_resets() {
    let broker = broker();
    broker.publish("1:a", Event::data("x")).await.unwrap();
    broker.publish("2:a", Event::data("y")).await.unwrap();
    // One id for two units, and a position of units the topics do not span.
    for stale in ["e001-1", "1:e001-1.3:e003-0"] {
        let mut s = broker
            .subscribe(&["1:a", "2:a"], Some(stale))
            .await
            .unwrap();
        let expected =
            Position::units([(1, EventId::new(0xe001, 1)), (2, EventId::new(0xe002, 1))]);
        assert_eq!(
            s.resume(),
            Resume::Reset {
                reason: ResetReason::Unknown,
                position: expected.clone()
            }
        );
        let notice = item(&mut s).await;
        assert_eq!(
            notice.as_bytes(),
            format!("event: reset\nid: {expected}\ndata: unknown\n\n").as_bytes()
        );
    }
}

#[tokio::test]
async fn an_id_of_another_epoch_in_one_unit_resets_the_subscription() {
    let broker = broker();
    broker.publish("1:a", Event::data("x")).await.unwrap();
    let s = broker
        .subscribe(&["1:a", "2:a"], Some("1:e001-1.2:beef-0"))
        .await
        .unwrap();
    assert!(matches!(
        s.resume(),
        Resume::Reset {
            reason: ResetReason::OtherEpoch,
            ..
        }
    ));
}

#[tokio::test]
async fn a_subscription_over_the_unit_limit_is_refused() {
    let broker = Broker::builder()
        .max_units(2)
        .build_with(Sharded::default());
    let refused = broker.subscribe(&["1:a", "2:a", "3:a"], None).await;
    assert!(matches!(
        refused,
        Err(BrokerError::SpansUnits { units: 3, max: 2 })
    ));
    assert_eq!(broker.stats().subscriptions, 0);
    assert!(broker.subscribe(&["1:a", "2:a", "2:b"], None).await.is_ok());
}

#[tokio::test]
async fn the_default_unit_limit_keeps_the_id_within_one_kibibyte() {
    let broker = broker();
    let topics: Vec<String> = (0..Broker::DEFAULT_MAX_UNITS)
        .map(|i| format!("{}:t", 65535 - i))
        .collect();
    let mut s = broker.subscribe(&topics, None).await.unwrap();
    for topic in &topics {
        for _ in 0..3 {
            broker.publish(topic, Event::data("x")).await.unwrap();
        }
    }
    let mut last = String::new();
    for _ in 0..3 * topics.len() {
        last = event(&mut s).await;
    }
    let id = last.rsplit("id: ").next().unwrap().trim_end();
    assert!(id.parse::<Position>().is_ok());
    // The largest units and epochs; sequence numbers up to 20 digits.
    let worst = id.len() + topics.len() * (20 - 1);
    assert!(worst <= 1024, "{worst} bytes");
    let over = (0..=Broker::DEFAULT_MAX_UNITS)
        .map(|i| format!("{i}:t"))
        .collect::<Vec<_>>();
    assert!(matches!(
        broker.subscribe(&over, None).await,
        Err(BrokerError::SpansUnits { .. })
    ));
}

#[tokio::test]
async fn a_busy_unit_does_not_hold_back_another() {
    let broker = broker();
    let mut both = broker.subscribe(&["1:a", "2:a"], None).await.unwrap();
    for _ in 0..5 {
        broker.publish("1:a", Event::data("busy")).await.unwrap();
    }
    broker.publish("2:a", Event::data("quiet")).await.unwrap();
    // Units take turns: the quiet one's event comes second, not sixth.
    event(&mut both).await;
    assert!(event(&mut both).await.starts_with("data: quiet\n"));
}

#[tokio::test]
async fn order_holds_within_a_unit_across_its_topics() {
    let broker = broker();
    let mut s = broker
        .subscribe(&["1:a", "1:b", "2:a"], None)
        .await
        .unwrap();
    for (topic, text) in [("1:b", "1"), ("1:a", "2"), ("1:b", "3"), ("1:a", "4")] {
        broker.publish(topic, Event::data(text)).await.unwrap();
    }
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(event(&mut s).await[6..7].to_owned());
    }
    assert_eq!(seen, ["1", "2", "3", "4"]);
}

#[tokio::test]
async fn a_publish_to_topics_of_one_unit_comes_once() {
    let broker = broker();
    let mut s = broker
        .subscribe(&["1:a", "1:b", "2:a"], None)
        .await
        .unwrap();
    broker
        .publish_to(&["1:a", "1:b"], Event::data("both"))
        .await
        .unwrap();
    broker.publish("2:a", Event::data("next")).await.unwrap();
    assert!(event(&mut s).await.starts_with("data: both\n"));
    assert!(event(&mut s).await.starts_with("data: next\n"));
    let more = tokio::time::timeout(Duration::from_millis(100), s.next()).await;
    assert!(more.is_err(), "{more:?}");
}

#[test]
fn a_position_parses_only_what_it_writes() {
    for bad in [
        "1:a-1.1:a-2",
        "2:a-1.1:a-2",
        "1:a-1.",
        ":a-1",
        "70000:a-1",
        "+1:a-1",
        "1:a-x",
    ] {
        assert!(bad.parse::<Position>().is_err(), "{bad}");
    }
    let position: Position = "0:a-1.65535:b-2".parse().unwrap();
    assert_eq!(position.to_string(), "0:a-1.65535:b-2");
}
