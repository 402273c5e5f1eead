//! The backend on Redis Cluster: one ordering unit per hash slot, each with
//! its own epoch, sequence and live channel; scripts that each touch one
//! slot; live delivery by sharded pub/sub ([`live`]).

mod keys;
mod live;
mod scripts;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;
use std::time::Instant;

use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{Cmd, ErrorKind, ProtocolVersion, RedisResult, Script, ServerErrorKind, Value};
use ssekit_core::Event;
use ssekit_core::broker::{
    Backend, BackendFuture, BackendStats, BrokerError, Entry, EventId, Live, Opened, ResetReason,
    TopicConfig, TopicStats, Visibility,
};
use tokio::runtime::Handle;

use keys::ClusterKeys;
pub(crate) use keys::check_prefix;
use live::{Feed, Pushes, State};

use crate::reader::Options;
use crate::wire;

/// What a cluster backend is built from.
pub(crate) struct ClusterConfig {
    pub(crate) nodes: Vec<String>,
    pub(crate) prefix: String,
    pub(crate) defaults: TopicConfig,
    pub(crate) overrides: HashMap<Box<str>, TopicConfig>,
    pub(crate) exact_trim: bool,
    pub(crate) options: Options,
    /// `WAIT` for this many replicas, this long, after each publish.
    pub(crate) durability: Option<(usize, Duration)>,
}

/// What the backend and its push handler share.
pub(crate) struct Shared {
    state: Mutex<State>,
    client: ClusterClient,
    /// The cluster connection; replaced when it stops answering.
    conn: Mutex<redis::cluster_async::ClusterConnection>,
    /// When a command last got an answer (any answer, errors included).
    answered: Mutex<Instant>,
    /// A replacement connection is being made.
    replacing: AtomicBool,
    /// This, for the tasks it spawns.
    me: OnceLock<std::sync::Weak<Shared>>,
    runtime: Handle,
    keys: ClusterKeys,
    options: Options,
    defaults: TopicConfig,
    overrides: HashMap<Box<str>, TopicConfig>,
    /// Per unit, the epoch this process knows and the highest sequence
    /// number it has seen in it: what the scripts compare with Redis to
    /// tell that a unit went back in time.
    known: Mutex<HashMap<u16, (u64, u64)>>,
    publish: Script,
    open: Script,
}

/// The backend on a cluster.
pub(crate) struct ClusterBackend {
    shared: Arc<Shared>,
    exact_trim: bool,
    durability: Option<(usize, Duration)>,
    closed: AtomicBool,
}

/// One unit as `OPEN` read it.
struct UnitRead {
    epoch: u64,
    current: u64,
    /// Per topic: its entries after the position, or [`wire::EVICTED`].
    ranges: Vec<Value>,
}

/// A publish that Redis applied but fewer replicas than asked confirmed.
#[derive(Debug)]
struct NotDurable {
    id: EventId,
    acknowledged: i64,
    asked: usize,
    timeout: Duration,
}

impl std::fmt::Display for NotDurable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "event {} was published, but only {} of the {} replicas asked for acknowledged it within {:?}: \
             it is not confirmed durable, and a failover of its master may lose it",
            self.id, self.acknowledged, self.asked, self.timeout
        )
    }
}

impl std::error::Error for NotDurable {}

/// `future`, or a timeout error after `after`.
pub(crate) async fn timed<T>(
    after: Duration,
    future: impl Future<Output = RedisResult<T>>,
) -> Result<T, BrokerError> {
    tokio::time::timeout(after, future)
        .await
        .map_err(|_| {
            BrokerError::Backend(Box::new(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("Redis did not answer within {after:?}"),
            )))
        })?
        .map_err(wire::backend)
}

pub(crate) fn is_noscript(error: &redis::RedisError) -> bool {
    error.kind() == ErrorKind::Server(ServerErrorKind::NoScript)
}

