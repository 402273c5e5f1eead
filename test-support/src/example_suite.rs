//! The examples' hostile suite (`examples/*/tests/hostile.rs`), written
//! once: 1 000 partial request heads closed within the head timeout,
//! zero-window readers closed by the write deadline while other readers
//! keep receiving, a shutdown with all of it open, and a thousand streams
//! opened and dropped. Each scenario takes an [`Example`], the description
//! of the binary under test, and starts its own server (with the helpers
//! of [`hostile`]), with short timings by flag where it needs them
//! (`--header-read-timeout-ms`, `--write-deadline-ms`, the example's tick
//! flag and `--pad-bytes`); every loop is bounded by a count or a deadline.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use crate::hostile::{
    self, PeakRss, Reader, Server, closed_within, partial_heads, read_to_close, stream_cycles,
    zero_window_reader,
};
use crate::process::ensure_nofile_limit;

/// The longest any single wait of these scenarios may take.
const WAIT: Duration = Duration::from_secs(10);

/// Held by every scenario: they measure time or memory, and the others'
/// load would skew them (the tests of one file run side by side).
static MEASURING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The line the write deadline logs for each connection it closes.
const EVICTED: &str = "write deadline passed, closing the connection";

/// An example binary under test, and what its scenarios need to know of
/// it.
#[derive(Clone, Copy, Debug)]
pub struct Example {
    /// The binary (`env!("CARGO_BIN_EXE_…")`).
    pub binary: &'static str,
    /// The arguments of the serving mode under test (e.g.
    /// `["--hyper-util"]`), before the scenario's own.
    pub mode: &'static [&'static str],
    /// What its listening line starts with, up to the address
    /// (`"clock listening on http://"`).
    pub listening: &'static str,
    /// The `host` of its requests.
    pub host: &'static str,
    /// The flag of its tick or broadcast period in milliseconds
    /// (`"--every-ms"`, `"--tick-ms"`).
    pub tick_flag: &'static str,
    /// The event stream's whole request.
    pub events: &'static [u8],
    /// The start of an event stream request head that never ends.
    pub partial_head: &'static [u8],
    /// How each of its events starts (what a [`Reader`] watches for),
    /// and its name in messages (`"broadcast"`, `"tick"`).
    pub marker: (&'static [u8], &'static str),
    /// The path of its page, and texts one of which the page contains.
    pub page: (&'static str, &'static [&'static str]),
    /// The line it logs for each event stream it notices dropped.
    pub dropped: &'static str,
    /// How long its first stream must run before the zero-window
    /// scenario takes its RSS baseline (e.g. until a history is full).
    pub warm_up: Duration,
}

impl Example {
    /// Starts it in its mode with `args`, on a free port of 127.0.0.1,
    /// logging at `info`.
    async fn start(&self, args: &[&str]) -> Server {
        let args = [&["--addr", "127.0.0.1:0"], self.mode, args].concat();
        Server::start(
            self.binary,
            &args,
            &[("RUST_LOG", Some("info"))],
            self.listening,
        )
        .await
    }

    /// `GET path` on a new connection that it closes: the status and body.
    async fn get(&self, addr: SocketAddr, path: &str) -> (u16, String) {
        hostile::get(addr, self.host, path).await
    }

    /// An event stream of `addr` read in a task of its own ([`Reader`]).
    async fn open(&self, addr: SocketAddr, i: usize) -> Reader {
        Reader::open(addr, i, self.events, self.marker.0).await
    }

    /// `n` event streams of `addr`, each read in a task of its own.
    async fn streams(&self, addr: SocketAddr, n: usize) -> Vec<Reader> {
        let mut streams = Vec::with_capacity(n);
        for i in 0..n {
            streams.push(self.open(addr, i).await);
        }
        streams
    }

    /// `n` event stream readers of `addr` whose receive window goes to
    /// zero ([`zero_window_reader`]), still open.
    async fn zero_windows(&self, addr: SocketAddr, n: usize) -> Vec<TcpStream> {
        let mut stalled = Vec::with_capacity(n);
        for i in 0..n {
            stalled.push(zero_window_reader(addr, i, 4096, self.events).await);
        }
        stalled
    }

    /// What the scenarios' messages start with: the binary's name and
    /// the mode.
    fn label(&self) -> String {
        let name = self.binary.rsplit('/').next().unwrap_or(self.binary);
        format!("{name} {:?}", self.mode)
    }
}

/// 1 000 partial heads, closed within the 1 s head timeout, while the
/// page and a stream are served.
pub async fn partial_heads_are_closed_within_the_head_timeout(example: &Example) {
    let _measuring = MEASURING.lock().await;
    const HEADS: usize = 1000;
    const TIMEOUT: Duration = Duration::from_secs(1);
    ensure_nofile_limit(4 * HEADS as u64);
    let server = example
        .start(&["--header-read-timeout-ms", "1000", example.tick_flag, "100"])
        .await;
    let started = Instant::now();
    let heads = partial_heads(server.addr(), HEADS, example.partial_head).await;
    let opened = started.elapsed();

    // Meanwhile the server serves everyone else: the page, and a stream
    // that receives its events.
    let (path, contains) = example.page;
    let (status, page) = example.get(server.addr(), path).await;
    assert_eq!(status, 200);
    assert!(contains.iter().any(|text| page.contains(text)), "{page}");
    let reader = example.open(server.addr(), 1).await;

    // Each closes a head timeout after it opened, give or take the timer
    // and the load of a debug build.
    let took = closed_within(heads, TIMEOUT + Duration::from_millis(1500))
        .await
        .unwrap_or_else(|open| panic!("{open} partial heads still open"));
    println!(
        "{}: {HEADS} partial heads opened in {opened:?}, all closed {took:?} later",
        example.label()
    );
    assert!(
        opened + took >= TIMEOUT,
        "closed early: {:?}",
        opened + took
    );
    reader.assert_answered(example.marker.1);
    assert!(!reader.ended(), "the stream ended");
}

/// 20 zero-window readers beside 5 readers of 64 KiB events every 10 ms:
/// the stalled ones closed by the 1 s write deadline, the others still
/// receiving, RSS within `bound` of its baseline (the peak included).
pub async fn zero_window_readers_are_closed_by_the_write_deadline(example: &Example, bound: u64) {
    let _measuring = MEASURING.lock().await;
    const STALLED: usize = 20;
    const READERS: usize = 5;
    // 64 KiB events every 10 ms, 6.4 MiB/s a stream: a stalled one fills
    // loopback's buffers (a few MiB) well within a second.
    let server = example
        .start(&[
            example.tick_flag,
            "10",
            "--pad-bytes",
            "65536",
            "--write-deadline-ms",
            "1000",
        ])
        .await;
    let warm = example.open(server.addr(), 0).await;
    tokio::time::sleep(example.warm_up).await;
    warm.assert_answered(example.marker.1);
    let baseline = server.rss();
    let peak = PeakRss::watch(server.pid(), Duration::from_millis(10));

    let stalled = example.zero_windows(server.addr(), STALLED).await;
    let readers = example.streams(server.addr(), READERS).await;
    let opened = Instant::now();
    // Every stalled reader is closed: at most the fill time plus the
    // deadline, give or take the load.
    let evicted = server.wait_for(EVICTED, STALLED, WAIT).await;
    let counts: Vec<u64> = readers.iter().map(Reader::bytes).collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The readers still receive, at the server's pace (6.4 MiB/s).
    for (reader, before) in readers.iter().zip(&counts) {
        reader.assert_answered(example.marker.1);
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
        "{}: {STALLED} zero-window readers beside {READERS} readers: all evicted {evicted:?} \
         after opening ({:?} ago); RSS {} KiB before, peak +{} KiB, +{} KiB after",
        example.label(),
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
        peak <= baseline + bound,
        "RSS {peak} against {baseline} + {bound}"
    );
}

/// SIGTERM with 1 000 partial heads, 20 zero windows (under the default
/// 30 s write deadline: still open at the shutdown) and 20 streams open:
/// the process exits successfully within a second, every stream ends and
/// every connection is closed.
pub async fn shutdown_takes_under_a_second_with_everything_open(example: &Example) {
    let _measuring = MEASURING.lock().await;
    const HEADS: usize = 1000;
    const STALLED: usize = 20;
    const STREAMS: usize = 20;
    ensure_nofile_limit(4 * (HEADS + STALLED + STREAMS) as u64);
    let mut server = example
        .start(&[example.tick_flag, "10", "--pad-bytes", "65536"])
        .await;
    let heads = partial_heads(server.addr(), HEADS, example.partial_head).await;
    let stalled = example.zero_windows(server.addr(), STALLED).await;
    let streams = example.streams(server.addr(), STREAMS).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(server.count(EVICTED), 0, "evicted before the shutdown");

    let (took, exit) = server.terminate_and_time(WAIT).await;
    let success = exit.success();
    println!(
        "{}: shutdown with {HEADS} partial heads, {STALLED} zero windows and {STREAMS} \
         streams: {took:?}",
        example.label()
    );
    assert!(success, "{:#?}", server.output());
    assert!(took < Duration::from_secs(1), "shutdown took {took:?}");
    for stream in streams {
        stream.assert_answered(example.marker.1);
        assert!(stream.ended_within(WAIT).await, "a stream did not end");
    }
    closed_within(heads, WAIT)
        .await
        .unwrap_or_else(|open| panic!("{open} partial heads still open after the exit"));
    closed_within(stalled, WAIT)
        .await
        .unwrap_or_else(|open| panic!("{open} zero windows still open after the exit"));
}

/// 1 000 event streams opened and dropped (after 100 to warm up): RSS
/// comes back within 2 MiB of its baseline, and the page is still served.
pub async fn stream_cycles_leave_rss_within_tolerance(example: &Example) {
    let _measuring = MEASURING.lock().await;
    const CYCLES: usize = 1000;
    const WARM_UP: usize = 100;
    // What RSS may keep above its baseline after the cycles: the
    // allocator's slack, not a stream's worth each (1000 streams of a few
    // KiB would be several MiB).
    const TOLERANCE: u64 = 2 << 20;
    let server = example.start(&[example.tick_flag, "10"]).await;

    // Opens and drops a stream for each of `range`; then waits until
    // each dropped stream is noticed and dropped.
    let cycles = |range: std::ops::Range<usize>, n: usize| {
        let (server, events, marker) = (&server, example.events, example.marker.0);
        stream_cycles(server, range, (events, marker), (example.dropped, n), WAIT)
    };

    cycles(0..WARM_UP, WARM_UP).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let baseline = server.rss();
    let started = Instant::now();
    cycles(WARM_UP..WARM_UP + CYCLES, WARM_UP + CYCLES).await;
    let took = started.elapsed();
    let (limit, every) = (baseline + TOLERANCE, Duration::from_millis(200));
    let after = server
        .rss_settled(limit, Duration::from_secs(3), every)
        .await;
    println!(
        "{}: {CYCLES} stream cycles in {took:?}: RSS {} KiB before, {:+} KiB after",
        example.label(),
        baseline >> 10,
        (after as i64 - baseline as i64) >> 10
    );
    assert!(
        after <= baseline + TOLERANCE,
        "RSS {after} against {baseline} + {TOLERANCE}"
    );
    // And the server still serves.
    assert_eq!(example.get(server.addr(), example.page.0).await.0, 200);
}
