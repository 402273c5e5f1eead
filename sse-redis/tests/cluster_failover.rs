//! The Redis backend on a Redis Cluster that loses a master, or moves a
//! slot, while publishers and subscribers run: what each subscriber got,
//! what each publisher was told, and what Redis still holds afterwards.
//!
//! Subscribers are modelled as browsers: each reads its subscription,
//! keeps its last id, and when the stream ends reconnects to the *other*
//! process with that id, retrying while the cluster fails over. The checks
//! are per subscriber and per ordering unit (hash slot): every acknowledged
//! event arrives once, or a reset notice covers it; never a silent gap.
//!
//! Each test starts its own cluster (three masters, three replicas). The
//! tests of this file run one at a time: four clusters of six
//! `redis-server`s at once on a two-core machine can starve a cluster bus
//! past its one-second node timeout, which fails over a master nobody
//! killed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use sse_test_support::redis_cluster::{RedisCluster, Reply};
use ssekit_core::Event;
use ssekit_core::broker::{
    Broker, BrokerError, EventId, Position, Resume, Subscription, TopicConfig,
};
use ssekit_redis::{RedisBackend, RedisBackendBuilder};
use tokio::sync::watch;
use tokio::time::Instant;

/// How long a client waits for its end markers, from its start.
const CLIENT_LIMIT: Duration = Duration::from_secs(45);

/// Keys added to the migrated slot, so that moving it takes a while.
const FILLER: usize = 20_000;

/// Between two publishes of one publisher.
const EVERY: Duration = Duration::from_millis(5);

/// Held by the running test: one test of this file at a time (see the
/// module's docs). Each test has a runtime of its own: a tokio mutex, which
/// does not mind, and is not poisoned by a test that failed.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn builder(cluster: &RedisCluster) -> RedisBackendBuilder {
    RedisBackend::cluster_builder(cluster.urls())
        .command_timeout(Duration::from_secs(2))
        .reconnect_backoff(Duration::from_millis(20), Duration::from_millis(200))
        // Nothing trimmed: Redis must still hold every event at the end.
        .defaults(TopicConfig::new().max_events(100_000))
}

/// A broker over its own backend: one "process".
async fn broker_with(builder: RedisBackendBuilder) -> Broker {
    let backend = builder.connect().await.expect("connect to the cluster");
    Broker::builder().build_with(backend)
}

/// A cluster of the test's own, started off the runtime's threads.
async fn start() -> RedisCluster {
    tokio::task::spawn_blocking(RedisCluster::start)
        .await
        .expect("the cluster starts")
}

/// Runs `f` with the cluster on a blocking thread (the harness speaks
/// blocking TCP and sleeps while it waits), and hands it back.
async fn blocking<T: Send + 'static>(
    cluster: RedisCluster,
    f: impl FnOnce(&mut RedisCluster) -> T + Send + 'static,
) -> (RedisCluster, T) {
    tokio::task::spawn_blocking(move || {
        let mut cluster = cluster;
        let value = f(&mut cluster);
        (cluster, value)
    })
    .await
    .expect("the cluster operation")
}

fn stream_key(topic: &str) -> String {
    format!("sse:topic:{topic}")
}

fn slot_of_topic(topic: &str) -> u16 {
    RedisCluster::slot_of(&stream_key(topic))
}

/// A topic named `{stem}-{n}` whose slot the master on `port` serves.
fn topic_on(cluster: &RedisCluster, port: u16, stem: &str) -> String {
    (0..10_000)
        .map(|n| format!("{stem}-{n}"))
        .find(|name| cluster.master_of(slot_of_topic(name)) == port)
        .expect("a topic on every master")
}

/// The `data:` of every event in `topic`'s stream, read from its master.
fn stored(cluster: &RedisCluster, topic: &str) -> BTreeSet<String> {
    let port = cluster.master_of(slot_of_topic(topic));
    let reply = cluster.command(port, &["XRANGE", &stream_key(topic), "-", "+"]);
    let Reply::Array(Some(entries)) = reply else {
        panic!("XRANGE of {topic} on {port}: {reply:?}");
    };
    let mut data = BTreeSet::new();
    for entry in entries {
        let Reply::Array(Some(parts)) = entry else {
            panic!("a stream entry: {entry:?}");
        };
        let Some(Reply::Array(Some(fields))) = parts.get(1) else {
            panic!("a stream entry's fields: {parts:?}");
        };
        for pair in fields.chunks(2) {
            if pair[0].text() == "e" {
                data.insert(data_line(&pair[1].text()).expect("a frame with data"));
            }
        }
    }
    data
}

fn data_line(frame: &str) -> Option<String> {
    frame
        .lines()
        .find_map(|line| line.strip_prefix("data: "))
        .map(str::to_owned)
}

/// The topic an event's data names: data is `{topic}#{what}`.
fn topic_of(data: &str) -> &str {
    data.rsplit_once('#').map_or(data, |(topic, _)| topic)
}

fn end_marker(topic: &str) -> String {
    format!("{topic}#end")
}

/// One publish, as its publisher saw it.
#[derive(Clone, Debug)]
struct Published {
    data: String,
    unit: u16,
    /// Its id when acknowledged, why not otherwise.
    outcome: Result<EventId, String>,
    /// Published by a process that asks for a replica's `WAIT`.
    durable: bool,
    /// When it was answered.
    at: Instant,
}

impl Published {
    fn acked(&self) -> Option<EventId> {
        self.outcome.as_ref().ok().copied()
    }
}

