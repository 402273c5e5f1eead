//! The one reader per process: an `XREAD BLOCK` loop over the streams of
//! every topic with local subscribers, which sends each entry into its
//! topic's local live feed, in id order across topics (one snapshot of
//! every stream per read; why one reader: `docs/ARCHITECTURE.md`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Client, Value};
use ssekit_core::broker::{Entry, LagPolicy, LiveSender};
use tokio::sync::Notify;

use crate::wire::{NEW_EPOCH, Stored, TopicsCache, fresh_epoch, parse_entries, parse_epoch};

/// Timeouts, batch size and backoff, shared by a backend and its reader.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    pub(crate) command_timeout: Duration,
    pub(crate) block: Duration,
    pub(crate) read_count: usize,
    pub(crate) backoff_min: Duration,
    pub(crate) backoff_max: Duration,
    /// How long a stream lasts after its last publish.
    pub(crate) ttl: Option<Duration>,
}

/// A topic with local subscribers.
#[derive(Debug)]
pub(crate) struct LocalTopic {
    /// `None` once the feed is closed: shutdown, or a position lost.
    pub(crate) sender: Option<LiveSender>,
    /// The last sequence number read from the stream (or the position the
    /// topic was opened at).
    pub(crate) cursor: u64,
    /// The epoch the cursor belongs to.
    pub(crate) epoch: u64,
    pub(crate) policy: LagPolicy,
    pub(crate) stream_key: String,
}

impl LocalTopic {
    pub(crate) fn is_open(&self) -> bool {
        self.sender.is_some()
    }

    pub(crate) fn subscribers(&self) -> usize {
        self.sender.as_ref().map_or(0, LiveSender::receiver_count)
    }
}

/// What the backend and the reader share, behind one lock: the reader
/// sends under it, and a subscriber takes its receivers and the reader's
/// progress under it.
#[derive(Debug, Default)]
pub(crate) struct Topics {
    pub(crate) map: HashMap<Arc<str>, LocalTopic>,
    /// Bumped when a topic is added: a read that started before does not
    /// cover it, and is not sent (its entries could overtake the new
    /// topic's).
    generation: u64,
    /// The highest sequence number sent on any topic, and its epoch: every
    /// entry up to it, of every topic read, has been sent.
    sent: (u64, u64),
    pub(crate) closed: bool,
}

impl Topics {
    /// Up to where, in `epoch`, the reader has sent every topic's entries.
    pub(crate) fn sent_up_to(&self, epoch: u64) -> u64 {
        if self.sent.0 == epoch { self.sent.1 } else { 0 }
    }

    /// Records that a topic was added, so the read in flight is redone.
    pub(crate) fn added(&mut self) {
        self.generation += 1;
    }
}

/// The shared state and how to wake the reader.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    topics: Mutex<Topics>,
    /// Told when a topic is added or the backend shuts down.
    changed: Notify,
}

impl Registry {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Topics> {
        self.topics.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes the reader: a topic was added, or everything closed.
    pub(crate) fn notify(&self) {
        self.changed.notify_one();
    }
}

/// The process's reader.
pub(crate) struct Reader {
    pub(crate) client: Client,
    /// The backend's command connection, to unblock the reader's.
    pub(crate) control: ConnectionManager,
    pub(crate) epoch_key: String,
    pub(crate) seq_key: String,
    pub(crate) registry: Arc<Registry>,
    pub(crate) options: Options,
}

/// One read's view of a topic.
struct Planned {
    topic: Arc<str>,
    stream_key: String,
    cursor: u64,
}

/// The reader's connection and its id, for `CLIENT UNBLOCK`.
struct Connection {
    conn: MultiplexedConnection,
    id: i64,
}

impl Reader {
    /// Reads until the backend shuts down; reconnects with exponential
    /// backoff on any error. Never panics.
    pub(crate) async fn run(self) {
        let mut backoff = self.options.backoff_min;
        // When the last read was answered, across reconnections.
        let mut answered = None;
        loop {
            if self.registry.lock().closed {
                return;
            }
            let mut connection = match self.connect().await {
                Ok(connection) => connection,
                Err(error) => {
                    tracing::warn!(%error, ?backoff, "ssekit-redis: reader cannot connect; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.options.backoff_max);
                    continue;
                }
            };
            match self
                .read(&mut connection, &mut backoff, &mut answered)
                .await
            {
                Ok(()) => return,
                Err(error) => {
                    tracing::warn!(%error, ?backoff, "ssekit-redis: reader lost its connection; reconnecting");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.options.backoff_max);
                }
            }
        }
    }

