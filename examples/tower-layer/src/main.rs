//! The smallest complete use of `ssekit-tower`: tower services and a
//! server, no web framework.
//!
//! - `/` serves a small HTML page whose `EventSource` lists the events, and
//!   `/live-stream.js` the script that keeps it connected and says so;
//! - `/events` is an ordinary service that answers with a *stream of events*
//!   (a counter, one event per second, or every `--tick-ms`; with
//!   `--pad-bytes N` each after an SSE comment of N bytes that browsers
//!   ignore, for load and hostile tests that must fill buffers);
//!   `SseLayer` turns it into a proper event stream response (headers,
//!   flushing, keep-alive, `Last-Event-ID`).
//!
//! The service is served by `ssekit_tower::serve` (HTTP/1.1): hyper answers
//! each request, and an event stream's socket is taken back from hyper once
//! its head is written, so an idle stream holds a few KB instead of hyper's
//! buffers (`docs/BENCHMARKS.md`); a request head must arrive within 10 s
//! (`--header-read-timeout-ms`) and a write that makes no progress for
//! 30 s (`--write-deadline-ms`) closes its connection.
//!
//! With `--hyper-util` the same service runs on a plain hyper-util server
//! instead (HTTP/1.1 and HTTP/2, hyper's buffers for every connection's
//! whole life), with the same two deadlines: `SseLayer` needs nothing more
//! than any hyper server.
//!
//! Either way Ctrl-C or SIGTERM cancels one `CancellationToken`: every
//! open stream sends its own draw of the shutdown retry and a last
//! `shutdown` event, and ends; the server's graceful shutdown completes
//! (what is still open 500 ms later, such as a half-sent request head or
//! a client that stopped reading, is closed) and
//! the pages reconnect, spread out, to whatever listens next (with
//! `--reuse-port`, a new process can listen on the same port first).
//!
//! Run: `cargo run -p tower-layer-example -- --addr 127.0.0.1:3000 [--hyper-util]`

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use ssekit_core::Event;
use ssekit_tower::{LastEventId, Shutdown, SseLayer, WriteDeadline};
use tokio::net::TcpListener;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::IntervalStream;
use tokio_util::sync::CancellationToken;
use tower::{ServiceBuilder, ServiceExt};

const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>ssekit-tower counter</title>
<h1>Events from <code>/events</code></h1>
<p><span id="status">connecting…</span>
  <button id="reconnect" type="button" hidden>Reconnect</button></p>
<ul id="events"></ul>
<script src="/live-stream.js"></script>
<script>
  "use strict";
  const list = document.getElementById("events");
  const show = (text) => {
    const item = document.createElement("li");
    item.textContent = text;
    list.prepend(item);
  };
  // A stream that ends (the server shutting down, after its `shutdown`
  // event) is reopened by the browser with Last-Event-ID after the retry
  // the server asked for; the counter resumes after the last tick.
  liveStream("/events", {
    status: document.getElementById("status"),
    reconnect: document.getElementById("reconnect"),
    events: {
      tick: (e) => show(`tick ${e.data} (id ${e.lastEventId})`),
      shutdown: () => show("server shutting down"),
    },
  });
</script>
"#;

type Body = UnsyncBoxBody<Bytes, Infallible>;

/// How long the server waits for a request head unless
/// `--header-read-timeout-ms` says otherwise, as `ssekit_tower::serve`
/// does by default.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a write may make no progress before the server closes its
/// connection unless `--write-deadline-ms` says otherwise, as
/// `ssekit_tower::serve` does by default.
const WRITE_DEADLINE: Duration = Duration::from_secs(30);
/// The counter's pace unless `--tick-ms` says otherwise.
const TICK: Duration = Duration::from_secs(1);

/// How the counter ticks: every `every`, each event after a comment of
/// `padding` unless it is empty.
#[derive(Clone)]
struct Ticks {
    every: Duration,
    padding: std::sync::Arc<str>,
}

/// The existing service: a counter stream, resuming after `Last-Event-ID`.
async fn counter(
    ticks: Ticks,
    request: Request<Incoming>,
) -> Result<Response<impl tokio_stream::Stream<Item = Event>>, Infallible> {
    // `SseLayer` read the header, or else the `lastEventId` query parameter
    // that a page's new `EventSource` sends.
    let start = match request.extensions().get::<LastEventId>() {
        Some(LastEventId::Present(id)) => id
            .parse::<u64>()
            .ok()
            .and_then(|id| id.checked_add(1))
            .unwrap_or(0),
        _ => 0,
    };
    tracing::info!(start, "event stream opened");
    let Ticks { every, padding } = ticks;
    let ticks = IntervalStream::new(tokio::time::interval(every));
    let mut next = start;
    let events = ticks.map(move |_| {
        let n = next;
        next = next.saturating_add(1);
        let mut event = Event::builder();
        if !padding.is_empty() {
            event = event.comment(&*padding);
        }
        event
            .event("tick")
            .id(n.to_string())
            .data(n.to_string())
            .build()
            .expect("a number is a valid id and data")
    });
    Ok(Response::new(events))
}

