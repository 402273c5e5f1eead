//! The clock binary against hostile clients, over real loopback sockets
//! (the helpers are `sse_test_support::hostile`'s): partial request heads,
//! event stream readers whose receive window is zero, a shutdown with all
//! of it open, and a thousand streams opened and dropped. The clock has no
//! write path of its own, so these are its whole attack surface.
//!
//! Each test starts its own clock, with short timings by flag where it
//! needs them (`--header-read-timeout-ms`, `--write-deadline-ms`), and with
//! `--every-ms` and `--pad-bytes` where its streams must fill buffers in
//! test time; every loop is bounded by a count or a deadline.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sse_test_support::hostile::{
    self, PeakRss, Reader, Server, closed_within, partial_heads, read_to_close, stream_cycles,
    zero_window_reader,
};
use sse_test_support::process::ensure_nofile_limit;

const CLOCK: &str = env!("CARGO_BIN_EXE_clock");

/// The longest any single wait of these tests may take.
const WAIT: Duration = Duration::from_secs(10);

/// Held by every test: they measure time or memory, and the others' load
/// would skew them (tests of one file run side by side).
static MEASURING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The event stream's request.
const EVENTS: &[u8] = b"GET /events HTTP/1.1\r\nhost: clock\r\n\r\n";

/// How each broadcast's data starts.
const BROADCAST: &[u8] = b"data: Message: ";

/// The line the write deadline logs for each connection it closes.
const EVICTED: &str = "write deadline passed, closing the connection";

/// Starts it with `args`, on a free port of 127.0.0.1, logging at `info`.
async fn start(args: &[&str]) -> Server {
    let args = [&["--addr", "127.0.0.1:0"], args].concat();
    Server::start(
        CLOCK,
        &args,
        &[("RUST_LOG", Some("info"))],
        "clock listening on http://",
    )
    .await
}

/// `GET path` on a new connection that it closes: the status and body.
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    hostile::get(addr, "clock", path).await
}

/// An event stream of `addr` read in a task of its own ([`Reader`]).
async fn open(addr: SocketAddr, i: usize) -> Reader {
    Reader::open(addr, i, EVENTS, BROADCAST).await
}

