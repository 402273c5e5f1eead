//! [`RedisBackend`]: the broker's [`Backend`] on Redis Streams.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, MutexGuard};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, IntoConnectionInfo, ProtocolVersion, Script, Value};
use ssekit_core::Event;
use ssekit_core::broker::{
    Backend, BackendFuture, BackendStats, BrokerError, Entry, EventId, Live, Opened, ResetReason,
    TopicConfig, TopicStats, Visibility,
};
use tokio::runtime::Handle;
use tokio::task::AbortHandle;

use crate::cluster::{self, ClusterBackend, ClusterConfig};
use crate::reader::{LocalTopic, Options, Reader, Registry, Topics};
use crate::wire::{self, Keys, Stored};

/// The broker's [`Backend`] on a Redis server (6 or newer) or a Redis
/// Cluster (7 or newer): topics, ids and history shared by every process
/// that connects to the same Redis with the same key prefix. See the
/// [crate documentation](crate) for how it works.
///
/// Create it with [`RedisBackend::connect`] or [`RedisBackend::builder`],
/// then hand it to [`Broker::builder`](ssekit_core::broker::Broker::builder)`.build_with`.
///
/// ```no_run
/// use ssekit_core::broker::Broker;
/// use ssekit_redis::RedisBackend;
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), ssekit_core::broker::BrokerError> {
/// let backend = RedisBackend::connect("redis://127.0.0.1:6379").await?;
/// let _broker = Broker::builder().build_with(backend);
/// # Ok(())
/// # }
/// ```
pub struct RedisBackend {
    mode: Mode,
}

/// A single Redis, or a cluster.
enum Mode {
    Standalone(Box<Standalone>),
    Cluster(ClusterBackend),
}

/// The backend on a single Redis.
struct Standalone {
    conn: ConnectionManager,
    keys: Keys,
    epoch: AtomicU64,
    /// The highest sequence number seen in `epoch`.
    highest_seq: AtomicU64,
    defaults: TopicConfig,
    overrides: HashMap<Box<str>, TopicConfig>,
    exact_trim: bool,
    options: Options,
    registry: Arc<Registry>,
    /// The process's one reader of every local topic.
    reader: AbortHandle,
    closed: AtomicBool,
    publish_script: Script,
    open_script: Script,
    /// `WAIT` for this many replicas, this long, after each publish.
    durability: Option<(usize, Duration)>,
}

/// Builds a [`RedisBackend`]: key prefix, per-topic bounds, timeouts.
///
/// ```no_run
/// use std::time::Duration;
/// use ssekit_core::broker::TopicConfig;
/// use ssekit_redis::RedisBackend;
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), ssekit_core::broker::BrokerError> {
/// let _backend = RedisBackend::builder("redis://127.0.0.1:6379")
///     .key_prefix("chat:")
///     .defaults(TopicConfig::new().max_events(500))
///     .command_timeout(Duration::from_secs(1))
///     .connect()
///     .await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct RedisBackendBuilder {
    url: String,
    prefix: String,
    defaults: TopicConfig,
    overrides: HashMap<Box<str>, TopicConfig>,
    exact_trim: bool,
    options: Options,
    /// The seed nodes of a cluster; `None` for a single Redis.
    cluster: Option<Vec<String>>,
    durability: Option<(usize, Duration)>,
}

