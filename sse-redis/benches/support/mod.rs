//! What the Redis benches share: the smoke-run switch, timestamps carried
//! in events, percentiles, and the second OS process that subscribes.

use std::io::{BufRead, BufReader, Lines};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use ssekit_core::Event;

/// Set unless run by `cargo bench` (which passes `--bench`): a smoke run.
static QUICK: AtomicBool = AtomicBool::new(false);

/// A smoke run unless the arguments hold `--bench`, as `cargo bench`
/// passes (`cargo test --benches` does not).
pub(crate) fn quick_unless_bench() {
    QUICK.store(
        !std::env::args().any(|arg| arg == "--bench"),
        Ordering::Relaxed,
    );
}

/// `quick` in a smoke run, else `full`.
pub(crate) fn sized(quick: usize, full: usize) -> usize {
    if QUICK.load(Ordering::Relaxed) {
        quick
    } else {
        full
    }
}

/// Nanoseconds since the Unix epoch: one clock for every process here.
pub(crate) fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// The publish time an event's data carries.
pub(crate) fn published_at(event: &Event) -> u64 {
    let text = std::str::from_utf8(event.as_bytes()).expect("utf-8");
    text.lines()
        .find_map(|line| line.strip_prefix("data: "))
        .and_then(|n| n.parse().ok())
        .expect("a timestamp")
}

/// The `q` quantile of sorted nanoseconds, in microseconds.
pub(crate) fn quantile_us(sorted: &[u64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q) as usize] as f64 / 1000.0
}

/// This bench binary again, as the subscribing process: `var` set to
/// `spec`, started and waited for until it prints "ready".
pub(crate) struct Peer {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Peer {
    pub(crate) fn start(var: &str, spec: &str) -> Peer {
        let mut child = Command::new(std::env::current_exe().expect("this binary"))
            .env(var, spec)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the peer process");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let ready = tokio::task::block_in_place(|| lines.next());
        assert_eq!(ready.and_then(Result::ok).as_deref(), Some("ready"));
        Peer { child, lines }
    }

    /// The figures of the peer's last line, once it has exited.
    pub(crate) fn figures(mut self) -> Vec<f64> {
        let result = tokio::task::block_in_place(|| self.lines.next())
            .and_then(Result::ok)
            .expect("the peer's result");
        let _ = self.child.wait();
        result
            .split_whitespace()
            .map(|n| n.parse().expect("a figure"))
            .collect()
    }
}
