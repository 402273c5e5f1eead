//! The live feed of one topic: a bounded ring of [`Entry`]s that every
//! subscriber reads without taking a lock (why: `docs/ARCHITECTURE.md`).
//! It keeps the newest entries within the topic's lag limits; a reader
//! whose position fell out of it has lagged and continues from the oldest
//! entry kept.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll};

use tokio::sync::Notify;
use tokio_util::sync::ReusableBoxFuture;

use super::entry::Entry;

/// Slots per segment: the ring's lock is taken by a reader once per this
/// many entries, and a stalled reader holds at most this many beyond the
/// bounds.
const SEGMENT: usize = 32;

/// A live feed bounded to `max_events` entries and `max_bytes` bytes of
/// encoded events (each at least one; the newest entry is always kept).
pub(crate) fn channel(max_events: usize, max_bytes: usize) -> (LiveSender, LiveReceiver) {
    let first = Arc::new(Segment::new(0));
    let shared = Arc::new(Shared {
        ring: Mutex::new(Ring {
            segments: VecDeque::from([Arc::clone(&first)]),
            oldest: 0,
            tail: 0,
            bytes: 0,
            max_events: max_events.max(1) as u64,
            max_bytes: max_bytes.max(1),
        }),
        oldest: AtomicU64::new(0),
        tail: AtomicU64::new(0),
        closed: AtomicBool::new(false),
        receivers: AtomicUsize::new(1),
        notify: Notify::new(),
    });
    let receiver = LiveReceiver::new(Arc::clone(&shared), first, 0);
    (LiveSender { shared }, receiver)
}

/// The sending half of a topic's live feed, from
/// [`TopicConfig::live_feed`](super::TopicConfig::live_feed): a backend
/// sends each of the topic's entries into it. Dropping it ends the feed once
/// its receivers have read what is left.
pub struct LiveSender {
    shared: Arc<Shared>,
}

/// The receiving half of a topic's live feed, one per subscriber: a backend
/// hands it to the broker in a [`Live`](super::Live).
pub struct LiveReceiver {
    shared: Arc<Shared>,
    /// The segment holding `next`, or ending just before it.
    segment: Arc<Segment>,
    /// The position of the next entry to read.
    next: u64,
    /// The wait for the next send, its allocation reused from wait to wait.
    waiting: Option<ReusableBoxFuture<'static, ()>>,
    /// Whether `waiting` holds a wait not yet finished.
    armed: bool,
}

/// Why [`LiveReceiver::poll_recv`] has no entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RecvError {
    /// The receiver fell out of the ring: this many entries were skipped,
    /// and it continues with the oldest entry kept.
    Lagged(u64),
    /// The sender is gone and every entry was read.
    Closed,
}

/// Why [`LiveReceiver::try_recv`] has no entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TryRecvError {
    /// Nothing to read yet.
    Empty,
    /// See [`RecvError::Lagged`].
    Lagged(u64),
    /// See [`RecvError::Closed`].
    Closed,
}

struct Shared {
    ring: Mutex<Ring>,
    /// Mirrors `Ring::oldest`, read without the lock: positions below it
    /// are gone.
    oldest: AtomicU64,
    /// Mirrors `Ring::tail`: positions below it are written.
    tail: AtomicU64,
    closed: AtomicBool,
    receivers: AtomicUsize,
    notify: Notify,
}

/// What the sender changes, and a reader crossing into another segment
/// reads.
struct Ring {
    /// The segments holding `oldest..tail`; the last one holds `tail`'s slot
    /// (it is added as soon as the one before fills).
    segments: VecDeque<Arc<Segment>>,
    oldest: u64,
    tail: u64,
    /// Encoded bytes of the entries `oldest..tail`.
    bytes: usize,
    max_events: u64,
    max_bytes: usize,
}

struct Segment {
    /// The position of the first slot.
    start: u64,
    slots: [OnceLock<Entry>; SEGMENT],
}

