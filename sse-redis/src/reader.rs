//! The one reader per topic per process: an `XREAD BLOCK` loop that sends
//! each entry into the topic's local broadcast channel.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, Value};
use sse_core::broker::Entry;
use tokio::sync::broadcast;

use crate::wire::{parse_entries, parse_epoch};

/// Timeouts, batch size and backoff, shared by a backend and its readers.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    pub(crate) command_timeout: Duration,
    pub(crate) block: Duration,
    pub(crate) read_count: usize,
    pub(crate) backoff_min: Duration,
    pub(crate) backoff_max: Duration,
}

/// What a topic's reader and its subscribers share. The reader sends and
/// moves the cursor under the lock; a subscriber takes its receiver and
/// reads the cursor under it, so it knows the first sequence number its
/// receiver will see is above the cursor.
#[derive(Debug)]
pub(crate) struct Cell {
    state: Mutex<CellState>,
}

#[derive(Debug)]
pub(crate) struct CellState {
    /// `None` once the feed is closed: shutdown, or a position lost.
    pub(crate) sender: Option<broadcast::Sender<Entry>>,
    /// The last sequence number read from the stream (or the position the
    /// reader started at).
    pub(crate) cursor: u64,
}

impl Cell {
    pub(crate) fn new(sender: broadcast::Sender<Entry>, cursor: u64) -> Self {
        Cell {
            state: Mutex::new(CellState {
                sender: Some(sender),
                cursor,
            }),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, CellState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One topic's reader.
pub(crate) struct Reader {
    pub(crate) client: Client,
    pub(crate) topic: Arc<str>,
    pub(crate) stream_key: String,
    pub(crate) epoch_key: String,
    /// The epoch the cursor belongs to.
    pub(crate) epoch: u64,
    pub(crate) cell: Arc<Cell>,
    pub(crate) options: Options,
}

/// Why a reader stopped for good.
enum Stop {
    /// No subscriber can be served any more (closed feed).
    Closed,
    /// Redis holds another epoch (it lost its data): the cursor means
    /// nothing now.
    EpochChanged,
    /// Entries after the cursor were trimmed before they were read.
    Trimmed { cursor: u64, prev: u64 },
}

impl Reader {
    /// Reads until the feed is closed or its position is lost; reconnects
    /// with exponential backoff on any error. Never panics.
    pub(crate) async fn run(self) {
        let mut backoff = self.options.backoff_min;
        let stop = loop {
            let mut conn = match self.connect().await {
                Ok(conn) => conn,
                Err(error) => {
                    tracing::warn!(topic = %self.topic, %error, ?backoff, "sse-redis: reader cannot connect; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.options.backoff_max);
                    continue;
                }
            };
            match self.read(&mut conn, &mut backoff).await {
                Ok(stop) => break stop,
                Err(error) => {
                    tracing::warn!(topic = %self.topic, %error, ?backoff, "sse-redis: reader lost its connection; reconnecting");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.options.backoff_max);
                }
            }
        };
        match stop {
            Stop::Closed => {}
            Stop::EpochChanged => tracing::warn!(
                topic = %self.topic,
                "sse-redis: Redis lost its data (new epoch); closing the topic's subscriptions so they resume with a reset"
            ),
            Stop::Trimmed { cursor, prev } => tracing::warn!(
                topic = %self.topic,
                cursor,
                prev,
                "sse-redis: events were trimmed from the stream before this process read them; closing the topic's subscriptions so they resume from history or reset"
            ),
        }
        // Receivers drain what they hold, then see the end: an SSE client
        // reconnects with its Last-Event-ID and gets the replay or a reset.
        self.cell.lock().sender = None;
    }

    async fn connect(&self) -> redis::RedisResult<MultiplexedConnection> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.options.command_timeout))
            .set_response_timeout(Some(self.options.block + self.options.command_timeout));
        self.client
            .get_multiplexed_async_connection_with_config(&config)
            .await
    }

    /// Reads batches on one connection until it fails (`Err`) or the
    /// reader must stop (`Ok`).
    async fn read(
        &self,
        conn: &mut MultiplexedConnection,
        backoff: &mut Duration,
    ) -> redis::RedisResult<Stop> {
        let block_ms = u64::try_from(self.options.block.as_millis()).unwrap_or(u64::MAX);
        let mut topics = None;
        loop {
            let cursor = {
                let state = self.cell.lock();
                if state.sender.is_none() {
                    return Ok(Stop::Closed);
                }
                state.cursor
            };
            let (epoch, reply): (Option<Vec<u8>>, Value) = redis::pipe()
                .cmd("GET")
                .arg(&self.epoch_key)
                .cmd("XREAD")
                .arg("COUNT")
                .arg(self.options.read_count)
                .arg("BLOCK")
                .arg(block_ms)
                .arg("STREAMS")
                .arg(&self.stream_key)
                .arg(format!("{cursor}-0"))
                .query_async(conn)
                .await?;
            *backoff = self.options.backoff_min;
            let same = epoch
                .as_deref()
                .is_some_and(|hex| parse_epoch(hex).ok() == Some(self.epoch));
            if !same {
                return Ok(Stop::EpochChanged);
            }
            let entries = match stream_of(reply) {
                Some(value) => match parse_entries(value, &mut topics) {
                    Ok(entries) => entries,
                    Err(error) => {
                        tracing::error!(topic = %self.topic, %error, "sse-redis: unreadable stream entries");
                        return Ok(Stop::Closed);
                    }
                },
                None => continue,
            };
            let Some(first) = entries.first() else {
                continue;
            };
            if first.prev > cursor {
                return Ok(Stop::Trimmed {
                    cursor,
                    prev: first.prev,
                });
            }
            let mut state = self.cell.lock();
            let Some(sender) = state.sender.clone() else {
                return Ok(Stop::Closed);
            };
            for stored in entries {
                state.cursor = stored.seq;
                // An error means no receiver right now: nothing to do.
                let _ = sender.send(stored.entry);
            }
        }
    }
}

/// The entries of the one stream in an `XREAD` reply (`Nil` on timeout).
fn stream_of(reply: Value) -> Option<Value> {
    match reply {
        Value::Array(streams) => streams.into_iter().next().and_then(|stream| match stream {
            Value::Array(mut pair) if pair.len() == 2 => pair.pop(),
            _ => None,
        }),
        Value::Map(streams) => streams.into_iter().next().map(|(_, entries)| entries),
        _ => None,
    }
}
