//! Live delivery on a cluster: every publish to a unit is also sent on the
//! unit's sharded channel (`SPUBLISH`), and this process subscribes
//! (`SSUBSCRIBE`) to the channel of every unit with local subscribers,
//! through the cluster connection's RESP3 pushes. Per unit it keeps the
//! epoch and the last sequence number sent to the local feeds: a message
//! in order goes to its topics' feeds; a gap (messages lost over a
//! reconnection, a failover or a slot migration) is filled from the
//! streams, or else the unit's feeds are closed, so that their clients
//! reconnect and resume exactly or get a reset.
//!
//! Pushes are handled as the connection reads them, before the reply to any
//! later command is handed on: when the `OPEN` script's answer arrives,
//! every message published before it has been seen.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, MutexGuard, OnceLock, PoisonError};

use bytes::Bytes;
use redis::aio::{AsyncPushSender, SendError};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{PushInfo, PushKind, Value};
use ssekit_core::Event;
use ssekit_core::broker::{Entry, LagPolicy, LiveSender, Visibility};

use super::Shared;
use crate::wire::{self, decode_topics, parse_u64};

/// How many messages a unit holds while its position is not known yet or
/// a gap is being filled; past it they are dropped and the gap filled
/// from the streams once more.
const BUFFER: usize = 16 * 1024;

/// One message of a unit's channel.
#[derive(Debug)]
pub(crate) struct Message {
    epoch: u64,
    seq: u64,
    topics: Arc<[Arc<str>]>,
    entry: Entry,
}

/// A local topic's feed.
#[derive(Debug)]
pub(crate) struct Feed {
    pub(crate) sender: LiveSender,
    pub(crate) policy: LagPolicy,
}

/// A unit with local subscribers (or being opened).
#[derive(Debug)]
pub(crate) struct Unit {
    pub(crate) topics: HashMap<Arc<str>, Feed>,
    /// The unit's epoch and the last sequence number sent to its feeds (or
    /// the position it was opened at); `None` until an `OPEN` tells.
    pub(crate) cursor: Option<(u64, u64)>,
    buffer: VecDeque<Message>,
    /// The running fill, by id.
    fill: Option<u64>,
    next_fill: u64,
    /// The cursor must be checked against the streams (a gap, a lost
    /// subscription) once known.
    dirty: bool,
    /// Bumped when a topic is added or the cursor replaced: a fill that
    /// began before is done again.
    generation: u64,
    /// `open` calls between subscribing and taking their feeds.
    pub(crate) opening: usize,
    /// Whether this process wants the channel (false while unsubscribing).
    wanted: bool,
    /// Whether the channel is subscribed on the server; held while
    /// subscribing or unsubscribing.
    pub(crate) subscribed: Arc<tokio::sync::Mutex<bool>>,
}

impl Unit {
    fn new() -> Self {
        Unit {
            topics: HashMap::new(),
            cursor: None,
            buffer: VecDeque::new(),
            fill: None,
            next_fill: 0,
            dirty: false,
            generation: 0,
            opening: 0,
            wanted: true,
            subscribed: Arc::new(tokio::sync::Mutex::new(false)),
        }
    }

    /// Ends every local feed of the unit: their subscriptions end, and
    /// their clients reconnect and resume or reset.
    fn close(&mut self) {
        self.topics.clear();
        self.cursor = None;
        self.buffer.clear();
        self.fill = None;
        self.dirty = false;
        self.generation += 1;
    }

    fn buffer(&mut self, message: Message) {
        if self.buffer.len() >= BUFFER {
            self.buffer.clear();
            self.dirty = true;
        }
        self.buffer.push_back(message);
    }

    /// Sends `entry` to the feeds of `topics` that are local.
    fn send(&self, topics: &[Arc<str>], entry: &Entry) {
        for topic in topics {
            if let Some(feed) = self.topics.get(topic) {
                feed.sender.send(entry.clone());
            }
        }
    }

    /// Topics were added: a fill under way does not cover them.
    pub(crate) fn topics_added(&mut self) {
        self.generation += 1;
    }
}