impl RedisBackendBuilder {
    /// Prefixes every key this backend uses (default `sse:`): the epoch
    /// (`{prefix}epoch`), the sequence (`{prefix}seq`), the marks that date
    /// sequence numbers (`{prefix}marks`, see [`topic_ttl`](Self::topic_ttl))
    /// and one stream per topic (`{prefix}topic:{name}`). Processes that
    /// share a prefix share topics and ids. On a cluster the epoch,
    /// sequence and marks are per hash slot, and a prefix may hold a hash
    /// tag only whole (`{app}:`, which puts every key in one slot): see
    /// [Redis Cluster](crate#redis-cluster).
    pub fn key_prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.to_owned();
        self
    }

    /// Bounds for every topic without its own. Of the history bounds, Redis
    /// applies the event count (`XADD … MAXLEN ~ n`, at least 1), which
    /// also bounds a resume: at most `n` events replayed per topic, a
    /// position further back resets; the byte and age bounds are not
    /// applied. The lag limit and policy apply to
    /// this process's subscribers as in memory.
    pub fn defaults(mut self, config: TopicConfig) -> Self {
        self.defaults = config;
        self
    }

    /// Bounds for the topic `name` (see [`defaults`](Self::defaults)).
    /// Give every process the same bounds: the last publisher trims.
    pub fn topic(mut self, name: &str, config: TopicConfig) -> Self {
        self.overrides.insert(name.into(), config);
        self
    }

    /// Trims streams to exactly the event bound (`MAXLEN n`) instead of
    /// approximately (`MAXLEN ~ n`, the default: Redis then keeps up to one
    /// internal node more, and trims more cheaply).
    pub fn exact_trim(mut self, exact: bool) -> Self {
        self.exact_trim = exact;
        self
    }

    /// How long a topic's stream stays in Redis after its last publish
    /// (default a day; `None`: for ever, as before this option). Each
    /// publish sets the TTL again, so only a topic nobody publishes to
    /// expires, with its history; the epoch and the sequence never expire,
    /// so ids are never issued twice. A position older than the TTL in a
    /// topic whose stream is gone (or was created again since) resumes
    /// with a `reset` (`Evicted`), never a silent gap: to tell, the backend
    /// keeps a few sequence numbers with the time they were issued
    /// (`{prefix}marks`, one per 1/64 of the TTL, for twice the TTL); and a
    /// process whose reader could not read for longer than the TTL ends
    /// its subscriptions, which resume or reset. Give
    /// every process the same TTL; lowering it is safe, while after raising
    /// it, positions in streams expired under the old TTL are judged by the
    /// new one until that much time has passed.
    pub fn topic_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.options.ttl = ttl.filter(|ttl| !ttl.is_zero());
        self
    }

    /// How long a publish or a subscribe waits for Redis before failing
    /// (default 2 s); also each connection attempt's limit.
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.options.command_timeout = timeout;
        self
    }

    /// The delay before a topic reader reconnects: `min` after the first
    /// failure, doubling up to `max` (defaults 50 ms and 2 s).
    pub fn reconnect_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.options.backoff_min = min;
        self.options.backoff_max = max.max(min);
        self
    }

    /// After each publish, waits up to `timeout` for `replicas` replicas to
    /// acknowledge it (`WAIT`, on the connection that ran the publish, to
    /// the topic's master on a cluster). When fewer do, the publish returns
    /// [`BrokerError::Backend`]: the event was written and may be
    /// delivered, but is not confirmed durable (a failover of its master
    /// may lose it). Never a success that was not confirmed. Off by
    /// default; `replicas` 0 turns it off.
    pub fn durability(mut self, replicas: usize, timeout: Duration) -> Self {
        self.durability = (replicas > 0).then_some((replicas, timeout));
        self
    }

    /// Connects, and reads the shared epoch (setting it if this is the first
    /// process). Must run inside a tokio runtime, which the topic readers
    /// are spawned on.
    pub async fn connect(self) -> Result<RedisBackend, BrokerError> {
        if let Some(nodes) = self.cluster {
            let backend = cluster::connect(ClusterConfig {
                nodes,
                prefix: self.prefix,
                defaults: self.defaults,
                overrides: self.overrides,
                exact_trim: self.exact_trim,
                options: self.options,
                durability: self.durability,
            })
            .await?;
            return Ok(RedisBackend {
                mode: Mode::Cluster(backend),
            });
        }
        let runtime = Handle::try_current().map_err(|e| BrokerError::Backend(Box::new(e)))?;
        let info = self
            .url
            .as_str()
            .into_connection_info()
            .map_err(wire::backend)?;
        // RESP3, whatever the URL says: on RESP3 the connection manager is
        // told when its connection drops and replaces it at once, rather
        // than at the next command, which would fail (the first publish
        // after Redis restarted, on a process idle meanwhile).
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let client = Client::open(info.set_redis_settings(settings)).map_err(wire::backend)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.options.command_timeout))
            .set_response_timeout(Some(self.options.command_timeout))
            .set_number_of_retries(1)
            .set_min_delay(self.options.backoff_min)
            .set_max_delay(self.options.backoff_max);
        let conn = tokio::time::timeout(
            self.options.command_timeout * 2,
            ConnectionManager::new_with_config(client.clone(), config),
        )
        .await
        .map_err(|_| timed_out(self.options.command_timeout * 2))?
        .map_err(wire::backend)?;
        let keys = Keys::new(&self.prefix);
        let registry = Arc::new(Registry::default());
        let reader = Reader {
            client,
            control: conn.clone(),
            epoch_key: keys.epoch.clone(),
            seq_key: keys.seq.clone(),
            registry: Arc::clone(&registry),
            options: self.options.clone(),
        };
        let reader = runtime.spawn(reader.run()).abort_handle();
        let backend = Standalone {
            conn,
            keys,
            epoch: AtomicU64::new(0),
            highest_seq: AtomicU64::new(0),
            defaults: self.defaults,
            overrides: self.overrides,
            exact_trim: self.exact_trim,
            options: self.options,
            registry,
            reader,
            closed: AtomicBool::new(false),
            publish_script: Script::new(wire::PUBLISH),
            open_script: Script::new(wire::OPEN),
            durability: self.durability,
        };
        let (epoch, _, _) = backend.read_state(&[], None, 0).await?;
        backend.epoch.store(epoch, Ordering::Release);
        tracing::debug!(epoch = %format_args!("{epoch:x}"), "ssekit-redis: connected");
        Ok(RedisBackend {
            mode: Mode::Standalone(Box::new(backend)),
        })
    }
}

