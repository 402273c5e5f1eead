//! `ssekit_tower::serve` on 127.0.0.1, read as raw bytes: graceful
//! shutdown ends every stream with its final event, slow or silent
//! clients are closed, accept errors do not spin.

use std::collections::HashSet;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use http::{Request, Response};
use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody};
use hyper::body::Incoming;
use ssekit_core::Event;
use ssekit_tower::serve::Listener;
use ssekit_tower::{KeepAlive, Shutdown, SseResponse};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

type Body = UnsyncBoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// What `/own` streams send last, after a `retry:` of their own draw from
/// `Shutdown::DEFAULT_RETRY`: their own `Shutdown`'s final event.
const OWN_FINAL: &str = "event: bye\ndata: own\n\n";
/// What the server sends last on the streams that have none.
const SERVER_FINAL: &str = "event: shutdown\ndata: server\n\n";

/// Sets its flag when dropped: the server let go of the stream.
struct Dropped(Arc<AtomicBool>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn plain() -> Response<Body> {
    let body = Full::new(Bytes::from_static(b"ok"))
        .map_err(|never| match never {})
        .boxed_unsync();
    Response::new(body)
}

/// `/own`: `hello`, then nothing, ended by `token` with [`OWN_FINAL`].
/// `/bare`: `hello`, then nothing, no `Shutdown`. `/flood`: 1 KiB events
/// every millisecond, setting `dropped` when dropped. Anything else: `ok`.
#[derive(Clone)]
struct App {
    token: CancellationToken,
    dropped: Arc<AtomicBool>,
}

impl tower::Service<Request<Incoming>> for App {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<Body>, Infallible>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Incoming>) -> Self::Future {
        let hello = futures_util::stream::iter([Event::data("hello")])
            .chain(futures_util::stream::pending())
            .boxed();
        let response = match request.uri().path() {
            "/own" => {
                let bye = Event::builder().event("bye").data("own").build().unwrap();
                SseResponse::new(hello).shutdown(Shutdown::new(self.token.clone()).final_event(bye))
            }
            "/bare" => SseResponse::new(hello),
            "/flood" => {
                let guard = Dropped(Arc::clone(&self.dropped));
                let data = "x".repeat(1024);
                let ticks = tokio::time::interval(Duration::from_millis(1));
                let flood = tokio_stream::wrappers::IntervalStream::new(ticks).map(move |_| {
                    let _ = &guard;
                    Event::data(&data)
                });
                SseResponse::new(flood.boxed())
                    .keep_alive(KeepAlive::disabled())
                    .coalesce(0)
            }
            _ => return std::future::ready(Ok(plain())),
        };
        let response = response.into_response();
        std::future::ready(Ok(
            response.map(|body| body.map_err(Into::into).boxed_unsync())
        ))
    }
}

fn app() -> App {
    App {
        token: CancellationToken::new(),
        dropped: Arc::new(AtomicBool::new(false)),
    }
}

async fn within<T>(what: &str, bound: Duration, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(bound, future)
        .await
        .unwrap_or_else(|_| panic!("timed out after {bound:?} waiting for {what}"))
}

