//! The Redis backend through a Redis outage, against a real `redis-server`
//! killed by PID (SIGKILL) and started again on the same port: open
//! subscriptions stay open and then receive exactly what was published
//! after, from their position; a subscribe in the outage fails with
//! [`BrokerError::Backend`] (answered by HTTP as the browser-safe `200` with
//! an `unavailable` notice) and works again once Redis is back; a Redis
//! that came back without its data is a new epoch, and an old id resets.

use std::time::Duration;

use futures_util::StreamExt;
use sse_test_support::id_of;
use sse_test_support::redis::RedisServer;
use ssekit_core::Event;
use ssekit_core::broker::{Broker, BrokerError, EventId, ResetReason, Resume, Subscription, stamp};
use ssekit_redis::RedisBackend;
use tokio::time::Instant;

const WAIT: Duration = Duration::from_secs(10);

/// How long an outage lasts in these tests: many reconnection attempts of
/// the readers (backoff 20 to 200 ms) and several command timeouts.
const OUTAGE: Duration = Duration::from_secs(2);

const COMMAND_TIMEOUT: Duration = Duration::from_millis(500);

/// A broker over its own backend: one "process".
async fn broker(server: &RedisServer) -> Broker {
    let backend = RedisBackend::builder(&server.url())
        .command_timeout(COMMAND_TIMEOUT)
        .reconnect_backoff(Duration::from_millis(20), Duration::from_millis(200))
        .connect()
        .await
        .expect("connect to redis-server");
    Broker::builder().build_with(backend)
}

/// What `subscription` yields within `window`; fails the test if it ends.
async fn received_within(
    what: &str,
    subscription: &mut Subscription,
    window: Duration,
) -> Vec<Event> {
    let deadline = Instant::now() + window;
    let mut events = Vec::new();
    while let Ok(next) = tokio::time::timeout_at(deadline, subscription.next()).await {
        match next {
            Some(event) => events.push(event),
            None => panic!("{what}: the subscription ended after {events:?}"),
        }
    }
    events
}

/// Reads `subscription` until it has yielded `expected.len()` events in
/// all (counting `already`), then checks they are exactly `expected`, in
/// order, and that nothing more comes.
async fn assert_exactly(
    what: &str,
    subscription: &mut Subscription,
    mut already: Vec<Event>,
    expected: &[Event],
) {
    while already.len() < expected.len() {
        match tokio::time::timeout(WAIT, subscription.next()).await {
            Ok(Some(event)) => already.push(event),
            Ok(None) => panic!("{what}: ended after {already:?}"),
            Err(_) => panic!("{what}: nothing more within {WAIT:?} after {already:?}"),
        }
    }
    let ids = |events: &[Event]| events.iter().map(id_of).collect::<Vec<_>>();
    assert_eq!(ids(&already), ids(expected), "{what}: ids");
    assert_eq!(already, expected, "{what}: events");
    let more = tokio::time::timeout(Duration::from_millis(300), subscription.next()).await;
    assert!(more.is_err(), "{what}: unexpected {more:?}");
}

