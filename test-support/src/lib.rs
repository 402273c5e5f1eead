//! Test support shared by the framework adapters' tests: an HTTP/1.1
//! client over hyper that reads an event stream frame by frame (and through
//! gzip), with every wait bounded, and the behaviour suite every adapter
//! passes ([`adapter_suite`](mod@adapter_suite)).
//!
//! Not published; a dev-dependency of `ssekit-axum`, `ssekit-warp` and `ssekit-poem`,
//! so the three adapters are tested by the same client code, and of
//! `ssekit-redis` and the chat example, for [`redis::RedisServer`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod adapter_suite;
pub mod example_suite;
pub mod hostile;
pub mod private;
pub mod process;
pub mod redis;
pub mod redis_cluster;
pub mod serve;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use async_compression::tokio::bufread::GzipDecoder;
use bytes::Bytes;
use futures_util::TryStreamExt;
use http::{Request, Response};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use ssekit_core::broker::Broker;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_util::io::StreamReader;

/// How long any single wait in a test may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(5);

/// How soon an event must arrive to count as "not buffered".
pub const PROMPT: Duration = Duration::from_millis(500);

/// What every stream served with the default configuration opens with
/// (`SseConfig::DEFAULT_RETRY`): the usual reconnection time, restored
/// after a refusal or a shutdown asked the client to wait longer.
pub const OPENING: &str = "retry: 3000\n\n";

/// Awaits `future`, failing the test after [`WAIT`].
pub async fn within<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(WAIT, future).await {
        Ok(output) => output,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// One HTTP/1.1 connection; it stays open while a response body is read,
/// until `disconnect`.
pub struct Client {
    connection: JoinHandle<()>,
    send: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
}

impl Client {
    /// Opens a connection to `addr` (HTTP/1.1 handshake included).
    pub async fn connect(addr: SocketAddr) -> Client {
        let tcp = within("connect", TcpStream::connect(addr)).await.unwrap();
        let (send, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .unwrap();
        let connection = tokio::spawn(async move {
            let _ = connection.await;
        });
        Client { connection, send }
    }

    /// Sends `GET path` with `headers` (raw bytes, so that tests can send
    /// invalid values) and waits for the response head.
    pub async fn get(&mut self, path: &str, headers: &[(&str, &[u8])]) -> Response<Incoming> {
        let mut request = Request::get(format!("http://127.0.0.1{path}"));
        for (name, value) in headers {
            request = request.header(*name, http::HeaderValue::from_bytes(value).unwrap());
        }
        let request = request.body(Empty::new()).unwrap();
        within("response head", self.send.send_request(request))
            .await
            .unwrap()
    }

    /// Closes the TCP connection at once.
    pub fn disconnect(self) {
        self.connection.abort();
    }
}

/// A whole (finite) body as text.
pub async fn text(response: Response<Incoming>) -> String {
    let bytes = within("the whole body", response.into_body().collect())
        .await
        .unwrap()
        .to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// Reads an event stream body frame by frame (`…\n\n`), whatever the chunks.
pub struct FrameReader {
    body: Incoming,
    buffer: Vec<u8>,
}

impl FrameReader {
    /// Reads the body of `response`.
    pub fn new(response: Response<Incoming>) -> Self {
        FrameReader {
            body: response.into_body(),
            buffer: Vec::new(),
        }
    }

    /// Reads the body of `response`, checking that its first frame is the
    /// default [`OPENING`].
    pub async fn opened(response: Response<Incoming>) -> Self {
        let mut frames = FrameReader::new(response);
        assert_eq!(frames.next().await.unwrap(), OPENING, "the opening");
        frames
    }

    /// The next complete frame, or `None` at the end of the body.
    pub async fn next(&mut self) -> Option<String> {
        within("the next frame", self.next_unbounded()).await
    }

    /// The next frame, failing the test unless it comes within [`PROMPT`].
    pub async fn next_promptly(&mut self) -> Option<String> {
        match tokio::time::timeout(PROMPT, self.next_unbounded()).await {
            Ok(frame) => frame,
            Err(_) => panic!("no frame within {PROMPT:?}: the stream is buffered"),
        }
    }

    /// The next frame, waiting as long as it takes (wrap it in a timeout).
    pub async fn next_unbounded(&mut self) -> Option<String> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let frame: Vec<u8> = self.buffer.drain(..end + 2).collect();
                return Some(String::from_utf8(frame).unwrap());
            }
            match self.body.frame().await {
                Some(frame) => {
                    if let Ok(data) = frame.unwrap().into_data() {
                        self.buffer.extend_from_slice(&data);
                    }
                }
                None => return None,
            }
        }
    }
}