/// Whether `error` is a connection lost or refused (not a timeout or a
/// reply), after which the connection manager reconnects.
fn is_dropped(error: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
    error
        .downcast_ref::<redis::RedisError>()
        .is_some_and(|error| error.is_connection_dropped() || error.is_io_error())
}

/// Whether `error` is a connection refused: the command was not sent.
fn is_refused(error: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
    error
        .downcast_ref::<redis::RedisError>()
        .is_some_and(redis::RedisError::is_connection_refusal)
}

fn timed_out(after: Duration) -> BrokerError {
    BrokerError::Backend(Box::new(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("Redis did not answer within {after:?}"),
    )))
}

impl RedisBackend {
    /// A builder for a backend on the Redis at `url`
    /// (`redis://[user:password@]host[:port][/db]`), spoken to with RESP3
    /// (Redis 6 or newer).
    pub fn builder(url: &str) -> RedisBackendBuilder {
        RedisBackendBuilder {
            url: url.to_owned(),
            prefix: "sse:".to_owned(),
            defaults: TopicConfig::default(),
            overrides: HashMap::new(),
            exact_trim: false,
            options: Options {
                command_timeout: Duration::from_secs(2),
                block: Duration::from_secs(2),
                read_count: 512,
                backoff_min: Duration::from_millis(50),
                backoff_max: Duration::from_secs(2),
                ttl: Some(Duration::from_secs(24 * 60 * 60)),
            },
            cluster: None,
            durability: None,
        }
    }

