//! A client that never reads, next to 1 000 that do (`ssekit-axum` over
//! `axum::serve` with a `WriteDeadlineListener`, one broker topic): the
//! stalled one is disconnected within a bounded time, the others keep
//! receiving every event as promptly as without it, and memory stays
//! bounded.
//!
//! The phases alternate, without and with a stalled client, five times;
//! what is compared is the median of the five p99 latencies of each kind.
//! The stalled client also follows a second topic, into which the test
//! publishes one 256 KiB event: its buffers fill at once, so the deadline
//! starts then. The server's sockets get a small send buffer for the same
//! reason; the healthy clients read all the time, so it does not hold them
//! back.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use sse_test_support::process::{ensure_nofile_limit, rss_bytes};
use sse_test_support::within;
use ssekit_axum::{Event, KeepAlive, LastEventId, SseResponse, WriteDeadlineListener};
use ssekit_core::broker::{Broker, Subscription};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

const HEALTHY: usize = 1_000;
const DEADLINE: Duration = Duration::from_secs(1);
const EVERY: Duration = Duration::from_millis(50);
const PHASE: Duration = Duration::from_secs(3);
const DATA_LEN: usize = 256;
/// Phases of each kind; their medians are compared.
const ROUNDS: u8 = 5;

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

async fn events(
    State(broker): State<Broker>,
    last_event_id: LastEventId,
) -> SseResponse<Subscription> {
    SseResponse::subscribe(&broker, &["feed"], &last_event_id)
        .await
        .expect("the broker is running")
        .keep_alive(KeepAlive::disabled())
}

/// The feed, and a bulk topic whose one large event fills a client's
/// buffers at once: what the stalled client asks for.
async fn feed_and_bulk(
    State(broker): State<Broker>,
    last_event_id: LastEventId,
) -> SseResponse<Subscription> {
    SseResponse::subscribe(&broker, &["feed", "bulk"], &last_event_id)
        .await
        .expect("the broker is running")
        .keep_alive(KeepAlive::disabled())
}

