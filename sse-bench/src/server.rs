//! The `serve` subcommand: one server in its own process, driven over
//! stdin/stdout by the parent.
//!
//! Protocol (one line each way):
//! - the server prints `listening <port>` once it accepts connections;
//! - `publish <rate> <size> <millis>`: publishes at `rate` events/s for
//!   `millis` ms, events of `size` bytes of data; answers `start <seq>
//!   <micros>` (the first sequence number, and when publishing starts, µs
//!   since the epoch) at once and `done <count>` at the end;
//! - `connections`: answers `connections <open> <closed> <micros>`, the
//!   connections open now, those closed so far, and when the last one
//!   closed;
//! - `quit` (or the end of stdin): exits.

use std::convert::Infallible;
use std::io::IoSlice;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use futures_util::StreamExt;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use ssekit_axum::{LastEventId, SseResponse};
use ssekit_core::broker::{Broker, TopicConfig};
use ssekit_tower::WriteDeadline;
use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, ReadBuf,
};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

use crate::client::now_micros;

/// The topic every "ours" client follows.
const TOPIC: &str = "bench";

/// Which server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub(crate) enum Kind {
    /// A broker topic served through `ssekit-axum`.
    Ours,
    /// axum's `Sse` over `BroadcastStream` of a `broadcast::channel(1024)`.
    Reference,
}

impl Kind {
    /// The command-line spelling, also the name in the output.
    pub(crate) fn arg(self) -> &'static str {
        match self {
            Kind::Ours => "ours",
            Kind::Reference => "reference",
        }
    }
}

/// How a server is served. Every choice shares one accept loop
/// ([`BenchListener`]: `TCP_NODELAY` on each accepted socket, the same
/// back-off on accept errors); only the HTTP/1 connection builder differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Conn {
    /// `axum::serve` (hyper-util's auto builder, as the chat example and
    /// most axum applications serve).
    AxumServe,
    /// hyper's `http1::Builder` directly (no HTTP/2 sniff buffer), write
    /// strategy left to hyper (`writev` where the socket supports it).
    Http1,
    /// The same with `writev(false)`: frames are copied into one flat
    /// write buffer.
    Http1Flat,
    /// hyper's `http1::Builder` through `ssekit_tower::http1::serve_connection`:
    /// an event stream's socket is taken back from hyper after its head.
    Http1Handoff,
    /// Not a server but the floor under every server, for the latency
    /// phase (`--only-latency`): no broker, no HTTP beyond reading the
    /// request's end and writing a fixed head, no task per connection. The
    /// publisher encodes each event once and writes it into every socket
    /// itself, one `write(2)` per socket. Whatever any server does per event
    /// and connection, it does at least this.
    Floor,
}

impl Conn {
    /// The command-line spelling.
    pub(crate) fn arg(self) -> &'static str {
        match self {
            Conn::AxumServe => "axum-serve",
            Conn::Http1 => "http1",
            Conn::Http1Flat => "http1-flat",
            Conn::Http1Handoff => "http1-handoff",
            Conn::Floor => "floor",
        }
    }
}

/// How one server process is set up.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Setup {
    pub kind: Kind,
    pub http: Conn,
    /// `WriteDeadline` around each accepted socket (`None`: plain socket).
    pub write_deadline: Option<Duration>,
    /// The topic's history in events (ours); `None`: the broker's default.
    pub history: Option<usize>,
    /// `SO_SNDBUF` set on the listening socket (accepted sockets inherit
    /// it); `None` leaves the kernel's default and autotuning.
    pub send_buffer: Option<u32>,
}

#[derive(Clone)]
enum Feed {
    Ours(Broker),
    Reference(broadcast::Sender<axum::response::sse::Event>),
    /// The floor's sockets, written by the publisher itself.
    Floor(Arc<std::sync::Mutex<Vec<FloorSocket>>>),
}

/// A socket of the floor, counted open until dropped.
struct FloorSocket {
    socket: std::net::TcpStream,
    _open: OpenGuard,
}

/// The history's byte bound per event of `--ours-history`.
const HISTORY_BYTES_PER_EVENT: usize = 256;

/// The longest a server process runs: a bound on its command loop (and so
/// on its accept loop), should the parent never say `quit`.
const LIFETIME: Duration = Duration::from_secs(6 * 3600);