    /// A builder for a backend on the Redis Cluster that `nodes` belong to
    /// (`redis://[user:password@]host:port` seed URLs; any live node is
    /// enough to find the others), with the same options as
    /// [`builder`](Self::builder). Each hash slot is an ordering unit of
    /// its own: see [Redis Cluster](crate#redis-cluster).
    ///
    /// ```no_run
    /// use ssekit_redis::RedisBackend;
    ///
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), ssekit_core::broker::BrokerError> {
    /// let backend = RedisBackend::cluster_builder(["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"])
    ///     .key_prefix("chat:")
    ///     .connect()
    ///     .await?;
    /// assert!(backend.is_cluster());
    /// # Ok(())
    /// # }
    /// ```
    pub fn cluster_builder(
        nodes: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> RedisBackendBuilder {
        let nodes: Vec<String> = nodes
            .into_iter()
            .map(|node| node.as_ref().to_owned())
            .collect();
        RedisBackendBuilder {
            url: nodes.first().cloned().unwrap_or_default(),
            cluster: Some(nodes),
            ..Self::builder("")
        }
    }

    /// Whether this backend runs on a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.mode, Mode::Cluster(_))
    }

    /// Connects to the Redis at `url` with the default settings.
    pub async fn connect(url: &str) -> Result<RedisBackend, BrokerError> {
        Self::builder(url).connect().await
    }

    fn backend(&self) -> &dyn Backend {
        match &self.mode {
            Mode::Standalone(backend) => &**backend,
            Mode::Cluster(backend) => backend,
        }
    }
}

impl Standalone {
    fn config_for(&self, name: &str) -> &TopicConfig {
        self.overrides.get(name).unwrap_or(&self.defaults)
    }