/// Publishes to `probe` (a topic nobody follows) until Redis answers:
/// after it, publishes succeed, and none of the tests' own events is
/// published twice by a retry.
async fn wait_for_redis(broker: &Broker) {
    let deadline = Instant::now() + WAIT;
    loop {
        match broker.publish("probe", Event::data("probe")).await {
            Ok(_) => return,
            Err(error) => {
                assert!(
                    Instant::now() < deadline,
                    "Redis is still unreachable: {error}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Subscribes, retrying while the backend is unreachable.
async fn subscribe_retrying(
    broker: &Broker,
    topics: &[&str],
    last_event_id: Option<&str>,
) -> Subscription {
    let deadline = Instant::now() + WAIT;
    loop {
        match broker.subscribe(topics, last_event_id).await {
            Ok(subscription) => return subscription,
            Err(BrokerError::Backend(_)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => panic!("subscribe still fails: {error}"),
        }
    }
}

/// Publishes `data` to `topics`, keeping the stamped event.
async fn publish(
    broker: &Broker,
    topics: &[&str],
    data: &str,
    log: &mut Vec<(Vec<String>, Event)>,
) {
    let event = Event::data(data);
    let id = broker.publish_to(topics, event.clone()).await.unwrap();
    log.push((
        topics.iter().map(|&topic| topic.to_owned()).collect(),
        stamp(&event, id),
    ));
}

/// The events of `log` from index `from` on that went to any of `topics`.
fn of(log: &[(Vec<String>, Event)], from: usize, topics: &[&str]) -> Vec<Event> {
    log[from..]
        .iter()
        .filter(|(to, _)| to.iter().any(|topic| topics.contains(&topic.as_str())))
        .map(|(_, event)| event.clone())
        .collect()
}

fn assert_backend_error<T: std::fmt::Debug>(what: &str, result: Result<T, BrokerError>) {
    assert!(
        matches!(result, Err(BrokerError::Backend(_))),
        "{what}: {result:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_subscriptions_stay_open_through_an_outage_then_get_exactly_what_was_published_after()
{
    // Appended and fsynced before each reply: the restart keeps every
    // acknowledged event, the epoch and the sequence.
    let mut server = RedisServer::start_persistent();
    let (a, b) = (broker(&server).await, broker(&server).await);
    let mut log = Vec::new();

    // B follows one topic, two topics, and one topic without reading
    // (its position stays at its start); A follows the topic it publishes.
    let mut one = b.subscribe(&["news"], None).await.unwrap();
    let mut both = b.subscribe(&["news", "sports"], None).await.unwrap();
    let mut behind = b.subscribe(&["news"], None).await.unwrap();
    let mut on_a = a.subscribe(&["sports"], None).await.unwrap();
    publish(&a, &["news"], "news 1", &mut log).await;
    publish(&a, &["sports"], "sports 1", &mut log).await;
    publish(&a, &["news", "sports"], "both 1", &mut log).await;
    let mut got = [Vec::new(), Vec::new(), Vec::new()];
    for (n, (subscription, topics)) in [
        (&mut one, &["news"][..]),
        (&mut both, &["news", "sports"]),
        (&mut on_a, &["sports"]),
    ]
    .into_iter()
    .enumerate()
    {
        let expected = of(&log, 0, topics);
        while got[n].len() < expected.len() {
            got[n].push(
                tokio::time::timeout(WAIT, subscription.next())
                    .await
                    .unwrap()
                    .unwrap(),
            );
        }
        assert_eq!(got[n], expected);
    }
    let epoch = a.epoch();
    // Published just before the crash: B's reader may or may not have read
    // it by then; either way each subscriber gets it once.
    publish(&a, &["news"], "news 2, just before", &mut log).await;
    let pid = server.pid().expect("redis-server runs");
    server.kill();

    // The outage: publishes fail, on either process, and no subscription
    // ends; whatever a reader had read before the crash may still arrive.
    for (name, broker) in [("A", &a), ("B", &b)] {
        let started = Instant::now();
        let failed = broker
            .publish("news", Event::data("lost in the outage"))
            .await;
        assert_backend_error(
            &format!("a publish on {name} while Redis (pid {pid}) is down"),
            failed,
        );
        assert!(
            started.elapsed() < 3 * COMMAND_TIMEOUT,
            "{:?}",
            started.elapsed()
        );
    }
    let (during_one, during_both, during_behind, during_a) = tokio::join!(
        received_within("one", &mut one, OUTAGE),
        received_within("both", &mut both, OUTAGE),
        received_within("behind", &mut behind, OUTAGE),
        received_within("on A", &mut on_a, OUTAGE),
    );
    assert_eq!(b.stats().subscriptions, 3);
    assert_eq!(a.stats().subscriptions, 1);

    server.restart();
    wait_for_redis(&a).await;
    publish(&a, &["news"], "news 3, after", &mut log).await;
    publish(&b, &["sports"], "sports 2, after", &mut log).await;
    publish(&a, &["news", "sports"], "both 2, after", &mut log).await;
    publish(&b, &["news"], "news 4, after", &mut log).await;
    assert!(
        log.iter()
            .all(|(_, event)| id_of(event).starts_with(&format!("{epoch:x}-"))),
        "the restart kept the epoch"
    );

    // Each from its position: nothing lost, nothing twice, and nothing of
    // the publishes that failed.
    let [got_one, got_both, got_a] = got;
    let seen = |mut got: Vec<Event>, during: Vec<Event>| {
        got.extend(during);
        got
    };
    assert_exactly(
        "one",
        &mut one,
        seen(got_one, during_one),
        &of(&log, 0, &["news"]),
    )
    .await;
    assert_exactly(
        "both",
        &mut both,
        seen(got_both, during_both),
        &of(&log, 0, &["news", "sports"]),
    )
    .await;
    assert_exactly(
        "behind",
        &mut behind,
        during_behind,
        &of(&log, 0, &["news"]),
    )
    .await;
    assert_exactly(
        "on A",
        &mut on_a,
        seen(got_a, during_a),
        &of(&log, 0, &["sports"]),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscribe_in_an_outage_fails_with_a_backend_error_and_resumes_once_redis_is_back() {
    let mut server = RedisServer::start_persistent();
    let (a, b) = (broker(&server).await, broker(&server).await);
    // B keeps reading `news` for another subscriber throughout.
    let mut other = b.subscribe(&["news"], None).await.unwrap();
    let mut page = b.subscribe(&["news"], None).await.unwrap();
    let first = a.publish("news", Event::data("seen")).await.unwrap();
    let event = tokio::time::timeout(WAIT, page.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(event, stamp(&Event::data("seen"), first));
    // The page's connection drops; a message is posted before the crash.
    drop(page);
    let missed = a.publish("news", Event::data("missed")).await.unwrap();
    server.kill();

    // Every kind of subscribe fails, promptly, as a backend error, and
    // leaves nothing behind: with a position, fresh, on a topic this
    // process reads, on one it does not, on a process that reads none.
    let old = first.to_string();
    for (what, broker, topics, id) in [
        ("a resume on B", &b, &["news"][..], Some(old.as_str())),
        ("a fresh subscribe on B", &b, &["news"], None),
        ("a new topic on B", &b, &["elsewhere"], None),
        (
            "a resume on A",
            &a,
            &["news", "elsewhere"],
            Some(old.as_str()),
        ),
    ] {
        let started = Instant::now();
        let refused = broker.subscribe(topics, id).await;
        assert_backend_error(what, refused);
        let took = started.elapsed();
        assert!(
            took < 3 * COMMAND_TIMEOUT,
            "{what}: answered after {took:?}"
        );
    }
    assert_eq!(b.stats().subscriptions, 1);
    assert_eq!(a.stats().subscriptions, 0);
    tokio::time::sleep(OUTAGE).await;

    // Redis is back: the page's reconnection with its id gets what was
    // published between its drop and the crash, then what is published
    // after, each once.
    server.restart();
    let mut page = subscribe_retrying(&b, &["news"], Some(&old)).await;
    assert_eq!(page.resume(), Resume::Replayed { events: 1 });
    let after = a.publish("news", Event::data("after")).await.unwrap();
    assert_eq!(after.epoch(), first.epoch());
    let expected = [
        stamp(&Event::data("missed"), missed),
        stamp(&Event::data("after"), after),
    ];
    assert_exactly("the resumed page", &mut page, Vec::new(), &expected).await;
    // The subscription that stayed open got the same.
    let mut all = vec![stamp(&Event::data("seen"), first)];
    all.extend(expected);
    assert_exactly("the open subscription", &mut other, Vec::new(), &all).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_redis_comes_back_without_its_data_an_old_id_gets_the_reset_notice() {
    let mut server = RedisServer::start_persistent();
    let (a, b) = (broker(&server).await, broker(&server).await);
    let mut open = b.subscribe(&["news"], None).await.unwrap();
    let old = a.publish("news", Event::data("before")).await.unwrap();
    let event = tokio::time::timeout(WAIT, open.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(id_of(&event), old.to_string());

    // Back on the same port, but empty: no epoch, no sequence, no stream.
    server.restart_empty();

    // The open subscription ends (its position no longer exists) instead
    // of going on with ids that would name other events; nobody has
    // published yet.
    let ended = tokio::time::timeout(WAIT, open.next()).await;
    assert_eq!(ended, Ok(None), "the open subscription ends");

    // The client reconnects with its id: it is told, and follows the new
    // epoch from where Redis now stands.
    let mut resumed = subscribe_retrying(&b, &["news"], Some(&old.to_string())).await;
    let Resume::Reset { reason, position } = resumed.resume() else {
        panic!("{:?}", resumed.resume());
    };
    assert_eq!(reason, ResetReason::OtherEpoch);
    let position = position.id().expect("one unit: one id");
    assert_ne!(position.epoch(), old.epoch());
    assert_eq!(position, EventId::new(b.epoch(), 0));
    let notice = tokio::time::timeout(WAIT, resumed.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        notice.as_bytes(),
        format!("event: reset\nid: {position}\ndata: other-epoch\n\n").as_bytes()
    );
    // A, which has not talked to Redis since, publishes in the new epoch.
    let live = a.publish("news", Event::data("live")).await.unwrap();
    assert_eq!(live.epoch(), position.epoch());
    assert_exactly(
        "the reset subscription",
        &mut resumed,
        Vec::new(),
        &[stamp(&Event::data("live"), live)],
    )
    .await;
    // The notice's id resumes: the live event is replayed to it.
    let again = b
        .subscribe(&["news"], Some(&position.to_string()))
        .await
        .unwrap();
    assert_eq!(again.resume(), Resume::Replayed { events: 1 });
    // And the old id, on a process that saw only the old epoch, resets too.
    let on_a = a
        .subscribe(&["news"], Some(&old.to_string()))
        .await
        .unwrap();
    assert!(matches!(
        on_a.resume(),
        Resume::Reset {
            reason: ResetReason::OtherEpoch,
            ..
        }
    ));
}

/// Kills Redis, runs `in_outage` against the publishing broker A, restarts
/// Redis after [`OUTAGE`], and checks that A's first publish then succeeds
/// and reaches B's open subscription once, after what it had before.
async fn first_publish_after_an_outage_succeeds<F, Fut>(in_outage: F)
where
    F: FnOnce(Broker) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut server = RedisServer::start_persistent();
    let (a, b) = (broker(&server).await, broker(&server).await);
    let mut on_b = b.subscribe(&["news"], None).await.unwrap();
    let before = a.publish("news", Event::data("before")).await.unwrap();
    server.kill();
    in_outage(a.clone()).await;
    // Long enough for the connection manager's last reconnection to have
    // failed too.
    tokio::time::sleep(OUTAGE).await;
    server.restart();
    // The reader of B is reconnected (it reads on its own connection):
    // Redis is back for everyone.
    let probe = subscribe_retrying(&b, &["probe"], None).await;
    drop(probe);

    let after = a
        .publish("news", Event::data("after"))
        .await
        .expect("the first publish once Redis is back");
    assert_exactly(
        "B's subscription",
        &mut on_b,
        Vec::new(),
        &[
            stamp(&Event::data("before"), before),
            stamp(&Event::data("after"), after),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_whose_publishes_failed_in_the_outage_publishes_at_once_when_redis_is_back() {
    first_publish_after_an_outage_succeeds(|a| async move {
        // Several attempts: the connection is found gone, then reconnecting
        // is refused.
        for _ in 0..3 {
            assert_backend_error(
                "a publish in the outage",
                a.publish("news", Event::data("lost")).await,
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_idle_through_an_outage_publishes_at_once_when_redis_is_back() {
    // A sends nothing in the outage: its connection dies unseen by any
    // command of its own.
    first_publish_after_an_outage_succeeds(|_| async {}).await;
}

/// An `XRANGE` entry: its id and its fields.
type StreamEntry = (String, Vec<(String, Vec<u8>)>);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_stops_answering_for_a_while_loses_nothing_for_open_subscriptions() {
    // Stopped (SIGSTOP), not killed: connections stay open and unanswered,
    // as behind a network partition; commands time out.
    let server = RedisServer::start();
    let (a, b) = (broker(&server).await, broker(&server).await);
    let mut log = Vec::new();
    let mut open = b.subscribe(&["news", "sports"], None).await.unwrap();
    let mut on_a = a.subscribe(&["news"], None).await.unwrap();
    publish(&a, &["news"], "before", &mut log).await;
    let mut got_open = received_within("B before", &mut open, Duration::from_millis(300)).await;
    let mut got_a = received_within("A before", &mut on_a, Duration::from_millis(300)).await;
    assert_eq!(got_open.len(), 1);

    server.pause();
    for (what, broker) in [("a publish on A", &a), ("a publish on B", &b)] {
        let started = Instant::now();
        assert_backend_error(
            what,
            broker.publish("news", Event::data("unanswered")).await,
        );
        assert!(
            started.elapsed() < 3 * COMMAND_TIMEOUT,
            "{what}: {:?}",
            started.elapsed()
        );
    }
    let started = Instant::now();
    assert_backend_error(
        "a subscribe",
        b.subscribe(&["news"], Some(&id_of(&got_open[0]))).await,
    );
    assert!(
        started.elapsed() < 3 * COMMAND_TIMEOUT,
        "{:?}",
        started.elapsed()
    );
    got_open.extend(received_within("B in the pause", &mut open, OUTAGE).await);
    got_a.extend(received_within("A in the pause", &mut on_a, Duration::from_millis(100)).await);

    server.resume();
    // The publishes that timed out were sent, and Redis runs them once it
    // goes on (their outcome was unknown, not a failure): what was
    // published is read back from Redis, not assumed. Each subscriber gets
    // exactly that, once, in order.
    wait_for_redis(&a).await;
    publish(&a, &["news"], "after 1", &mut log).await;
    publish(&b, &["sports"], "after 2", &mut log).await;
    publish(&b, &["news", "sports"], "after 3", &mut log).await;
    let client = redis::Client::open(server.url()).unwrap();
    let conn = client.get_multiplexed_async_connection().await.unwrap();
    let stored = |key: &'static str| {
        let mut conn = conn.clone();
        async move {
            let entries: Vec<StreamEntry> = redis::cmd("XRANGE")
                .arg(key)
                .arg("-")
                .arg("+")
                .query_async(&mut conn)
                .await
                .unwrap();
            entries
                .into_iter()
                .map(|(_, fields)| {
                    let frame = fields
                        .into_iter()
                        .find(|(name, _)| name == "e")
                        .expect("field e")
                        .1;
                    Event::from_encoded_unchecked(frame.into())
                })
                .collect::<Vec<_>>()
        }
    };
    let news = stored("sse:topic:news").await;
    let sports = stored("sse:topic:sports").await;
    let mut both: Vec<Event> = news.iter().chain(&sports).cloned().collect();
    both.sort_by_key(|event| id_of(event).parse::<EventId>().unwrap().seq());
    both.dedup();
    assert!(log.iter().all(|(_, event)| both.contains(event)));
    assert_exactly("B", &mut open, got_open, &both).await;
    assert_exactly("A", &mut on_a, got_a, &news).await;
}
