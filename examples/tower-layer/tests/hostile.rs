//! The tower-layer binary against hostile clients, over real loopback
//! sockets (the helpers are `sse_test_support::hostile`'s): partial request
//! heads, event stream readers whose receive window is zero, a shutdown
//! with all of it open, and a thousand streams opened and dropped. The
//! example has no write path of its own, so these are its whole attack
//! surface. Each rule runs against `ssekit_tower::serve` (the default) and,
//! where named so, the `--hyper-util` server.
//!
//! Each test starts its own server, with short timings by flag where it
//! needs them (`--header-read-timeout-ms`, `--write-deadline-ms`), and with
//! `--tick-ms` and `--pad-bytes` where its streams must fill buffers in
//! test time; every loop is bounded by a count or a deadline.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sse_test_support::hostile::{
    self, PeakRss, Reader, Server, closed_within, partial_heads, read_to_close, stream_cycles,
    zero_window_reader,
};
use sse_test_support::process::ensure_nofile_limit;

const TOWER_LAYER: &str = env!("CARGO_BIN_EXE_tower-layer");

/// The default serving mode, `ssekit_tower::serve`.
const SERVE: &[&str] = &[];
/// The plain hyper-util server.
const HYPER_UTIL: &[&str] = &["--hyper-util"];

/// The longest any single wait of these tests may take.
const WAIT: Duration = Duration::from_secs(10);

/// Held by every test: they measure time or memory, and the others' load
/// would skew them (tests of one file run side by side).
static MEASURING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The event stream's request.
const EVENTS: &[u8] = b"GET /events HTTP/1.1\r\nhost: tower-layer\r\n\r\n";

/// How each tick starts.
const BROADCAST: &[u8] = b"event: tick";

/// The line the write deadline logs for each connection it closes.
const EVICTED: &str = "write deadline passed, closing the connection";

/// Starts it in `mode` ([`SERVE`] or [`HYPER_UTIL`]) with `args`, on a
/// free port of 127.0.0.1, logging at `info`.
async fn start(mode: &[&str], args: &[&str]) -> Server {
    let args = [&["--addr", "127.0.0.1:0"], mode, args].concat();
    Server::start(
        TOWER_LAYER,
        &args,
        &[("RUST_LOG", Some("info"))],
        "listening on http://",
    )
    .await
}

/// `GET path` on a new connection that it closes: the status and body.
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    hostile::get(addr, "tower-layer", path).await
}

/// An event stream of `addr` read in a task of its own ([`Reader`]).
async fn open(addr: SocketAddr, i: usize) -> Reader {
    Reader::open(addr, i, EVENTS, BROADCAST).await
}

/// The start of a request head that never ends.
const PARTIAL_HEAD: &[u8] = b"GET /events HTTP/1.1\r\nhost: tower-layer\r\nuser-agent: sl";