    fn lock(&self) -> MutexGuard<'_, Topics> {
        self.registry.lock()
    }

    /// Records the epoch Redis answered with and a sequence number it
    /// gave; a new epoch means Redis lost its data (or went back in time).
    fn observe(&self, hex: &[u8], seq: u64) -> Result<u64, BrokerError> {
        let epoch = wire::parse_epoch(hex)?;
        let old = self.epoch.swap(epoch, Ordering::AcqRel);
        if old != epoch {
            self.highest_seq.store(seq, Ordering::Release);
            if old != 0 {
                tracing::warn!(
                    old = %format_args!("{old:x}"),
                    new = %format_args!("{epoch:x}"),
                    "ssekit-redis: Redis holds a new epoch (it lost its data); ids of the old one reset"
                );
            }
        } else {
            self.highest_seq.fetch_max(seq, Ordering::AcqRel);
        }
        Ok(epoch)
    }

    /// The epoch this process knows (hex, empty before the first answer)
    /// and the highest sequence number it has seen in it: what the scripts
    /// compare with Redis to tell that it went back in time.
    fn known(&self) -> (String, u64) {
        let epoch = self.epoch.load(Ordering::Acquire);
        let hex = if epoch == 0 {
            String::new()
        } else {
            format!("{epoch:x}")
        };
        (hex, self.highest_seq.load(Ordering::Acquire))
    }

    /// The TTL of every stream in ms, 0 for none.
    fn ttl_ms(&self) -> u64 {
        self.options.ttl.map_or(0, |ttl| {
            u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
        })
    }

    /// Runs `OPEN`: the epoch, the latest sequence number and, after the
    /// position `after` of epoch `asked`, each topic's entries (at most
    /// its bound), or [`wire::EVICTED`] for the first topic whose entries
    /// after it are gone or beyond the bound.
    async fn read_state(
        &self,
        topics: &[&str],
        after: Option<u64>,
        asked: u64,
    ) -> Result<(u64, u64, Vec<Value>), BrokerError> {
        let mut invocation = self.open_script.prepare_invoke();
        invocation
            .key(&self.keys.epoch)
            .key(&self.keys.seq)
            .key(&self.keys.marks);
        for topic in topics {
            invocation.key(self.keys.stream(topic));
        }
        let (known_epoch, known_seq) = self.known();
        invocation.arg(format!("{:x}", wire::fresh_epoch()));
        invocation.arg(after.map_or_else(String::new, |seq| seq.to_string()));
        invocation.arg(known_epoch).arg(known_seq);
        invocation.arg(self.ttl_ms()).arg(format!("{asked:x}"));
        for topic in topics {
            invocation.arg(self.config_for(topic).limits().max_events.max(1));
        }
        let mut conn = self.conn.clone();
        let reply: Vec<Value> = match self.timed(invocation.invoke_async(&mut conn)).await {
            // The script only reads (and sets a missing epoch): after a
            // dropped connection, try once more on the new one.
            Err(BrokerError::Backend(error)) if is_dropped(&*error) => {
                self.timed(invocation.invoke_async(&mut conn)).await?
            }
            other => other?,
        };
        let mut reply = reply.into_iter();
        let Some(Value::BulkString(hex)) = reply.next() else {
            return Err(wire::protocol("no epoch"));
        };
        let seq = reply
            .next()
            .as_ref()
            .and_then(wire::value_u64)
            .ok_or_else(|| wire::protocol("no sequence number"))?;
        let epoch = self.observe(&hex, seq)?;
        Ok((epoch, seq, reply.collect()))
    }

    async fn timed<T>(
        &self,
        future: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, BrokerError> {
        tokio::time::timeout(self.options.command_timeout, future)
            .await
            .map_err(|_| timed_out(self.options.command_timeout))?
            .map_err(wire::backend)
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
        let frame = event.as_bytes();
        let body = &frame[..frame.len().saturating_sub(1)];
        let mut keys = vec![
            self.keys.epoch.clone(),
            self.keys.seq.clone(),
            self.keys.marks.clone(),
        ];
        keys.extend(topics.iter().map(|topic| self.keys.stream(topic)));
        let (known_epoch, known_seq) = self.known();
        let ttl = self.ttl_ms();
        let mut args: Vec<Vec<u8>> = vec![
            format!("{:x}", wire::fresh_epoch()).into_bytes(),
            body.to_vec(),
            match (topics.len(), visibility) {
                (1, Visibility::Public) => Vec::new(),
                _ => wire::encode_topics(topics),
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
        ];
        for topic in topics {
            let bound = self.config_for(topic).limits().max_events.max(1);
            args.push(bound.to_string().into_bytes());
        }
        let mut conn = self.conn.clone();
        if let Some((replicas, timeout)) = self.durability {
            return self
                .publish_durably(&keys, &args, replicas, timeout, &mut conn)
                .await;
        }
        let mut invocation = self.publish_script.prepare_invoke();
        for key in &keys {
            invocation.key(key);
        }
        for arg in &args {
            invocation.arg(arg.as_slice());
        }
        let (epoch, seq): (Vec<u8>, u64) =
            match self.timed(invocation.invoke_async(&mut conn)).await {
                // Refused: the script was never sent, as there was no
                // connection (the manager's last reconnection, in an outage,
                // failed; it reconnects now). Once more on the new connection,
                // so the first publish after an outage does not fail. Not after
                // any other error: the script may have run.
                Err(BrokerError::Backend(error)) if is_refused(&*error) => {
                    self.timed(invocation.invoke_async(&mut conn)).await?
                }
                other => other?,
            };
        let epoch = self.observe(&epoch, seq)?;
        Ok(EventId::new(epoch, seq))
    }

    /// Runs `PUBLISH` and `WAIT` in one pipeline, so that `WAIT` counts the
    /// replicas that acknowledged this connection's writes, the publish
    /// included; fewer than `replicas` is an error, never a success.
    async fn publish_durably(
        &self,
        keys: &[String],
        args: &[Vec<u8>],
        replicas: usize,
        timeout: Duration,
        conn: &mut ConnectionManager,
    ) -> Result<EventId, BrokerError> {
        let limit = self.options.command_timeout + timeout;
        let run = async {
            let mut source = None;
            loop {
                let pipe = cluster::durable_pipeline(
                    &self.publish_script,
                    source,
                    keys,
                    args,
                    (replicas, timeout),
                );
                match pipe.query_async::<((Vec<u8>, u64), i64)>(conn).await {
                    Err(error) if source.is_none() && cluster::is_noscript(&error) => {
                        source = Some(wire::PUBLISH);
                    }
                    other => return other,
                }
            }
        };
        let ((epoch, seq), acknowledged) = tokio::time::timeout(limit, run)
            .await
            .map_err(|_| timed_out(limit))?
            .map_err(wire::backend)?;
        let epoch = self.observe(&epoch, seq)?;
        let id = EventId::new(epoch, seq);
        cluster::check_durable(id, acknowledged, replicas, timeout)
    }

    async fn open_async(
        &self,
        names: &[&str],
        after: Option<u64>,
        asked_epoch: u64,
    ) -> Result<Opened, BrokerError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(BrokerError::Closed);
        }
        let (epoch, position, ranges) = self.read_state(names, after, asked_epoch).await?;
        let mut reset = None;
        let mut replay: Vec<Entry> = Vec::new();
        let mut topics_cache = None;
        if let Some(after) = after {
            if epoch != asked_epoch {
                reset = Some(ResetReason::OtherEpoch);
            } else if after > position {
                reset = Some(ResetReason::Unknown);
            } else {
                for range in ranges {
                    if matches!(&range, Value::BulkString(marker) if marker == wire::EVICTED) {
                        reset = Some(ResetReason::Evicted);
                        break;
                    }
                    let stored = wire::parse_entries(range, &mut topics_cache)?;
                    if stored.first().is_some_and(|first| first.prev > after) {
                        reset = Some(ResetReason::Evicted);
                        break;
                    }
                    replay.extend(stored.into_iter().map(|stored| stored.entry));
                }
            }
            if reset.is_some() {
                replay.clear();
            }
        }

        let mut live = Vec::with_capacity(names.len());
        // Where the reader stands: every entry up to it, of every topic it
        // reads, was sent before these receivers existed.
        let highest_cursor;
        {
            let mut topics = self.lock();
            if self.closed.load(Ordering::Acquire) {
                return Err(BrokerError::Closed);
            }
            let mut added = false;
            for name in names {
                let current = topics
                    .map
                    .get(*name)
                    .is_some_and(|topic| topic.epoch == epoch && topic.is_open());
                if !current {
                    tracing::debug!(topic = name, position, "ssekit-redis: reading a new topic");
                    let topic = self.new_topic(name, epoch, position);
                    topics.map.insert(Arc::from(*name), topic);
                    added = true;
                }
                let Some((key, topic)) = topics.map.get_key_value(*name) else {
                    unreachable!("the topic was just inserted");
                };
                let Some(sender) = &topic.sender else {
                    unreachable!("the topic was checked open under the lock");
                };
                live.push(Live::new(Arc::clone(key), sender.subscribe(), topic.policy));
            }
            highest_cursor = position.max(topics.sent_up_to(epoch));
            if added {
                topics.added();
                self.registry.notify();
            }
        }

        if after.is_some() && reset.is_none() {
            if highest_cursor > position {
                // The reader is ahead of the snapshot: what it sent before
                // the receivers existed is read here, so replay meets live.
                let mut conn = self.conn.clone();
                for name in names {
                    let range: Value = self
                        .timed(
                            redis::cmd("XRANGE")
                                .arg(self.keys.stream(name))
                                .arg(format!("{}-0", position + 1))
                                .arg(format!("{highest_cursor}-0"))
                                .query_async(&mut conn),
                        )
                        .await?;
                    let stored: Vec<Stored> = wire::parse_entries(range, &mut topics_cache)?;
                    replay.extend(stored.into_iter().map(|stored| stored.entry));
                }
            }
            if names.len() > 1 || highest_cursor > position {
                replay.sort_by_key(Entry::seq);
                replay.dedup_by_key(|entry| entry.seq());
            }
        }
        // Live entries up to where the reader stood were read above (or
        // predate a fresh subscription): the subscription skips them.
        let position = EventId::new(epoch, highest_cursor);
        Ok(Opened::new(live, replay, reset, vec![(0, position)]))
    }

    /// A new local topic, read from after `cursor`.
    fn new_topic(&self, name: &str, epoch: u64, cursor: u64) -> LocalTopic {
        let config = self.config_for(name);
        let (sender, _) = config.live_feed();
        LocalTopic {
            sender: Some(sender),
            cursor,
            epoch,
            policy: config.limits().lag_policy,
            stream_key: self.keys.stream(name),
        }
    }
}

