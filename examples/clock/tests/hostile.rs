//! The clock binary against hostile clients, over real loopback sockets:
//! partial request heads, event stream readers whose receive window is
//! zero, a shutdown with all of it open, and a thousand streams opened and
//! dropped. The clock has no write path of its own, so these are its whole
//! attack surface. The scenarios are `sse_test_support::example_suite`'s,
//! shared with the other examples; each test starts its own clock, with
//! short timings by flag where it needs them, and with `--every-ms` and
//! `--pad-bytes` where its streams must fill buffers in test time.

use std::time::Duration;

use sse_test_support::example_suite::{self, Example};

/// The clock, as the shared scenarios run it.
const CLOCK: Example = Example {
    binary: env!("CARGO_BIN_EXE_clock"),
    mode: &[],
    listening: "clock listening on http://",
    host: "clock",
    tick_flag: "--every-ms",
    events: b"GET /events HTTP/1.1\r\nhost: clock\r\n\r\n",
    partial_head: b"GET /events HTTP/1.1\r\nhost: clock\r\nuser-agent: sl",
    // How each broadcast's data starts.
    marker: (b"data: Message: ", "broadcast"),
    page: ("/", &["<html", "<!doctype"]),
    // Logged as each dropped stream's subscription is removed.
    dropped: "Removed client",
    // The topic's history fills to its 16 MiB cap first (256 broadcasts
    // of 64 KiB, 2.6 s), so that the baseline holds it.
    warm_up: Duration::from_millis(3000),
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_partial_heads_are_closed_within_the_head_timeout() {
    example_suite::partial_heads_are_closed_within_the_head_timeout(&CLOCK).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_window_readers_are_closed_by_the_write_deadline_and_readers_keep_receiving() {
    // What the clock's RSS may grow by while the stalled readers are open
    // and after (their buffers are the kernel's; the process holds a
    // connection's state and at most one frame each).
    example_suite::zero_window_readers_are_closed_by_the_write_deadline(&CLOCK, 16 << 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_takes_under_a_second_with_heads_zero_windows_and_streams_open() {
    example_suite::shutdown_takes_under_a_second_with_everything_open(&CLOCK).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_stream_connect_disconnect_cycles_leave_rss_within_tolerance() {
    example_suite::stream_cycles_leave_rss_within_tolerance(&CLOCK).await;
}