async fn serve(broker: Broker) -> SocketAddr {
    let socket = TcpSocket::new_v4().unwrap();
    // Accepted sockets inherit it.
    socket.set_send_buffer_size(8 * 1024).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(2048).unwrap();
    let addr = listener.local_addr().unwrap();
    let listener = WriteDeadlineListener::new(listener, DEADLINE);
    let app = Router::new()
        .route("/events", get(events))
        .route("/events-and-bulk", get(feed_and_bulk))
        .with_state(broker);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn request(
    server: SocketAddr,
    path: &str,
    source: Ipv4Addr,
    recv_buffer: Option<u32>,
) -> tokio::net::TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    if let Some(size) = recv_buffer {
        socket.set_recv_buffer_size(size).unwrap();
    }
    socket.bind((source, 0).into()).unwrap();
    let mut tcp = socket.connect(server).await.unwrap();
    tcp.write_all(format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n").as_bytes())
        .await
        .unwrap();
    tcp
}

/// What the healthy clients saw: latencies (µs) of the current phase, and
/// whether any missed an event.
#[derive(Default)]
struct Seen {
    latencies: Vec<u64>,
    gaps: usize,
}

/// A healthy client: reads for ever, recording each event's latency and
/// checking the sequence numbers follow each other.
async fn healthy(server: SocketAddr, source: Ipv4Addr, seen: Arc<Mutex<Seen>>) {
    let mut tcp = request(server, "/events", source, None).await;
    let mut buffer = vec![0; 64 * 1024];
    let mut pending: Vec<u8> = Vec::new();
    let mut last: Option<u64> = None;
    loop {
        let n = tcp.read(&mut buffer).await.unwrap();
        assert_ne!(n, 0, "the server closed a healthy client's stream");
        let now = now_micros();
        pending.extend_from_slice(&buffer[..n]);
        let mut consumed = 0;
        while let Some(at) = pending[consumed..].windows(6).position(|w| w == b"data: ") {
            let start = consumed + at + 6;
            let Some(end) = pending[start..].iter().position(|&b| b == b' ') else {
                break;
            };
            let Some(end2) = pending[start + end + 1..].iter().position(|&b| b == b' ') else {
                break;
            };
            let seq: u64 = std::str::from_utf8(&pending[start..start + end])
                .unwrap()
                .parse()
                .unwrap();
            let sent: u64 = std::str::from_utf8(&pending[start + end + 1..start + end + 1 + end2])
                .unwrap()
                .parse()
                .unwrap();
            let mut seen = seen.lock().unwrap();
            seen.latencies.push(now.saturating_sub(sent));
            if last.is_some_and(|last| seq != last + 1) {
                seen.gaps += 1;
            }
            last = Some(seq);
            consumed = start + end + 1 + end2;
        }
        pending.drain(..consumed);
    }
}

fn p99(mut latencies: Vec<u64>) -> u64 {
    assert!(!latencies.is_empty(), "no event arrived in a phase");
    latencies.sort_unstable();
    latencies[(latencies.len() * 99).div_ceil(100) - 1]
}

fn median(mut values: Vec<u64>) -> u64 {
    values.sort_unstable();
    values[values.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_evicted_and_does_not_slow_the_thousand_others() {
    ensure_nofile_limit(4 * HEALTHY as u64);
    let broker = Broker::new();
    let server = serve(broker.clone()).await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    for i in 0..HEALTHY {
        let source = Ipv4Addr::new(127, 0, 0, 2 + (i % 8) as u8);
        tokio::spawn(healthy(server, source, seen.clone()));
    }
    within("every healthy client to subscribe", async {
        while broker.stats().subscriptions < HEALTHY as u64 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;

    let publisher = {
        let broker = broker.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(EVERY);
            for seq in 0u64.. {
                tick.tick().await;
                let mut data = format!("{seq} {} ", now_micros());
                data.extend(std::iter::repeat_n('x', DATA_LEN - data.len()));
                broker.publish("feed", Event::data(&data)).await.unwrap();
            }
        })
    };

    let take_phase = || std::mem::take(&mut seen.lock().unwrap().latencies);
    // Warm up: the first events find pools and buffers cold.
    tokio::time::sleep(PHASE).await;
    take_phase();
    let rss_start = rss_bytes();

    let mut without = Vec::new();
    let mut with = Vec::new();
    let mut evictions = Vec::new();
    for round in 0..ROUNDS {
        tokio::time::sleep(PHASE).await;
        without.push(p99(take_phase()));

        let stalled_at = Instant::now();
        let source = Ipv4Addr::new(127, 0, 0, 20 + round);
        let stalled = request(server, "/events-and-bulk", source, Some(4096)).await;
        within("the stalled client to subscribe", async {
            while broker.stats().subscriptions != HEALTHY as u64 + 1 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        // 256 KiB it will never read: its buffers are full at once.
        broker
            .publish("bulk", Event::data(&"b".repeat(256 << 10)))
            .await
            .unwrap();
        let evicted = loop {
            let subscribers = broker.stats().subscriptions;
            if subscribers == HEALTHY as u64 {
                break stalled_at.elapsed();
            }
            assert!(
                stalled_at.elapsed() < DEADLINE + Duration::from_secs(9),
                "the stalled client was not disconnected ({subscribers} subscribers)"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        evictions.push(evicted);
        // The phase with a stalled client lasts as long as the other.
        if let Some(rest) = PHASE.checked_sub(stalled_at.elapsed()) {
            tokio::time::sleep(rest).await;
        }
        with.push(p99(take_phase()));
        drop(stalled);
    }
    publisher.abort();
    let rss_end = rss_bytes();

    let (base, stalled) = (median(without.clone()), median(with.clone()));
    eprintln!(
        "p99 without a stalled client {without:?} µs, with {with:?} µs; evicted after {evictions:?}; RSS {rss_start} → {rss_end}"
    );
    assert_eq!(
        seen.lock().unwrap().gaps,
        0,
        "a healthy client missed events"
    );
    // 10 %, plus 50 ms: on a 2-core machine shared with the thousand
    // clients and with other jobs, the p99 of phases of the same kind
    // varies by tens of milliseconds (23–49 ms in one CI run). A stalled
    // client that held the others back would add up to the write deadline
    // (1 s), twenty times the allowance. The 10 % target is printed
    // above for each run; asserting it alone would make this test fail on
    // noise, not on a regression.
    assert!(
        stalled <= base + base / 10 + 50_000,
        "healthy p99 {base} µs without a stalled client, {stalled} µs with one"
    );
    assert!(
        rss_end < rss_start + (32 << 20),
        "RSS grew from {rss_start} to {rss_end} bytes"
    );
}