impl Backend for Standalone {
    fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
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
        // One unit: at most one id, checked against Redis's epoch there.
        let (after, asked_epoch) = match after.first() {
            Some((_, id)) => (Some(id.seq()), id.epoch()),
            None => (None, self.epoch()),
        };
        BackendFuture::boxed(self.open_async(topics, after, asked_epoch))
    }

    fn release(&self, names: &[Arc<str>]) {
        let mut topics = self.lock();
        for name in names {
            let unused = topics
                .map
                .get(name)
                .is_some_and(|topic| topic.subscribers() == 0);
            if unused {
                tracing::debug!(topic = %name, "ssekit-redis: no longer reading the topic");
                topics.map.remove(name);
            }
        }
    }

    fn shutdown(&self) {
        self.closed.store(true, Ordering::Release);
        let mut topics = self.lock();
        topics.closed = true;
        // Dropping the senders closes the feeds: receivers drain what they
        // hold, then see the end.
        topics.map.clear();
        drop(topics);
        self.registry.notify();
    }

    /// Redis trims each stream as it is published to: nothing to do.
    fn evict_expired(&self) {}

    fn stats(&self) -> BackendStats {
        let local = self.lock();
        let mut topics: Vec<TopicStats> = local
            .map
            .iter()
            // History lives in Redis (`XLEN`), not in this process.
            .map(|(name, topic)| TopicStats::new(Arc::clone(name), topic.subscribers()))
            .collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        BackendStats::new(topics, 0)
    }
}

