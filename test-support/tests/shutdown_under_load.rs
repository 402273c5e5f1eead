//! Graceful shutdown with every kind of connection open at once, through
//! `ssekit_tower::serve` and `ssekit_axum::serve` on 127.0.0.1: 1 000 quiet
//! event streams, 100 connections that sent half a request head and stop,
//! and 100 clients whose receive window is zero (a small receive buffer,
//! never read) while their streams flood. The server stops in under a
//! second, every open stream gets its end (a drawn `retry:`, then the
//! close), and the other connections are closed too.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use futures_util::StreamExt;
use futures_util::stream::{self, BoxStream};
use sse_test_support::OPENING;
use sse_test_support::process::ensure_nofile_limit;
use ssekit_core::Event;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const STREAMS: usize = 1_000;
const HALF_HEADS: usize = 100;
const ZERO_WINDOWS: usize = 100;
/// How long any one wait of the test may take.
const BOUND: Duration = Duration::from_secs(10);

async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, future)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// A stream of 16 KiB events, always ready; counts the floods started.
fn flood(started: &AtomicUsize) -> BoxStream<'static, Event> {
    started.fetch_add(1, Ordering::Relaxed);
    let event = Event::data(&"x".repeat(16 * 1024));
    stream::repeat_with(move || event.clone()).boxed()
}

/// `/events`: a stream on which nothing happens; `/flood`: [`flood`].
fn events(path: &str, floods: &AtomicUsize) -> BoxStream<'static, Event> {
    match path {
        "/flood" => flood(floods),
        _ => stream::pending().boxed(),
    }
}

/// A loopback listener whose accepted sockets have a small send buffer,
/// so that a flood fills it at once.
fn listener() -> TcpListener {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(16 * 1024).unwrap();
    socket.bind((Ipv4Addr::LOCALHOST, 0).into()).unwrap();
    socket.listen(4096).unwrap()
}

/// A server: its address and its task.
type Server = (SocketAddr, JoinHandle<io::Result<()>>);

fn tower_serve(shutdown: &CancellationToken, floods: Arc<AtomicUsize>) -> Server {
    let service = tower::ServiceBuilder::new()
        .layer(ssekit_tower::SseLayer::new())
        .service_fn(move |request: http::Request<hyper::body::Incoming>| {
            let body = events(request.uri().path(), &floods);
            async move { Ok::<_, std::convert::Infallible>(http::Response::new(body)) }
        });
    let listener = listener();
    let addr = listener.local_addr().unwrap();
    let server = ssekit_tower::serve(listener, service)
        .with_graceful_shutdown(shutdown.clone().cancelled_owned());
    (addr, tokio::spawn(server.into_future()))
}

fn axum_serve(shutdown: &CancellationToken, floods: Arc<AtomicUsize>) -> Server {
    let quiet =
        get(|| async { ssekit_axum::SseResponse::new(events("/events", &AtomicUsize::new(0))) });
    let app = Router::new().route("/events", quiet).route(
        "/flood",
        get(move || async move { ssekit_axum::SseResponse::new(flood(&floods)) }),
    );
    let listener = listener();
    let addr = listener.local_addr().unwrap();
    let server = ssekit_axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.clone().cancelled_owned());
    (addr, tokio::spawn(server.into_future()))
}

/// Connects from `source` (spread over 127.0.0.x, so that 1 200
/// connections do not run short of ports), with a receive buffer of
/// `recv_buffer` bytes if given, and sends `request`.
async fn connect(
    server: SocketAddr,
    source: Ipv4Addr,
    recv_buffer: Option<u32>,
    request: &[u8],
) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    if let Some(size) = recv_buffer {
        socket.set_recv_buffer_size(size).unwrap();
    }
    socket.bind((source, 0).into()).unwrap();
    let mut tcp = socket.connect(server).await.unwrap();
    tcp.write_all(request).await.unwrap();
    tcp
}

fn source(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 2 + (i % 8) as u8)
}

