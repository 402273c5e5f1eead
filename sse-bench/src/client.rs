//! The load client: one tokio task per connection over raw TCP, minimal
//! parsing (lines found with `memchr`; only `data:`, `id:` and `event:`
//! lines are looked at), counters shared through atomics.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;

use crate::hist::Histogram;
use crate::server::Kind;

/// Source addresses 127.0.0.2 ..= 127.0.0.(1 + SOURCES): ephemeral ports
/// are per source address, so 10 000+ connections (and their TIME_WAITs)
/// never run short.
const SOURCES: usize = 32;
/// Read buffer per connection; grown (up to `MAX_BUF`) only for a line
/// longer than it.
const BUF: usize = 8 * 1024;
const MAX_BUF: usize = 256 * 1024;
/// Reconnections per connection, at most (a bound, not a policy): each
/// waits at least 100 ms, and saturated phases cut ours' laggards off.
const MAX_RECONNECTS: u32 = 1000;

/// Counters every connection adds to.
#[derive(Default)]
pub(crate) struct Counters {
    /// Connections whose response headers arrived and that are still open.
    pub live: AtomicUsize,
    /// Connections that ended (closed by the server, or failed) while the
    /// bench ran.
    pub disconnects: AtomicU64,
    pub connect_failures: AtomicU64,
    /// Bench events of the current phase (sequence number >= `min_seq`).
    pub events: AtomicU64,
    /// When the last bench event of the current phase arrived, µs since
    /// the epoch.
    pub last_event_micros: AtomicU64,
    /// Bench events of the current phase that arrived between
    /// `window_from_micros` and `window_to_micros` (µs since the epoch).
    pub window_events: AtomicU64,
    pub window_from_micros: AtomicU64,
    pub window_to_micros: AtomicU64,
    /// Bench events of an earlier phase, arriving late.
    pub stale: AtomicU64,
    /// `event: lagged` and `event: reset` notices (ours).
    pub lagged: AtomicU64,
    pub resets: AtomicU64,
    /// Events missing between two received on one connection (or across a
    /// resumed reconnection) with no notice before them: silently lost.
    pub silent_lost: AtomicU64,
    /// Events missing after a `lagged`/`reset` notice: the client was told.
    pub signalled_lost: AtomicU64,
    /// Events received twice (or out of order) on one connection.
    pub duplicates: AtomicU64,
    /// Reconnections that sent `Last-Event-ID`.
    pub reconnects_with_id: AtomicU64,
    /// Of those, the ones answered by a replay: the first bench event after
    /// the reconnection continues the sequence (from the history, or live
    /// if nothing was published meanwhile).
    pub replays: AtomicU64,
    /// Of those, the ones answered by a `reset` notice before any event.
    pub reconnect_resets: AtomicU64,
    /// Of those, the ones that sent the id of a `reset` notice (no bench
    /// event came after it before the cut) and whose first event does not
    /// continue the bench sequence: the gap was told, by that notice.
    pub reconnect_from_notice: AtomicU64,
    /// Of those, the ones whose first event is none of these: a gap with no
    /// notice (counted in `silent_lost` too) or an event already received.
    pub reconnect_others: AtomicU64,
    /// Connections that used up their `MAX_RECONNECTS` and stopped.
    pub gave_up: AtomicU64,
    pub min_seq: AtomicU64,
}

/// The counters at one moment (all but the per-phase ones), to subtract.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    pub disconnects: u64,
    pub connect_failures: u64,
    pub lagged: u64,
    pub resets: u64,
    pub silent_lost: u64,
    pub signalled_lost: u64,
    pub duplicates: u64,
    pub reconnects_with_id: u64,
    pub replays: u64,
    pub reconnect_resets: u64,
    pub reconnect_from_notice: u64,
    pub reconnect_others: u64,
    pub gave_up: u64,
}

impl Counters {
    pub(crate) fn tally(&self) -> Tally {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Tally {
            disconnects: get(&self.disconnects),
            connect_failures: get(&self.connect_failures),
            lagged: get(&self.lagged),
            resets: get(&self.resets),
            silent_lost: get(&self.silent_lost),
            signalled_lost: get(&self.signalled_lost),
            duplicates: get(&self.duplicates),
            reconnects_with_id: get(&self.reconnects_with_id),
            replays: get(&self.replays),
            reconnect_resets: get(&self.reconnect_resets),
            reconnect_from_notice: get(&self.reconnect_from_notice),
            reconnect_others: get(&self.reconnect_others),
            gave_up: get(&self.gave_up),
        }
    }
}