/// Reads until `buf` ends with `needle`, failing if the server closes first.
async fn read_until(socket: &mut TcpStream, buf: &mut Vec<u8>, needle: &[u8]) {
    let what = format!("{:?}", String::from_utf8_lossy(needle));
    within(&what, Duration::from_secs(5), async {
        while !buf.ends_with(needle) {
            let mut chunk = [0u8; 4096];
            let n = socket.read(&mut chunk).await.unwrap();
            assert!(
                n > 0,
                "closed before {what}: {:?}",
                String::from_utf8_lossy(buf)
            );
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await;
}

/// Reads until the server closes (or resets) the connection.
async fn read_to_end(socket: &mut TcpStream, bound: Duration) -> Vec<u8> {
    let mut buf = Vec::new();
    within("the server to close", bound, async {
        let mut chunk = [0u8; 4096];
        while let Ok(n @ 1..) = socket.read(&mut chunk).await {
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await;
    buf
}

async fn connect(addr: SocketAddr, request: &[u8]) -> TcpStream {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket.write_all(request).await.unwrap();
    socket
}

/// Cancels `token`, the server's signal, and checks that the server is
/// done within a second.
async fn shuts_down_within_a_second(token: &CancellationToken, server: JoinHandle<io::Result<()>>) {
    let start = Instant::now();
    token.cancel();
    within("the server", Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap();
    let elapsed = start.elapsed();
    assert!(
        elapsed < Duration::from_secs(1),
        "shutdown took {elapsed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn graceful_shutdown_ends_every_stream_with_its_final_event_within_a_second() {
    let app = app();
    let token = app.token.clone();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server: JoinHandle<io::Result<()>> = tokio::spawn(
        ssekit_tower::serve(listener, app)
            .shutdown_event(
                Event::builder()
                    .event("shutdown")
                    .data("server")
                    .build()
                    .unwrap(),
            )
            .with_graceful_shutdown(token.clone().cancelled_owned())
            .into_future(),
    );

    let mut streams = Vec::new();
    for n in 0..100 {
        let path = if n % 2 == 0 { "/own" } else { "/bare" };
        let request =
            format!("GET {path} HTTP/1.1\r\nhost: x\r\naccept: text/event-stream\r\n\r\n");
        streams.push((path, connect(addr, request.as_bytes()).await));
    }
    for (_, socket) in &mut streams {
        read_until(socket, &mut Vec::new(), b"data: hello\n\n").await;
    }
    // Idle keep-alive connections, each after two plain responses.
    let mut idle = Vec::new();
    for _ in 0..3 {
        let mut socket = TcpStream::connect(addr).await.unwrap();
        for _ in 0..2 {
            socket
                .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
                .await
                .unwrap();
            read_until(&mut socket, &mut Vec::new(), b"\r\n\r\nok").await;
        }
        idle.push(socket);
    }
    let mut half_sent = Vec::new();
    for _ in 0..3 {
        half_sent.push(connect(addr, b"GET / HTTP/1.1\r\nhost:").await);
    }

    shuts_down_within_a_second(&token, server).await;

    // Each stream, ended by its own `Shutdown` (`/own`) or by the server's
    // (`/bare`), draws its own retry from the default 1 s + up to 4 s.
    let (mut own_retries, mut bare_retries) = (HashSet::new(), HashSet::new());
    for (path, mut socket) in streams {
        let rest = read_to_end(&mut socket, Duration::from_secs(1)).await;
        let rest = String::from_utf8_lossy(&rest);
        let (retry, last) = rest
            .split_once("\n\n")
            .unwrap_or_else(|| panic!("{path} ended with {rest:?}"));
        let ms: u64 = retry
            .strip_prefix("retry: ")
            .and_then(|ms| ms.parse().ok())
            .unwrap_or_else(|| panic!("{path} ended with {rest:?}"));
        assert!((1000..=5000).contains(&ms), "{path} ended with {rest:?}");
        if path == "/bare" {
            assert_eq!(last, SERVER_FINAL, "{path} ended with {rest:?}");
            bare_retries.insert(ms);
        } else {
            assert_eq!(last, OWN_FINAL, "{path} ended with {rest:?}");
            own_retries.insert(ms);
        }
    }
    // 50 draws each from 4001 values: each stream drew its own.
    assert!(own_retries.len() > 25, "{own_retries:?}");
    assert!(bare_retries.len() > 25, "{bare_retries:?}");
    for mut socket in idle.into_iter().chain(half_sent) {
        assert_eq!(read_to_end(&mut socket, Duration::from_secs(1)).await, b"");
    }
}

/// How long after `socket`'s last request a server with a 300 ms head
/// timeout closes it.
async fn closed_after_the_head_timeout(request: &[u8], answered: Option<&[u8]>) {
    const TIMEOUT: Duration = Duration::from_millis(300);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = ssekit_tower::serve(listener, app()).header_read_timeout(TIMEOUT);
    tokio::spawn(server.into_future());

    let mut socket = connect(addr, request).await;
    if let Some(answer) = answered {
        read_until(&mut socket, &mut Vec::new(), answer).await;
    }
    let start = Instant::now();
    read_to_end(&mut socket, Duration::from_secs(5)).await;
    let elapsed = start.elapsed();
    assert!(
        elapsed >= TIMEOUT - Duration::from_millis(50),
        "closed after {elapsed:?}"
    );
}

#[tokio::test]
async fn a_request_head_that_does_not_arrive_in_time_is_closed() {
    closed_after_the_head_timeout(b"GET / HTTP/1.1\r\n", None).await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_head_timeout() {
    let request = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n";
    closed_after_the_head_timeout(request, Some(b"\r\n\r\nok")).await;
}

/// A listener whose accepted sockets have a small send buffer (they
/// inherit the listener's), so that the server's writes block soon.
fn small_send_buffer_listener() -> TcpListener {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(4096).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    socket.listen(64).unwrap()
}

/// Requests `/flood` with a small receive window, and never reads.
async fn stalled_flood(addr: SocketAddr) -> TcpStream {
    let client = TcpSocket::new_v4().unwrap();
    // Before connecting, so that the advertised window is small too.
    client.set_recv_buffer_size(4096).unwrap();
    let mut stalled = client.connect(addr).await.unwrap();
    stalled
        .write_all(b"GET /flood HTTP/1.1\r\nhost: x\r\naccept: text/event-stream\r\n\r\n")
        .await
        .unwrap();
    stalled
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_disconnected_after_the_write_deadline() {
    const DEADLINE: Duration = Duration::from_millis(300);
    let listener = small_send_buffer_listener();
    let addr = listener.local_addr().unwrap();
    let app = app();
    let dropped = Arc::clone(&app.dropped);
    let server = ssekit_tower::serve(listener, app).write_deadline(DEADLINE);
    tokio::spawn(server.into_future());
    let _stalled = stalled_flood(addr).await;

    let start = Instant::now();
    let bound = DEADLINE + Duration::from_secs(5);
    within("the stalled stream to be dropped", bound, async {
        while !dropped.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let elapsed = start.elapsed();
    assert!(
        elapsed >= DEADLINE,
        "dropped after {elapsed:?}, before the deadline"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stopped_reading_does_not_hold_the_shutdown() {
    let listener = small_send_buffer_listener();
    let addr = listener.local_addr().unwrap();
    let app = app();
    let (token, dropped) = (app.token.clone(), Arc::clone(&app.dropped));
    let signal = token.clone().cancelled_owned();
    let server = tokio::spawn(
        ssekit_tower::serve(listener, app)
            .with_graceful_shutdown(signal)
            .into_future(),
    );
    let _stalled = stalled_flood(addr).await;
    // Long enough for the server's write to block (1 KiB every ms into
    // buffers of a few KiB); the write deadline (30 s) is far off.
    tokio::time::sleep(Duration::from_millis(200)).await;

    shuts_down_within_a_second(&token, server).await;
    assert!(dropped.load(Ordering::SeqCst));
}

/// A listener whose every accept fails with `error`, counting the calls;
/// after `limit` calls it waits for ever.
struct Failing {
    error: fn() -> io::Error,
    calls: Arc<AtomicUsize>,
    limit: usize,
}

impl Listener for Failing {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> io::Result<(TcpStream, SocketAddr)> {
        if self.calls.fetch_add(1, Ordering::SeqCst) >= self.limit {
            std::future::pending::<()>().await;
        }
        Err((self.error)())
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(([127, 0, 0, 1], 0).into())
    }
}

/// Runs `serve` on `listener` for `run`, then shuts it down; the number of
/// accept calls.
async fn accept_calls(error: fn() -> io::Error, limit: usize, run: Duration) -> usize {
    let calls = Arc::new(AtomicUsize::new(0));
    let listener = Failing {
        error,
        calls: Arc::clone(&calls),
        limit,
    };
    let signal = tokio::time::sleep(run);
    let server = ssekit_tower::serve(listener, app()).with_graceful_shutdown(signal);
    within(
        "the server",
        run + Duration::from_secs(1),
        server.into_future(),
    )
    .await
    .unwrap();
    calls.load(Ordering::SeqCst)
}

#[tokio::test]
async fn an_accept_error_such_as_emfile_backs_off_instead_of_spinning() {
    // EMFILE: too many open files.
    let calls = accept_calls(
        || io::Error::from_raw_os_error(24),
        usize::MAX,
        Duration::from_millis(300),
    )
    .await;
    assert_eq!(calls, 1, "accept was called {calls} times in 300 ms");
}

#[tokio::test]
async fn a_connection_error_on_accept_is_retried_at_once() {
    let aborted = || io::Error::from(io::ErrorKind::ConnectionAborted);
    let calls = accept_calls(aborted, 100, Duration::from_millis(300)).await;
    assert_eq!(calls, 101, "accept was called {calls} times in 300 ms");
}

/// Connects from `ip`, an address of 127.0.0.0/8, and sends `request`.
async fn connect_from(ip: [u8; 4], addr: SocketAddr, request: &[u8]) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((ip, 0))).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_its_cap_an_address_is_told_to_come_back_and_others_are_served() {
    const STREAM: &[u8] = b"GET /bare HTTP/1.1\r\nhost: x\r\naccept: text/event-stream\r\n\r\n";
    const HELLO: &[u8] = b"data: hello\n\n";
    let token = CancellationToken::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server: JoinHandle<io::Result<()>> = tokio::spawn(
        ssekit_tower::serve(listener, app())
            .max_connections_per_ip(2)
            .with_graceful_shutdown(token.clone().cancelled_owned())
            .into_future(),
    );
    let mut first = connect_from([127, 0, 0, 1], addr, STREAM).await;
    let mut second = connect_from([127, 0, 0, 1], addr, STREAM).await;
    read_until(&mut first, &mut Vec::new(), HELLO).await;
    read_until(&mut second, &mut Vec::new(), HELLO).await;

    // A third stream from that address: 200, a retry and the notice, the end.
    let mut third = connect_from([127, 0, 0, 1], addr, STREAM).await;
    let answer = read_to_end(&mut third, Duration::from_secs(2)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.contains(" 200 OK\r\n"), "{answer}");
    assert!(
        answer.contains("content-type: text/event-stream\r\n"),
        "{answer}"
    );
    assert!(answer.contains("sse-refusal: 429\r\n"), "{answer}");
    assert!(
        answer.contains("\r\n\r\nevent: unavailable\nretry: "),
        "{answer}"
    );
    assert!(answer.contains("maximum of 2 connections"), "{answer}");

    // Any other request from it: 429 with Retry-After.
    let mut plain = connect_from([127, 0, 0, 1], addr, b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await;
    let answer = read_to_end(&mut plain, Duration::from_secs(2)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 429 "), "{answer}");
    assert!(answer.contains("retry-after: "), "{answer}");

    // Another address has places of its own.
    let mut other = connect_from([127, 0, 0, 2], addr, STREAM).await;
    read_until(&mut other, &mut Vec::new(), HELLO).await;

    // A connection that closes gives its place back.
    drop(first);
    within("a place given back", Duration::from_secs(5), async {
        loop {
            let mut again = connect_from([127, 0, 0, 1], addr, STREAM).await;
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while let Ok(n @ 1..) = again.read(&mut chunk).await {
                buf.extend_from_slice(&chunk[..n]);
                if buf.ends_with(HELLO) {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    shuts_down_within_a_second(&token, server).await;
}