/// Runs the server until `quit` (or the end of stdin, or [`LIFETIME`]).
pub(crate) async fn serve(setup: Setup) -> std::io::Result<()> {
    let listener = bind(setup.send_buffer)?;
    let port = listener.local_addr()?.port();
    let connections = Arc::new(Connections::default());
    let listener = BenchListener {
        inner: listener,
        write_deadline: setup.write_deadline,
        connections: Arc::clone(&connections),
    };
    let floor = Arc::default();
    let feed = match setup.kind {
        _ if setup.http == Conn::Floor => Feed::Floor(Arc::clone(&floor)),
        Kind::Ours => Feed::Ours(match setup.history {
            // Bound by count: `HISTORY_BYTES_PER_EVENT` is more than a 100-B
            // event takes, and bounds the bytes should 4 KiB events fill it.
            Some(events) => Broker::builder()
                .defaults(
                    TopicConfig::new()
                        .max_events(events)
                        .max_bytes(events.saturating_mul(HISTORY_BYTES_PER_EVENT)),
                )
                .build(),
            None => Broker::new(),
        }),
        // Capacity 1024, as the issue specifies.
        Kind::Reference => Feed::Reference(broadcast::channel(1024).0),
    };
    let app = match setup.kind {
        Kind::Ours => Router::new().route("/events", get(ours_events)),
        Kind::Reference => Router::new().route("/events", get(reference_events)),
    }
    .with_state(feed.clone());
    let server = match setup.http {
        Conn::AxumServe => tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "server failed");
            }
        }),
        Conn::Http1 => tokio::spawn(serve_http1(listener, app, true)),
        Conn::Http1Flat => tokio::spawn(serve_http1(listener, app, false)),
        Conn::Http1Handoff => tokio::spawn(serve_http1_handoff(listener, app)),
        Conn::Floor => tokio::spawn(serve_floor(listener, floor)),
    };

    let mut stdout = tokio::io::stdout();
    stdout
        .write_all(format!("listening {port}\n").as_bytes())
        .await?;
    stdout.flush().await?;
    let commands = commands(&feed, &connections, &mut stdout);
    let result = match tokio::time::timeout(LIFETIME, commands).await {
        Ok(result) => result,
        Err(_) => {
            tracing::warn!(
                ?LIFETIME,
                "the server ran for its longest lifetime; exiting"
            );
            Ok(())
        }
    };
    server.abort();
    result
}

/// Binds 127.0.0.1 on a free port, with `SO_SNDBUF` if asked.
fn bind(send_buffer: Option<u32>) -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    if let Some(size) = send_buffer {
        socket.set_send_buffer_size(size)?;
    }
    socket.bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    socket.listen(4096)
}

/// The command loop on stdin (see the module docs).
async fn commands(
    feed: &Feed,
    connections: &Connections,
    stdout: &mut tokio::io::Stdout,
) -> std::io::Result<()> {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut next_seq: u64 = 1;
    while let Some(line) = lines.next_line().await? {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["publish", rate, size, millis] => {
                let (Ok(rate), Ok(size), Ok(millis)) = (
                    rate.parse::<f64>(),
                    size.parse::<usize>(),
                    millis.parse::<u64>(),
                ) else {
                    tracing::warn!(%line, "bad command");
                    continue;
                };
                stdout
                    .write_all(format!("start {next_seq} {}\n", now_micros()).as_bytes())
                    .await?;
                stdout.flush().await?;
                let count = publish(feed, rate, size, millis, next_seq).await;
                next_seq += count;
                stdout
                    .write_all(format!("done {count}\n").as_bytes())
                    .await?;
                stdout.flush().await?;
            }
            ["connections"] => {
                let reply = format!(
                    "connections {} {} {}\n",
                    connections.open.load(Ordering::Relaxed),
                    connections.closed.load(Ordering::Relaxed),
                    connections.last_close_micros.load(Ordering::Relaxed),
                );
                stdout.write_all(reply.as_bytes()).await?;
                stdout.flush().await?;
            }
            ["quit"] => break,
            _ => tracing::warn!(%line, "unknown command"),
        }
    }
    Ok(())
}

/// A publisher's clock: once a millisecond, how many of `total` events
/// sent at `rate` per second over `length` are due by now (all of them once
/// `length` has passed). Shared by the in-process publisher and the
/// external mode's poster.
pub(crate) struct Pace {
    start: Instant,
    ticker: tokio::time::Interval,
    rate: f64,
    length: Duration,
    total: u64,
}

impl Pace {
    /// Starts the clock now.
    pub(crate) fn new(rate: f64, length: Duration, total: u64) -> Pace {
        let mut ticker = tokio::time::interval(Duration::from_millis(1));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        Pace {
            start: Instant::now(),
            ticker,
            rate,
            length,
            total,
        }
    }