/// Publishes `{topic}#{kind}{n}` for n = 0, 1, … every [`EVERY`] until
/// `stop`; each publish bounded, its outcome recorded.
fn publisher(
    broker: &Broker,
    topic: &str,
    kind: &'static str,
    durable: bool,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<Vec<Published>> {
    let (broker, topic) = (broker.clone(), topic.to_owned());
    let unit = slot_of_topic(&topic);
    tokio::spawn(async move {
        let mut out = Vec::new();
        for n in 0u64.. {
            if *stop.borrow() {
                break;
            }
            let data = format!("{topic}#{kind}{n}");
            let outcome = tokio::time::timeout(
                Duration::from_secs(10),
                broker.publish(&topic, Event::data(&data)),
            )
            .await;
            let outcome = match outcome {
                Ok(Ok(id)) => Ok(id),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("no answer within 10 s".to_owned()),
            };
            out.push(Published {
                data,
                unit,
                outcome,
                durable,
                at: Instant::now(),
            });
            let _ = tokio::time::timeout(EVERY, stop.changed()).await;
        }
        out
    })
}

/// Publishes `data` to `topic`, retrying on each process in turn until
/// one acknowledges it, for up to 10 s; else every process's last error.
async fn publish_surely(brokers: &[&Broker], topic: &str, data: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut errors = vec![String::new(); brokers.len()];
    loop {
        for (i, broker) in brokers.iter().enumerate() {
            let outcome = tokio::time::timeout(
                Duration::from_secs(5),
                broker.publish(topic, Event::data(data)),
            )
            .await;
            match outcome {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(e)) => errors[i] = e.to_string(),
                Err(_) => errors[i] = "no answer within 5 s".to_owned(),
            }
        }
        if Instant::now() >= deadline {
            let errors: Vec<String> = (errors.iter().enumerate())
                .map(|(i, e)| format!("process {i}: {e}"))
                .collect();
            return Err(format!("cannot publish {data}: {}", errors.join("; ")));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Publishes each topic's end marker, then waits for the clients: up to
/// 20 s when every marker went out, 2 s otherwise, after which they give
/// up. Returns their logs and the markers that could not be published.
async fn finish(
    brokers: &[&Broker],
    topics: &[String],
    clients: Vec<tokio::task::JoinHandle<ClientLog>>,
    give_up: watch::Sender<bool>,
) -> (Vec<ClientLog>, Vec<String>) {
    let mut unpublished = Vec::new();
    for topic in topics {
        if let Err(e) = publish_surely(brokers, topic, &end_marker(topic)).await {
            unpublished.push(e);
        }
    }
    let patience = match unpublished.len() {
        0 => Duration::from_secs(20),
        _ => Duration::from_secs(2),
    };
    let giving_up = tokio::spawn(async move {
        tokio::time::sleep(patience).await;
        let _ = give_up.send(true);
        give_up
    });
    let mut logs = Vec::new();
    for client in clients {
        logs.push(client.await.expect("a client"));
    }
    giving_up.abort();
    (logs, unpublished)
}

/// Each failed publish: its data, its error, and whether Redis has the
/// event all the same (an error is not always a publish not applied).
fn failed_publishes(published: &[Published], in_redis: &BTreeSet<String>) -> Vec<String> {
    (published.iter())
        .filter_map(|p| {
            let error = p.outcome.as_ref().err()?;
            let applied = match in_redis.contains(&p.data) {
                true => "applied",
                false => "not applied",
            };
            Some(format!("{} ({applied}): {error}", p.data))
        })
        .collect()
}

/// What a client saw, in order.
#[derive(Clone, Debug)]
enum Seen {
    /// An event: its data, the unit it was published to, and the
    /// subscriber's position after it, per unit.
    Event {
        data: String,
        unit: u16,
        position: Vec<(u16, EventId)>,
    },
    /// A reset notice: when (since the client started), why, and the
    /// position it gives, per unit.
    Reset {
        at: Duration,
        reason: String,
        position: Vec<(u16, EventId)>,
    },
}

/// A client's whole history.
#[derive(Debug, Default)]
struct ClientLog {
    name: String,
    topics: Vec<String>,
    units: Vec<u16>,
    seen: Vec<Seen>,
    /// When (since the client started) and how each reconnection resumed.
    reconnects: Vec<(Duration, Resume)>,
    /// What the client could not make sense of, or could not do.
    problems: Vec<String>,
}

/// Turns a subscription's items into [`Seen`]s.
struct Reader {
    log: ClientLog,
    /// The data of a frame whose `id:` line comes as the next item.
    pending: Option<String>,
    last_id: Option<String>,
    ends: BTreeSet<String>,
    started: Instant,
}

impl Reader {
    fn new(name: &str, topics: &[String]) -> Self {
        let mut units: Vec<u16> = topics.iter().map(|t| slot_of_topic(t)).collect();
        units.sort_unstable();
        units.dedup();
        Reader {
            log: ClientLog {
                name: name.to_owned(),
                topics: topics.to_vec(),
                units,
                ..ClientLog::default()
            },
            pending: None,
            last_id: None,
            ends: BTreeSet::new(),
            started: Instant::now(),
        }
    }

    fn done(&self) -> bool {
        self.ends.len() == self.log.topics.len()
    }

    fn position(&mut self, id: &str) -> Option<Vec<(u16, EventId)>> {
        let units = &self.log.units;
        let parsed = match id.parse::<Position>() {
            Ok(position) => match (position.id(), &units[..]) {
                (Some(one), [unit]) => Some(vec![(*unit, one)]),
                (None, _) if position.unit_ids().iter().map(|(u, _)| u).eq(units.iter()) => {
                    Some(position.unit_ids().to_vec())
                }
                _ => None,
            },
            Err(_) => None,
        };
        if parsed.is_none() {
            self.log
                .problems
                .push(format!("an id that is not a position of {units:?}: {id:?}"));
        }
        parsed
    }

    fn take(&mut self, item: &Event) {
        let text = String::from_utf8_lossy(item.as_bytes()).into_owned();
        if let Some(rest) = text.strip_prefix("id: ") {
            match self.pending.take() {
                Some(data) => self.event(data, rest.trim_end()),
                None => self
                    .log
                    .problems
                    .push(format!("an id line with no frame: {text:?}")),
            }
            return;
        }
        if let Some(data) = self.pending.take() {
            self.log
                .problems
                .push(format!("a frame with no id line: {data:?}"));
        }
        let field = |name: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(name))
                .map(str::to_owned)
        };
        match (field("event: "), field("id: "), field("data: ")) {
            (Some(kind), Some(id), reason) if kind == "reset" => {
                if let Some(position) = self.position(&id) {
                    self.log.seen.push(Seen::Reset {
                        at: self.started.elapsed(),
                        reason: reason.unwrap_or_default(),
                        position,
                    });
                }
                self.last_id = Some(id);
            }
            (None, Some(id), Some(data)) => self.event(data, &id),
            (None, None, Some(data)) => self.pending = Some(data),
            _ => self
                .log
                .problems
                .push(format!("an unexpected item: {text:?}")),
        }
    }

    fn event(&mut self, data: String, id: &str) {
        self.last_id = Some(id.to_owned());
        let topic = topic_of(&data).to_owned();
        if data == end_marker(&topic) {
            self.ends.insert(topic.clone());
        }
        if let Some(position) = self.position(id) {
            self.log.seen.push(Seen::Event {
                unit: slot_of_topic(&topic),
                data,
                position,
            });
        }
    }
}

/// Subscribes to `names` on `broker`, retrying while it fails, until
/// `deadline` or `give_up`; every failure's error when it never succeeds.
async fn subscribe_retrying(
    broker: &Broker,
    names: &[&str],
    last: Option<&str>,
    deadline: Instant,
    give_up: &mut watch::Receiver<bool>,
) -> Result<Subscription, Vec<String>> {
    let mut failures = Vec::new();
    loop {
        let attempt = tokio::select! {
            attempt = tokio::time::timeout(Duration::from_secs(5), broker.subscribe(names, last)) => attempt,
            _ = give_up.wait_for(|g| *g) => {
                failures.push("given up".to_owned());
                return Err(failures);
            }
        };
        match attempt {
            Ok(Ok(subscription)) => return Ok(subscription),
            Ok(Err(e)) => failures.push(e.to_string()),
            Err(_) => failures.push("no answer within 5 s".to_owned()),
        }
        if Instant::now() >= deadline {
            return Err(failures);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A browser: subscribes to `topics` on `brokers[0]`, reads until it has
/// every topic's end marker (or `give_up`), and whenever the stream ends
/// reconnects to the other broker with its last id (retrying while
/// subscribing fails). Tells `ready` once first subscribed; counts events
/// in `received`.
fn client(
    name: &str,
    topics: &[String],
    brokers: [Broker; 2],
    ready: tokio::sync::mpsc::Sender<()>,
    received: Arc<AtomicUsize>,
    mut give_up: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<ClientLog> {
    let mut reader = Reader::new(name, topics);
    let topics = topics.to_vec();
    tokio::spawn(async move {
        let deadline = reader.started + CLIENT_LIMIT;
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        let mut at = 0;
        let first = subscribe_retrying(&brokers[at], &names, None, deadline, &mut give_up).await;
        let mut subscription = match first {
            Ok(subscription) => subscription,
            Err(failures) => {
                let failures = failures.join("; ");
                reader
                    .log
                    .problems
                    .push(format!("never subscribed: {failures}"));
                return reader.log;
            }
        };
        let _ = ready.send(()).await;
        while !reader.done() {
            let missing = || {
                let missing = topics.iter().filter(|t| !reader.ends.contains(*t));
                missing.cloned().collect::<Vec<_>>()
            };
            let next = tokio::select! {
                next = tokio::time::timeout_at(deadline, subscription.next()) => next,
                _ = give_up.wait_for(|g| *g) => {
                    let missing = missing();
                    reader.log.problems.push(format!("given up waiting for the end of {missing:?}"));
                    break;
                }
            };
            match next {
                Err(_) => {
                    let missing = missing();
                    reader.log.problems.push(format!(
                        "no end marker of {missing:?} within {CLIENT_LIMIT:?}"
                    ));
                    break;
                }
                Ok(Some(item)) => {
                    reader.take(&item);
                    received.store(reader.log.seen.len(), Ordering::Relaxed);
                }
                Ok(None) => {
                    // The backend lost its place: reconnect elsewhere with
                    // the last id, as a browser does.
                    drop(subscription);
                    if reader.last_id.is_none() {
                        reader
                            .log
                            .problems
                            .push("the stream ended before any id".to_owned());
                    }
                    at = 1 - at;
                    let last = reader.last_id.clone();
                    let again = subscribe_retrying(
                        &brokers[at],
                        &names,
                        last.as_deref(),
                        deadline,
                        &mut give_up,
                    )
                    .await;
                    subscription = match again {
                        Ok(subscription) => subscription,
                        Err(failures) => {
                            let mut distinct: Vec<String> = Vec::new();
                            for failure in failures {
                                if !distinct.contains(&failure) {
                                    distinct.push(failure);
                                }
                            }
                            reader.log.problems.push(format!(
                                "could not resubscribe on process {at} from {last:?}: {}",
                                distinct.join("; ")
                            ));
                            break;
                        }
                    };
                    let resume = subscription.resume();
                    reader
                        .log
                        .reconnects
                        .push((reader.started.elapsed(), resume));
                }
            }
        }
        reader.log
    })
}

/// What one client's history says against what was acknowledged.
#[derive(Debug, Default)]
struct Verdict {
    received: usize,
    /// Acknowledged, never received, and no reset covers it.
    silent: Vec<String>,
    /// Received more than once: (data, the ids it came with).
    duplicates: Vec<String>,
    /// Received with another id than its publish returned.
    misattributed: Vec<String>,
    /// Ids that went back, epochs that changed without a reset, positions
    /// moved by another unit's event.
    disorder: Vec<String>,
    resets: usize,
    /// Units whose epoch a reset changed.
    reset_units: BTreeSet<u16>,
    /// Acknowledged, not received, covered by a reset.
    covered: Vec<String>,
    /// Of those, in units whose epoch the reset kept: skipped in a unit
    /// that lost nothing, because another unit of the subscription reset.
    skipped_in_kept_units: usize,
}

fn id_in(position: &[(u16, EventId)], unit: u16) -> Option<EventId> {
    position.iter().find(|(u, _)| *u == unit).map(|(_, id)| *id)
}

fn verdict(log: &ClientLog, published: &[Published]) -> Verdict {
    let mut verdict = Verdict::default();
    let mut copies: HashMap<&str, Vec<EventId>> = HashMap::new();
    for seen in &log.seen {
        match seen {
            Seen::Event {
                data,
                unit,
                position,
            } => {
                verdict.received += 1;
                if !data.ends_with("#end") {
                    let id = id_in(position, *unit).expect("a position of the unit");
                    copies.entry(data).or_default().push(id);
                }
            }
            Seen::Reset { .. } => verdict.resets += 1,
        }
    }
    for (data, ids) in &copies {
        if ids.len() > 1 {
            let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
            verdict
                .duplicates
                .push(format!("{data} with ids {}", ids.join(", ")));
        }
    }
    verdict.duplicates.sort();
    for publish in published {
        let (Some(id), Some(ids)) = (publish.acked(), copies.get(publish.data.as_str())) else {
            continue;
        };
        if ids.iter().any(|seen| *seen != id) {
            verdict.misattributed.push(format!(
                "{} published as {id}, received as {ids:?}",
                publish.data
            ));
        }
    }
    for &unit in &log.units {
        // (epoch, after, up to): ranges of sequence numbers a reset covers.
        let mut covers: Vec<(u64, u64, u64)> = Vec::new();
        let mut kept_epoch_covers: Vec<(u64, u64, u64)> = Vec::new();
        let mut at: Option<EventId> = None;
        for seen in &log.seen {
            match seen {
                Seen::Event {
                    data,
                    unit: of,
                    position,
                } => {
                    let Some(now) = id_in(position, unit) else {
                        continue;
                    };
                    if let Some(before) = at {
                        if *of == unit && before.epoch() != now.epoch() {
                            verdict.disorder.push(format!(
                                "unit {unit}: {data} ({now}) after {before}: a new epoch without a reset"
                            ));
                        } else if *of == unit && now.seq() <= before.seq() {
                            verdict.disorder.push(format!(
                                "unit {unit}: {data} ({now}) after {before}: not after it"
                            ));
                        } else if *of != unit && now != before {
                            verdict.disorder.push(format!(
                                "unit {unit}: moved from {before} to {now} by {data} of unit {of}"
                            ));
                        }
                    }
                    at = Some(now);
                }
                Seen::Reset { position, .. } => {
                    let Some(now) = id_in(position, unit) else {
                        continue;
                    };
                    match at {
                        Some(before) if before.epoch() == now.epoch() => {
                            if now.seq() < before.seq() {
                                verdict.disorder.push(format!(
                                    "unit {unit}: a reset back from {before} to {now}"
                                ));
                            }
                            kept_epoch_covers.push((now.epoch(), before.seq(), now.seq()));
                        }
                        Some(before) => {
                            verdict.reset_units.insert(unit);
                            covers.push((before.epoch(), before.seq(), u64::MAX));
                            covers.push((now.epoch(), 0, now.seq()));
                        }
                        None => {
                            verdict.reset_units.insert(unit);
                            covers.push((now.epoch(), 0, now.seq()));
                        }
                    }
                    at = Some(now);
                }
            }
        }
        let within = |ranges: &[(u64, u64, u64)], id: EventId| {
            ranges.iter().any(|&(epoch, after, upto)| {
                epoch == id.epoch() && after < id.seq() && id.seq() <= upto
            })
        };
        for publish in published {
            let Some(id) = publish.acked() else { continue };
            if publish.unit != unit
                || !log.topics.iter().any(|t| t == topic_of(&publish.data))
                || copies.contains_key(publish.data.as_str())
            {
                continue;
            }
            if within(&kept_epoch_covers, id) {
                verdict.covered.push(publish.data.clone());
                verdict.skipped_in_kept_units += 1;
            } else if within(&covers, id) {
                verdict.covered.push(publish.data.clone());
            } else {
                verdict.silent.push(format!("{} ({id})", publish.data));
            }
        }
    }
    verdict
}

fn resets_of(log: &ClientLog) -> Vec<String> {
    log.seen
        .iter()
        .filter_map(|seen| match seen {
            Seen::Reset {
                at,
                reason,
                position,
            } => {
                let position: Vec<String> =
                    position.iter().map(|(u, id)| format!("{u}:{id}")).collect();
                Some(format!("{reason} at {at:.1?} to {}", position.join(".")))
            }
            Seen::Event { .. } => None,
        })
        .collect()
}

/// Waits until every counter reaches `n`, or 10 s.
async fn each_received(counters: &[Arc<AtomicUsize>], n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while counters.iter().any(|c| c.load(Ordering::Relaxed) < n) {
        assert!(
            Instant::now() < deadline,
            "the clients did not get {n} events each within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn ready_all(ready: &mut tokio::sync::mpsc::Receiver<()>, n: usize) {
    for _ in 0..n {
        tokio::time::timeout(Duration::from_secs(20), ready.recv())
            .await
            .expect("every client subscribes within 20 s")
            .expect("a client ended before subscribing");
    }
}

/// How the master of the first topic's slot fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Failure {
    /// SIGKILL; its replica is elected in its place.
    Kill,
    /// Its replica, cut off from it for 200 ms, takes over at once
    /// (`CLUSTER FAILOVER TAKEOVER`, what an operator does when the master
    /// is unreachable): the old master turns replica and resyncs, dropping
    /// what it acknowledged meanwhile.
    Takeover,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_master_killed_mid_stream_loses_nothing_silently() {
    master_fails(Failure::Kill).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_a_taken_over_master_acknowledged_are_lost_only_with_a_reset() {
    master_fails(Failure::Takeover).await;
}

/// Publishers and browser-like clients on two processes while the master
/// of one topic's slot fails `how`: see the assertions at the end.
async fn master_fails(how: Failure) {
    let _serial = SERIAL.lock().await;
    let cluster = start().await;
    // One topic on each master; the first one's master fails.
    let masters = cluster.masters();
    assert_eq!(masters.len(), 3, "{masters:?}");
    let topics: Vec<String> = masters
        .iter()
        .enumerate()
        .map(|(i, &port)| topic_on(&cluster, port, &format!("t{i}")))
        .collect();
    let doomed = slot_of_topic(&topics[0]);
    // Two processes: P publishes plainly, Q asks a replica to confirm.
    let p = broker_with(builder(&cluster)).await;
    let q = broker_with(builder(&cluster).durability(1, Duration::from_millis(500))).await;

    let (ready_tx, mut ready) = tokio::sync::mpsc::channel(8);
    let (give_up, giving_up) = watch::channel(false);
    let mut counters = Vec::new();
    let mut clients = Vec::new();
    let mut plan: Vec<(String, Vec<String>, [Broker; 2])> = topics
        .iter()
        .enumerate()
        .map(|(i, topic)| {
            let brokers = if i % 2 == 0 {
                [p.clone(), q.clone()]
            } else {
                [q.clone(), p.clone()]
            };
            (format!("only {topic}"), vec![topic.clone()], brokers)
        })
        .collect();
    plan.push((
        "spanning all".to_owned(),
        topics.clone(),
        [q.clone(), p.clone()],
    ));
    for (name, client_topics, brokers) in plan {
        let counter = Arc::new(AtomicUsize::new(0));
        counters.push(Arc::clone(&counter));
        clients.push(client(
            &name,
            &client_topics,
            brokers,
            ready_tx.clone(),
            counter,
            giving_up.clone(),
        ));
    }
    ready_all(&mut ready, clients.len()).await;

    let (stop, stopped) = watch::channel(false);
    let mut publishers = Vec::new();
    for topic in &topics {
        publishers.push(publisher(&p, topic, "p", false, stopped.clone()));
        publishers.push(publisher(&q, topic, "d", true, stopped.clone()));
    }
    each_received(&counters, 20).await;

    let began = Instant::now();
    let (cluster, (killed, promoted)) = blocking(cluster, move |cluster| {
        let killed = match how {
            Failure::Kill => cluster.kill_master(doomed),
            Failure::Takeover => {
                let master = cluster.master_of(doomed);
                let replicas = replicas_of(cluster, master);
                // Cut the replication link: what the master acknowledges
                // until the replica reconnects (its replication cron runs
                // once a second) does not reach the replica.
                let cut = cluster.command(master, &["CLIENT", "KILL", "TYPE", "replica"]);
                assert_eq!(cut, Reply::Integer(1), "the replica's link cut");
                std::thread::sleep(Duration::from_millis(200));
                let reply = cluster.command(replicas[0], &["CLUSTER", "FAILOVER", "TAKEOVER"]);
                assert_eq!(reply, Reply::Status("OK".into()), "TAKEOVER");
                master
            }
        };
        let promoted = cluster.wait_for_failover(doomed, Duration::from_secs(20));
        (killed, promoted)
    })
    .await;
    let failed_over = began.elapsed();
    // Publishing goes on a while on the promoted master (which, after a
    // kill, has no replica: durable publishes to it cannot be confirmed).
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.send(true).unwrap();
    let mut published = Vec::new();
    for publisher in publishers {
        published.extend(publisher.await.expect("a publisher"));
    }
    let (logs, unpublished) = finish(&[&p, &q], &topics, clients, give_up).await;

    // What Redis holds now, through each slot's current master.
    let names = topics.clone();
    let (_cluster, in_redis) = blocking(cluster, move |cluster| {
        names
            .iter()
            .flat_map(|topic| stored(cluster, topic))
            .collect::<BTreeSet<String>>()
    })
    .await;

    eprintln!(
        "{how:?} of master {killed} (slot {doomed}, topic {}); {promoted} promoted after \
         {failed_over:.1?}",
        topics[0]
    );
    let acked: Vec<&Published> = published.iter().filter(|p| p.acked().is_some()).collect();
    let lost: Vec<&&Published> = acked
        .iter()
        .filter(|p| !in_redis.contains(&p.data))
        .collect();
    let durable_acked = acked.iter().filter(|p| p.durable).count();
    let durable_lost: Vec<&str> = lost
        .iter()
        .filter(|p| p.durable)
        .map(|p| p.data.as_str())
        .collect();
    // Per topic and publisher, per phase: acknowledged/published.
    let phases = [
        ("before the kill", began, began),
        ("until promoted", began, began + failed_over),
        ("after", began + failed_over, Instant::now()),
    ];
    for topic in &topics {
        for durable in [false, true] {
            let of = |p: &&Published| topic_of(&p.data) == topic && p.durable == durable;
            let mut counts = Vec::new();
            for (i, (phase, from, to)) in phases.iter().enumerate() {
                let within = |p: &&Published| match i {
                    0 => p.at < *to,
                    _ => *from <= p.at && p.at < *to,
                };
                let all = published.iter().filter(|p| of(p) && within(p));
                let (n, ok) = all.fold((0, 0), |(n, ok), p| {
                    (n + 1, ok + usize::from(p.acked().is_some()))
                });
                counts.push(format!("{phase} {ok}/{n}"));
            }
            let mut errors: BTreeMap<String, usize> = BTreeMap::new();
            for p in published.iter().filter(|p| of(p)) {
                if let Err(e) = &p.outcome {
                    *errors.entry(e.chars().take(70).collect()).or_default() += 1;
                }
            }
            eprintln!(
                "{topic} (slot {}), {} publisher: acknowledged {}; lost {}; errors {errors:?}",
                slot_of_topic(topic),
                if durable { "durable" } else { "plain" },
                counts.join(", "),
                lost.iter().filter(|p| of(p)).count(),
            );
        }
    }
    eprintln!(
        "acknowledged {}, lost (acknowledged, gone from Redis) {}, durable-acknowledged {durable_acked}, \
         durable-acknowledged lost {}",
        acked.len(),
        lost.len(),
        durable_lost.len()
    );
    // A publish that failed may have been applied: its outcome was
    // unknown (a crash mid-call), or it was not confirmed durable.
    let failed = failed_publishes(&published, &in_redis);
    let applied: Vec<&String> = (failed.iter())
        .filter(|f| f.contains("(applied)") && !f.contains("not confirmed"))
        .collect();
    eprintln!(
        "failed {}, of which applied all the same: {} not confirmed durable (by design), \
         {} others {applied:?}",
        failed.len(),
        failed
            .iter()
            .filter(|f| f.contains("(applied)") && f.contains("not confirmed"))
            .count(),
        applied.len(),
    );
    // The epochs each unit's acknowledged ids carry, in publish order.
    let mut epochs: BTreeMap<u16, Vec<u64>> = BTreeMap::new();
    for publish in &acked {
        let epoch = publish.acked().unwrap().epoch();
        let list = epochs.entry(publish.unit).or_default();
        if !list.contains(&epoch) {
            list.push(epoch);
        }
    }
    let mut failures = unpublished;
    for log in &logs {
        let verdict = verdict(log, &published);
        let reads_doomed = log.units.contains(&doomed);
        eprintln!(
            "client {:?} (units {:?}): {} received, {} resets {:?} (units {:?}), {} reconnects, \
             {} not received but covered by a reset ({} of them still in Redis, {} in units that \
             kept their epoch), {} duplicates, {} silently missing, {} out of order, problems {:?}",
            log.name,
            log.units,
            verdict.received,
            verdict.resets,
            resets_of(log),
            verdict.reset_units,
            log.reconnects.len(),
            verdict.covered.len(),
            verdict
                .covered
                .iter()
                .filter(|d| in_redis.contains(*d))
                .count(),
            verdict.skipped_in_kept_units,
            verdict.duplicates.len(),
            verdict.silent.len(),
            verdict.disorder.len(),
            log.problems,
        );
        let name = &log.name;
        if !log.problems.is_empty() {
            failures.push(format!("{name}: {:?}", log.problems));
        }
        if !verdict.silent.is_empty() {
            failures.push(format!(
                "{name}: acknowledged events missing with no reset: {:?}",
                verdict.silent
            ));
        }
        if !verdict.duplicates.is_empty() {
            failures.push(format!("{name}: duplicates: {:?}", verdict.duplicates));
        }
        if !verdict.misattributed.is_empty() {
            failures.push(format!(
                "{name}: ids that are not what the publish returned: {:?}",
                verdict.misattributed
            ));
        }
        if !verdict.disorder.is_empty() {
            failures.push(format!("{name}: {:?}", verdict.disorder));
        }
        if !reads_doomed && (verdict.resets > 0 || !verdict.covered.is_empty()) {
            failures.push(format!(
                "{name} reads no slot of the killed master, yet got {} resets: {:?}",
                verdict.resets,
                resets_of(log)
            ));
        }
        if verdict.reset_units.iter().any(|&unit| unit != doomed) {
            failures.push(format!(
                "{name}: a reset moved the epoch of units {:?}, not only {doomed}'s",
                verdict.reset_units
            ));
        }
    }
    eprintln!("epochs per unit, in order of use: {epochs:x?}");
    if !durable_lost.is_empty() {
        failures.push(format!(
            "publishes acknowledged with WAIT are gone after the failover: {durable_lost:?}"
        ));
    }
    if epochs.get(&doomed).is_none_or(|list| list.len() < 2) {
        failures.push(format!(
            "the killed master's unit {doomed} kept its epoch across the failover: {:?}",
            epochs.get(&doomed)
        ));
    }
    for (unit, list) in &epochs {
        if *unit != doomed && list.len() != 1 {
            failures.push(format!("unit {unit} changed epoch: {list:x?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slot_migrated_while_streaming_causes_no_reset() {
    let _serial = SERIAL.lock().await;
    let cluster = start().await;
    // Two topics of one slot (one hash tag), and one on another master.
    let moving = ["{mig}:a".to_owned(), "{mig}:b".to_owned()];
    let slot = slot_of_topic(&moving[0]);
    assert_eq!(slot, slot_of_topic(&moving[1]));
    let from = cluster.master_of(slot);
    let masters = cluster.masters();
    let others: Vec<u16> = masters.iter().copied().filter(|&m| m != from).collect();
    let (to, elsewhere) = (others[0], others[1]);
    let still = topic_on(&cluster, elsewhere, "still");
    // Keys enough that the move takes a while: publishes meet it half done.
    let (cluster, ()) = blocking(cluster, move |cluster| {
        for chunk in 0..FILLER / 1000 {
            let keys: Vec<String> = (chunk * 1000..(chunk + 1) * 1000)
                .map(|i| format!("{{mig}}:filler:{i}"))
                .collect();
            let mut args = vec!["MSET"];
            for key in &keys {
                args.extend([key.as_str(), "x"]);
            }
            assert_eq!(cluster.command(from, &args), Reply::Status("OK".into()));
        }
    })
    .await;
    let p = broker_with(builder(&cluster)).await;
    let q = broker_with(builder(&cluster)).await;

    let (ready_tx, mut ready) = tokio::sync::mpsc::channel(8);
    let plan = [
        ("the slot's topics", moving.to_vec(), [p.clone(), q.clone()]),
        (
            "one topic of the slot",
            vec![moving[0].clone()],
            [q.clone(), p.clone()],
        ),
        (
            "spanning the slot and another",
            vec![moving[1].clone(), still.clone()],
            [p.clone(), q.clone()],
        ),
    ];
    let (give_up, giving_up) = watch::channel(false);
    let mut counters = Vec::new();
    let mut clients = Vec::new();
    for (name, topics, brokers) in plan {
        let counter = Arc::new(AtomicUsize::new(0));
        counters.push(Arc::clone(&counter));
        let giving_up = giving_up.clone();
        clients.push(client(
            name,
            &topics,
            brokers,
            ready_tx.clone(),
            counter,
            giving_up,
        ));
    }
    ready_all(&mut ready, clients.len()).await;
    let (stop, stopped) = watch::channel(false);
    let publishers = vec![
        publisher(&p, &moving[0], "p", false, stopped.clone()),
        publisher(&q, &moving[1], "q", false, stopped.clone()),
        publisher(&p, &still, "p", false, stopped.clone()),
    ];
    each_received(&counters, 20).await;

    let began = Instant::now();
    let (cluster, ()) = blocking(cluster, move |cluster| {
        cluster.migrate_slot(slot, to);
        assert_eq!(cluster.master_of(slot), to);
    })
    .await;
    let migrated = began.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.send(true).unwrap();
    let mut published = Vec::new();
    for publisher in publishers {
        published.extend(publisher.await.expect("a publisher"));
    }
    let mut topics = moving.to_vec();
    topics.push(still.clone());
    let (logs, unpublished) = finish(&[&p, &q], &topics, clients, give_up).await;
    // How often clients were sent to the new owner mid-move (`ASK`).
    let names = topics.clone();
    let (cluster, (asking, in_redis)) = blocking(cluster, move |cluster| {
        let stats = cluster.info_commandstats(to);
        let asking = stats
            .lines()
            .find_map(|line| line.strip_prefix("cmdstat_asking:calls="))
            .and_then(|rest| rest.split(',').next()?.parse::<u64>().ok())
            .unwrap_or(0);
        let in_redis = (names.iter())
            .flat_map(|topic| stored(cluster, topic))
            .collect::<BTreeSet<String>>();
        (asking, in_redis)
    })
    .await;
    drop(cluster);

    let acked = published.iter().filter(|p| p.acked().is_some()).count();
    let failed = published.len() - acked;
    let during = published
        .iter()
        .filter(|p| p.unit == slot && p.acked().is_some())
        .filter(|p| began <= p.at && p.at <= began + migrated)
        .count();
    eprintln!(
        "slot {slot} ({FILLER} filler keys) moved from {from} to {to} in {migrated:.1?}; \
         {acked} acknowledged ({during} to the slot while it moved, {asking} ASKING on the new \
         owner), {failed} failed: {:?}",
        failed_publishes(&published, &in_redis),
    );
    let epochs: BTreeSet<u64> = published
        .iter()
        .filter(|p| p.unit == slot)
        .filter_map(Published::acked)
        .map(|id| id.epoch())
        .collect();
    let mut failures = unpublished;
    if epochs.len() != 1 {
        failures.push(format!("slot {slot} changed epoch: {epochs:x?}"));
    }
    if during == 0 {
        failures.push("no publish to the slot was acknowledged while it moved".to_owned());
    }
    for log in &logs {
        let verdict = verdict(log, &published);
        let resets_on_resume = log
            .reconnects
            .iter()
            .filter(|(_, resume)| matches!(resume, Resume::Reset { .. }))
            .count();
        eprintln!(
            "client {:?}: {} received, {} resets {:?}, {} reconnects {:?}, {} duplicates, {} missing, \
             {} out of order, problems {:?}",
            log.name,
            verdict.received,
            verdict.resets,
            resets_of(log),
            log.reconnects.len(),
            log.reconnects,
            verdict.duplicates.len(),
            verdict.silent.len() + verdict.covered.len(),
            verdict.disorder.len(),
            log.problems,
        );
        let name = &log.name;
        if verdict.resets > 0 || resets_on_resume > 0 {
            failures.push(format!(
                "{name}: reset by a migration: {:?}",
                resets_of(log)
            ));
        }
        if !log.problems.is_empty() {
            failures.push(format!("{name}: {:?}", log.problems));
        }
        if !verdict.silent.is_empty() || !verdict.covered.is_empty() {
            failures.push(format!(
                "{name}: acknowledged events missing: {:?}",
                verdict.silent
            ));
        }
        if !verdict.duplicates.is_empty() {
            failures.push(format!("{name}: duplicates: {:?}", verdict.duplicates));
        }
        if !verdict.misattributed.is_empty() {
            failures.push(format!(
                "{name}: ids that are not what the publish returned: {:?}",
                verdict.misattributed
            ));
        }
        if !verdict.disorder.is_empty() {
            failures.push(format!("{name}: {:?}", verdict.disorder));
        }
        // Each publisher's events in the order it published them.
        let mut last: HashMap<(&str, &str), u64> = HashMap::new();
        for seen in &log.seen {
            let Seen::Event { data, .. } = seen else {
                continue;
            };
            let (topic, what) = data.rsplit_once('#').expect("{topic}#{what}");
            let (kind, n) = what.split_at(1);
            let Ok(n) = n.parse::<u64>() else { continue };
            if let Some(&before) = last.get(&(topic, kind)) {
                if n <= before {
                    failures.push(format!("{name}: {data} after {topic}#{kind}{before}"));
                }
            }
            last.insert((topic, kind), n);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The replica ports of the master on `port`, from its `ROLE`.
fn replicas_of(cluster: &RedisCluster, port: u16) -> Vec<u16> {
    let reply = cluster.command(port, &["ROLE"]);
    let Reply::Array(Some(items)) = &reply else {
        panic!("ROLE of {port}: {reply:?}");
    };
    assert_eq!(items[0].text(), "master", "{port} is a master");
    let Reply::Array(Some(replicas)) = &items[2] else {
        panic!("ROLE of {port}: {reply:?}");
    };
    replicas
        .iter()
        .map(|replica| match replica {
            Reply::Array(Some(fields)) => fields[1].text().parse().expect("a port"),
            other => panic!("a replica in ROLE: {other:?}"),
        })
        .collect()
}

fn assert_not_confirmed(outcome: Result<EventId, BrokerError>, what: &str) {
    match outcome {
        Err(BrokerError::Backend(error)) => assert!(
            error.to_string().contains("not confirmed"),
            "{what}: the error should say it was not confirmed: {error}"
        ),
        other => panic!("{what}: expected a backend error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_publish_that_cannot_be_confirmed_durable_is_an_error() {
    let _serial = SERIAL.lock().await;
    let cluster = start().await;
    let masters = cluster.masters();
    let topics: Vec<String> = masters
        .iter()
        .map(|&port| topic_on(&cluster, port, "durable"))
        .collect();
    let one = broker_with(builder(&cluster).durability(1, Duration::from_millis(500))).await;
    let two = broker_with(builder(&cluster).durability(2, Duration::from_millis(200))).await;
    // Each master has one replica: one confirms, two never can, on any
    // master, however often asked.
    for topic in &topics {
        for n in 0..3 {
            let data = format!("{topic}#one{n}");
            let id = one.publish(topic, Event::data(&data)).await;
            assert!(id.is_ok(), "{data}: {id:?}");
            let data = format!("{topic}#two{n}");
            let started = Instant::now();
            assert_not_confirmed(two.publish(topic, Event::data(&data)).await, &data);
            let took = started.elapsed();
            assert!(
                took >= Duration::from_millis(150) && took < Duration::from_secs(2),
                "{data}: WAIT should have waited about 200 ms, took {took:?}"
            );
        }
    }
    // A master whose replica died: one replica can no longer be had there,
    // and still can on the other masters.
    let victim = masters[0];
    let (cluster, replica) = blocking(cluster, move |cluster| {
        let replicas = replicas_of(cluster, victim);
        assert_eq!(replicas.len(), 1, "{replicas:?}");
        cluster.kill(replicas[0]);
        replicas[0]
    })
    .await;
    for n in 0..3 {
        let data = format!("{}#orphan{n}", topics[0]);
        assert_not_confirmed(one.publish(&topics[0], Event::data(&data)).await, &data);
        for topic in &topics[1..] {
            let data = format!("{topic}#after{n}");
            let id = one.publish(topic, Event::data(&data)).await;
            assert!(id.is_ok(), "{data}: {id:?}");
        }
    }
    // Not confirmed is not unwritten: the master has the events.
    let doomed = topics[0].clone();
    let (_cluster, kept) = blocking(cluster, move |cluster| stored(cluster, &doomed)).await;
    for n in 0..3 {
        for data in [
            format!("{}#two{n}", topics[0]),
            format!("{}#orphan{n}", topics[0]),
        ] {
            assert!(kept.contains(&data), "{data} is on its master: {kept:?}");
        }
    }
    eprintln!(
        "durability(2) refused on all {} masters; durability(1) refused on {victim} once its \
         replica {replica} was killed, confirmed on the others",
        masters.len()
    );
}

/// Publishes `data` to `topic` until acknowledged or `within` passes:
/// how long it took, or every distinct error seen, with counts.
async fn publish_within(
    broker: &Broker,
    topic: &str,
    data: &str,
    within: Duration,
) -> Result<Duration, BTreeMap<String, usize>> {
    let started = Instant::now();
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    while started.elapsed() < within {
        let outcome = tokio::time::timeout(
            Duration::from_secs(5),
            broker.publish(topic, Event::data(data)),
        )
        .await;
        let error = match outcome {
            Ok(Ok(_)) => return Ok(started.elapsed()),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "no answer within 5 s".to_owned(),
        };
        *errors.entry(error).or_default() += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(errors)
}

/// How long a process may take to write to a failed-over slot again.
const WITHIN: Duration = Duration::from_secs(6);

/// Publishes to `topic` on `broker` and subscribes to it, each within
/// [`WITHIN`]; what failed.
async fn usable(name: &str, broker: &Broker, topic: &str, why: &str) -> Vec<String> {
    let mut failures = Vec::new();
    let slot = slot_of_topic(topic);
    let data = format!("{topic}#after");
    match publish_within(broker, topic, &data, WITHIN).await {
        Ok(took) => eprintln!("{name}: published to slot {slot} after {took:.1?}"),
        Err(errors) => failures.push(format!(
            "{name}: no publish to slot {slot} succeeded within {WITHIN:?} {why}: {errors:?}"
        )),
    }
    let subscribed = tokio::time::timeout(WITHIN, broker.subscribe(&[topic], None)).await;
    match subscribed {
        Ok(Ok(_)) => eprintln!("{name}: subscribed to slot {slot}"),
        other => failures.push(format!(
            "{name}: cannot subscribe to slot {slot} {why}: {:?}",
            other.map(|r| r.map(drop))
        )),
    }
    failures
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_master_back_as_a_replica_leaves_its_slots_writable() {
    let _serial = SERIAL.lock().await;
    let cluster = start().await;
    let masters = cluster.masters();
    let topic = topic_on(&cluster, masters[0], "back");
    let slot = slot_of_topic(&topic);
    // A process that published to the slot: it knows its master.
    let p = broker_with(builder(&cluster)).await;
    for n in 0..3 {
        p.publish(&topic, Event::data(&format!("{topic}#{n}")))
            .await
            .unwrap();
    }
    // The master crashes, its replica takes over, and the crashed node
    // comes back (as a supervisor restarts it) as that replica's replica,
    // on its old address, while the process did not touch the slot.
    let (cluster, (killed, promoted)) = blocking(cluster, move |cluster| {
        let killed = cluster.kill_master(slot);
        let promoted = cluster.wait_for_failover(slot, Duration::from_secs(20));
        cluster.restart_node(killed);
        (killed, promoted)
    })
    .await;
    assert_eq!(cluster.master_of(slot), promoted);
    // The old address answers as a replica now: it must send the process
    // to the new master, not fail every command on the slot.
    let why = format!("after {killed}, its old master, came back as a replica of {promoted}");
    let failures = usable("a process that had published", &p, &topic, &why).await;
    drop(cluster);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_process_subscribed_to_a_failed_over_slot_can_use_it_again() {
    let _serial = SERIAL.lock().await;
    let cluster = start().await;
    let masters = cluster.masters();
    let topic = topic_on(&cluster, masters[0], "idle");
    let slot = slot_of_topic(&topic);
    // A process with a subscriber on the slot, and nothing published.
    let q = broker_with(builder(&cluster)).await;
    let subscription = q.subscribe(&[&topic], None).await.unwrap();
    let (cluster, (killed, promoted)) = blocking(cluster, move |cluster| {
        let killed = cluster.kill_master(slot);
        let promoted = cluster.wait_for_failover(slot, Duration::from_secs(20));
        (killed, promoted)
    })
    .await;
    // Once a replica took over, the process publishes to the slot and
    // subscribes to it again within seconds.
    let why = format!("after {promoted} took over from {killed}");
    let failures = usable("a process that had subscribed", &q, &topic, &why).await;
    drop(subscription);
    drop(cluster);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