/// Reads until the peer closes (or resets) the connection; what arrived.
async fn read_to_close(tcp: &mut TcpStream) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut buffer = [0; 16 * 1024];
    loop {
        match tcp.read(&mut buffer).await {
            Ok(0) | Err(_) => return seen,
            Ok(n) => seen.extend_from_slice(&buffer[..n]),
        }
    }
}

/// An open `/events` stream: reads its head and opening, reports it open,
/// then reads to the end and returns what came after the opening.
async fn quiet_stream(
    server: SocketAddr,
    i: usize,
    opened: tokio::sync::mpsc::Sender<()>,
) -> String {
    let mut tcp = connect(
        server,
        source(i),
        None,
        b"GET /events HTTP/1.1\r\nhost: x\r\n\r\n",
    )
    .await;
    let mut seen = Vec::new();
    let mut buffer = [0; 1024];
    let head_and_opening = loop {
        let n = tcp.read(&mut buffer).await.unwrap();
        assert!(n > 0, "closed before the opening");
        seen.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&seen);
        if let Some(at) = text.find(OPENING) {
            break at + OPENING.len();
        }
    };
    opened.send(()).await.unwrap();
    let mut rest = seen.split_off(head_and_opening);
    rest.extend(read_to_close(&mut tcp).await);
    String::from_utf8(rest).unwrap()
}

/// The test, against the server `serve` starts.
async fn graceful_shutdown_under_load(serve: fn(&CancellationToken, Arc<AtomicUsize>) -> Server) {
    ensure_nofile_limit(4 * (STREAMS + HALF_HEADS + ZERO_WINDOWS) as u64);
    let shutdown = CancellationToken::new();
    let floods = Arc::new(AtomicUsize::new(0));
    let (addr, server) = serve(&shutdown, Arc::clone(&floods));

    let (opened_tx, mut opened) = tokio::sync::mpsc::channel(STREAMS);
    let streams: Vec<_> = (0..STREAMS)
        .map(|i| tokio::spawn(quiet_stream(addr, i, opened_tx.clone())))
        .collect();
    let mut half_heads = Vec::new();
    for i in 0..HALF_HEADS {
        half_heads.push(connect(addr, source(i), None, b"GET /events HTTP/1.1\r\n").await);
    }
    let mut zero_windows = Vec::new();
    for i in 0..ZERO_WINDOWS {
        let request = b"GET /flood HTTP/1.1\r\nhost: x\r\n\r\n";
        zero_windows.push(connect(addr, source(i), Some(4096), request).await);
    }
    within("every stream to open", async {
        for _ in 0..STREAMS {
            opened.recv().await.unwrap();
        }
    })
    .await;
    within("every flood to start", async {
        while floods.load(Ordering::Relaxed) < ZERO_WINDOWS {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    // Time for the floods to fill every buffer on their way.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    shutdown.cancel();
    within("the server to stop", server).await.unwrap().unwrap();
    let took = started.elapsed();
    println!("graceful shutdown took {took:?}");
    assert!(
        took < Duration::from_secs(1),
        "graceful shutdown took {took:?}"
    );

    for stream in streams {
        let end = within("a stream's end", stream).await.unwrap();
        let retry = end
            .strip_prefix("retry: ")
            .and_then(|rest| rest.strip_suffix("\n\n"))
            .and_then(|ms| ms.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("a drawn retry, then the close: {end:?}"));
        assert!((1000..=5000).contains(&retry), "retry: {retry}");
    }
    for mut tcp in half_heads {
        let answer = within("a half head's close", read_to_close(&mut tcp)).await;
        assert!(
            answer.is_empty() || answer.starts_with(b"HTTP/1.1 408"),
            "{:?}",
            String::from_utf8_lossy(&answer)
        );
    }
    for mut tcp in zero_windows {
        let seen = within("a zero window's close", read_to_close(&mut tcp)).await;
        assert!(
            seen.starts_with(b"HTTP/1.0 200 OK\r\n"),
            "the flood had begun"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_within_a_second_with_streams_half_heads_and_zero_window_readers_tower() {
    graceful_shutdown_under_load(tower_serve).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_within_a_second_with_streams_half_heads_and_zero_window_readers_axum() {
    graceful_shutdown_under_load(axum_serve).await;
}