impl Segment {
    fn new(start: u64) -> Self {
        Segment {
            start,
            slots: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    fn entry(&self, position: u64) -> Option<&Entry> {
        self.slots[(position - self.start) as usize].get()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Ring {
    /// The segment holding `position`, which is in `oldest..=tail`.
    fn segment(&self, position: u64) -> &Arc<Segment> {
        let first = self.segments[0].start;
        &self.segments[((position - first) / SEGMENT as u64) as usize]
    }

    fn entry(&self, position: u64) -> &Entry {
        self.segment(position)
            .entry(position)
            .expect("positions below the tail are written")
    }
}

impl LiveSender {
    /// Sends `entry` to every receiver, evicting the oldest entries over the
    /// feed's bounds; never waits for a reader.
    pub fn send(&self, entry: Entry) {
        let mut ring = self.shared.lock();
        let position = ring.tail;
        ring.bytes += entry.event.len();
        let segment = Arc::clone(ring.segment(position));
        let slot = (position - segment.start) as usize;
        if segment.slots[slot].set(entry).is_err() {
            unreachable!("each position is written once");
        }
        ring.tail = position + 1;
        if slot + 1 == SEGMENT {
            ring.segments
                .push_back(Arc::new(Segment::new(position + 1)));
        }
        while ring.tail - ring.oldest > 1
            && (ring.tail - ring.oldest > ring.max_events || ring.bytes > ring.max_bytes)
        {
            let oldest = ring.oldest;
            ring.bytes -= ring.entry(oldest).event.len();
            ring.oldest = oldest + 1;
            if ring.segments[0].start + SEGMENT as u64 <= ring.oldest {
                ring.segments.pop_front();
            }
        }
        self.shared.oldest.store(ring.oldest, Ordering::Release);
        self.shared.tail.store(ring.tail, Ordering::Release);
        drop(ring);
        self.shared.notify.notify_waiters();
    }

    /// A receiver that reads what is sent from now on.
    pub fn subscribe(&self) -> LiveReceiver {
        let ring = self.shared.lock();
        let segment = Arc::clone(ring.segment(ring.tail));
        let next = ring.tail;
        drop(ring);
        self.shared.receivers.fetch_add(1, Ordering::Relaxed);
        LiveReceiver::new(Arc::clone(&self.shared), segment, next)
    }

    /// How many receivers the feed has now.
    pub fn receiver_count(&self) -> usize {
        self.shared.receivers.load(Ordering::Relaxed)
    }
}

impl Drop for LiveSender {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.notify.notify_waiters();
    }
}

/// Waits until something was sent at or past `next`, or the feed closed.
/// The `Notified` is made before the check: a send after the check
/// notifies it even before it is first polled.
async fn sent(shared: Arc<Shared>, next: u64) {
    let notified = shared.notify.notified();
    if shared.tail.load(Ordering::Acquire) > next || shared.closed.load(Ordering::Acquire) {
        return;
    }
    notified.await;
}

impl LiveReceiver {
    fn new(shared: Arc<Shared>, segment: Arc<Segment>, next: u64) -> Self {
        LiveReceiver {
            shared,
            segment,
            next,
            waiting: None,
            armed: false,
        }
    }

    /// The next entry if one is there.
    #[inline]
    pub(crate) fn try_recv(&mut self) -> Result<Entry, TryRecvError> {
        let crossing = self.next - self.segment.start == SEGMENT as u64;
        if crossing || self.next < self.shared.oldest.load(Ordering::Acquire) {
            let ring = self.shared.lock();
            let at = self.next.max(ring.oldest);
            self.segment = Arc::clone(ring.segment(at));
            drop(ring);
            let skipped = at - self.next;
            self.next = at;
            if skipped > 0 {
                return Err(TryRecvError::Lagged(skipped));
            }
        }
        // Closed first: once it is seen, every send before it is too.
        let closed = self.shared.closed.load(Ordering::Acquire);
        match self.segment.entry(self.next) {
            Some(entry) => {
                self.next += 1;
                Ok(entry.clone())
            }
            None if closed => Err(TryRecvError::Closed),
            None => Err(TryRecvError::Empty),
        }
    }

    /// Polls for the next entry, registering the task to be woken by the
    /// next send when there is none.
    #[inline]
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<Entry, RecvError>> {
        loop {
            match self.try_recv() {
                Ok(entry) => return Poll::Ready(Ok(entry)),
                Err(TryRecvError::Lagged(n)) => return Poll::Ready(Err(RecvError::Lagged(n))),
                Err(TryRecvError::Closed) => return Poll::Ready(Err(RecvError::Closed)),
                Err(TryRecvError::Empty) => {}
            }
            // A wait armed for an earlier position still ends at the next
            // send, which is what this one waits for too.
            if !self.armed {
                let wait = sent(Arc::clone(&self.shared), self.next);
                match &mut self.waiting {
                    Some(waiting) => waiting.set(wait),
                    None => self.waiting = Some(ReusableBoxFuture::new(wait)),
                }
                self.armed = true;
            }
            let Some(waiting) = &mut self.waiting else {
                unreachable!("armed above");
            };
            std::task::ready!(waiting.poll(cx));
            self.armed = false;
        }
    }
}

impl Drop for LiveReceiver {
    fn drop(&mut self) {
        self.shared.receivers.fetch_sub(1, Ordering::Relaxed);
    }
}

impl fmt::Debug for LiveSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveSender")
            .field("receivers", &self.receiver_count())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for LiveReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveReceiver")
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::task::Waker;

    use super::*;
    use crate::Event;
    use crate::broker::Visibility;

    fn entry(seq: u64, data: &str) -> Entry {
        Entry::new(seq, Event::data(data), Visibility::Public)
    }

    fn drain(receiver: &mut LiveReceiver) -> Vec<Result<u64, TryRecvError>> {
        let mut out = Vec::new();
        loop {
            match receiver.try_recv() {
                Err(TryRecvError::Empty) => return out,
                Err(TryRecvError::Closed) => {
                    out.push(Err(TryRecvError::Closed));
                    return out;
                }
                other => out.push(other.map(|entry| entry.seq)),
            }
        }
    }

    #[test]
    fn send_then_try_recv_then_empty_then_closed() {
        let (sender, mut receiver) = channel(16, 1 << 20);
        assert!(matches!(receiver.try_recv(), Err(TryRecvError::Empty)));
        sender.send(entry(1, "hi"));
        assert_eq!(receiver.try_recv().unwrap().seq, 1);
        assert!(matches!(receiver.try_recv(), Err(TryRecvError::Empty)));
        drop(sender);
        assert!(matches!(receiver.try_recv(), Err(TryRecvError::Closed)));
    }

    #[test]
    fn a_one_entry_feed_keeps_the_newest() {
        let (sender, mut receiver) = channel(1, 1 << 20);
        for seq in 1..=3 {
            sender.send(entry(seq, "x"));
        }
        assert!(matches!(receiver.try_recv(), Err(TryRecvError::Lagged(2))));
        assert_eq!(receiver.try_recv().unwrap().seq, 3);
    }

    #[test]
    fn poll_recv_is_pending_then_ready() {
        let (sender, mut receiver) = channel(16, 1 << 20);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(receiver.poll_recv(&mut cx).is_pending());
        sender.send(entry(7, "x"));
        assert!(matches!(receiver.poll_recv(&mut cx), Poll::Ready(Ok(entry)) if entry.seq == 7));
    }

    #[test]
    fn every_entry_across_segments_in_order() {
        let (sender, mut receiver) = channel(1_000, usize::MAX);
        let mut later = None;
        for seq in 0..(SEGMENT as u64 * 3 + 5) {
            if seq == 40 {
                later = Some(sender.subscribe());
            }
            sender.send(entry(seq, "x"));
        }
        let all: Vec<_> = (0..(SEGMENT as u64 * 3 + 5)).map(Ok).collect();
        assert_eq!(drain(&mut receiver), all);
        let mut later = later.unwrap();
        assert_eq!(drain(&mut later), all[40..].to_vec());
    }

    #[test]
    fn a_reader_past_the_count_bound_lags_then_reads_the_oldest_kept() {
        let (sender, mut receiver) = channel(10, usize::MAX);
        for seq in 0..100 {
            sender.send(entry(seq, "x"));
        }
        let mut expected = vec![Err(TryRecvError::Lagged(90))];
        expected.extend((90..100).map(Ok));
        assert_eq!(drain(&mut receiver), expected);
    }

    #[test]
    fn a_reader_past_the_byte_bound_lags() {
        // `data: xxxx\n\n` is 12 bytes: three fit in 40.
        let (sender, mut receiver) = channel(1_000, 40);
        for seq in 0..10 {
            sender.send(entry(seq, "xxxx"));
        }
        assert_eq!(
            drain(&mut receiver),
            vec![Err(TryRecvError::Lagged(7)), Ok(7), Ok(8), Ok(9)]
        );
    }

    #[test]
    fn the_newest_entry_is_kept_even_over_the_byte_bound() {
        let (sender, mut receiver) = channel(1_000, 1);
        sender.send(entry(0, "larger than one byte"));
        assert_eq!(drain(&mut receiver), vec![Ok(0)]);
    }

    #[test]
    fn a_stalled_reader_holds_one_segment_at_most() {
        let (sender, receiver) = channel(SEGMENT, usize::MAX);
        for seq in 0..(SEGMENT as u64 * 10) {
            sender.send(entry(seq, "x"));
        }
        let ring = sender.shared.lock();
        assert_eq!(ring.tail - ring.oldest, SEGMENT as u64);
        assert!(ring.segments.len() <= 2, "{} segments", ring.segments.len());
        drop(ring);
        // The reader's segment left the ring: only the reader holds it.
        assert_eq!(receiver.segment.start, 0);
        assert_eq!(Arc::strong_count(&receiver.segment), 1);
    }

    #[test]
    fn closing_lets_readers_drain_first() {
        let (sender, mut receiver) = channel(16, usize::MAX);
        sender.send(entry(1, "x"));
        sender.send(entry(2, "x"));
        drop(sender);
        assert_eq!(
            drain(&mut receiver),
            vec![Ok(1), Ok(2), Err(TryRecvError::Closed)]
        );
    }

    #[test]
    fn receiver_count_follows_subscribe_and_drop() {
        let (sender, first) = channel(16, usize::MAX);
        let second = sender.subscribe();
        assert_eq!(sender.receiver_count(), 2);
        drop(first);
        drop(second);
        assert_eq!(sender.receiver_count(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_waiting_reader_is_woken_by_each_send() {
        let (sender, mut receiver) = channel(4, usize::MAX);
        let reader = tokio::spawn(async move {
            let mut seen = Vec::new();
            loop {
                match std::future::poll_fn(|cx| receiver.poll_recv(cx)).await {
                    Ok(entry) => seen.push(Ok(entry.seq)),
                    Err(RecvError::Lagged(n)) => seen.push(Err(n)),
                    Err(RecvError::Closed) => return seen,
                }
            }
        });
        for seq in 0..2_000 {
            sender.send(entry(seq, "x"));
            if seq % 3 == 0 {
                tokio::task::yield_now().await;
            }
        }
        drop(sender);
        let seen = reader.await.unwrap();
        // Whatever was read is in order, and lags account for the rest.
        let mut next = 0;
        for item in &seen {
            match item {
                Ok(seq) => {
                    assert_eq!(*seq, next);
                    next += 1;
                }
                Err(n) => next += n,
            }
        }
        assert_eq!(next, 2_000);
    }

    /// Readers on both worker threads while the sender sends in batches,
    /// waiting after each until every reader has read it: a lost wake-up
    /// leaves a reader behind and times out. Each reader sees every entry
    /// once and in order, and ends on `Closed`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_readers_on_two_threads_are_woken_for_every_batch() {
        use std::sync::atomic::AtomicU64;
        use std::time::Duration;

        const BATCH: u64 = 100;
        const SENDS: u64 = 20_000;
        let (sender, first) = channel(1_024, usize::MAX);
        let mut receivers = vec![first];
        receivers.extend((1..16).map(|_| sender.subscribe()));
        let progress: Vec<Arc<AtomicU64>> = receivers
            .iter()
            .map(|_| Arc::new(AtomicU64::new(0)))
            .collect();
        let readers: Vec<_> = (receivers.into_iter().zip(&progress))
            .map(|(mut receiver, read)| {
                let read = Arc::clone(read);
                tokio::spawn(async move {
                    let mut next = 0;
                    loop {
                        match std::future::poll_fn(|cx| receiver.poll_recv(cx)).await {
                            Ok(entry) => {
                                assert_eq!(entry.seq, next, "in order, once");
                                next += 1;
                                read.store(next, Ordering::Release);
                            }
                            Err(RecvError::Lagged(n)) => panic!("lagged {n} within the bound"),
                            Err(RecvError::Closed) => return next,
                        }
                    }
                })
            })
            .collect();
        let event = Event::data("x");
        for seq in 0..SENDS {
            sender.send(Entry::new(seq, event.clone(), Visibility::Public));
            if (seq + 1) % BATCH == 0 {
                let caught_up = async {
                    while progress
                        .iter()
                        .any(|read| read.load(Ordering::Acquire) <= seq)
                    {
                        tokio::task::yield_now().await;
                    }
                };
                tokio::time::timeout(Duration::from_secs(10), caught_up)
                    .await
                    .unwrap_or_else(|_| panic!("a reader was not woken for entry {seq}"));
            }
        }
        drop(sender);
        for reader in readers {
            let read = tokio::time::timeout(Duration::from_secs(10), reader)
                .await
                .expect("every reader is woken by the close")
                .unwrap();
            assert_eq!(read, SENDS);
        }
    }

    #[test]
    fn a_pending_reader_is_woken_by_send_and_by_close() {
        use std::sync::atomic::AtomicUsize;
        use std::task::Wake;

        struct Count(AtomicUsize);
        impl Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        let mut cx = Context::from_waker(&waker);

        let (sender, mut receiver) = channel(16, usize::MAX);
        assert!(receiver.poll_recv(&mut cx).is_pending());
        sender.send(entry(1, "x"));
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(matches!(receiver.poll_recv(&mut cx), Poll::Ready(Ok(e)) if e.seq == 1));
        assert!(receiver.poll_recv(&mut cx).is_pending());
        drop(sender);
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
        assert!(matches!(
            receiver.poll_recv(&mut cx),
            Poll::Ready(Err(RecvError::Closed))
        ));
    }
}