/// `EVALSHA` (or `EVAL` with the source) of `script` with `keys` and `args`.
fn script_cmd(script: &Script, source: Option<&str>, keys: &[String], args: &[Vec<u8>]) -> Cmd {
    let mut cmd = match source {
        Some(source) => {
            let mut cmd = redis::cmd("EVAL");
            cmd.arg(source);
            cmd
        }
        None => {
            let mut cmd = redis::cmd("EVALSHA");
            cmd.arg(script.get_hash());
            cmd
        }
    };
    cmd.arg(keys.len());
    for key in keys {
        cmd.arg(key);
    }
    for arg in args {
        cmd.arg(arg.as_slice());
    }
    cmd
}

/// The script (`EVALSHA`, or `EVAL` of `source`) then `WAIT` for
/// `replicas` up to `timeout`, as one pipeline: `WAIT` then runs on the
/// connection that ran the script, and counts the replicas that
/// acknowledged its writes.
pub(crate) fn durable_pipeline(
    script: &Script,
    source: Option<&str>,
    keys: &[String],
    args: &[Vec<u8>],
    (replicas, timeout): (usize, Duration),
) -> redis::Pipeline {
    let mut pipe = redis::pipe();
    pipe.add_command(script_cmd(script, source, keys, args));
    pipe.cmd("WAIT").arg(replicas).arg(
        u64::try_from(timeout.as_millis())
            .unwrap_or(u64::MAX)
            .max(1),
    );
    pipe
}

/// `id`, when at least `replicas` acknowledged it; else the error that
/// says it was published but not confirmed durable.
pub(crate) fn check_durable(
    id: EventId,
    acknowledged: i64,
    replicas: usize,
    timeout: Duration,
) -> Result<EventId, BrokerError> {
    if usize::try_from(acknowledged).is_ok_and(|n| n >= replicas) {
        Ok(id)
    } else {
        Err(BrokerError::Backend(Box::new(NotDurable {
            id,
            acknowledged,
            asked: replicas,
            timeout,
        })))
    }
}

/// A script's answer: its value, or the error it is.
fn script_value(value: Value) -> RedisResult<Value> {
    value.extract_error()
}

/// Connects to the cluster: one cluster connection, RESP3, whose pushes
/// (the units' channels) are handled as they are read.
pub(crate) async fn connect(config: ClusterConfig) -> Result<ClusterBackend, BrokerError> {
    let runtime = Handle::try_current().map_err(|e| BrokerError::Backend(Box::new(e)))?;
    check_prefix(&config.prefix).map_err(|e| BrokerError::Backend(e.into()))?;
    if config.nodes.is_empty() {
        return Err(BrokerError::Backend("no Redis Cluster node given".into()));
    }
    let options = config.options;
    let handle = Arc::new(OnceLock::new());
    let wait = config.durability.map_or(Duration::ZERO, |(_, t)| t);
    let client = ClusterClientBuilder::new(config.nodes.clone())
        .use_protocol(ProtocolVersion::RESP3)
        .push_sender(Pushes(Arc::clone(&handle)))
        .connection_timeout(options.command_timeout)
        .response_timeout(options.command_timeout + wait)
        .min_retry_wait(u64::try_from(options.backoff_min.as_millis()).unwrap_or(u64::MAX))
        .max_retry_wait(u64::try_from(options.backoff_max.as_millis()).unwrap_or(u64::MAX))
        .build()
        .map_err(wire::backend)?;
    let conn = timed(options.command_timeout * 2, client.get_async_connection()).await?;
    let shared = Arc::new(Shared {
        state: Mutex::new(State::default()),
        client,
        conn: Mutex::new(conn),
        answered: Mutex::new(Instant::now()),
        replacing: AtomicBool::new(false),
        me: OnceLock::new(),
        runtime,
        keys: ClusterKeys::new(&config.prefix),
        options,
        defaults: config.defaults,
        overrides: config.overrides,
        known: Mutex::new(HashMap::new()),
        publish: Script::new(scripts::PUBLISH),
        open: Script::new(scripts::OPEN),
    });
    let _ = shared.me.set(Arc::downgrade(&shared));
    let _ = handle.set(Arc::downgrade(&shared));
    tracing::debug!(nodes = ?config.nodes, "ssekit-redis: connected to the cluster");
    Ok(ClusterBackend {
        shared,
        exact_trim: config.exact_trim,
        durability: config.durability,
        closed: AtomicBool::new(false),
    })
}

