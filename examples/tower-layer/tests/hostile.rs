//! The tower-layer binary against hostile clients, over real loopback
//! sockets: partial request heads, event stream readers whose receive
//! window is zero, a shutdown with all of it open, and a thousand streams
//! opened and dropped. The example has no write path of its own, so these
//! are its whole attack surface. Each rule runs against
//! `ssekit_tower::serve` (the default) and, where named so, the
//! `--hyper-util` server.
//!
//! The scenarios are `sse_test_support::example_suite`'s, shared with the
//! other examples; each test starts its own server, with short timings by
//! flag where it needs them, and with `--tick-ms` and `--pad-bytes` where
//! its streams must fill buffers in test time.

use std::time::Duration;

use sse_test_support::example_suite::{self, Example};

/// The example in its default serving mode, `ssekit_tower::serve`.
const SERVE: Example = Example {
    binary: env!("CARGO_BIN_EXE_tower-layer"),
    mode: &[],
    listening: "listening on http://",
    host: "tower-layer",
    tick_flag: "--tick-ms",
    events: b"GET /events HTTP/1.1\r\nhost: tower-layer\r\n\r\n",
    partial_head: b"GET /events HTTP/1.1\r\nhost: tower-layer\r\nuser-agent: sl",
    // How each tick starts.
    marker: (b"event: tick", "tick"),
    page: ("/", &["EventSource", "liveStream"]),
    dropped: "client disconnected",
    warm_up: Duration::from_millis(500),
};

/// The example on the plain hyper-util server.
const HYPER_UTIL: Example = Example {
    mode: &["--hyper-util"],
    ..SERVE
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_partial_heads_are_closed_within_the_head_timeout() {
    example_suite::partial_heads_are_closed_within_the_head_timeout(&SERVE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_hyper_util_a_thousand_partial_heads_are_closed_within_the_head_timeout() {
    example_suite::partial_heads_are_closed_within_the_head_timeout(&HYPER_UTIL).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_window_readers_are_closed_by_the_write_deadline_and_readers_keep_receiving() {
    // The stalled streams' buffers are the kernel's; the process holds a
    // connection's state and at most a frame or two each.
    example_suite::zero_window_readers_are_closed_by_the_write_deadline(&SERVE, 16 << 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_hyper_util_zero_window_readers_are_closed_by_the_write_deadline() {
    // hyper buffers up to about 400 KiB a connection before it stops
    // polling the body.
    example_suite::zero_window_readers_are_closed_by_the_write_deadline(&HYPER_UTIL, 32 << 20)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_takes_under_a_second_with_heads_zero_windows_and_streams_open() {
    example_suite::shutdown_takes_under_a_second_with_everything_open(&SERVE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_hyper_util_shutdown_takes_under_a_second_with_heads_zero_windows_and_streams_open() {
    // hyper waits for a half-read head, and the write deadline for a
    // stalled reader: the example's 500 ms grace closes both.
    example_suite::shutdown_takes_under_a_second_with_everything_open(&HYPER_UTIL).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_stream_connect_disconnect_cycles_leave_rss_within_tolerance() {
    example_suite::stream_cycles_leave_rss_within_tolerance(&SERVE).await;
}