    async fn connect(&self) -> redis::RedisResult<Connection> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.options.command_timeout))
            .set_response_timeout(Some(self.options.block + self.options.command_timeout));
        let mut conn = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        let id: i64 = redis::cmd("CLIENT")
            .arg("ID")
            .query_async(&mut conn)
            .await?;
        Ok(Connection { conn, id })
    }

    /// Ends a blocked `XREAD` of connection `id` at once, as if it had
    /// timed out, so the next read covers a topic just added.
    async fn unblock(&self, id: i64) {
        let mut control = self.control.clone();
        let mut command = redis::cmd("CLIENT");
        command.arg("UNBLOCK").arg(id);
        let unblocked = command.query_async::<i64>(&mut control);
        match tokio::time::timeout(self.options.command_timeout, unblocked).await {
            Ok(Ok(_)) => {}
            // The read then ends by its own timeout, a little later.
            Ok(Err(error)) => tracing::debug!(%error, "ssekit-redis: cannot unblock the reader"),
            Err(_) => tracing::debug!("ssekit-redis: unblocking the reader timed out"),
        }
    }

    /// Redis holds the epoch `known` but a sequence below `sent`, which
    /// this process already sent: it went back in time (restarted from an
    /// older snapshot). Moves it to a fresh epoch, so the ids given out
    /// since the snapshot reset instead of naming other events later.
    async fn went_back(&self, known: u64, sent: u64) {
        tracing::warn!(
            epoch = %format_args!("{known:x}"),
            sent,
            "ssekit-redis: Redis went back to an earlier sequence number (restored from an older snapshot?); moving to a new epoch"
        );
        let mut control = self.control.clone();
        let script = redis::Script::new(NEW_EPOCH);
        let mut invocation = script.prepare_invoke();
        invocation
            .key(&self.epoch_key)
            .arg(format!("{:x}", fresh_epoch()))
            .arg(format!("{known:x}"));
        let moved = invocation.invoke_async::<Option<Vec<u8>>>(&mut control);
        match tokio::time::timeout(self.options.command_timeout, moved).await {
            Ok(Ok(_)) => {}
            // The next publish or subscribe of a process that saw the same
            // makes the move, in `PUBLISH` or `OPEN`.
            Ok(Err(error)) => {
                tracing::warn!(%error, "ssekit-redis: cannot move Redis to a new epoch")
            }
            Err(_) => tracing::warn!("ssekit-redis: moving Redis to a new epoch timed out"),
        }
    }

    /// Reads batches on one connection until it fails (`Err`) or the
    /// backend shuts down (`Ok`).
    async fn read(
        &self,
        connection: &mut Connection,
        backoff: &mut Duration,
        answered: &mut Option<Instant>,
    ) -> redis::RedisResult<()> {
        let block_ms = u64::try_from(self.options.block.as_millis()).unwrap_or(u64::MAX);
        let mut cache: TopicsCache = None;
        loop {
            let (generation, planned) = {
                let topics = self.registry.lock();
                if topics.closed {
                    return Ok(());
                }
                let planned: Vec<Planned> = topics
                    .map
                    .iter()
                    .filter(|(_, topic)| topic.is_open())
                    .map(|(name, topic)| Planned {
                        topic: Arc::clone(name),
                        stream_key: topic.stream_key.clone(),
                        cursor: topic.cursor,
                    })
                    .collect();
                (topics.generation, planned)
            };
            if planned.is_empty() {
                // Nothing read, nothing to miss: a topic added later is
                // read from where it was opened.
                *answered = None;
                // A permit is kept if the change came before this wait.
                self.registry.changed.notified().await;
                continue;
            }
            let mut pipe = redis::pipe();
            pipe.cmd("GET").arg(&self.epoch_key);
            pipe.cmd("GET").arg(&self.seq_key);
            let xread = pipe
                .cmd("XREAD")
                .arg("COUNT")
                .arg(self.options.read_count)
                .arg("BLOCK")
                .arg(block_ms)
                .arg("STREAMS");
            for plan in &planned {
                xread.arg(&plan.stream_key);
            }
            for plan in &planned {
                xread.arg(format!("{}-0", plan.cursor));
            }
            let asked = Instant::now();
            let query =
                pipe.query_async::<(Option<Vec<u8>>, Option<u64>, Value)>(&mut connection.conn);
            tokio::pin!(query);
            let (epoch, seq, reply) = tokio::select! {
                reply = &mut query => reply?,
                () = self.registry.changed.notified() => loop {
                    // Again until the read ends: an unblock that reaches
                    // Redis before the read blocks does nothing.
                    self.unblock(connection.id).await;
                    let wait = Duration::from_millis(10);
                    if let Ok(reply) = tokio::time::timeout(wait, &mut query).await {
                        break reply?;
                    }
                },
            };
            *backoff = self.options.backoff_min;
            let previous = answered.replace(Instant::now());
            if let (Some(ttl), Some(previous)) = (self.options.ttl, previous) {
                if asked.saturating_duration_since(previous) >= ttl {
                    // No read covered that long: streams may have expired
                    // with entries this process never read, and a stream
                    // gone leaves no trace for the check below.
                    tracing::warn!(
                        away = ?asked.saturating_duration_since(previous),
                        "ssekit-redis: the reader was away longer than the topic TTL; closing every topic so its subscriptions resume from history or reset"
                    );
                    self.close_all();
                    continue;
                }
            }
            let mut epoch = epoch.as_deref().and_then(|hex| parse_epoch(hex).ok());
            if let Some(known) = epoch {
                let sent = self.registry.lock().sent_up_to(known);
                if seq.unwrap_or(0) < sent {
                    self.went_back(known, sent).await;
                    // Every topic read is of the old epoch: closed below.
                    epoch = None;
                }
            }
            let batches = match parse_reply(reply, &planned, &mut cache) {
                Ok(batches) => batches,
                Err(error) => {
                    tracing::error!(%error, "ssekit-redis: unreadable stream entries; closing every topic");
                    self.close_all();
                    return Ok(());
                }
            };
            self.send(generation, epoch, &planned, batches);
        }
    }

    /// Sends one read's entries, merged by sequence number, unless a topic
    /// was added since the read was planned (then it is read again).
    fn send(
        &self,
        generation: u64,
        epoch: Option<u64>,
        planned: &[Planned],
        mut batches: Vec<Vec<Stored>>,
    ) {
        let mut topics = self.registry.lock();
        if topics.closed || topics.generation != generation {
            return;
        }
        // A topic whose epoch Redis no longer holds (it lost its data) or
        // whose unread entries were trimmed is closed: its subscribers
        // reconnect and resume from history or get a reset.
        for (plan, batch) in planned.iter().zip(&mut batches) {
            let Some(topic) = topics.map.get_mut(&plan.topic) else {
                batch.clear();
                continue;
            };
            if epoch != Some(topic.epoch) {
                if topic.sender.take().is_some() {
                    tracing::warn!(topic = %plan.topic, "ssekit-redis: Redis lost its data (new epoch); closing the topic's subscriptions so they resume with a reset");
                }
                batch.clear();
            } else if let Some(first) = batch.first().filter(|first| first.prev > plan.cursor) {
                tracing::warn!(
                    topic = %plan.topic,
                    cursor = plan.cursor,
                    prev = first.prev,
                    "ssekit-redis: events were trimmed from the stream before this process read them; closing the topic's subscriptions so they resume from history or reset"
                );
                topic.sender = None;
                batch.clear();
            }
        }
        // A stream that filled its batch may hold more below what the
        // others returned: send only up to the lowest such end, and read
        // the rest again.
        let limit = batches
            .iter()
            .filter(|batch| batch.len() >= self.options.read_count)
            .filter_map(|batch| batch.last().map(|last| last.seq))
            .min()
            .unwrap_or(u64::MAX);
        let mut merged: Vec<(u64, usize, Entry)> = Vec::new();
        for (i, batch) in batches.into_iter().enumerate() {
            merged.extend(
                batch
                    .into_iter()
                    .take_while(|stored| stored.seq <= limit)
                    .map(|stored| (stored.seq, i, stored.entry)),
            );
        }
        merged.sort_by_key(|&(seq, i, _)| (seq, i));
        let mut highest = None;
        for (seq, i, entry) in merged {
            let Some(topic) = topics.map.get_mut(&planned[i].topic) else {
                continue;
            };
            let Some(sender) = &topic.sender else {
                continue;
            };
            sender.send(entry);
            topic.cursor = seq;
            highest = Some(seq);
        }
        if let (Some(epoch), Some(seq)) = (epoch, highest) {
            topics.sent = (epoch, topics.sent_up_to(epoch).max(seq));
        }
    }

    fn close_all(&self) {
        for topic in self.registry.lock().map.values_mut() {
            topic.sender = None;
        }
    }
}