impl Shared {
    /// `future` on the cluster connection, or a timeout error after
    /// `after`. A connection that answers nothing for twice the command
    /// timeout is replaced: redis-rs's cluster connection can stop sending
    /// anything at all while it recovers from a node's loss (an in-flight
    /// request holding the slot map's lock that the recovery waits for),
    /// and a new one starts from the seed nodes.
    pub(crate) async fn timed<T>(
        &self,
        after: Duration,
        future: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, BrokerError> {
        let result = tokio::time::timeout(after, future).await;
        let answered = |state: &Self| {
            *state
                .answered
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Instant::now();
        };
        match result {
            Ok(Err(error)) if error.is_timeout() => {
                self.stalled();
                Err(wire::backend(error))
            }
            Ok(result) => {
                answered(self);
                result.map_err(wire::backend)
            }
            Err(_) => {
                self.stalled();
                Err(BrokerError::Backend(Box::new(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("Redis did not answer within {after:?}"),
                ))))
            }
        }
    }

    /// A command timed out: replaces the connection when nothing has
    /// answered for twice the command timeout.
    fn stalled(&self) {
        let silent = self
            .answered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .elapsed();
        if silent >= self.options.command_timeout * 2 {
            tracing::warn!(
                ?silent,
                "ssekit-redis: the cluster connection answers nothing; replacing it"
            );
            self.replace_connection();
        }
    }

