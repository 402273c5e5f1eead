//! `ssekit_tower::http1::serve_connection` on 127.0.0.1, read as raw bytes:
//! an event stream leaves hyper after its head and is written directly,
//! everything else is hyper's as usual.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioTimer;
use ssekit_core::Event;
use ssekit_tower::{Retry, Shutdown, SseResponse};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_util::sync::CancellationToken;

type Body = UnsyncBoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// Sets its flag when dropped: the server let go of the stream.
struct Dropped(Arc<AtomicBool>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

struct Server {
    addr: std::net::SocketAddr,
    /// One sender per `/events` request, to push its events.
    streams: mpsc::UnboundedReceiver<(mpsc::UnboundedSender<Event>, Arc<AtomicBool>)>,
    /// Shuts every connection down (`serve_connection_with_shutdown`) and
    /// ends every stream with [`FINAL`] (`Shutdown`).
    shutdown: CancellationToken,
}

/// What every stream sends last on shutdown: a retry of 2 s (no jitter),
/// then the final event.
const FINAL: &[u8] = b"retry: 2000\n\nevent: shutdown\ndata: bye\n\n";

async fn serve() -> Server {
    let (streams_tx, streams) = mpsc::unbounded_channel();
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let service = tower::service_fn(move |request: Request<Incoming>| {
        let streams_tx = streams_tx.clone();
        let token = token.clone();
        async move {
            if request.uri().path() != "/events" {
                let body: Body = Full::new(Bytes::from_static(b"plain"))
                    .map_err(|never| match never {})
                    .boxed_unsync();
                return Ok::<_, Infallible>(Response::new(body));
            }
            let (tx, rx) = mpsc::unbounded_channel();
            let dropped = Arc::new(AtomicBool::new(false));
            streams_tx.send((tx, Arc::clone(&dropped))).unwrap();
            let guard = Dropped(dropped);
            let events = futures_util::StreamExt::map(UnboundedReceiverStream::new(rx), move |e| {
                let _ = &guard;
                e
            });
            let bye = Event::builder()
                .event("shutdown")
                .data("bye")
                .build()
                .unwrap();
            let response = SseResponse::new(events)
                .shutdown(
                    Shutdown::new(token)
                        .retry(Retry::new(Duration::from_secs(2)))
                        .final_event(bye),
                )
                .into_response();
            Ok(response.map(|body| body.map_err(Into::into).boxed_unsync()))
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        let mut builder = http1::Builder::new();
        builder.timer(TokioTimer::new());
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            let connection = ssekit_tower::http1::serve_connection_with_shutdown(
                &builder,
                socket,
                service.clone(),
                signal.clone().cancelled_owned(),
            );
            tokio::spawn(connection);
        }
    });
    Server {
        addr,
        streams,
        shutdown,
    }
}

async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(5), future)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// Reads from `socket` into `buf` until `done(buf)`, failing if the server
/// closes first.
async fn read_while(
    socket: &mut TcpStream,
    buf: &mut Vec<u8>,
    what: &str,
    done: impl Fn(&[u8]) -> bool,
) {
    within(what, async {
        while !done(buf) {
            let mut chunk = [0u8; 4096];
            let n = socket.read(&mut chunk).await.unwrap();
            assert!(
                n > 0,
                "closed before {what}, after {} bytes: {:?}",
                buf.len(),
                String::from_utf8_lossy(buf)
            );
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await;
}

/// Reads from `socket` until `buf` contains `needle`.
async fn read_until(socket: &mut TcpStream, buf: &mut Vec<u8>, needle: &[u8]) {
    let what = format!("{:?}", String::from_utf8_lossy(needle));
    read_while(socket, buf, &what, |buf| {
        buf.windows(needle.len()).any(|w| w == needle)
    })
    .await;
}

/// Waits until the server has dropped the stream that set `dropped`.
async fn until_dropped(what: &str, dropped: &AtomicBool) {
    within(what, async {
        while !dropped.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

/// A server, and one `/events` stream on it that has received `one`: the
/// socket, the stream's sender and drop flag, and the bytes read so far.
async fn open_events() -> (
    TcpStream,
    mpsc::UnboundedSender<Event>,
    Arc<AtomicBool>,
    Vec<u8>,
) {
    open_events_on(&mut serve().await).await
}

/// [`open_events`] on `server`.
async fn open_events_on(
    server: &mut Server,
) -> (
    TcpStream,
    mpsc::UnboundedSender<Event>,
    Arc<AtomicBool>,
    Vec<u8>,
) {
    let mut socket = TcpStream::connect(server.addr).await.unwrap();
    socket
        .write_all(b"GET /events HTTP/1.1\r\nhost: x\r\naccept: text/event-stream\r\n\r\n")
        .await
        .unwrap();
    let (tx, dropped) = within("the stream", server.streams.recv()).await.unwrap();
    tx.send(Event::data("one")).unwrap();
    let mut buf = Vec::new();
    read_until(&mut socket, &mut buf, b"data: one\n\n").await;
    (socket, tx, dropped, buf)
}

#[tokio::test]
async fn an_event_stream_is_written_close_delimited_after_hypers_head() {
    let (mut socket, tx, dropped, mut buf) = open_events().await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let head = head.to_ascii_lowercase();
    assert!(head.starts_with("http/1.0 200 ok\r\n"), "{head}");
    assert!(head.contains("content-type: text/event-stream"), "{head}");
    assert!(head.contains("cache-control: no-cache"), "{head}");
    assert!(!head.contains("transfer-encoding"), "{head}");
    assert!(!head.contains("content-length"), "{head}");
    // No chunk framing: the events are the body's bytes as they are,
    // after the opening `retry:`.
    assert_eq!(body, "retry: 3000\n\ndata: one\n\n");

    // Later events arrive as they are sent.
    buf.clear();
    tx.send(Event::data("two")).unwrap();
    read_until(&mut socket, &mut buf, b"data: two\n\n").await;
    assert_eq!(buf, b"data: two\n\n");

    // Events ready together go out together, whole and in order.
    buf.clear();
    let burst: Vec<String> = (0..40)
        .map(|n| format!("burst {n} {}", "x".repeat(n * 50)))
        .collect();
    for data in &burst {
        tx.send(Event::data(data)).unwrap();
    }
    let expected: String = burst
        .iter()
        .map(|data| format!("data: {data}\n\n"))
        .collect();
    read_while(&mut socket, &mut buf, "the burst", |buf| {
        buf.len() >= expected.len()
    })
    .await;
    let first_difference = buf
        .iter()
        .zip(expected.as_bytes())
        .position(|(a, b)| a != b);
    assert!(
        buf == expected.as_bytes(),
        "{} bytes, {} expected, first difference at {first_difference:?}",
        buf.len(),
        expected.len()
    );

    // The end of the stream closes the connection.
    drop(tx);
    let mut rest = Vec::new();
    within("the close", socket.read_to_end(&mut rest))
        .await
        .unwrap();
    assert!(rest.is_empty(), "{rest:?}");
    until_dropped("the stream dropped", &dropped).await;
}

#[tokio::test]
async fn a_client_that_closes_drops_its_stream_without_waiting_for_a_write() {
    let (socket, tx, dropped, _) = open_events().await;
    assert!(!dropped.load(Ordering::SeqCst));
    // Nothing is sent after this (keep-alive comments come every 15 s by
    // default): only reading the socket can tell the client went away.
    drop(socket);
    until_dropped("the stream dropped after the client closed", &dropped).await;
    drop(tx);
}

/// Sends `GET /plain` on `socket` and reads the whole response.
async fn get_plain(socket: &mut TcpStream) {
    let mut buf = Vec::new();
    socket
        .write_all(b"GET /plain HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    read_until(socket, &mut buf, b"plain").await;
    let text = String::from_utf8_lossy(&buf).to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 200 ok\r\n"), "{text}");
    assert!(text.contains("content-length: 5"), "{text}");
}

#[tokio::test]
async fn other_responses_stay_hypers_with_keep_alive() {
    let server = serve().await;
    let mut socket = TcpStream::connect(server.addr).await.unwrap();
    get_plain(&mut socket).await;
    get_plain(&mut socket).await;
}

#[tokio::test]
async fn shutdown_closes_idle_connections_and_ends_streams_with_their_final_event() {
    let mut server = serve().await;
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    get_plain(&mut idle).await;
    let (mut events, tx, dropped, _) = open_events_on(&mut server).await;

    server.shutdown.cancel();
    // The keep-alive connection is closed without another request.
    let mut rest = Vec::new();
    within("the idle connection closed", idle.read_to_end(&mut rest))
        .await
        .unwrap();
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
    // The handed-off stream sends its final event, then closes.
    let mut rest = Vec::new();
    within("the stream closed", events.read_to_end(&mut rest))
        .await
        .unwrap();
    assert_eq!(rest, FINAL, "{:?}", String::from_utf8_lossy(&rest));
    until_dropped("the stream dropped", &dropped).await;
    drop(tx);
}