/// The decompressed lines of a gzip response body.
pub type GzipLines = Lines<BufReader<GzipDecoder<StreamReader<BoxedData, Bytes>>>>;
/// A response body as a stream of `io::Result<Bytes>`, for the decompressor.
pub type BoxedData =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = std::io::Result<Bytes>> + Send>>;

/// The decompressed lines of a gzip body, as they arrive.
pub fn gzip_lines(response: Response<Incoming>) -> GzipLines {
    let data: BoxedData = Box::pin(
        response
            .into_body()
            .into_data_stream()
            .map_err(std::io::Error::other),
    );
    BufReader::new(GzipDecoder::new(StreamReader::new(data))).lines()
}

/// The next line of `lines`, failing the test unless it comes within [`PROMPT`].
pub async fn next_line_promptly(lines: &mut GzipLines) -> String {
    match tokio::time::timeout(PROMPT, lines.next_line()).await {
        Ok(line) => line.unwrap().expect("a line, not the end"),
        Err(_) => panic!("no line within {PROMPT:?}: the stream is buffered"),
    }
}

/// The events a WHATWG-conforming client receives from `wire`, decoded with
/// `ssekit-core`'s decoder (itself checked against the npm `eventsource`
/// client): what a browser would see.
pub fn received(wire: &[u8]) -> Vec<ssekit_core::decode::MessageEvent> {
    ssekit_core::decode::Decoder::new()
        .decode(wire)
        .filter_map(|item| match item {
            Ok(ssekit_core::decode::Decoded::Event(event)) => Some(event),
            _ => None,
        })
        .collect()
}

/// The `id:` of an encoded event: its last `id:` line, which a browser
/// would take as its last event id. Panics if there is none.
pub fn id_of(event: &ssekit_core::Event) -> String {
    String::from_utf8_lossy(event.as_bytes())
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix("id: "))
        .expect("an id line")
        .to_owned()
}

/// The workspace README's code blocks, compiled and run as doctests here
/// (this crate's dev-dependencies cover every crate they use), so the front
/// door never shows code that does not build.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

/// Each library crate's README (its page on crates.io), compiled and run
/// the same way.
#[cfg(doctest)]
mod crate_readmes {
    #[doc = include_str!("../../sse-core/README.md")]
    struct Core;
    #[doc = include_str!("../../sse-tower/README.md")]
    struct Tower;
    #[doc = include_str!("../../sse-axum/README.md")]
    struct Axum;
    #[doc = include_str!("../../sse-warp/README.md")]
    struct Warp;
    #[doc = include_str!("../../sse-poem/README.md")]
    struct Poem;
    #[doc = include_str!("../../sse-redis/README.md")]
    struct Redis;
    #[doc = include_str!("../../sse-client/README.md")]
    struct Client;
}

/// Waits until `broker` holds exactly `n` subscriptions, failing the test
/// after [`WAIT`].
pub async fn subscriptions_become(broker: &Broker, n: u64) {
    within("the subscriber count", async {
        while broker.stats().subscriptions != n {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

/// The id with which a framework's own event injects a field.
pub const INJECTING_ID: &str = "1\nevent: admin";

/// Checks that `builtin`, the wire bytes of a framework's own event with id
/// [`INJECTING_ID`], lets the id inject an event type, and that ours refuses
/// that id with an error naming the field.
pub fn assert_builtin_injects_a_field_ours_refuses_the_id(builtin: &[u8]) {
    let builtin = received(builtin);
    assert_eq!(
        builtin[0].event_type(),
        "admin",
        "the id injected an event type"
    );

    let ours = ssekit_core::Event::builder()
        .id(INJECTING_ID)
        .data("x")
        .build();
    assert!(matches!(
        ours,
        Err(ssekit_core::EventError::LineBreak {
            field: ssekit_core::Field::Id
        })
    ));
}