    /// Replaces the cluster connection with a new one from the seed nodes,
    /// then subscribes to every unit's channel on it and checks each unit
    /// against its streams. Once at a time.
    pub(crate) fn replace_connection(&self) {
        if self.replacing.swap(true, Ordering::AcqRel) {
            return;
        }
        let Some(shared) = self.me.get().and_then(std::sync::Weak::upgrade) else {
            return;
        };
        self.runtime.spawn(async move {
            let mut backoff = shared.options.backoff_min;
            loop {
                if shared.lock().closed {
                    break;
                }
                let connecting = shared.client.get_async_connection();
                match tokio::time::timeout(shared.options.command_timeout * 2, connecting).await {
                    Ok(Ok(conn)) => {
                        *shared.conn.lock().unwrap_or_else(PoisonError::into_inner) = conn;
                        *shared.answered.lock().unwrap_or_else(PoisonError::into_inner) =
                            Instant::now();
                        break;
                    }
                    Ok(Err(error)) => {
                        tracing::warn!(%error, ?backoff, "ssekit-redis: cannot connect to the cluster; retrying")
                    }
                    Err(_) => {
                        tracing::warn!(?backoff, "ssekit-redis: connecting to the cluster timed out; retrying")
                    }
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(shared.options.backoff_max);
            }
            shared.replacing.store(false, Ordering::Release);
            // The new connection has no subscription yet.
            let units: Vec<u16> = shared.lock().units.keys().copied().collect();
            shared.resubscribe(units);
        });
    }

    fn config_for(&self, name: &str) -> &TopicConfig {
        self.overrides.get(name).unwrap_or(&self.defaults)
    }

    /// The TTL of every stream in ms, 0 for none.
    fn ttl_ms(&self) -> u64 {
        self.options.ttl.map_or(0, |ttl| {
            u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
        })
    }

    /// The epoch (hex, empty if none) and highest sequence number this
    /// process knows of `unit`.
    fn known(&self, unit: u16) -> (String, u64) {
        let known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        match known.get(&unit) {
            Some(&(epoch, seq)) => (format!("{epoch:x}"), seq),
            None => (String::new(), 0),
        }
    }

    /// Records an epoch and a sequence number Redis answered for `unit`.
    fn observe(&self, unit: u16, hex: &[u8], seq: u64) -> Result<u64, BrokerError> {
        let epoch = wire::parse_epoch(hex)?;
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = known.entry(unit).or_insert((epoch, seq));
        if entry.0 != epoch {
            tracing::warn!(
                unit,
                old = %format_args!("{:x}", entry.0),
                new = %format_args!("{epoch:x}"),
                "ssekit-redis: a unit moved to a new epoch (a failover, or its data was lost); its ids reset"
            );
            *entry = (epoch, seq);
        } else {
            entry.1 = entry.1.max(seq);
        }
        Ok(epoch)
    }

    /// Runs `script` on the master of `unit`'s slot (`EVALSHA`, or `EVAL`
    /// when the node does not have it yet), then, when `wait` asks, `WAIT`
    /// on the same connection: the script's value and how many replicas
    /// acknowledged.
    async fn eval(
        &self,
        (script, text): (&Script, &str),
        unit: u16,
        keys: &[String],
        args: &[Vec<u8>],
        wait: Option<(usize, Duration)>,
    ) -> Result<(Value, Option<i64>), BrokerError> {
        let route = Route::new(unit, SlotAddr::Master);
        let mut conn = self.connection();
        let limit = self.options.command_timeout + wait.map_or(Duration::ZERO, |(_, t)| t);
        let run = async {
            let mut source = None;
            loop {
                let result = match wait {
                    None => {
                        let cmd = script_cmd(script, source, keys, args);
                        let routing =
                            RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route));
                        conn.route_command(cmd, routing)
                            .await
                            .and_then(script_value)
                            .map(|value| (value, None))
                    }
                    Some(wait) => {
                        let pipe = durable_pipeline(script, source, keys, args, wait);
                        let routing = SingleNodeRoutingInfo::SpecificNode(route);
                        conn.route_pipeline(pipe, 0, 2, routing)
                            .await
                            .and_then(|values| {
                                let mut values = values.into_iter();
                                let value = script_value(values.next().unwrap_or(Value::Nil))?;
                                let acknowledged =
                                    match script_value(values.next().unwrap_or(Value::Nil))? {
                                        Value::Int(n) => n,
                                        _ => -1,
                                    };
                                Ok((value, Some(acknowledged)))
                            })
                    }
                };
                match result {
                    Err(error) if is_noscript(&error) && source.is_none() => {
                        source = Some(text);
                    }
                    other => return other,
                }
            }
        };
        self.timed(limit, run).await
    }

    /// Runs `OPEN` on `unit` for `topics` (all of that unit): its epoch,
    /// latest sequence number and, after `after` in epoch `asked`, each
    /// topic's entries.
    async fn read_unit(
        &self,
        unit: u16,
        topics: &[&str],
        after: Option<u64>,
        asked: u64,
    ) -> Result<UnitRead, BrokerError> {
        let unit_keys = self.keys.unit_keys(unit);
        let mut keys = vec![
            unit_keys.epoch,
            unit_keys.seq,
            unit_keys.marks,
            unit_keys.owner,
        ];
        keys.extend(topics.iter().map(|topic| self.keys.stream(topic)));
        let (known_epoch, known_seq) = self.known(unit);
        let mut args: Vec<Vec<u8>> = vec![
            format!("{:x}", wire::fresh_epoch()).into_bytes(),
            after.map_or_else(Vec::new, |seq| seq.to_string().into_bytes()),
            known_epoch.into_bytes(),
            known_seq.to_string().into_bytes(),
            self.ttl_ms().to_string().into_bytes(),
            format!("{asked:x}").into_bytes(),
            unit.to_string().into_bytes(),
        ];
        for topic in topics {
            let bound = self.config_for(topic).limits().max_events.max(1);
            args.push(bound.to_string().into_bytes());
        }
        let (value, _) = self
            .eval((&self.open, scripts::OPEN), unit, &keys, &args, None)
            .await?;
        let Value::Array(items) = value else {
            return Err(wire::protocol("OPEN did not answer an array"));
        };
        let mut items = items.into_iter();
        let Some(Value::BulkString(hex)) = items.next() else {
            return Err(wire::protocol("no epoch"));
        };
        let current = items
            .next()
            .as_ref()
            .and_then(wire::value_u64)
            .ok_or_else(|| wire::protocol("no sequence number"))?;
        let epoch = self.observe(unit, &hex, current)?;
        Ok(UnitRead {
            epoch,
            current,
            ranges: items.collect(),
        })
    }
}

