//! `serve(..).tls(..)` on 127.0.0.1 over real TLS sockets, with a
//! certificate made by rcgen: HTTP/2 chosen by ALPN holds every rule that
//! HTTP/1.1 holds (events one by one, keep-alive, `Last-Event-ID`, a reset
//! stream noticed at once, graceful shutdown, the write deadline), and an
//! `http/1.1` client still gets the hand-off.

mod common;

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::{FrameReader, OPENING, broker_service, pushed_events, within};
use futures_util::StreamExt;
use http::{Request, Response, StatusCode, Version};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use ssekit_core::Event;
use ssekit_core::broker::Broker;
use ssekit_tower::{KeepAlive, Shutdown, SseLayer, SseResponse};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;

type Body = UnsyncBoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// A self-signed certificate for `localhost`: the server's configuration
/// (from PEM, as a deployment loads it) and a client that trusts it.
fn certificate() -> (rustls::ServerConfig, rustls::RootCertStore) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let config = ssekit_tower::serve::tls_config(
        made.cert.pem().as_bytes(),
        made.key_pair.serialize_pem().as_bytes(),
    )
    .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(made.cert.der().clone()).unwrap();
    (config, roots)
}

/// A TLS connection to `addr` offering `alpn`.
async fn connect_tls(
    addr: SocketAddr,
    roots: &rustls::RootCertStore,
    alpn: &[u8],
) -> TlsStream<TcpStream> {
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots.clone())
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    let tcp = within("connect", TcpStream::connect(addr)).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    within(
        "the TLS handshake",
        TlsConnector::from(Arc::new(config)).connect(name, tcp),
    )
    .await
    .unwrap()
}

/// An HTTP/2 client connection over TLS; `window` is its streams' initial
/// flow-control window (hyper's default if `None`).
async fn h2_client(
    addr: SocketAddr,
    roots: &rustls::RootCertStore,
    window: Option<u32>,
) -> (http2::SendRequest<Empty<Bytes>>, JoinHandle<()>) {
    let tls = connect_tls(addr, roots, b"h2").await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let mut builder = http2::Builder::new(TokioExecutor::new());
    if let Some(window) = window {
        builder.initial_stream_window_size(window);
    }
    let (send, connection) = builder.handshake(TokioIo::new(tls)).await.unwrap();
    let connection = tokio::spawn(async move {
        let _ = connection.await;
    });
    (send, connection)
}

async fn get(
    send: &mut http2::SendRequest<Empty<Bytes>>,
    path: &str,
    headers: &[(&str, &str)],
) -> Response<Incoming> {
    within("the connection to be ready", send.ready())
        .await
        .unwrap();
    let mut request = Request::get(format!("https://localhost{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = within(
        "a response",
        send.send_request(request.body(Empty::new()).unwrap()),
    )
    .await
    .unwrap();
    assert_eq!(response.version(), Version::HTTP_2);
    response
}

/// Serves `service` over TLS until `shutdown`, with `configure`'s options.
async fn start<S, B>(
    service: S,
    config: rustls::ServerConfig,
    shutdown: &CancellationToken,
    configure: impl FnOnce(ssekit_tower::Serve<TcpListener, S>) -> ssekit_tower::Serve<TcpListener, S>,
) -> (SocketAddr, JoinHandle<io::Result<()>>)
where
    S: tower::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = configure(ssekit_tower::serve(listener, service).tls(config))
        .with_graceful_shutdown(shutdown.clone().cancelled_owned());
    (addr, tokio::spawn(server.into_future()))
}