/// 1 000 partial heads, closed within the 1 s head timeout, while the
/// page and a stream are served.
async fn partial_heads_are_closed_within_the_head_timeout(mode: &[&str]) {
    let _measuring = MEASURING.lock().await;
    const HEADS: usize = 1000;
    const TIMEOUT: Duration = Duration::from_secs(1);
    ensure_nofile_limit(4 * HEADS as u64);
    let server = start(
        mode,
        &["--header-read-timeout-ms", "1000", "--tick-ms", "100"],
    )
    .await;
    let started = Instant::now();
    let heads = partial_heads(server.addr(), HEADS, PARTIAL_HEAD).await;
    let opened = started.elapsed();

    // Meanwhile the server serves everyone else: the page, and a stream
    // that receives its ticks.
    let (status, page) = get(server.addr(), "/").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("EventSource") || page.contains("liveStream"),
        "{page}"
    );
    let reader = open(server.addr(), 1).await;

    // Each closes a head timeout after it opened, give or take the timer
    // and the load of a debug build.
    let took = closed_within(heads, TIMEOUT + Duration::from_millis(1500))
        .await
        .unwrap_or_else(|open| panic!("{open} partial heads still open"));
    println!("{mode:?}: {HEADS} partial heads opened in {opened:?}, all closed {took:?} later");
    assert!(
        opened + took >= TIMEOUT,
        "closed early: {:?}",
        opened + took
    );
    reader.assert_answered("tick");
    assert!(!reader.ended(), "the stream ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_partial_heads_are_closed_within_the_head_timeout() {
    partial_heads_are_closed_within_the_head_timeout(SERVE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_hyper_util_a_thousand_partial_heads_are_closed_within_the_head_timeout() {
    partial_heads_are_closed_within_the_head_timeout(HYPER_UTIL).await;
}

/// 20 zero-window readers beside 5 readers of 64 KiB ticks every 10 ms:
/// the stalled ones closed by the 1 s write deadline, the others still
/// receiving, RSS within `bound` of its baseline.
async fn zero_window_readers_are_closed_by_the_write_deadline(mode: &[&str], bound: u64) {
    let _measuring = MEASURING.lock().await;
    const STALLED: usize = 20;
    const READERS: usize = 5;
    // 64 KiB ticks every 10 ms, 6.4 MiB/s a stream: a stalled one fills
    // loopback's buffers (a few MiB) well within a second.
    let server = start(
        mode,
        &[
            "--tick-ms",
            "10",
            "--pad-bytes",
            "65536",
            "--write-deadline-ms",
            "1000",
        ],
    )
    .await;
    let warm = open(server.addr(), 0).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    warm.assert_answered("tick");
    let baseline = server.rss();
    let peak = PeakRss::watch(server.pid(), Duration::from_millis(10));

    let mut stalled = Vec::new();
    for i in 0..STALLED {
        stalled.push(zero_window_reader(server.addr(), i, 4096, EVENTS).await);
    }
    let mut readers = Vec::new();
    for i in 0..READERS {
        readers.push(open(server.addr(), i).await);
    }
    // Every stalled reader is closed: at most the fill time plus the
    // deadline, give or take the load.
    let evicted = server.wait_for(EVICTED, STALLED, WAIT).await;
    let counts: Vec<u64> = readers.iter().map(Reader::bytes).collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The readers still receive, at the server's pace (6.4 MiB/s).
    for (reader, before) in readers.iter().zip(&counts) {
        reader.assert_answered("tick");
        let got = reader.bytes() - before;
        assert!(got > 1 << 20, "a reader got {got} bytes in 500 ms");
        assert!(!reader.ended());
    }
    let after = server.rss();
    let peak = peak.peak().max(after);
    // The stalled sockets are closed (what the kernel still held for them
    // comes first).
    let mut closed = 0;
    for mut tcp in stalled {
        if read_to_close(&mut tcp, WAIT).await.is_some() {
            closed += 1;
        }
    }
    println!(
        "{mode:?}: {STALLED} zero-window readers beside {READERS} readers: all evicted \
         {evicted:?} after opening; RSS {} KiB before, peak +{} KiB, +{} KiB after",
        baseline >> 10,
        peak.saturating_sub(baseline) >> 10,
        after.saturating_sub(baseline) >> 10
    );
    assert_eq!(closed, STALLED);
    assert!(
        evicted < Duration::from_secs(4),
        "evicted after {evicted:?}"
    );
    assert!(
        peak <= baseline + bound,
        "RSS {peak} against {baseline} + {bound}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_window_readers_are_closed_by_the_write_deadline_and_readers_keep_receiving() {
    // The stalled streams' buffers are the kernel's; the process holds a
    // connection's state and at most a frame or two each.
    zero_window_readers_are_closed_by_the_write_deadline(SERVE, 16 << 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_hyper_util_zero_window_readers_are_closed_by_the_write_deadline() {
    // hyper buffers up to about 400 KiB a connection before it stops
    // polling the body.
    zero_window_readers_are_closed_by_the_write_deadline(HYPER_UTIL, 32 << 20).await;
}

/// SIGTERM with 1 000 partial heads, `stalled` zero windows (under the
/// default 30 s write deadline) and 20 streams open: the process exits
/// within a second, and every stream ends.
async fn shutdown_is_quick_with_everything_open(mode: &[&str], stalled_n: usize) {
    let _measuring = MEASURING.lock().await;
    const HEADS: usize = 1000;
    const STREAMS: usize = 20;
    ensure_nofile_limit(4 * (HEADS + stalled_n + STREAMS) as u64);
    let mut server = start(mode, &["--tick-ms", "10", "--pad-bytes", "65536"]).await;
    let heads = partial_heads(server.addr(), HEADS, PARTIAL_HEAD).await;
    let mut stalled = Vec::new();
    for i in 0..stalled_n {
        stalled.push(zero_window_reader(server.addr(), i, 4096, EVENTS).await);
    }
    let mut streams = Vec::new();
    for i in 0..STREAMS {
        streams.push(open(server.addr(), i).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(server.count(EVICTED), 0, "evicted before the shutdown");

    let (took, exit) = server.terminate_and_time(WAIT).await;
    let success = exit.success();
    println!(
        "{mode:?}: shutdown with {HEADS} partial heads, {stalled_n} zero windows and \
         {STREAMS} streams: {took:?}"
    );
    assert!(success, "{:#?}", server.output());
    assert!(took < Duration::from_secs(1), "shutdown took {took:?}");
    for stream in streams {
        stream.assert_answered("tick");
        assert!(stream.ended_within(WAIT).await, "a stream did not end");
    }
    closed_within(heads, WAIT)
        .await
        .unwrap_or_else(|open| panic!("{open} partial heads still open after the exit"));
    closed_within(stalled, WAIT)
        .await
        .unwrap_or_else(|open| panic!("{open} zero windows still open after the exit"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_takes_under_a_second_with_heads_zero_windows_and_streams_open() {
    shutdown_is_quick_with_everything_open(SERVE, 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_hyper_util_shutdown_takes_under_a_second_with_heads_zero_windows_and_streams_open() {
    // hyper waits for a half-read head, and the write deadline for a
    // stalled reader: the example's 500 ms grace closes both.
    shutdown_is_quick_with_everything_open(HYPER_UTIL, 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_stream_connect_disconnect_cycles_leave_rss_within_tolerance() {
    let _measuring = MEASURING.lock().await;
    const CYCLES: usize = 1000;
    const WARM_UP: usize = 100;
    // What RSS may keep above its baseline after the cycles: the
    // allocator's slack, not a stream's worth each (1000 streams of a few
    // KiB would be several MiB).
    const TOLERANCE: u64 = 2 << 20;
    let server = start(SERVE, &["--tick-ms", "10"]).await;

    /// Opens and drops a stream for each of `range`; then waits until
    /// each dropped stream is noticed and dropped.
    async fn cycles(server: &Server, range: std::ops::Range<usize>, n: usize) {
        let dropped = ("client disconnected", n);
        stream_cycles(server, range, (EVENTS, BROADCAST), dropped, WAIT).await;
    }

    cycles(&server, 0..WARM_UP, WARM_UP).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let baseline = server.rss();
    let started = Instant::now();
    cycles(&server, WARM_UP..WARM_UP + CYCLES, WARM_UP + CYCLES).await;
    let took = started.elapsed();
    let (limit, every) = (baseline + TOLERANCE, Duration::from_millis(200));
    let after = server
        .rss_settled(limit, Duration::from_secs(3), every)
        .await;
    println!(
        "{CYCLES} stream cycles in {took:?}: RSS {} KiB before, {:+} KiB after",
        baseline >> 10,
        (after as i64 - baseline as i64) >> 10
    );
    assert!(
        after <= baseline + TOLERANCE,
        "RSS {after} against {baseline} + {TOLERANCE}"
    );
    // And the server still serves.
    assert_eq!(get(server.addr(), "/").await.0, 200);
}