/// The units of this process, behind one lock.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) units: HashMap<u16, Unit>,
    pub(crate) closed: bool,
}

/// The push sender given to the cluster client: handles each push as the
/// connection reads it.
pub(crate) struct Pushes(pub(crate) Arc<OnceLock<std::sync::Weak<Shared>>>);

impl AsyncPushSender for Pushes {
    fn send(&self, info: PushInfo) -> Result<(), SendError> {
        if let Some(shared) = self.0.get().and_then(std::sync::Weak::upgrade) {
            shared.on_push(info);
        }
        Ok(())
    }
}

/// What one fill read: per sequence number, the entry and the local topics
/// whose streams hold it.
type Filled = BTreeMap<u64, (Entry, Vec<Arc<str>>)>;

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn connection(&self) -> ClusterConnection {
        self.conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn on_push(self: &Arc<Self>, info: PushInfo) {
        match info.kind {
            PushKind::SMessage => {
                let mut data = info.data.into_iter();
                let (Some(channel), Some(payload)) = (data.next(), data.next()) else {
                    return;
                };
                let (Value::BulkString(channel), Value::BulkString(payload)) = (channel, payload)
                else {
                    return;
                };
                let unit = self.keys.unit_of_channel(&channel);
                let message = match parse_message(unit, payload) {
                    Some(message) => message,
                    None => {
                        tracing::error!(
                            unit,
                            "ssekit-redis: an unreadable message on a unit's channel; checking the unit against its streams"
                        );
                        let mut state = self.lock();
                        if let Some(state_unit) = state.units.get_mut(&unit) {
                            state_unit.dirty = true;
                            self.advance(unit, state_unit);
                        }
                        return;
                    }
                };
                let mut state = self.lock();
                if state.closed {
                    return;
                }
                if let Some(state_unit) = state.units.get_mut(&unit).filter(|u| u.wanted) {
                    state_unit.buffer(message);
                    self.advance(unit, state_unit);
                }
            }
            PushKind::SUnsubscribe => {
                // Sent by the server when the slot moved to another node
                // (or in answer to this process's own `SUNSUBSCRIBE`).
                // redis-rs 1.2 takes every `sunsubscribe` push for the reply
                // to the oldest command in flight on that node's
                // connection, so one the server sends unasked can shift
                // the replies on it: the whole connection is replaced.
                let Some(Value::BulkString(channel)) = info.data.first() else {
                    return;
                };
                let unit = self.keys.unit_of_channel(channel);
                let wanted = self.lock().units.get(&unit).is_some_and(|unit| unit.wanted);
                if wanted {
                    tracing::info!(
                        unit,
                        "ssekit-redis: the server unsubscribed a unit's channel (its slot moved); reconnecting and subscribing again"
                    );
                    self.replace_connection();
                }
            }
            PushKind::Disconnection => {
                // A node's connection dropped: its channels are lost until
                // subscribed again, on whichever node serves them now.
                let units: Vec<u16> = {
                    let state = self.lock();
                    if state.closed {
                        return;
                    }
                    state
                        .units
                        .iter()
                        .filter(|(_, unit)| unit.wanted)
                        .map(|(&unit, _)| unit)
                        .collect()
                };
                if !units.is_empty() {
                    tracing::debug!(
                        units = units.len(),
                        "ssekit-redis: a cluster connection dropped; subscribing to the units again"
                    );
                    self.resubscribe(units);
                }
            }
            _ => {}
        }
    }

    /// Sends what can be sent of `unit`'s buffer, and starts a fill when
    /// the cursor must be checked.
    pub(crate) fn advance(self: &Arc<Self>, id: u16, unit: &mut Unit) {
        loop {
            let Some((epoch, seq)) = unit.cursor else {
                return;
            };
            if unit.fill.is_some() {
                return;
            }
            if unit.dirty {
                self.start_fill(id, unit);
                return;
            }
            let Some(message) = unit.buffer.pop_front() else {
                return;
            };
            if message.epoch != epoch {
                tracing::warn!(
                    unit = id,
                    "ssekit-redis: the unit moved to a new epoch (a failover may have lost events); closing its subscriptions so they resume with a reset"
                );
                unit.close();
                unit.buffer(message);
                return;
            }
            if message.seq <= seq {
                continue;
            }
            if message.seq == seq + 1 {
                unit.send(&message.topics, &message.entry);
                unit.cursor = Some((epoch, message.seq));
                continue;
            }
            // A gap: read what came between from the streams.
            unit.buffer.push_front(message);
            unit.dirty = true;
        }
    }

    /// Applies the position an `OPEN` read: the cursor when none is known,
    /// a new one (closing the old feeds) when the unit moved to another
    /// epoch. The caller then takes its feeds and [advances](Self::advance).
    pub(crate) fn apply(&self, id: u16, unit: &mut Unit, epoch: u64, position: u64) {
        match unit.cursor {
            Some((known, _)) if known == epoch => {}
            Some(_) => {
                tracing::warn!(
                    unit = id,
                    "ssekit-redis: the unit moved to a new epoch; closing its subscriptions so they resume with a reset"
                );
                let buffer = std::mem::take(&mut unit.buffer);
                unit.close();
                unit.buffer = buffer;
                self.position_at(unit, epoch, position);
            }
            None => self.position_at(unit, epoch, position),
        }
    }

    fn position_at(&self, unit: &mut Unit, epoch: u64, position: u64) {
        unit.cursor = Some((epoch, position));
        unit.generation += 1;
        unit.fill = None;
        // Messages of another epoch came before the position was read (or
        // after, from a newer epoch): a fill tells which.
        let before = unit.buffer.len();
        unit.buffer.retain(|message| message.epoch == epoch);
        if unit.buffer.len() != before {
            unit.dirty = true;
        }
    }

    fn start_fill(self: &Arc<Self>, id: u16, unit: &mut Unit) {
        let Some((epoch, after)) = unit.cursor else {
            return;
        };
        unit.dirty = false;
        if unit.topics.is_empty() {
            // Nothing local to fill: the next `OPEN` sets the position.
            unit.cursor = None;
            return;
        }
        let fill = unit.next_fill;
        unit.next_fill += 1;
        unit.fill = Some(fill);
        let topics: Vec<Arc<str>> = unit.topics.keys().cloned().collect();
        let generation = unit.generation;
        let shared = Arc::clone(self);
        self.runtime.spawn(async move {
            shared
                .fill(id, fill, generation, epoch, after, topics)
                .await;
        });
    }

    /// Reads `topics` of unit `id` after `after` in `epoch` and sends what
    /// the feeds missed; closes the unit when it cannot.
    async fn fill(
        self: Arc<Self>,
        id: u16,
        fill: u64,
        generation: u64,
        epoch: u64,
        after: u64,
        topics: Vec<Arc<str>>,
    ) {
        let mut backoff = self.options.backoff_min;
        let names: Vec<&str> = topics.iter().map(|t| &**t).collect();
        let read = loop {
            match self.read_unit(id, &names, Some(after), epoch).await {
                Ok(read) => break read,
                Err(error) => {
                    let current = {
                        let state = self.lock();
                        !state.closed
                            && state
                                .units
                                .get(&id)
                                .is_some_and(|unit| unit.fill == Some(fill))
                    };
                    if !current {
                        return;
                    }
                    tracing::warn!(unit = id, %error, ?backoff, "ssekit-redis: cannot read the unit to fill a gap; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.options.backoff_max);
                }
            }
        };
        let mut cache = None;
        let mut filled: Filled = BTreeMap::new();
        let mut reset = read.epoch != epoch || after > read.current;
        if !reset {
            for (topic, range) in topics.iter().zip(read.ranges) {
                if matches!(&range, Value::BulkString(marker) if marker == wire::EVICTED) {
                    reset = true;
                    break;
                }
                let stored = match wire::parse_entries(range, &mut cache) {
                    Ok(stored) => stored,
                    Err(error) => {
                        tracing::error!(unit = id, %error, "ssekit-redis: unreadable stream entries");
                        reset = true;
                        break;
                    }
                };
                if stored.first().is_some_and(|first| first.prev > after) {
                    reset = true;
                    break;
                }
                for stored in stored {
                    filled
                        .entry(stored.seq)
                        .or_insert_with(|| (stored.entry.with_unit(id), Vec::new()))
                        .1
                        .push(Arc::clone(topic));
                }
            }
        }
        let mut state = self.lock();
        if state.closed {
            return;
        }
        let Some(unit) = state.units.get_mut(&id) else {
            return;
        };
        if unit.fill != Some(fill) {
            return;
        }
        unit.fill = None;
        if unit.generation != generation || unit.cursor != Some((epoch, after)) {
            unit.dirty = true;
            self.advance(id, unit);
            return;
        }
        if reset {
            tracing::warn!(
                unit = id,
                after,
                "ssekit-redis: events the unit's subscribers missed are gone (trimmed, or a new epoch); closing its subscriptions so they resume from history or reset"
            );
            unit.close();
            return;
        }
        for (seq, (entry, topics)) in filled.range(after + 1..) {
            let _ = seq;
            unit.send(topics, entry);
        }
        unit.cursor = Some((epoch, read.current.max(after)));
        self.advance(id, unit);
    }

    /// Subscribes to the channels of `units` again (after a connection
    /// dropped, or the server unsubscribed one), then checks each unit's
    /// cursor against its streams.
    pub(crate) fn resubscribe(self: &Arc<Self>, units: Vec<u16>) {
        for id in units {
            let shared = Arc::clone(self);
            self.runtime.spawn(async move {
                let mut backoff = shared.options.backoff_min;
                loop {
                    let subscribed = {
                        let state = shared.lock();
                        match state.units.get(&id) {
                            Some(unit) if unit.wanted && !state.closed => {
                                Arc::clone(&unit.subscribed)
                            }
                            _ => return,
                        }
                    };
                    let mut subscribed = subscribed.lock().await;
                    match shared.subscribe_channel(id, "SSUBSCRIBE").await {
                        Ok(()) => {
                            *subscribed = true;
                            break;
                        }
                        Err(error) => {
                            drop(subscribed);
                            tracing::warn!(unit = id, %error, ?backoff, "ssekit-redis: cannot subscribe to the unit's channel; retrying");
                            tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(shared.options.backoff_max);
                        }
                    }
                }
                let mut state = shared.lock();
                if let Some(unit) = state.units.get_mut(&id) {
                    unit.dirty = true;
                    shared.advance(id, unit);
                }
            });
        }
    }

    /// `SSUBSCRIBE` or `SUNSUBSCRIBE` of unit `id`'s channel, sent to the
    /// master of the unit's slot.
    pub(crate) async fn subscribe_channel(
        &self,
        id: u16,
        command: &str,
    ) -> Result<(), ssekit_core::broker::BrokerError> {
        let channel = self.keys.unit_keys(id).live;
        let mut cmd = redis::cmd(command);
        cmd.arg(&channel);
        let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(Route::new(
            id,
            SlotAddr::Master,
        )));
        let mut conn = self.connection();
        self.timed(
            self.options.command_timeout,
            conn.route_command(cmd, routing),
        )
        .await
        .map(drop)
    }

    /// Registers an `open` of unit `id` and subscribes to its channel if
    /// it is not yet: before the `OPEN` script reads the position, so that
    /// every later publish reaches this process.
    pub(crate) async fn begin_open(
        self: &Arc<Self>,
        id: u16,
    ) -> Result<(), ssekit_core::broker::BrokerError> {
        let subscribed = {
            let mut state = self.lock();
            if state.closed {
                return Err(ssekit_core::broker::BrokerError::Closed);
            }
            let unit = state.units.entry(id).or_insert_with(Unit::new);
            unit.opening += 1;
            unit.wanted = true;
            Arc::clone(&unit.subscribed)
        };
        let mut subscribed = subscribed.lock().await;
        if !*subscribed {
            if let Err(error) = self.subscribe_channel(id, "SSUBSCRIBE").await {
                drop(subscribed);
                self.end_open(id);
                return Err(error);
            }
            *subscribed = true;
        }
        Ok(())
    }

    /// An `open` of unit `id` that [began](Self::begin_open) failed.
    pub(crate) fn end_open(self: &Arc<Self>, id: u16) {
        if let Some(unit) = self.lock().units.get_mut(&id) {
            unit.opening = unit.opening.saturating_sub(1);
        }
        self.unsubscribe_if_unused(id);
    }

    /// Unsubscribes from unit `id`'s channel and forgets the unit when it
    /// has no local topic and no `open` under way.
    pub(crate) fn unsubscribe_if_unused(self: &Arc<Self>, id: u16) {
        let subscribed = {
            let mut state = self.lock();
            let Some(unit) = state.units.get_mut(&id) else {
                return;
            };
            if !unit.topics.is_empty() || unit.opening > 0 {
                return;
            }
            unit.wanted = false;
            Arc::clone(&unit.subscribed)
        };
        let shared = Arc::clone(self);
        self.runtime.spawn(async move {
            let mut subscribed = subscribed.lock().await;
            let unused = |state: &State| {
                state
                    .units
                    .get(&id)
                    .is_some_and(|unit| !unit.wanted && unit.topics.is_empty() && unit.opening == 0)
            };
            if !unused(&shared.lock()) {
                return;
            }
            if *subscribed {
                if let Err(error) = shared.subscribe_channel(id, "SUNSUBSCRIBE").await {
                    tracing::debug!(unit = id, %error, "ssekit-redis: cannot unsubscribe from the unit's channel");
                }
                *subscribed = false;
            }
            let mut state = shared.lock();
            if unused(&state) {
                state.units.remove(&id);
            } else if let Some(unit) = state.units.get_mut(&id) {
                // An `open` came meanwhile: it subscribes again and reads
                // the position anew.
                unit.cursor = None;
                unit.buffer.clear();
                unit.fill = None;
                unit.generation += 1;
            }
        });
    }
}