#[tokio::test]
async fn events_are_flushed_one_by_one_over_h2() {
    let (service, mut senders) = pushed_events();
    let service = ServiceBuilder::new()
        .layer(SseLayer::new().keep_alive(KeepAlive::disabled()))
        .service(service);
    let (config, roots) = certificate();
    let (addr, _server) = start(service, config, &CancellationToken::new(), |serve| serve).await;

    let (mut send, _connection) = h2_client(addr, &roots, None).await;
    let response = get(&mut send, "/events", &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let tx = within("the stream", senders.recv()).await.unwrap();
    let mut frames = FrameReader::opened(response.into_body()).await;
    for n in 0..20 {
        // The next event is sent only once the previous one arrived.
        tx.send(
            Event::builder()
                .id(n.to_string())
                .data("tick")
                .build()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            frames.next().await.unwrap(),
            format!("id: {n}\ndata: tick\n\n")
        );
    }
    drop(tx);
    assert_eq!(
        frames.next().await,
        None,
        "the stream's end ends the response"
    );
}

#[tokio::test]
async fn keep_alive_comments_flow_on_a_quiet_h2_stream() {
    let (service, mut senders) = pushed_events();
    let keep_alive = KeepAlive::new().interval(Duration::from_millis(100));
    let service = ServiceBuilder::new()
        .layer(SseLayer::new().keep_alive(keep_alive))
        .service(service);
    let (config, roots) = certificate();
    let (addr, _server) = start(service, config, &CancellationToken::new(), |serve| serve).await;

    let (mut send, _connection) = h2_client(addr, &roots, None).await;
    let response = get(&mut send, "/events", &[]).await;
    let _tx = within("the stream", senders.recv()).await.unwrap();
    let mut frames = FrameReader::opened(response.into_body()).await;
    for _ in 0..3 {
        assert_eq!(frames.next().await.unwrap(), ":\n\n");
    }
}

async fn subscribers_become(broker: &Broker, n: usize, bound: Duration) {
    let waited = tokio::time::timeout(bound, async {
        while broker.stats().topics.first().map_or(0, |t| t.subscribers) != n {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "not {n} subscribers within {bound:?}");
}

#[tokio::test]
async fn last_event_id_resumes_through_the_broker_over_h2() {
    let broker = Broker::new();
    let (config, roots) = certificate();
    let (addr, _server) = start(
        broker_service(broker.clone()),
        config,
        &CancellationToken::new(),
        |serve| serve,
    )
    .await;
    let (mut send, _connection) = h2_client(addr, &roots, None).await;
    let response = get(&mut send, "/events", &[]).await;
    let mut frames = FrameReader::opened(response.into_body()).await;
    subscribers_become(&broker, 1, Duration::from_secs(5)).await;
    let first = broker.publish("room", Event::data("one")).await.unwrap();
    assert_eq!(
        frames.next().await.unwrap(),
        format!("data: one\nid: {first}\n\n")
    );
    drop(frames);
    subscribers_become(&broker, 0, Duration::from_secs(5)).await;

    // Published while away: a resume from the first id gets them, in order.
    let two = broker.publish("room", Event::data("two")).await.unwrap();
    let three = broker.publish("room", Event::data("three")).await.unwrap();
    let response = get(
        &mut send,
        "/events",
        &[("last-event-id", &first.to_string())],
    )
    .await;
    let mut frames = FrameReader::opened(response.into_body()).await;
    assert_eq!(
        frames.next().await.unwrap(),
        format!("data: two\nid: {two}\n\n")
    );
    assert_eq!(
        frames.next().await.unwrap(),
        format!("data: three\nid: {three}\n\n")
    );
}

#[tokio::test]
async fn a_reset_stream_drops_its_subscription_at_once_and_the_connection_goes_on() {
    let broker = Broker::new();
    let (config, roots) = certificate();
    let (addr, _server) = start(
        broker_service(broker.clone()),
        config,
        &CancellationToken::new(),
        |serve| serve,
    )
    .await;
    let (mut send, _connection) = h2_client(addr, &roots, None).await;
    let quiet = get(&mut send, "/events", &[]).await;
    let other = get(&mut send, "/events", &[]).await;
    subscribers_become(&broker, 2, Duration::from_secs(5)).await;

    // Dropping the body resets the stream (RST_STREAM); with keep-alive
    // off, nothing is written that could notice: the reset itself does.
    drop(quiet);
    subscribers_become(&broker, 1, Duration::from_millis(500)).await;
    let mut frames = FrameReader::opened(other.into_body()).await;
    let id = broker
        .publish("room", Event::data("still here"))
        .await
        .unwrap();
    assert_eq!(
        frames.next().await.unwrap(),
        format!("data: still here\nid: {id}\n\n")
    );
}

/// `/own`: `hello`, then nothing, ended by `token` with its own final
/// event. `/bare`: `hello`, then nothing, no `Shutdown`. `/flood`: 1 KiB
/// events every millisecond, setting `dropped` when dropped.
#[derive(Clone)]
struct App {
    token: CancellationToken,
    dropped: Arc<AtomicBool>,
}

/// Sets its flag when dropped: the server let go of the stream.
struct Dropped(Arc<AtomicBool>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
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
            _ => SseResponse::new(hello),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_ends_every_h2_stream_with_its_final_event_within_a_second() {
    let app = app();
    let token = app.token.clone();
    let (config, roots) = certificate();
    let (addr, server) = start(app, config, &token, |serve| {
        serve.shutdown_event(
            Event::builder()
                .event("shutdown")
                .data("server")
                .build()
                .unwrap(),
        )
    })
    .await;
    let (mut send, connection) = h2_client(addr, &roots, None).await;
    let mut streams = Vec::new();
    for n in 0..10 {
        let path = if n % 2 == 0 { "/own" } else { "/bare" };
        let response = get(&mut send, path, &[]).await;
        let mut frames = FrameReader::opened(response.into_body()).await;
        assert_eq!(frames.next().await.unwrap(), "data: hello\n\n");
        streams.push((path, frames));
    }

    token.cancel();
    let stopped = tokio::time::timeout(Duration::from_secs(1), server).await;
    assert!(stopped.is_ok(), "the server did not stop within a second");
    for (path, mut frames) in streams {
        let rest = frames.rest().await;
        assert_eq!(rest.len(), 2, "{path} ended with {rest:?}");
        let ms = common::retry_ms(&rest[0]);
        assert!((1000..=5000).contains(&ms), "{path} ended with {rest:?}");
        let last = if path == "/own" {
            "event: bye\ndata: own\n\n"
        } else {
            "event: shutdown\ndata: server\n\n"
        };
        assert_eq!(rest[1], last, "{path} ended with {rest:?}");
    }
    within("the connection to close", connection).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_whose_window_stays_shut_is_reset_after_the_write_deadline() {
    const DEADLINE: Duration = Duration::from_millis(400);
    let app = app();
    let dropped = Arc::clone(&app.dropped);
    let (config, roots) = certificate();
    let (addr, _server) = start(app, config, &CancellationToken::new(), |serve| {
        serve.write_deadline(DEADLINE)
    })
    .await;
    // A 4 KiB window that the client never reopens: it does not read.
    let (mut send, _connection) = h2_client(addr, &roots, Some(4096)).await;
    let mut flood = get(&mut send, "/flood", &[]).await;

    tokio::time::sleep(DEADLINE / 2).await;
    assert!(
        !dropped.load(Ordering::SeqCst),
        "dropped before the deadline"
    );
    let reset = tokio::time::timeout(Duration::from_secs(2), async {
        while !dropped.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(reset.is_ok(), "the stalled stream was not dropped");

    // The stream was reset: what the window let through, then an error.
    let body = flood.body_mut();
    let error = within("the reset", async {
        loop {
            match body.frame().await {
                Some(Ok(_)) => {}
                Some(Err(error)) => return error,
                None => panic!("the stream ended instead of being reset"),
            }
        }
    })
    .await;
    assert!(
        error.to_string().contains("CANCEL") || format!("{error:?}").contains("CANCEL"),
        "{error:?}"
    );

    // The connection and its other streams go on.
    let response = get(&mut send, "/bare", &[]).await;
    let mut frames = FrameReader::opened(response.into_body()).await;
    assert_eq!(frames.next().await.unwrap(), "data: hello\n\n");
}

#[tokio::test]
async fn h2_responses_carry_no_connection_specific_headers() {
    let service = tower::service_fn(|_: Request<Incoming>| async {
        let response = Response::builder()
            .header("connection", "keep-alive")
            .header("keep-alive", "timeout=5")
            .header("upgrade", "websocket")
            .header("x-kept", "yes")
            .body(futures_util::stream::pending::<Event>())
            .unwrap();
        Ok::<_, Infallible>(response)
    });
    let service = ServiceBuilder::new()
        .layer(SseLayer::new())
        .service(service);
    let (config, roots) = certificate();
    let (addr, _server) = start(service, config, &CancellationToken::new(), |serve| serve).await;
    let (mut send, _connection) = h2_client(addr, &roots, None).await;
    let response = get(&mut send, "/", &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers();
    for name in [
        "connection",
        "keep-alive",
        "upgrade",
        "transfer-encoding",
        "proxy-connection",
    ] {
        assert!(!headers.contains_key(name), "{name} in {headers:?}");
    }
    assert_eq!(headers["x-kept"], "yes");
    assert_eq!(headers["content-type"], "text/event-stream");
}

#[tokio::test]
async fn an_http1_client_over_tls_gets_the_hand_off() {
    let (config, roots) = certificate();
    let (addr, _server) = start(app(), config, &CancellationToken::new(), |serve| serve).await;
    let tls = connect_tls(addr, &roots, b"http/1.1").await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let (mut send, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = Request::get("/bare")
        .header("host", "localhost")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = within("a response", send.send_request(request))
        .await
        .unwrap();
    // Handed off: sent as HTTP/1.0 with no length, ended by the close.
    assert_eq!(response.version(), Version::HTTP_10);
    let mut frames = FrameReader::new(response.into_body());
    assert_eq!(frames.next().await.unwrap(), OPENING);
    assert_eq!(frames.next().await.unwrap(), "data: hello\n\n");
}

#[tokio::test]
async fn an_h2_connection_without_a_stream_is_closed_after_the_head_timeout() {
    const TIMEOUT: Duration = Duration::from_millis(300);
    let (config, roots) = certificate();
    let (addr, _server) = start(app(), config, &CancellationToken::new(), |serve| {
        serve.header_read_timeout(TIMEOUT)
    })
    .await;
    let (mut send, mut connection) = h2_client(addr, &roots, None).await;
    // One stream, reset at once: idle from then on.
    let response = get(&mut send, "/bare", &[]).await;
    drop(response);
    let early = tokio::time::timeout(TIMEOUT / 2, &mut connection).await;
    assert!(early.is_err(), "closed before the timeout");
    let closed = tokio::time::timeout(4 * TIMEOUT, connection).await;
    assert!(closed.is_ok(), "an idle connection stayed open");
}

#[tokio::test]
async fn an_h2_connection_with_an_open_stream_is_not_idle() {
    const TIMEOUT: Duration = Duration::from_millis(200);
    let (config, roots) = certificate();
    let (addr, _server) = start(app(), config, &CancellationToken::new(), |serve| {
        serve.header_read_timeout(TIMEOUT)
    })
    .await;
    let (mut send, connection) = h2_client(addr, &roots, None).await;
    let response = get(&mut send, "/bare", &[]).await;
    tokio::time::sleep(5 * TIMEOUT).await;
    assert!(
        !connection.is_finished(),
        "a connection with a stream was closed"
    );
    let mut frames = FrameReader::opened(response.into_body()).await;
    assert_eq!(frames.next().await.unwrap(), "data: hello\n\n");
}

#[tokio::test]
async fn a_tls_handshake_that_does_not_arrive_in_time_is_closed() {
    const TIMEOUT: Duration = Duration::from_millis(300);
    let (config, _) = certificate();
    let (addr, _server) = start(app(), config, &CancellationToken::new(), |serve| {
        serve.header_read_timeout(TIMEOUT)
    })
    .await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let mut buf = [0; 64];
    let read = tokio::time::timeout(
        4 * TIMEOUT,
        tokio::io::AsyncReadExt::read(&mut tcp, &mut buf),
    )
    .await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_h2_stream_whose_window_stays_shut_does_not_hold_the_shutdown() {
    let app = app();
    let token = app.token.clone();
    let dropped = Arc::clone(&app.dropped);
    let (config, roots) = certificate();
    // The write deadline (30 s) is far: only the grace can end this.
    let (addr, server) = start(app, config, &token, |serve| serve).await;
    let (mut send, _connection) = h2_client(addr, &roots, Some(4096)).await;
    let _flood = get(&mut send, "/flood", &[]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    token.cancel();
    let stopped = tokio::time::timeout(Duration::from_secs(1), server).await;
    assert!(stopped.is_ok(), "a stalled stream held the shutdown");
    within("the stalled stream's body to be dropped", async {
        while !dropped.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}