impl ClusterBackend {
    pub(crate) fn unit(&self, topic: &str) -> u16 {
        self.shared.keys.unit(topic)
    }

    async fn publish_async(
        &self,
        topics: &[&str],
        event: &Event,
        visibility: Visibility,
    ) -> Result<EventId, BrokerError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(BrokerError::Closed);
        }
        let shared = &self.shared;
        let mut units: Vec<u16> = topics.iter().map(|topic| self.unit(topic)).collect();
        units.sort_unstable();
        units.dedup();
        let unit = match units[..] {
            [unit] => unit,
            [] => return Err(BrokerError::NoTopic),
            _ => {
                return Err(BrokerError::SpansUnits {
                    units: units.len(),
                    max: 1,
                });
            }
        };
        let unit_keys = shared.keys.unit_keys(unit);
        let mut keys = vec![
            unit_keys.epoch,
            unit_keys.seq,
            unit_keys.marks,
            unit_keys.owner,
        ];
        keys.extend(topics.iter().map(|topic| shared.keys.stream(topic)));
        let frame = event.as_bytes();
        let body = &frame[..frame.len().saturating_sub(1)];
        let (known_epoch, known_seq) = shared.known(unit);
        let ttl = shared.ttl_ms();
        let encoded = wire::encode_topics(topics);
        let mut args: Vec<Vec<u8>> = vec![
            format!("{:x}", wire::fresh_epoch()).into_bytes(),
            body.to_vec(),
            match (topics.len(), visibility) {
                (1, Visibility::Public) => Vec::new(),
                _ => encoded.clone(),
            },
            if self.exact_trim {
                b"=".to_vec()
            } else {
                b"~".to_vec()
            },
            match visibility {
                Visibility::Public => Vec::new(),
                Visibility::Private => wire::PRIVATE.as_bytes().to_vec(),
            },
            known_epoch.into_bytes(),
            known_seq.to_string().into_bytes(),
            ttl.to_string().into_bytes(),
            (ttl / 64).max(1).to_string().into_bytes(),
            encoded,
            unit_keys.live.into_bytes(),
            unit.to_string().into_bytes(),
        ];
        for topic in topics {
            let bound = shared.config_for(topic).limits().max_events.max(1);
            args.push(bound.to_string().into_bytes());
        }
        let (value, acknowledged) = shared
            .eval(
                (&shared.publish, scripts::PUBLISH),
                unit,
                &keys,
                &args,
                self.durability,
            )
            .await?;
        let Value::Array(items) = value else {
            return Err(wire::protocol("PUBLISH did not answer an array"));
        };
        let mut items = items.into_iter();
        let (Some(Value::BulkString(hex)), Some(seq)) = (items.next(), items.next()) else {
            return Err(wire::protocol("PUBLISH did not answer [epoch, seq]"));
        };
        let seq = wire::value_u64(&seq).ok_or_else(|| wire::protocol("no sequence number"))?;
        let epoch = shared.observe(unit, &hex, seq)?;
        let id = EventId::new(epoch, seq);
        match (self.durability, acknowledged) {
            (Some((replicas, timeout)), Some(acknowledged)) => {
                check_durable(id, acknowledged, replicas, timeout)
            }
            _ => Ok(id),
        }
    }

    async fn open_async(
        &self,
        names: &[&str],
        after: &[(u16, EventId)],
    ) -> Result<Opened, BrokerError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(BrokerError::Closed);
        }
        let shared = &self.shared;
        let mut groups: BTreeMap<u16, Vec<&str>> = BTreeMap::new();
        for name in names {
            groups.entry(self.unit(name)).or_default().push(name);
        }
        let resuming = !after.is_empty();
        let asked: HashMap<u16, EventId> = after.iter().copied().collect();
        // Each unit: subscribe to its channel, then read it; all at once.
        let reads = futures_util::future::join_all(groups.iter().map(|(&unit, topics)| {
            let shared = Arc::clone(shared);
            let position = asked.get(&unit).copied();
            async move {
                shared.begin_open(unit).await?;
                let read = shared
                    .read_unit(
                        unit,
                        topics,
                        position.map(|id| id.seq()),
                        position.map_or(0, |id| id.epoch()),
                    )
                    .await;
                if read.is_err() {
                    shared.end_open(unit);
                }
                read
            }
        }))
        .await;
        let mut first_error = None;
        let mut ok = Vec::with_capacity(reads.len());
        for ((&unit, _), read) in groups.iter().zip(reads) {
            match read {
                Ok(read) => ok.push((unit, read)),
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        if let Some(error) = first_error {
            for (unit, _) in ok {
                self.shared.end_open(unit);
            }
            return Err(error);
        }

        // Resets and replays, per unit.
        let mut reset = None;
        let mut replay: Vec<Entry> = Vec::new();
        let mut cache = None;
        let mut reads = Vec::with_capacity(ok.len());
        for (unit, read) in ok {
            let mut unit_replay = Vec::new();
            if resuming && reset.is_none() {
                match asked.get(&unit) {
                    None => reset = Some(ResetReason::Unknown),
                    Some(id) if id.epoch() != read.epoch => reset = Some(ResetReason::OtherEpoch),
                    Some(id) if id.seq() > read.current => reset = Some(ResetReason::Unknown),
                    Some(id) => {
                        for range in &read.ranges {
                            if matches!(range, Value::BulkString(marker) if marker == wire::EVICTED)
                            {
                                reset = Some(ResetReason::Evicted);
                                break;
                            }
                            let stored = wire::parse_entries(range.clone(), &mut cache)?;
                            if stored.first().is_some_and(|first| first.prev > id.seq()) {
                                reset = Some(ResetReason::Evicted);
                                break;
                            }
                            unit_replay.extend(
                                stored
                                    .into_iter()
                                    .map(|stored| stored.entry.with_unit(unit)),
                            );
                        }
                    }
                }
            }
            reads.push((unit, read.epoch, read.current, unit_replay));
        }

        // Take the feeds, and where each unit's live delivery stands.
        let mut live: Vec<Option<Live>> = names.iter().map(|_| None).collect();
        let mut positions: Vec<(u16, EventId)> = Vec::with_capacity(reads.len());
        let mut behind: Vec<(u16, u64, u64)> = Vec::new();
        {
            let mut state = shared.lock();
            if state.closed || self.closed.load(Ordering::Acquire) {
                return Err(BrokerError::Closed);
            }
            for (unit, epoch, current, _) in &reads {
                let Some(state_unit) = state.units.get_mut(unit) else {
                    return Err(BrokerError::Closed);
                };
                state_unit.opening = state_unit.opening.saturating_sub(1);
                shared.apply(*unit, state_unit, *epoch, *current);
                let mut added = false;
                for (i, name) in names.iter().enumerate() {
                    if groups.get(unit).is_none_or(|topics| !topics.contains(name)) {
                        continue;
                    }
                    if !state_unit.topics.contains_key(*name) {
                        let config = shared.config_for(name);
                        let (sender, _) = config.live_feed();
                        state_unit.topics.insert(
                            Arc::from(*name),
                            Feed {
                                sender,
                                policy: config.limits().lag_policy,
                            },
                        );
                        added = true;
                    }
                    let Some((key, feed)) = state_unit.topics.get_key_value(*name) else {
                        unreachable!("the topic was just inserted");
                    };
                    live[i] = Some(Live::new(
                        Arc::clone(key),
                        feed.sender.subscribe(),
                        feed.policy,
                    ));
                }
                if added {
                    // A fill under way does not cover the new topics.
                    state_unit.topics_added();
                }
                // Buffered messages after the position go to the new feeds.
                shared.advance(*unit, state_unit);
                let sent = match state_unit.cursor {
                    Some((cursor_epoch, seq)) if cursor_epoch == *epoch => seq,
                    _ => *current,
                };
                let position = sent.max(*current);
                if sent > *current {
                    behind.push((*unit, *current, sent));
                }
                positions.push((*unit, EventId::new(*epoch, position)));
            }
        }

        if resuming && reset.is_none() {
            // Where the live delivery is ahead of a unit's snapshot, what it
            // sent before these feeds existed is read here.
            for (unit, from, to) in behind {
                let mut conn = shared.connection();
                for name in &groups[&unit] {
                    let mut cmd = redis::cmd("XRANGE");
                    cmd.arg(shared.keys.stream(name))
                        .arg(format!("{}-0", from + 1))
                        .arg(format!("{to}-0"));
                    let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(
                        Route::new(unit, SlotAddr::Master),
                    ));
                    let range = shared
                        .timed(
                            shared.options.command_timeout,
                            conn.route_command(cmd, routing),
                        )
                        .await?;
                    let stored = wire::parse_entries(range, &mut cache)?;
                    if let Some(read) = reads.iter_mut().find(|read| read.0 == unit) {
                        read.3.extend(
                            stored
                                .into_iter()
                                .map(|stored| stored.entry.with_unit(unit)),
                        );
                    }
                }
            }
            for (_, _, _, mut unit_replay) in reads {
                unit_replay.sort_by_key(Entry::seq);
                unit_replay.dedup_by_key(|entry| entry.seq());
                replay.extend(unit_replay);
            }
        }
        let live = live
            .into_iter()
            .map(|feed| feed.expect("every topic has a unit"))
            .collect();
        Ok(Opened::new(live, replay, reset, positions))
    }
}