impl Tally {
    /// What was counted between `before` and `self`.
    pub(crate) fn since(self, before: Tally) -> Tally {
        Tally {
            disconnects: self.disconnects - before.disconnects,
            connect_failures: self.connect_failures - before.connect_failures,
            lagged: self.lagged - before.lagged,
            resets: self.resets - before.resets,
            silent_lost: self.silent_lost - before.silent_lost,
            signalled_lost: self.signalled_lost - before.signalled_lost,
            duplicates: self.duplicates - before.duplicates,
            reconnects_with_id: self.reconnects_with_id - before.reconnects_with_id,
            replays: self.replays - before.replays,
            reconnect_resets: self.reconnect_resets - before.reconnect_resets,
            reconnect_from_notice: self.reconnect_from_notice - before.reconnect_from_notice,
            reconnect_others: self.reconnect_others - before.reconnect_others,
            gave_up: self.gave_up - before.gave_up,
        }
    }
}

/// The clients of one server.
pub(crate) struct Clients {
    pub counters: Arc<Counters>,
    pub latency: Arc<Histogram>,
    server: SocketAddr,
    kind: Kind,
    /// The request line and headers every connection sends first.
    request_head: Arc<[u8]>,
    tasks: Vec<JoinHandle<()>>,
}

impl Clients {
    /// Clients of the event stream at `path` (e.g. `/events`) of `server`.
    pub(crate) fn new(server: SocketAddr, kind: Kind, path: &str) -> Self {
        let head =
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n");
        Clients {
            counters: Arc::new(Counters::default()),
            latency: Arc::new(Histogram::new()),
            server,
            kind,
            request_head: head.into_bytes().into(),
            tasks: Vec::new(),
        }
    }