/// The status, notice and #reconnect that every example page shares.
const LIVE_STREAM_JS: &str = include_str!("../../shared/live-stream.js");

/// `GET /`: the page.
fn page() -> Response<Body> {
    file(PAGE, "text/html; charset=utf-8")
}

/// `GET /live-stream.js`: the script the page keeps its stream with.
fn live_stream_js() -> Response<Body> {
    file(LIVE_STREAM_JS, "text/javascript; charset=utf-8")
}

/// `200 OK` with `body` as `content_type`.
fn file(body: &'static str, content_type: &'static str) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())).boxed_unsync());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}

fn not_found() -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from_static(b"not found\n")).boxed_unsync());
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = parse_args()?;

    let shutdown = CancellationToken::new();
    // No `retry:` of its own: `Shutdown` sends each stream its own draw
    // (1 s plus up to 4 s), so that the pages come back spread out.
    let bye = Event::builder().event("shutdown").data("").build()?;
    let events = ServiceBuilder::new()
        .layer(
            SseLayer::new()
                .shutdown(Shutdown::new(shutdown.clone()).final_event(bye))
                .on_disconnect(|| tracing::info!("client disconnected")),
        )
        .service_fn({
            let ticks = Ticks {
                every: args.tick,
                padding: "x".repeat(args.pad_bytes).into(),
            };
            move |request| counter(ticks.clone(), request)
        });

    let app = tower::service_fn(move |request: Request<Incoming>| {
        let events = events.clone();
        async move {
            let response = match request.uri().path() {
                "/" => page(),
                "/live-stream.js" => live_stream_js(),
                "/events" => events
                    .oneshot(request)
                    .await?
                    .map(|body| body.boxed_unsync()),
                _ => not_found(),
            };
            Ok::<_, Infallible>(response)
        }
    });

    let mut listener = if args.reuse_port {
        ssekit_tower::serve::bind_reuse_port(args.addr)?
    } else {
        TcpListener::bind(args.addr).await?
    };
    println!("listening on http://{}", listener.local_addr()?);

    let signal = shutdown.clone();
    tokio::spawn(async move {
        ssekit_tower::serve::shutdown_signal().await;
        signal.cancel();
    });

    if !args.hyper_util {
        // HTTP/1.1, event streams handed off from hyper after their head;
        // once this returns, every connection is closed.
        ssekit_tower::serve(listener, app)
            .header_read_timeout(args.header_read_timeout)
            .write_deadline(args.write_deadline)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await?;
        tracing::info!("all connections closed");
        return Ok(());
    }

    // A plain hyper-util server, HTTP/1.1 and HTTP/2, with the same
    // deadlines as `serve`: a request head within 10 s, and a write that
    // makes no progress for 30 s closes its connection (or as the flags
    // say).
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(args.header_read_timeout);
    loop {
        tokio::select! {
            // Backs off after EMFILE instead of spinning.
            (tcp, peer) = ssekit_tower::serve::accept(&mut listener) => {
                tracing::debug!(%peer, "connection");
                let _ = tcp.set_nodelay(true);
                let io = TokioIo::new(WriteDeadline::new(tcp, args.write_deadline));
                let connection = builder
                    .serve_connection(io, TowerToHyperService::new(app.clone()))
                    .into_owned();
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(error) = connection.await {
                        tracing::debug!(%error, "connection ended with an error");
                    }
                });
            }
            () = shutdown.cancelled() => break,
        }
    }
    drop(listener);
    closed_within_grace(graceful.shutdown()).await;
    Ok(())
}

/// How long the `--hyper-util` server's graceful shutdown waits for its
/// connections, as `ssekit_tower::serve` does by default. Not longer:
/// hyper counts a connection whose request head is half read as busy, and
/// waits for the rest of it (or the head timeout); a client that stopped
/// reading holds its connection until the write deadline. Every stream
/// ends at once on shutdown, so the grace is only theirs.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