    /// Waits for the next millisecond tick; the events due by then.
    pub(crate) async fn tick(&mut self) -> u64 {
        self.ticker.tick().await;
        let elapsed = self.start.elapsed();
        if elapsed >= self.length {
            self.total
        } else {
            ((self.rate * elapsed.as_secs_f64()) as u64).min(self.total)
        }
    }
}

/// Publishes at `rate` events/s for `millis` ms: every millisecond, the
/// events due by then, each with its sequence number and publish time.
async fn publish(feed: &Feed, rate: f64, size: usize, millis: u64, first: u64) -> u64 {
    let total = (rate * millis as f64 / 1000.0).round() as u64;
    let mut pace = Pace::new(rate, Duration::from_millis(millis), total);
    let mut sent = 0u64;
    while sent < total {
        let due = pace.tick().await;
        while sent < due {
            let data = payload(first + sent, size);
            match feed {
                Feed::Ours(broker) => {
                    if let Err(error) = broker
                        .publish(TOPIC, ssekit_core::Event::data(data.as_str()))
                        .await
                    {
                        tracing::error!(%error, "publish failed");
                    }
                }
                Feed::Reference(sender) => {
                    // No receiver is not an error for a broadcaster.
                    let _ = sender.send(axum::response::sse::Event::default().data(data));
                }
                Feed::Floor(sockets) => write_floor(sockets, &data),
            }
            sent += 1;
        }
    }
    total
}

/// The data of a bench event: `{seq} {publish time, µs since the epoch} `
/// padded with `x` to `size` bytes.
fn payload(seq: u64, size: usize) -> String {
    let mut data = format!("{seq} {} ", now_micros());
    if data.len() < size {
        data.extend(std::iter::repeat_n('x', size - data.len()));
    }
    data
}

/// Ours: a broker topic through `ssekit-axum`, as the chat example serves a room.
async fn ours_events(
    State(feed): State<Feed>,
    last_event_id: LastEventId,
) -> axum::response::Response {
    let Feed::Ours(broker) = feed else {
        return axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    match SseResponse::subscribe(&broker, &[TOPIC], &last_event_id).await {
        Ok(response) => response.into_response(),
        Err(_) => axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// The reference: axum's `Sse` over `BroadcastStream`, lagged errors
/// dropped, as most axum broadcasters are written.
async fn reference_events(State(feed): State<Feed>) -> axum::response::Response {
    let Feed::Reference(sender) = feed else {
        return axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let stream = BroadcastStream::new(sender.subscribe())
        .filter_map(|item| std::future::ready(item.ok().map(Ok::<_, Infallible>)));
    axum::response::sse::Sse::new(stream)
        .keep_alive(axum::response::sse::KeepAlive::default())
        .into_response()
}

/// Serves `app` with hyper's HTTP/1 connection builder, one task per
/// connection; `writev: false` forces hyper's flat write buffer.
async fn serve_http1(mut listener: BenchListener, app: Router, writev: bool) {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new());
    if !writev {
        builder.writev(false);
    }
    // Runs until the server task is aborted (at `quit`, or at `LIFETIME`).
    loop {
        let (io, _) = listener.accept_io().await;
        let service = TowerToHyperService::new(app.clone());
        let connection = builder.serve_connection(TokioIo::new(io), service);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended");
            }
        });
    }
}

async fn serve_http1_handoff(mut listener: BenchListener, app: Router) {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new());
    // Runs until the server task is aborted (at `quit`, or at `LIFETIME`).
    loop {
        let (io, _) = listener.accept_io().await;
        let connection = ssekit_tower::http1::serve_connection(&builder, io, app.clone());
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended");
            }
        });
    }
}

/// The floor's accept loop: reads each request to its end, writes a fixed
/// close-delimited head and hands the socket to the publisher.
async fn serve_floor(
    mut listener: BenchListener,
    sockets: Arc<std::sync::Mutex<Vec<FloorSocket>>>,
) {
    const HEAD: &[u8] =
        b"HTTP/1.0 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n\r\n";
    // Runs until the server task is aborted (at `quit`, or at `LIFETIME`).
    loop {
        let (mut socket, _, open) = listener.accept_socket().await;
        let sockets = Arc::clone(&sockets);
        tokio::spawn(async move {
            let mut request = Vec::with_capacity(512);
            // Bounded: a request head longer than 8 KiB is refused.
            while memchr::memmem::find(&request, b"\r\n\r\n").is_none() {
                if request.len() > 8192
                    || matches!(socket.read_buf(&mut request).await, Ok(0) | Err(_))
                {
                    return;
                }
            }
            if socket.write_all(HEAD).await.is_err() {
                return;
            }
            match socket.into_std() {
                Ok(socket) => sockets
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .push(FloorSocket {
                        socket,
                        _open: open,
                    }),
                Err(error) => tracing::warn!(%error, "floor: no std socket"),
            }
        });
    }
}