/// Parses `{epoch} {seq} {0|1} {n} {topics}{frame}`, as `PUBLISH` sends it.
fn parse_message(unit: u16, payload: Vec<u8>) -> Option<Message> {
    let mut fields = payload.splitn(5, |&b| b == b' ');
    let epoch = wire::parse_epoch(fields.next()?).ok()?;
    let seq = parse_u64(fields.next()?)?;
    let visibility = match fields.next()? {
        b"0" => Visibility::Public,
        b"1" => Visibility::Private,
        _ => return None,
    };
    let len = usize::try_from(parse_u64(fields.next()?)?).ok()?;
    let rest = fields.next()?;
    let header = payload.len() - rest.len();
    let topics: Arc<[Arc<str>]> = decode_topics(rest.get(..len)?)?.into();
    let mut payload = Bytes::from(payload);
    let frame = payload.split_off(header + len);
    let event = Event::from_encoded_unchecked(frame);
    let entry = Entry::new(seq, event, visibility).with_unit(unit);
    let entry = if topics.len() > 1 || visibility == Visibility::Private {
        entry.with_topics(Arc::clone(&topics))
    } else {
        entry
    };
    Some(Message {
        epoch,
        seq,
        topics,
        entry,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_message_names_its_topics_and_keeps_the_frame() {
        let topics = wire::encode_topics(&["a b", "c"]);
        let mut payload = format!("beef 7 1 {} ", topics.len()).into_bytes();
        payload.extend_from_slice(&topics);
        payload.extend_from_slice(b"data: x\nid: beef-7\n\n");
        let message = parse_message(3, payload).expect("a valid message");
        assert_eq!((message.epoch, message.seq), (0xbeef, 7));
        assert_eq!(message.topics.len(), 2);
        assert_eq!(&*message.topics[0], "a b");
        assert_eq!(message.entry.visibility(), Visibility::Private);
        assert_eq!(message.entry.unit(), 3);
        assert_eq!(
            message.entry.event().as_bytes(),
            b"data: x\nid: beef-7\n\n".as_slice()
        );
    }
}