/// Waits for `all_closed`, at most [`SHUTDOWN_GRACE`], and says which it
/// was; returning then drops what is still open.
async fn closed_within_grace(all_closed: impl Future<Output = ()>) {
    match tokio::time::timeout(SHUTDOWN_GRACE, all_closed).await {
        Ok(()) => tracing::info!("all connections closed"),
        Err(_) => tracing::info!(
            grace = ?SHUTDOWN_GRACE,
            "connections still open after the grace (half-sent heads, stalled readers); closing them"
        ),
    }
}

/// The command line.
struct Args {
    addr: SocketAddr,
    hyper_util: bool,
    reuse_port: bool,
    header_read_timeout: Duration,
    write_deadline: Duration,
    tick: Duration,
    pad_bytes: usize,
}

/// What `--help` prints.
const USAGE: &str = "\
usage: tower-layer [--addr HOST:PORT] [--hyper-util] [--reuse-port]
                   [--header-read-timeout-ms MS] [--write-deadline-ms MS]
                   [--tick-ms MS] [--pad-bytes N]

Serves a counter as server-sent events (`/events`) and a page that shows
them (`/`), through `ssekit_tower::serve`: HTTP/1.1, each event stream
handed off from hyper after its head. Ctrl-C or SIGTERM ends every stream
with a `shutdown` event and shuts down gracefully.

  --addr HOST:PORT  the address to listen on (default 127.0.0.1:3000)
  --hyper-util      serve on a plain hyper-util server instead (HTTP/1.1
                    and HTTP/2, hyper's buffers for each connection's life)
  --reuse-port      listen with SO_REUSEPORT, so that a new process can
                    start on the same address before this one stops
  --header-read-timeout-ms MS
                    close a connection whose request head has not arrived
                    within MS (default 10000, at most 600000)
  --write-deadline-ms MS
                    close a connection whose writes make no progress for
                    MS (default 30000, at most 600000)
  --tick-ms MS      the counter's pace (default 1000, at most 3600000)
  --pad-bytes N     send each tick after an SSE comment of N bytes, which
                    browsers ignore: for load tests that must fill buffers
                    (default 0, at most 1048576)
  -h, --help        print this help
";

/// `--addr HOST:PORT` (default `127.0.0.1:3000`), `--hyper-util`,
/// `--reuse-port`, the numbers of [`USAGE`] (each bounded; `--name=value`
/// works too) and `--help` (which prints [`USAGE`] and exits).
fn parse_args() -> Result<Args, Box<dyn std::error::Error + Send + Sync>> {
    let mut args = std::env::args().skip(1);
    let mut addr = "127.0.0.1:3000".to_owned();
    let mut hyper_util = false;
    let mut reuse_port = false;
    let mut header_read_timeout = HEADER_READ_TIMEOUT;
    let mut write_deadline = WRITE_DEADLINE;
    let mut tick = TICK;
    let mut pad_bytes = 0;
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, Some(value.to_owned())),
            _ => (arg.as_str(), None),
        };
        let mut value = |what: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs {what}"))
        };
        match name {
            "--addr" => addr = value("HOST:PORT")?,
            "--header-read-timeout-ms" => {
                header_read_timeout = millis(name, &value("MS")?, 600_000)?;
            }
            "--write-deadline-ms" => write_deadline = millis(name, &value("MS")?, 600_000)?,
            "--tick-ms" => tick = millis(name, &value("MS")?, 3_600_000)?,
            "--pad-bytes" => pad_bytes = number(name, &value("N")?, 0, 1 << 20)? as usize,
            "--hyper-util" | "--reuse-port" if inline.is_some() => {
                return Err(format!("{name} takes no value").into());
            }
            "--hyper-util" => hyper_util = true,
            "--reuse-port" => reuse_port = true,
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            _ => {
                return Err(format!("unknown argument {arg:?}; see tower-layer --help").into());
            }
        }
    }
    Ok(Args {
        addr: addr.parse()?,
        hyper_util,
        reuse_port,
        header_read_timeout,
        write_deadline,
        tick,
        pad_bytes,
    })
}

/// `value` as a number from `min` to `max`, for flag `name`.
fn number(name: &str, value: &str, min: u64, max: u64) -> Result<u64, String> {
    value
        .parse()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| format!("{name} takes a number from {min} to {max}, not {value:?}"))
}

/// `value` as milliseconds from 1 to `max`, for flag `name`.
fn millis(name: &str, value: &str, max: u64) -> Result<Duration, String> {
    number(name, value, 1, max).map(Duration::from_millis)
}