/// The floor's publish: one encoding, then one non-blocking `write(2)` per
/// socket, in the publisher's own task (two threads writing halves did no
/// better). A socket that takes less than the whole event (full, or closed)
/// is dropped and counted: at the latency phase's rate none should be.
fn write_floor(sockets: &std::sync::Mutex<Vec<FloorSocket>>, data: &str) {
    use std::io::Write as _;
    let frame = format!("data: {data}\n\n");
    let frame = frame.as_bytes();
    let mut sockets = sockets
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let before = sockets.len();
    sockets.retain_mut(|s| matches!(s.socket.write(frame), Ok(n) if n == frame.len()));
    if sockets.len() < before {
        tracing::warn!(
            dropped = before - sockets.len(),
            "floor: sockets that took less than an event"
        );
    }
}

/// Open and closed connections, for the stall scenario: the parent asks
/// with `connections`.
#[derive(Default)]
struct Connections {
    open: AtomicUsize,
    closed: AtomicU64,
    /// When the last connection closed, µs since the epoch.
    last_close_micros: AtomicU64,
}

/// Counts a connection open until dropped.
struct OpenGuard(Arc<Connections>);

impl OpenGuard {
    fn new(connections: Arc<Connections>) -> Self {
        connections.open.fetch_add(1, Ordering::Relaxed);
        OpenGuard(connections)
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
        self.0.closed.fetch_add(1, Ordering::Relaxed);
        self.0
            .last_close_micros
            .fetch_max(now_micros(), Ordering::Relaxed);
    }
}

/// The one accept loop of every server: `TCP_NODELAY` on each socket (SSE
/// events are small writes that must not wait for Nagle), a
/// [`WriteDeadline`] around it for "ours" (unless disabled), and a 10 ms
/// pause after an accept error (out of descriptors, most likely) instead of
/// a spin.
struct BenchListener {
    inner: TcpListener,
    write_deadline: Option<Duration>,
    connections: Arc<Connections>,
}

impl BenchListener {
    async fn accept_io(&mut self) -> (ServerIo, SocketAddr) {
        let (socket, addr, open) = self.accept_socket().await;
        let io = match self.write_deadline {
            Some(deadline) => Io::Deadline(WriteDeadline::new(socket, deadline)),
            None => Io::Plain(socket),
        };
        (ServerIo { io, _open: open }, addr)
    }

    /// The next accepted socket with `TCP_NODELAY` set, counted open.
    async fn accept_socket(&mut self) -> (TcpStream, SocketAddr, OpenGuard) {
        // Ends when a connection is accepted; each failure waits 10 ms.
        loop {
            match self.inner.accept().await {
                Ok((socket, addr)) => {
                    let _ = socket.set_nodelay(true);
                    let open = OpenGuard::new(Arc::clone(&self.connections));
                    return (socket, addr, open);
                }
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }
}

impl axum::serve::Listener for BenchListener {
    type Io = ServerIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (ServerIo, SocketAddr) {
        self.accept_io().await
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// An accepted socket, with or without a write deadline.
enum Io {
    Plain(TcpStream),
    Deadline(WriteDeadline<TcpStream>),
}

/// What every server serves a connection over: the socket, counted open
/// until hyper drops it.
pub(crate) struct ServerIo {
    io: Io,
    _open: OpenGuard,
}

impl AsyncRead for ServerIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(io) => Pin::new(io).poll_read(cx, buf),
            Io::Deadline(io) => Pin::new(io).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ServerIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(io) => Pin::new(io).poll_write(cx, buf),
            Io::Deadline(io) => Pin::new(io).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(io) => Pin::new(io).poll_write_vectored(cx, bufs),
            Io::Deadline(io) => Pin::new(io).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Plain(io) => io.is_write_vectored(),
            Io::Deadline(io) => io.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(io) => Pin::new(io).poll_flush(cx),
            Io::Deadline(io) => Pin::new(io).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(io) => Pin::new(io).poll_shutdown(cx),
            Io::Deadline(io) => Pin::new(io).poll_shutdown(cx),
        }
    }
}