impl Drop for Standalone {
    fn drop(&mut self) {
        self.reader.abort();
        let mut topics = self.lock();
        topics.closed = true;
        topics.map.clear();
    }
}

impl Backend for RedisBackend {
    fn epoch(&self) -> u64 {
        self.backend().epoch()
    }

    fn unit(&self, topic: &str) -> u16 {
        self.backend().unit(topic)
    }

    fn publish<'a>(
        &'a self,
        topics: &'a [&'a str],
        event: &'a Event,
        visibility: Visibility,
    ) -> BackendFuture<'a, Result<EventId, BrokerError>> {
        self.backend().publish(topics, event, visibility)
    }

    fn open<'a>(
        &'a self,
        topics: &'a [&'a str],
        after: &'a [(u16, EventId)],
    ) -> BackendFuture<'a, Result<Opened, BrokerError>> {
        self.backend().open(topics, after)
    }

    fn release(&self, topics: &[Arc<str>]) {
        self.backend().release(topics)
    }

    fn shutdown(&self) {
        self.backend().shutdown()
    }

    fn evict_expired(&self) {
        self.backend().evict_expired()
    }

    fn stats(&self) -> BackendStats {
        self.backend().stats()
    }
}

impl fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.mode {
            Mode::Standalone(backend) => backend.fmt(f),
            Mode::Cluster(backend) => backend.fmt(f),
        }
    }
}

impl fmt::Debug for Standalone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBackend")
            .field("epoch", &format_args!("{:x}", self.epoch()))
            .field("keys", &self.keys)
            .field("exact_trim", &self.exact_trim)
            .finish_non_exhaustive()
    }
}
