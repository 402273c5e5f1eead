//! A scripted HTTP/1.1 server on 127.0.0.1 and an in-process mock client,
//! shared by the integration tests.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderMap, Request, Response, Uri};
use http_body::Frame;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{Full, StreamBody};
use ssekit_client::{EventSource, Item, MessageEvent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};

/// Every wait in the tests is bounded by this.
pub(crate) const LIMIT: Duration = Duration::from_secs(10);

pub(crate) const SSE_HEAD: &str =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";

/// What the server does on one connection, after reading the request.
pub(crate) struct Reply {
    steps: Vec<Step>,
    hold: bool,
}

enum Step {
    Write(Vec<u8>),
    Pause(Duration),
}

impl Reply {
    /// `200 OK`, `text/event-stream`, the body delimited by the connection
    /// closing.
    pub(crate) fn sse() -> Self {
        Self::head(SSE_HEAD)
    }

    /// A response starting with these raw bytes (status line, headers and
    /// the blank line).
    pub(crate) fn head(head: &str) -> Self {
        Reply {
            steps: vec![Step::Write(head.as_bytes().to_vec())],
            hold: false,
        }
    }

    /// A redirect with `status` (as `"307 Temporary Redirect"`) to `location`.
    pub(crate) fn redirect(status: &str, location: &str) -> Self {
        Self::head(&format!(
            "HTTP/1.1 {status}\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ))
    }

    /// Closes the connection without answering: a network error.
    pub(crate) fn hang_up() -> Self {
        Reply {
            steps: Vec::new(),
            hold: false,
        }
    }

    /// Writes `bytes` as one chunk, then pauses a little so that the next
    /// chunk arrives in another read.
    pub(crate) fn chunk(mut self, bytes: impl AsRef<[u8]>) -> Self {
        self.steps.push(Step::Write(bytes.as_ref().to_vec()));
        self.steps.push(Step::Pause(Duration::from_millis(15)));
        self
    }

    /// Each of `chunks` in turn, as with [`chunk`](Self::chunk).
    pub(crate) fn chunks<const N: usize>(self, chunks: [&[u8]; N]) -> Self {
        chunks.into_iter().fold(self, Reply::chunk)
    }

    pub(crate) fn pause(mut self, pause: Duration) -> Self {
        self.steps.push(Step::Pause(pause));
        self
    }

    /// Keeps the connection open until the client drops it, then reports
    /// that on [`Server::dropped`].
    pub(crate) fn hold(mut self) -> Self {
        self.hold = true;
        self
    }
}

/// A request as the server read it.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub head: String,
    /// The body, as long as `Content-Length` said.
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Recorded {
    /// The request line: `GET /events HTTP/1.1`.
    pub(crate) fn request_line(&self) -> &str {
        self.head.split("\r\n").next().unwrap_or_default()
    }

    /// The value of header `name`, if the request had it.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.head.split("\r\n").skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

pub(crate) struct Server {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    dropped: mpsc::UnboundedReceiver<usize>,
}

impl Server {
    /// Serves `replies`, one per connection in order; once they run out,
    /// every connection gets `204 No Content`, which ends a source.
    pub(crate) async fn start(replies: Vec<Reply>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (dropped_tx, dropped) = mpsc::unbounded_channel();
        let recorded = requests.clone();
        tokio::spawn(async move {
            let mut replies = VecDeque::from(replies);
            for index in 0.. {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                let reply = replies
                    .pop_front()
                    .unwrap_or_else(|| Reply::head("HTTP/1.1 204 No Content\r\n\r\n"));
                let recorded = recorded.clone();
                let dropped = dropped_tx.clone();
                tokio::spawn(async move {
                    if let Ok(true) = answer(socket, reply, &recorded).await {
                        let _ = dropped.send(index);
                    }
                });
            }
        });
        Server {
            addr,
            requests,
            dropped,
        }
    }

    pub(crate) fn uri(&self) -> Uri {
        format!("http://{}/events", self.addr).parse().unwrap()
    }

    /// A source for this server, with short waits.
    #[cfg(feature = "hyper")]
    pub(crate) fn source(&self) -> EventSource {
        EventSource::builder(self.uri())
            .retry(Duration::from_millis(20))
            .build()
    }

    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// Waits until the client drops a held connection; returns its index.
    pub(crate) async fn dropped(&mut self) -> usize {
        timeout(LIMIT, self.dropped.recv())
            .await
            .expect("the client did not drop the connection in time")
            .unwrap()
    }
}

/// Answers one connection; `true` if it was held until the client left.
async fn answer(
    mut socket: TcpStream,
    reply: Reply,
    recorded: &Mutex<Vec<Recorded>>,
) -> io::Result<bool> {
    socket.set_nodelay(true)?;
    let mut head = Vec::new();
    let mut buf = [0; 1024];
    let end = loop {
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let n = socket.read(&mut buf).await?;
        if n == 0 {
            return Ok(false);
        }
        head.extend_from_slice(&buf[..n]);
    };
    let mut body = head.split_off(end);
    let head = String::from_utf8_lossy(&head).into_owned();
    let length: usize = head
        .split("\r\n")
        .find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    while body.len() < length {
        let n = socket.read(&mut buf).await?;
        if n == 0 {
            return Ok(false);
        }
        body.extend_from_slice(&buf[..n]);
    }
    recorded.lock().unwrap().push(Recorded {
        head,
        body,
        at: Instant::now(),
    });
    for step in reply.steps {
        match step {
            Step::Write(bytes) => {
                socket.write_all(&bytes).await?;
                socket.flush().await?;
            }
            Step::Pause(pause) => tokio::time::sleep(pause).await,
        }
    }
    if reply.hold {
        // Nothing more comes from the client: a read returns when it closes.
        let n = timeout(LIMIT, socket.read(&mut buf)).await??;
        return Ok(n == 0);
    }
    socket.shutdown().await?;
    Ok(false)
}

/// The next item, within [`LIMIT`]; panics if the stream ended.
pub(crate) async fn next(source: &mut EventSource) -> Item {
    timeout(LIMIT, source.next())
        .await
        .expect("no item in time")
        .expect("the stream ended")
}

/// The next item, which must be an event.
pub(crate) async fn next_event(source: &mut EventSource) -> MessageEvent {
    match next(source).await {
        Item::Event(event) => event,
        other => panic!("expected an event, got {other:?}"),
    }
}

/// Items up to the end of the stream (which a 204 brings), within [`LIMIT`].
pub(crate) async fn until_end(source: &mut EventSource) -> Vec<Item> {
    until_end_within(LIMIT, source).await
}

/// Items up to the end of the stream, within `limit`: on paused time, an
/// hour of waits passes in an instant, and a stuck stream fails at once.
pub(crate) async fn until_end_within(limit: Duration, source: &mut EventSource) -> Vec<Item> {
    timeout(limit, source.collect::<Vec<_>>())
        .await
        .expect("the stream did not end in time")
}

/// Items up to and including the first `Reconnecting`.
pub(crate) async fn until_reconnecting(source: &mut EventSource) -> Vec<Item> {
    let mut items = Vec::new();
    loop {
        let item = next(source).await;
        let done = matches!(item, Item::Reconnecting { .. });
        items.push(item);
        if done {
            return items;
        }
    }
}

/// The events among `items`, as (type, data, last event id).
pub(crate) fn events(items: &[Item]) -> Vec<(String, String, String)> {
    items
        .iter()
        .filter_map(|item| match item {
            Item::Event(e) => Some((
                e.event_type().to_owned(),
                e.data().to_owned(),
                e.last_event_id().to_owned(),
            )),
            _ => None,
        })
        .collect()
}

/// A `message` event as [`events`] lists it.
pub(crate) fn message(data: &str, id: &str) -> (String, String, String) {
    ("message".to_owned(), data.to_owned(), id.to_owned())
}

/// What the in-process mock client does for one request.
pub(crate) enum Mock {
    /// `200 OK` with an event stream of these bytes, then the end.
    Stream(&'static str),
    /// The request fails.
    Fail,
    /// A response with this status and headers, and an empty body.
    Status(u16, &'static [(&'static str, &'static str)]),
    /// `200 OK` with an event stream of these bytes, then nothing, ever.
    Silent(&'static str),
}

/// Requests the mock client received: when, and their headers.
pub(crate) type MockLog = Arc<Mutex<Vec<(Instant, HeaderMap)>>>;

/// A source on an in-process client that answers with `script` in order,
/// then with `204`: no sockets, so paused time is exact.
pub(crate) fn mock_source(
    builder: ssekit_client::Builder,
    script: Vec<Mock>,
) -> (EventSource, MockLog) {
    let script = Arc::new(Mutex::new(VecDeque::from(script)));
    let log = MockLog::default();
    let seen = log.clone();
    let service = tower::service_fn(move |request: Request<Full<Bytes>>| {
        type Body = UnsyncBoxBody<Bytes, Infallible>;
        seen.lock()
            .unwrap()
            .push((Instant::now(), request.headers().clone()));
        let step = script.lock().unwrap().pop_front();
        async move {
            let response = match step {
                Some(Mock::Fail) => {
                    return Err(io::Error::new(io::ErrorKind::ConnectionRefused, "refused"));
                }
                Some(Mock::Stream(body)) => Response::builder()
                    .header("content-type", "text/event-stream")
                    .body(Body::new(Full::new(Bytes::from_static(body.as_bytes())))),
                Some(Mock::Status(status, headers)) => {
                    let mut response = Response::builder().status(status);
                    for (name, value) in headers {
                        response = response.header(*name, *value);
                    }
                    response.body(Body::new(Full::default()))
                }
                Some(Mock::Silent(body)) => {
                    let frames = futures_util::stream::iter([Ok(Frame::data(Bytes::from_static(
                        body.as_bytes(),
                    )))])
                    .chain(futures_util::stream::pending());
                    Response::builder()
                        .header("content-type", "text/event-stream")
                        .body(Body::new(StreamBody::new(frames)))
                }
                None => Response::builder()
                    .status(204)
                    .body(Body::new(Full::default())),
            };
            Ok(response.unwrap())
        }
    });
    (builder.build_with_service(service), log)
}
