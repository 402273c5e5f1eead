//! A real hyper server on 127.0.0.1 and HTTP/1.1 and HTTP/2 clients for it.
#![allow(dead_code)] // each test file uses its own part of the helpers

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use ssekit_core::Event;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_util::sync::CancellationToken;

/// How long any single wait in a test may take before the test fails.
pub(crate) const WAIT: Duration = Duration::from_secs(5);

/// What every stream opens with by default (`SseConfig::DEFAULT_RETRY`):
/// the usual reconnection time, restored.
pub(crate) const OPENING: &str = "retry: 3000\n\n";

/// Awaits `future`, failing the test after [`WAIT`].
pub(crate) async fn within<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(WAIT, future).await {
        Ok(output) => output,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A server accepting connections until `shutdown` is cancelled, then
/// shutting down gracefully; `task` ends when every connection has ended.
pub(crate) struct Server {
    pub addr: SocketAddr,
    pub task: JoinHandle<()>,
}

pub(crate) async fn serve<S, B>(service: S, shutdown: CancellationToken) -> Server
where
    S: tower::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let graceful = GracefulShutdown::new();
        let builder = auto::Builder::new(TokioExecutor::new());
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((tcp, _)) = accepted else { continue };
                    let connection = builder
                        .serve_connection(TokioIo::new(tcp), TowerToHyperService::new(service.clone()))
                        .into_owned();
                    let connection = graceful.watch(connection);
                    tokio::spawn(async move {
                        let _ = connection.await;
                    });
                }
                () = shutdown.cancelled() => break,
            }
        }
        drop(listener);
        graceful.shutdown().await;
    });
    Server { addr, task }
}

/// A service whose every response streams the events the test pushes: each
/// request hands the test an `UnboundedSender<Event>` through the returned
/// receiver. The stream ends when the test drops the sender.
#[allow(clippy::type_complexity)] // an `impl Service` and its receiver
pub(crate) fn pushed_events() -> (
    impl tower::Service<
        Request<Incoming>,
        Response = Response<UnboundedReceiverStream<Event>>,
        Error = Infallible,
        Future = impl Send,
    > + Clone
    + Send
    + 'static,
    mpsc::UnboundedReceiver<mpsc::UnboundedSender<Event>>,
) {
    let (senders_tx, senders_rx) = mpsc::unbounded_channel();
    let service = tower::service_fn(move |_request: Request<Incoming>| {
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = senders_tx.send(tx);
        async move { Ok::<_, Infallible>(Response::new(UnboundedReceiverStream::new(rx))) }
    });
    (service, senders_rx)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Version {
    Http1,
    Http2,
}

/// A client connection; dropping it (or calling `disconnect`) closes the
/// TCP connection.
pub(crate) struct Client {
    connection: JoinHandle<()>,
    send: Sender,
}

enum Sender {
    H1(hyper::client::conn::http1::SendRequest<Empty<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Empty<Bytes>>),
}

impl Client {
    pub(crate) async fn connect(addr: SocketAddr, version: Version) -> Client {
        let tcp = within("connect", TcpStream::connect(addr)).await.unwrap();
        let io = TokioIo::new(tcp);
        match version {
            Version::Http1 => {
                let (send, connection) = hyper::client::conn::http1::handshake(io).await.unwrap();
                let connection = tokio::spawn(async move {
                    let _ = connection.await;
                });
                Client {
                    connection,
                    send: Sender::H1(send),
                }
            }
            Version::Http2 => {
                let (send, connection) =
                    hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                        .await
                        .unwrap();
                let connection = tokio::spawn(async move {
                    let _ = connection.await;
                });
                Client {
                    connection,
                    send: Sender::H2(send),
                }
            }
        }
    }

    pub(crate) async fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> Response<Incoming> {
        let mut request = Request::get(format!("http://127.0.0.1{path}"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Empty::new()).unwrap();
        let response = match &mut self.send {
            Sender::H1(send) => within("response head", send.send_request(request)).await,
            Sender::H2(send) => within("response head", send.send_request(request)).await,
        };
        response.unwrap()
    }

    /// Closes the TCP connection at once.
    pub(crate) fn disconnect(self) {
        self.connection.abort();
    }
}

/// The milliseconds of a frame that is only `retry: <ms>`.
pub(crate) fn retry_ms(frame: &str) -> u64 {
    frame
        .strip_prefix("retry: ")
        .and_then(|rest| rest.strip_suffix("\n\n"))
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("a retry alone, not {frame:?}"))
}

/// Reads an event stream body frame by frame (`…\n\n`), whatever the chunks.
pub(crate) struct FrameReader<B> {
    body: B,
    buffer: Vec<u8>,
}

impl<B> FrameReader<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Debug,
{
    pub(crate) fn new(body: B) -> Self {
        FrameReader {
            body,
            buffer: Vec::new(),
        }
    }

    /// Reads `body`, checking that its first frame is the default
    /// [`OPENING`].
    pub(crate) async fn opened(body: B) -> Self {
        let mut frames = FrameReader::new(body);
        assert_eq!(frames.next().await.unwrap(), OPENING);
        frames
    }

    /// The next complete frame, or `None` at the end of the body.
    pub(crate) async fn next(&mut self) -> Option<String> {
        within("the next frame", self.next_unbounded()).await
    }

    pub(crate) async fn next_unbounded(&mut self) -> Option<String> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let frame: Vec<u8> = self.buffer.drain(..end + 2).collect();
                return Some(String::from_utf8(frame).unwrap());
            }
            let frame = self.body.frame().await?.unwrap();
            if let Ok(data) = frame.into_data() {
                self.buffer.extend_from_slice(&data);
            }
        }
    }

    /// Reads frames until the end of the body.
    pub(crate) async fn rest(&mut self) -> Vec<String> {
        let mut frames = Vec::new();
        while let Some(frame) = self.next().await {
            frames.push(frame);
        }
        frames
    }
}

/// A service that subscribes every request to the topic `room` of
/// `broker`, resuming from its `Last-Event-ID`, with keep-alives off.
#[cfg(feature = "broker")]
pub(crate) fn broker_service(
    broker: ssekit_core::broker::Broker,
) -> impl tower::Service<
    Request<Incoming>,
    Response = http::Response<ssekit_tower::SseBody<ssekit_core::broker::Subscription>>,
    Error = Infallible,
    Future = impl Send,
> + Clone
+ Send
+ 'static {
    tower::service_fn(move |request: Request<Incoming>| {
        let broker = broker.clone();
        async move {
            let last_event_id = ssekit_tower::LastEventId::from_headers(request.headers());
            let response = ssekit_tower::subscribe(&broker, &["room"], &last_event_id)
                .await
                .expect("the broker is running")
                .keep_alive(ssekit_tower::KeepAlive::disabled())
                .into_response();
            Ok::<_, Infallible>(response)
        }
    })
}