/// The entries of each planned stream in an `XREAD` reply (`Nil` when it
/// timed out or was unblocked), in the order of `planned`.
fn parse_reply(
    reply: Value,
    planned: &[Planned],
    cache: &mut TopicsCache,
) -> Result<Vec<Vec<Stored>>, ssekit_core::broker::BrokerError> {
    let mut batches: Vec<Vec<Stored>> = planned.iter().map(|_| Vec::new()).collect();
    let streams: Vec<(Value, Value)> = match reply {
        Value::Nil => return Ok(batches),
        Value::Array(streams) => streams
            .into_iter()
            .filter_map(|stream| match stream {
                Value::Array(mut pair) if pair.len() == 2 => {
                    let entries = pair.pop()?;
                    Some((pair.pop()?, entries))
                }
                _ => None,
            })
            .collect(),
        Value::Map(streams) => streams,
        _ => return Err(crate::wire::protocol("an XREAD reply is not an array")),
    };
    for (key, entries) in streams {
        let key = match &key {
            Value::BulkString(bytes) => bytes.as_slice(),
            Value::SimpleString(s) => s.as_bytes(),
            _ => return Err(crate::wire::protocol("a stream key is not a string")),
        };
        if let Some(i) = planned
            .iter()
            .position(|plan| plan.stream_key.as_bytes() == key)
        {
            batches[i] = parse_entries(entries, cache)?;
        }
    }
    Ok(batches)
}