    /// Opens connections until there are `n`, then waits (at most
    /// `timeout`) until all have their response headers. Returns how many
    /// are live.
    pub(crate) async fn grow_to(&mut self, n: usize, timeout: Duration) -> usize {
        let start = self.tasks.len();
        for i in start..n {
            let counters = Arc::clone(&self.counters);
            let latency = Arc::clone(&self.latency);
            let source = SocketAddr::from((Ipv4Addr::new(127, 0, 0, 2 + (i % SOURCES) as u8), 0));
            let server = self.server;
            let kind = self.kind;
            let head = Arc::clone(&self.request_head);
            self.tasks.push(tokio::spawn(connection(
                source, server, kind, head, counters, latency,
            )));
            // Do not flood the listen backlog: pause every 256 connections.
            if (i + 1) % 256 == 0 {
                tokio::task::yield_now().await;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        self.wait_live(n, timeout).await
    }

    /// Closes connections until there are `n`.
    pub(crate) async fn shrink_to(&mut self, n: usize, timeout: Duration) -> usize {
        for task in self.tasks.drain(n.min(self.tasks.len())..) {
            task.abort();
        }
        let deadline = tokio::time::Instant::now() + timeout;
        while self.counters.live.load(Ordering::Relaxed) > n
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.counters.live.load(Ordering::Relaxed)
    }

    /// Waits until `n` connections are live, at most `timeout`.
    pub(crate) async fn wait_live(&self, n: usize, timeout: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.counters.live.load(Ordering::Relaxed) < n
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.counters.live.load(Ordering::Relaxed)
    }

    /// How many connections the client holds (live or reconnecting).
    pub(crate) fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Closes every connection.
    pub(crate) fn close(&mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
    }
}

impl Drop for Clients {
    fn drop(&mut self) {
        self.close();
    }
}

/// Keeps `live` right however the task ends (the bench aborts tasks).
struct Live<'a>(&'a AtomicUsize);

impl<'a> Live<'a> {
    fn new(live: &'a AtomicUsize) -> Self {
        live.fetch_add(1, Ordering::Relaxed);
        Live(live)
    }
}

impl Drop for Live<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What one connection remembers across reconnections.
#[derive(Default)]
struct Follow {
    /// The last bench sequence number received.
    last_seq: Option<u64>,
    /// The last `id:` received (ours), sent back as `Last-Event-ID`.
    last_id: Vec<u8>,
    /// `last_id` came in a notice (a `reset` carries the position).
    id_from_notice: bool,
    /// A `lagged` or `reset` notice came since the last bench event.
    told: bool,
    /// Inside a notice event (its `data:` is not a bench event).
    in_notice: bool,
    /// Reconnected with `Last-Event-ID`, and neither a bench event nor a
    /// `reset` has come since.
    awaiting_resume: bool,
}

async fn connection(
    source: SocketAddr,
    server: SocketAddr,
    kind: Kind,
    head: Arc<[u8]>,
    counters: Arc<Counters>,
    latency: Arc<Histogram>,
) {
    let mut follow = Follow::default();
    let mut buf = vec![0u8; BUF];
    for attempt in 0..=MAX_RECONNECTS {
        if attempt > 0 {
            // A browser waits `retry` (3 s by default); the bench waits less.
            tokio::time::sleep(Duration::from_millis(100 + (attempt as u64 * 37) % 100)).await;
        }
        let mut socket = match open(source, server).await {
            Ok(socket) => socket,
            Err(_) => {
                counters.connect_failures.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        let mut request = Vec::with_capacity(head.len() + 64);
        request.extend_from_slice(&head);
        match kind {
            Kind::Ours if !follow.last_id.is_empty() => {
                request.extend_from_slice(b"Last-Event-ID: ");
                request.extend_from_slice(&follow.last_id);
                request.extend_from_slice(b"\r\n");
                counters.reconnects_with_id.fetch_add(1, Ordering::Relaxed);
                follow.awaiting_resume = true;
            }
            // Nothing to resume from: what followed is not compared.
            _ => {
                follow.last_seq = None;
                follow.awaiting_resume = false;
            }
        }
        request.extend_from_slice(b"\r\n");
        if socket.write_all(&request).await.is_err() {
            counters.disconnects.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        // The response head.
        let mut filled = 0;
        let body_start = loop {
            if filled == buf.len() {
                break None;
            }
            match socket.read(&mut buf[filled..]).await {
                Ok(0) | Err(_) => break None,
                Ok(n) => filled += n,
            }
            if let Some(end) = memchr::memmem::find(&buf[..filled], b"\r\n\r\n") {
                // HTTP/1.0: an event stream served close-delimited
                // (`ssekit_tower::http1`); its body has no chunk framing.
                let head = &buf[..filled];
                break (head.starts_with(b"HTTP/1.1 200") || head.starts_with(b"HTTP/1.0 200"))
                    .then_some(end + 4);
            }
        };
        let Some(body_start) = body_start else {
            counters.disconnects.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let _live = Live::new(&counters.live);
        buf.copy_within(body_start..filled, 0);
        filled -= body_start;
        let mut ended;
        (filled, ended) = process(&mut buf, filled, &mut follow, &counters, &latency);
        while !ended {
            if filled == buf.len() {
                if buf.len() >= MAX_BUF {
                    break;
                }
                buf.resize(buf.len() * 2, 0);
            }
            match socket.read(&mut buf[filled..]).await {
                Ok(0) | Err(_) => break,
                Ok(n) => filled += n,
            }
            (filled, ended) = process(&mut buf, filled, &mut follow, &counters, &latency);
        }
        counters.disconnects.fetch_add(1, Ordering::Relaxed);
        if buf.len() > BUF {
            buf.truncate(BUF);
            buf.shrink_to_fit();
        }
    }
    counters.gave_up.fetch_add(1, Ordering::Relaxed);
}

async fn open(source: SocketAddr, server: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(source)?;
    socket.connect(server).await
}

/// Handles the complete lines in `buf[..filled]`, moves the rest to the
/// front and returns its length, and whether the response body ended (the
/// last chunk, `0`: the server ended the stream but may keep the
/// connection open for another request).
fn process(
    buf: &mut [u8],
    filled: usize,
    follow: &mut Follow,
    counters: &Counters,
    latency: &Histogram,
) -> (usize, bool) {
    let now = now_micros();
    let min_seq = counters.min_seq.load(Ordering::Relaxed);
    let (mut events, mut stale) = (0u64, 0u64);
    let mut ended = false;
    let mut start = 0;
    while let Some(at) = memchr::memchr(b'\n', &buf[start..filled]) {
        let line = &buf[start..start + at];
        start += at + 1;
        if line == b"0\r" {
            ended = true;
            break;
        }
        if line.is_empty() {
            follow.in_notice = false;
        } else if let Some(data) = line.strip_prefix(b"data: ") {
            if follow.in_notice {
                continue;
            }
            let Some((seq, published)) = parse_data(data) else {
                continue;
            };
            if seq >= min_seq {
                events += 1;
                latency.record(now.saturating_sub(published));
            } else {
                stale += 1;
            }
            if follow.awaiting_resume {
                follow.awaiting_resume = false;
                let resumed = if follow.last_seq.is_some_and(|last| seq == last + 1) {
                    &counters.replays
                } else if follow.told && follow.id_from_notice {
                    &counters.reconnect_from_notice
                } else {
                    &counters.reconnect_others
                };
                resumed.fetch_add(1, Ordering::Relaxed);
            }
            if let Some(last) = follow.last_seq {
                if seq <= last {
                    counters.duplicates.fetch_add(1, Ordering::Relaxed);
                } else if seq > last + 1 {
                    let missing = seq - last - 1;
                    if follow.told {
                        counters
                            .signalled_lost
                            .fetch_add(missing, Ordering::Relaxed);
                    } else {
                        counters.silent_lost.fetch_add(missing, Ordering::Relaxed);
                    }
                }
            }
            follow.told = false;
            follow.last_seq = Some(seq);
        } else if let Some(id) = line.strip_prefix(b"id: ") {
            follow.last_id.clear();
            follow.last_id.extend_from_slice(id);
            follow.id_from_notice = follow.in_notice;
        } else if let Some(event) = line.strip_prefix(b"event: ") {
            // A bench event has no type (the bench's own servers) or
            // `message` (the chat's, and the external reference's); any
            // other (`lagged`, `reset`, the chat's `stats`) is not one.
            follow.in_notice = event != b"message";
            match event {
                b"lagged" => {
                    follow.told = true;
                    counters.lagged.fetch_add(1, Ordering::Relaxed);
                }
                b"reset" => {
                    follow.told = true;
                    counters.resets.fetch_add(1, Ordering::Relaxed);
                    if follow.awaiting_resume {
                        follow.awaiting_resume = false;
                        counters.reconnect_resets.fetch_add(1, Ordering::Relaxed);
                    }
                }
                _ => {}
            }
        }
        // Anything else: chunk sizes, keep-alive comments.
    }
    if events > 0 {
        counters.events.fetch_add(events, Ordering::Relaxed);
        counters.last_event_micros.fetch_max(now, Ordering::Relaxed);
        let from = counters.window_from_micros.load(Ordering::Relaxed);
        let to = counters.window_to_micros.load(Ordering::Relaxed);
        if (from..to).contains(&now) {
            counters.window_events.fetch_add(events, Ordering::Relaxed);
        }
    }
    if stale > 0 {
        counters.stale.fetch_add(stale, Ordering::Relaxed);
    }
    buf.copy_within(start..filled, 0);
    (filled - start, ended)
}

/// `{seq} {publish time, µs since the epoch} xxxx…`, as the data itself
/// (the bench's own servers) or as the `message` field of a JSON object
/// (`{"user":"bench","message":"{seq} {µs} xxxx…"}`: the chat's
/// `message` events, and the external reference's).
fn parse_data(data: &[u8]) -> Option<(u64, u64)> {
    let data = if data.first() == Some(&b'{') {
        let at = memchr::memmem::find(data, MESSAGE_FIELD)?;
        &data[at + MESSAGE_FIELD.len()..]
    } else {
        data
    };
    let space = memchr::memchr(b' ', data)?;
    let seq = parse_u64(&data[..space])?;
    let rest = &data[space + 1..];
    let end = memchr::memchr2(b' ', b'"', rest).unwrap_or(rest.len());
    Some((seq, parse_u64(&rest[..end])?))
}

/// What precedes the message text in a JSON event's data.
const MESSAGE_FIELD: &[u8] = b"\"message\":\"";

fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        d.is_ascii_digit().then(|| n * 10 + u64::from(d - b'0'))
    })
}

/// Microseconds since the Unix epoch: the clock the server's publisher
/// stamps events with (shared by every process, unlike `Instant`).
pub(crate) fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_chats_json_message_events_and_skips_its_stats() {
        let counters = Counters::default();
        let latency = Histogram::new();
        let mut follow = Follow::default();
        let mut buf = Vec::new();
        buf.extend_from_slice(b"retry: 1000\n\n");
        buf.extend_from_slice(
            b"event: message\nid: a-4\ndata: {\"user\":\"bench\",\"message\":\"7 10 xx\"}\n\n",
        );
        buf.extend_from_slice(b"event: stats\nid: a-5\ndata: {\"users\":1}\n\n");
        buf.extend_from_slice(
            b"event: message\nid: a-6\ndata: {\"user\":\"bench\",\"message\":\"8 10\"}\n\n",
        );
        let filled = buf.len();
        let (rest, ended) = process(&mut buf, filled, &mut follow, &counters, &latency);
        assert_eq!((rest, ended), (0, false));
        assert_eq!(counters.events.load(Ordering::Relaxed), 2);
        assert_eq!(counters.tally(), Tally::default());
        assert_eq!(follow.last_seq, Some(8));
        assert_eq!(follow.last_id, b"a-6");
    }

    #[test]
    fn parses_events_gaps_and_notices() {
        let counters = Counters::default();
        let latency = Histogram::new();
        let mut follow = Follow::default();
        let mut buf = Vec::new();
        buf.extend_from_slice(b"3a\r\ndata: 1 10 xx\nid: ab-1\n\n\r\n");
        buf.extend_from_slice(b"data: 3 10 xx\nid: ab-3\n\n:\n\n");
        buf.extend_from_slice(b"event: lagged\ndata: 5\n\ndata: 9 10 x\n\ndata: 10 1");
        let filled = buf.len();
        let (rest, ended) = process(&mut buf, filled, &mut follow, &counters, &latency);
        assert!(!ended);
        assert_eq!(&buf[..rest], b"data: 10 1");
        assert_eq!(counters.events.load(Ordering::Relaxed), 3);
        assert_eq!(counters.silent_lost.load(Ordering::Relaxed), 1);
        assert_eq!(counters.signalled_lost.load(Ordering::Relaxed), 5);
        assert_eq!(counters.lagged.load(Ordering::Relaxed), 1);
        assert_eq!(follow.last_id, b"ab-3");
        assert_eq!(follow.last_seq, Some(9));

        let mut end = b"\r\n0\r\n\r\n".to_vec();
        let filled = end.len();
        assert!(process(&mut end, filled, &mut follow, &counters, &latency).1);
    }

    /// `process` over `bytes` after a reconnection that sent
    /// `Last-Event-ID`, the last event received before it being 7.
    fn after_resume(bytes: &[u8]) -> Tally {
        let counters = Counters::default();
        let latency = Histogram::new();
        let mut follow = Follow {
            last_seq: Some(7),
            awaiting_resume: true,
            ..Follow::default()
        };
        let mut buf = bytes.to_vec();
        let filled = buf.len();
        process(&mut buf, filled, &mut follow, &counters, &latency);
        counters.tally()
    }

    #[test]
    fn a_reconnection_whose_first_event_continues_the_sequence_is_a_replay() {
        let tally = after_resume(b"data: 8 10 x\nid: a-8\n\ndata: 9 10 x\n\n");
        assert_eq!(
            tally,
            Tally {
                replays: 1,
                ..Tally::default()
            }
        );
    }

    #[test]
    fn a_reconnection_answered_by_reset_is_a_reset_not_a_replay() {
        let tally = after_resume(b"event: reset\nid: a-90\ndata: evicted\n\ndata: 91 10 x\n\n");
        assert_eq!(
            tally,
            Tally {
                resets: 1,
                reconnect_resets: 1,
                signalled_lost: 83,
                ..Tally::default()
            }
        );
    }

    #[test]
    fn a_reconnection_with_a_reset_notices_id_resumes_after_a_told_gap() {
        // Cut off after a reset notice (position a-90) and before any bench
        // event: the reconnection sends a-90 and the replay starts at 91.
        let counters = Counters::default();
        let latency = Histogram::new();
        let mut follow = Follow {
            last_seq: Some(7),
            ..Follow::default()
        };
        let mut buf = b"event: reset\nid: a-90\ndata: evicted\n\n".to_vec();
        let filled = buf.len();
        process(&mut buf, filled, &mut follow, &counters, &latency);
        assert_eq!(follow.last_id, b"a-90");
        follow.awaiting_resume = true;
        let mut buf = b"data: 91 10 x\nid: a-91\n\n".to_vec();
        let filled = buf.len();
        process(&mut buf, filled, &mut follow, &counters, &latency);
        assert_eq!(
            counters.tally(),
            Tally {
                resets: 1,
                reconnect_from_notice: 1,
                signalled_lost: 83,
                ..Tally::default()
            }
        );
        assert!(!follow.id_from_notice, "a bench event's id follows");
    }

    #[test]
    fn a_reconnection_resuming_after_a_silent_gap_is_neither() {
        let tally = after_resume(b"data: 12 10 x\n\n");
        assert_eq!(
            tally,
            Tally {
                reconnect_others: 1,
                silent_lost: 4,
                ..Tally::default()
            }
        );
    }
}