impl Backend for ClusterBackend {
    /// Each unit has its own epoch.
    fn epoch(&self) -> u64 {
        0
    }

    fn unit(&self, topic: &str) -> u16 {
        ClusterBackend::unit(self, topic)
    }

    fn publish<'a>(
        &'a self,
        topics: &'a [&'a str],
        event: &'a Event,
        visibility: Visibility,
    ) -> BackendFuture<'a, Result<EventId, BrokerError>> {
        BackendFuture::boxed(self.publish_async(topics, event, visibility))
    }

    fn open<'a>(
        &'a self,
        topics: &'a [&'a str],
        after: &'a [(u16, EventId)],
    ) -> BackendFuture<'a, Result<Opened, BrokerError>> {
        BackendFuture::boxed(self.open_async(topics, after))
    }

    fn release(&self, names: &[Arc<str>]) {
        let mut units = Vec::new();
        {
            let mut state = self.shared.lock();
            for name in names {
                let unit = self.unit(name);
                let Some(state_unit) = state.units.get_mut(&unit) else {
                    continue;
                };
                let unused = state_unit
                    .topics
                    .get(name)
                    .is_some_and(|feed| feed.sender.receiver_count() == 0);
                if unused {
                    tracing::debug!(topic = %name, "ssekit-redis: no longer reading the topic");
                    state_unit.topics.remove(name);
                }
                if state_unit.topics.is_empty() {
                    units.push(unit);
                }
            }
        }
        units.sort_unstable();
        units.dedup();
        for unit in units {
            self.shared.unsubscribe_if_unused(unit);
        }
    }

    fn shutdown(&self) {
        self.closed.store(true, Ordering::Release);
        let mut state = self.shared.lock();
        state.closed = true;
        // Dropping the senders closes the feeds.
        state.units.clear();
    }

    /// Redis trims each stream as it is published to: nothing to do.
    fn evict_expired(&self) {}

    fn stats(&self) -> BackendStats {
        let state = self.shared.lock();
        let mut topics: Vec<TopicStats> = state
            .units
            .values()
            .flat_map(|unit| {
                unit.topics.iter().map(|(name, feed)| {
                    TopicStats::new(Arc::clone(name), feed.sender.receiver_count())
                })
            })
            .collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        BackendStats::new(topics, 0)
    }
}

impl Drop for ClusterBackend {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.closed = true;
        state.units.clear();
    }
}

impl std::fmt::Debug for ClusterBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterBackend")
            .field("keys", &self.shared.keys)
            .field("exact_trim", &self.exact_trim)
            .field("durability", &self.durability)
            .finish_non_exhaustive()
    }
}