/// The start of a request head that never ends.
const PARTIAL_HEAD: &[u8] = b"GET /events HTTP/1.1\r\nhost: clock\r\nuser-agent: sl";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_partial_heads_are_closed_within_the_head_timeout() {
    let _measuring = MEASURING.lock().await;
    const HEADS: usize = 1000;
    const TIMEOUT: Duration = Duration::from_secs(1);
    ensure_nofile_limit(4 * HEADS as u64);
    let clock = start(&["--header-read-timeout-ms", "1000", "--every-ms", "100"]).await;
    let started = Instant::now();
    let heads = partial_heads(clock.addr(), HEADS, PARTIAL_HEAD).await;
    let opened = started.elapsed();

    // Meanwhile the clock serves everyone else: the page, and a stream
    // that receives its broadcasts.
    let (status, page) = get(clock.addr(), "/").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("<html") || page.contains("<!doctype"),
        "{page}"
    );
    let reader = open(clock.addr(), 1).await;

    // Each closes a head timeout after it opened, give or take the timer
    // and the load of a debug build.
    let took = closed_within(heads, TIMEOUT + Duration::from_millis(1500))
        .await
        .unwrap_or_else(|open| panic!("{open} partial heads still open"));
    println!("{HEADS} partial heads opened in {opened:?}, all closed {took:?} later");
    assert!(
        opened + took >= TIMEOUT,
        "closed early: {:?}",
        opened + took
    );
    reader.assert_answered("broadcast");
    assert!(!reader.ended(), "the stream ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_window_readers_are_closed_by_the_write_deadline_and_readers_keep_receiving() {
    let _measuring = MEASURING.lock().await;
    const STALLED: usize = 20;
    const READERS: usize = 5;
    // What the clock's RSS may grow by while the stalled readers are open
    // and after (their buffers are the kernel's; the process holds a
    // connection's state and at most one frame each).
    const BOUND: u64 = 16 << 20;
    // 64 KiB broadcasts every 10 ms, 6.4 MiB/s a stream: a stalled one
    // fills loopback's buffers (a few MiB) well within a second.
    let clock = start(&[
        "--every-ms",
        "10",
        "--pad-bytes",
        "65536",
        "--write-deadline-ms",
        "1000",
    ])
    .await;
    // The topic's history fills to its 16 MiB cap first (256 broadcasts,
    // 2.6 s), so that the baseline holds it.
    let warm = open(clock.addr(), 0).await;
    tokio::time::sleep(Duration::from_millis(3000)).await;
    warm.assert_answered("broadcast");
    let baseline = clock.rss();
    let peak = PeakRss::watch(clock.pid(), Duration::from_millis(10));

    let mut stalled = Vec::new();
    for i in 0..STALLED {
        stalled.push(zero_window_reader(clock.addr(), i, 4096, EVENTS).await);
    }
    let mut readers = Vec::new();
    for i in 0..READERS {
        readers.push(open(clock.addr(), i).await);
    }
    let opened = Instant::now();
    // Every stalled reader is closed: at most the fill time plus the
    // deadline, give or take the load.
    let evicted = clock.wait_for(EVICTED, STALLED, WAIT).await;
    let counts: Vec<u64> = readers.iter().map(Reader::bytes).collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The readers still receive, at the clock's pace (6.4 MiB/s).
    for (reader, before) in readers.iter().zip(&counts) {
        reader.assert_answered("broadcast");
        let got = reader.bytes() - before;
        assert!(got > 1 << 20, "a reader got {got} bytes in 500 ms");
        assert!(!reader.ended());
    }
    let after = clock.rss();
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
        "{STALLED} zero-window readers beside {READERS} readers: all evicted {evicted:?} after \
         opening ({:?} ago); RSS {} KiB before, peak +{} KiB, +{} KiB after",
        opened.elapsed(),
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
        peak <= baseline + BOUND,
        "RSS {peak} against {baseline} + {BOUND}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_takes_under_a_second_with_heads_zero_windows_and_streams_open() {
    let _measuring = MEASURING.lock().await;
    const HEADS: usize = 1000;
    const STALLED: usize = 20;
    const STREAMS: usize = 20;
    ensure_nofile_limit(4 * (HEADS + STALLED + STREAMS) as u64);
    // The default 30 s write deadline: the stalled readers are still open
    // at the shutdown.
    let mut clock = start(&["--every-ms", "10", "--pad-bytes", "65536"]).await;
    let heads = partial_heads(clock.addr(), HEADS, PARTIAL_HEAD).await;
    let mut stalled = Vec::new();
    for i in 0..STALLED {
        stalled.push(zero_window_reader(clock.addr(), i, 4096, EVENTS).await);
    }
    let mut streams = Vec::new();
    for i in 0..STREAMS {
        streams.push(open(clock.addr(), i).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(clock.count(EVICTED), 0, "evicted before the shutdown");

    let (took, exit) = clock.terminate_and_time(WAIT).await;
    let success = exit.success();
    println!(
        "shutdown with {HEADS} partial heads, {STALLED} zero windows and {STREAMS} streams: {took:?}"
    );
    assert!(success, "{:#?}", clock.output());
    assert!(took < Duration::from_secs(1), "shutdown took {took:?}");
    for stream in streams {
        stream.assert_answered("broadcast");
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
async fn a_thousand_stream_connect_disconnect_cycles_leave_rss_within_tolerance() {
    let _measuring = MEASURING.lock().await;
    const CYCLES: usize = 1000;
    const WARM_UP: usize = 100;
    // What RSS may keep above its baseline after the cycles: the
    // allocator's slack, not a stream's worth each (1000 streams of a few
    // KiB would be several MiB).
    const TOLERANCE: u64 = 2 << 20;
    let clock = start(&["--every-ms", "10"]).await;

    /// Opens and drops a stream for each of `range`; then waits until
    /// each dropped stream is noticed and its subscription removed.
    async fn cycles(clock: &Server, range: std::ops::Range<usize>, n: usize) {
        let dropped = ("Removed client", n);
        stream_cycles(clock, range, (EVENTS, BROADCAST), dropped, WAIT).await;
    }

    cycles(&clock, 0..WARM_UP, WARM_UP).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let baseline = clock.rss();
    let started = Instant::now();
    cycles(&clock, WARM_UP..WARM_UP + CYCLES, WARM_UP + CYCLES).await;
    let took = started.elapsed();
    let (limit, every) = (baseline + TOLERANCE, Duration::from_millis(200));
    let after = clock
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
    // And the clock still serves.
    assert_eq!(get(clock.addr(), "/").await.0, 200);
}
