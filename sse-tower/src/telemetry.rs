//! What ssekit-tower reports: `tracing` events always, and with feature
//! `metrics` the figures below through the `metrics` facade.
//!
//! They are reported by the parts every serving path shares (the body, the
//! refusal answer, the write deadline), so `serve`, `http1`, a server of
//! your own and the frameworks' servers all report them. Nothing here
//! carries a request's URI, headers or a refusal's text: credentials live
//! there (a `?token=`, a cookie), and so do names the request chose.

use std::time::Duration;

/// Why an event stream ended: the `reason` label of
/// `sse_streams_closed_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EndReason {
    /// The stream ended (a broker subscription's lag cut-off included).
    End,
    /// The stream yielded an error.
    Error,
    /// The stream panicked.
    Panic,
    /// The `SseConfig::shutdown` signal fired.
    Shutdown,
    /// The body was dropped before its end: the client went away, a write
    /// deadline evicted it, or the server dropped it.
    Disconnect,
}

impl EndReason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EndReason::End => "end",
            EndReason::Error => "error",
            EndReason::Panic => "panic",
            EndReason::Shutdown => "shutdown",
            EndReason::Disconnect => "disconnect",
        }
    }
}

/// An event stream's body was made: `sse_streams_open` rises.
pub(crate) fn stream_opened() {
    #[cfg(feature = "metrics")]
    ::metrics::gauge!("sse_streams_open").increment(1.0);
}

/// An event stream ended: `sse_streams_open` falls, and
/// `sse_streams_closed_total{reason}` counts it.
pub(crate) fn stream_closed(reason: EndReason) {
    tracing::debug!(reason = reason.as_str(), "SSE stream ended");
    #[cfg(feature = "metrics")]
    {
        ::metrics::gauge!("sse_streams_open").decrement(1.0);
        ::metrics::counter!("sse_streams_closed_total", "reason" => reason.as_str()).increment(1);
    }
}

/// An event stream was taken back from its body (`SseBody::into_inner`):
/// no longer served, not closed.
pub(crate) fn stream_released() {
    #[cfg(feature = "metrics")]
    ::metrics::gauge!("sse_streams_open").decrement(1.0);
}

/// A subscription was refused and answered with `status`: one log line
/// (`info` if it passes, `debug` if final) and `sse_refusals_total{kind}`.
pub(crate) fn refused(kind: &'static str, status: http::StatusCode, passes: bool) {
    let status = status.as_u16();
    if passes {
        tracing::info!(
            kind,
            status,
            "SSE subscription refused; the client will retry"
        );
    } else {
        tracing::debug!(kind, status, "SSE subscription refused");
    }
    #[cfg(feature = "metrics")]
    ::metrics::counter!("sse_refusals_total", "kind" => kind).increment(1);
}

/// A write deadline passed: the connection is evicted.
pub(crate) fn evicted(deadline: Duration) {
    tracing::info!(
        ?deadline,
        "the peer stopped reading; write deadline passed, closing the connection"
    );
    #[cfg(feature = "metrics")]
    ::metrics::counter!("sse_write_deadline_evictions_total").increment(1);
}

/// A write deadline passed on one HTTP/2 stream: the stream is reset, its
/// connection goes on. Counted with the connections evicted.
#[cfg(feature = "tls")]
pub(crate) fn evicted_stream(deadline: Duration) {
    tracing::info!(
        ?deadline,
        "the peer stopped reading this stream; write deadline passed, resetting the HTTP/2 stream"
    );
    #[cfg(feature = "metrics")]
    ::metrics::counter!("sse_write_deadline_evictions_total").increment(1);
}
