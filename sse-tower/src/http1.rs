//! [`serve_connection`]: HTTP/1 through hyper, except that an event
//! stream's socket is taken back from hyper once the response head is
//! written, and the body is written to it directly, so that an idle event
//! stream does not hold hyper's per-connection buffers.
//!
//! An event stream is the answer to a `GET` with a success status and
//! `Content-Type: text/event-stream`. It goes out as HTTP/1.0 with no
//! length and no chunk framing, and ends when the connection closes (then
//! `EventSource` reconnects). Other responses are hyper's, with keep-alive.
//!
//! A client that closes its connection is noticed at once, even on a quiet
//! stream: hyper reads for the close while it holds a response, and a
//! handed-off stream reads for it too, so the body (and its broker
//! subscription) is dropped then, not at its next write.
//!
//! The deadlines are the caller's, as with hyper's own `serve_connection`:
//! give the builder a timer and a
//! [`header_read_timeout`](http1::Builder::header_read_timeout) (hyper's
//! 30 s default applies only with a timer: without one, a client that sends
//! half a request head holds its connection for ever, and a graceful
//! shutdown waits on it), and wrap each socket in a
//! [`WriteDeadline`](crate::WriteDeadline), or a client that stops reading
//! holds its stream, and the shutdown, for ever. The sample at
//! [`serve_connection_with_shutdown`] does both; `serve`
//! (feature `serve`) does it all, and closes what is left after its grace.

use std::collections::VecDeque;
use std::error::Error as StdError;
use std::future::{Future, poll_fn};
use std::io::IoSlice;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Buf;
use http::{Method, Request, Response, Version, header};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tower_service::Service;

use crate::shutdown::Shutdown;

type BoxError = Box<dyn StdError + Send + Sync>;

/// A tower service that [`serve_connection`] serves (any service of
/// `Request<Incoming>` that is `Clone`, `Send` and `'static`, with a
/// `Send` future and an error that boxes).
pub trait HttpService<B>:
    Service<
        Request<Incoming>,
        Response = Response<B>,
        Error: Into<BoxError>,
        Future: Send + 'static,
    > + Clone
    + Send
    + 'static
{
}

impl<S, B> HttpService<B> for S
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
{
}

/// A response body that [`serve_connection`] writes (any `Send + 'static`
/// body with `Send` data and an error that boxes).
pub trait ResponseBody: Body<Data: Send, Error: Into<BoxError>> + Send + 'static {}

impl<B> ResponseBody for B
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
}

/// Serves one connection with `builder` as `builder.serve_connection(io,
/// service)` would, with event streams taken back from hyper (see the
/// [module docs](self)). Resolves with hyper's error if hyper failed, and
/// otherwise once the connection is done: a client that goes away drops
/// its event stream's body at once. A server loop is shown at
/// [`serve_connection_with_shutdown`].
pub fn serve_connection<I, S, B>(
    builder: &http1::Builder,
    io: I,
    service: S,
) -> impl Future<Output = Result<(), hyper::Error>> + Send + 'static
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: HttpService<B>,
    B: ResponseBody,
{
    serve_connection_with_shutdown(builder, io, service, std::future::pending())
}

/// [`serve_connection`], shut down gracefully when `shutdown` completes:
/// while hyper serves the connection, the response in flight finishes and
/// the connection closes. An event stream already taken back ends only when
/// its body does, so give the body the same signal as a [`Shutdown`].
///
/// hyper closes at once only a connection that has read nothing: one
/// holding half a request head waits for the rest, or for the head
/// timeout, and a stream's last write to a client that stopped reading
/// waits for the write deadline. So bound the wait for the connections,
/// as below (what is left is dropped with the runtime), or serve with
/// `serve`, which closes them after its grace.
///
/// ```no_run
/// use std::convert::Infallible;
/// use std::time::Duration;
/// use hyper::server::conn::http1;
/// use hyper_util::rt::TokioTimer;
/// use ssekit_core::Event;
/// use ssekit_tower::{Shutdown, SseLayer, WriteDeadline};
/// use tokio_util::sync::CancellationToken;
/// use tokio_util::task::TaskTracker;
/// use tower::ServiceBuilder;
///
/// # async fn run(listener: tokio::net::TcpListener) -> std::io::Result<()> {
/// let shutdown = CancellationToken::new();
/// let service = ServiceBuilder::new()
///     .layer(SseLayer::new().shutdown(Shutdown::new(shutdown.clone())))
///     .service_fn(|_: http::Request<hyper::body::Incoming>| async {
///         Ok::<_, Infallible>(http::Response::new(futures_util::stream::pending::<Event>()))
///     });
/// let mut builder = http1::Builder::new();
/// // A timer, or hyper's request-head timeout does not apply.
/// builder.timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(10));
/// let connections = TaskTracker::new();
/// loop {
///     tokio::select! {
///         accepted = listener.accept() => {
///             let (socket, _) = accepted?;
///             // A client that stops reading is closed after 30 s.
///             let socket = WriteDeadline::new(socket, Duration::from_secs(30));
///             let signal = shutdown.clone().cancelled_owned();
///             connections.spawn(ssekit_tower::http1::serve_connection_with_shutdown(
///                 &builder, socket, service.clone(), signal,
///             ));
///         }
///         () = shutdown.cancelled() => break,
///     }
/// }
/// connections.close();
/// // Every stream sent its end and closed, but for half-sent request heads
/// // and clients that stopped reading: those go with the runtime.
/// let _ = tokio::time::timeout(Duration::from_secs(1), connections.wait()).await;
/// # Ok(())
/// # }
/// ```
pub fn serve_connection_with_shutdown<I, S, B, F>(
    builder: &http1::Builder,
    io: I,
    service: S,
    shutdown: F,
) -> impl Future<Output = Result<(), hyper::Error>> + Send + 'static
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: HttpService<B>,
    B: ResponseBody,
    F: Future<Output = ()> + Send + 'static,
{
    connection(builder, io, service, shutdown, None)
}

/// [`serve_connection_with_shutdown`], with `ending` for a handed-off
/// event stream: when its token is cancelled (`crate::serve` shuts down),
/// the stream writes what its body has ready, then the `Shutdown`'s last
/// frame (a drawn `retry:` and the final event) unless the body ended by
/// itself, and closes.
pub(crate) fn connection<I, S, B, F>(
    builder: &http1::Builder,
    io: I,
    service: S,
    shutdown: F,
    ending: Option<Shutdown>,
) -> impl Future<Output = Result<(), hyper::Error>> + Send + 'static
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: HttpService<B>,
    B: ResponseBody,
    F: Future<Output = ()> + Send + 'static,
{
    let handed_off = Arc::new(Mutex::new(None));
    let service = HandOff {
        inner: service,
        handed_off: Arc::clone(&handed_off),
    };
    // Boxed: what hyper keeps per connection (its state, its buffers) is
    // freed when it is done, not held in this future while the stream runs.
    let mut connection = Box::new(builder.serve_connection(TokioIo::new(io), service));
    async move {
        {
            // In a block: the signal is dropped once hyper is done, and a
            // handed-off stream no longer holds it.
            let mut shutdown = pin!(shutdown);
            let mut signalled = false;
            poll_fn(|cx| {
                if !signalled && shutdown.as_mut().poll(cx).is_ready() {
                    signalled = true;
                    Pin::new(&mut *connection).graceful_shutdown();
                }
                connection.poll_without_shutdown(cx)
            })
            .await?;
        }
        let parts = {
            // Moved into this block, so that its box is freed at the block's
            // end: a box moved out of stays allocated until it goes out of
            // scope, which here would be when the event stream ends.
            let connection = connection;
            (*connection).into_parts()
        };
        // Bytes read past the request share hyper's read buffer: let go.
        drop(parts.read_buf);
        drop(parts.service);
        let body = handed_off
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let mut io = parts.io.into_inner();
        match body {
            Some(body) => write_events(&mut io, body, ending.as_ref()).await,
            // Not an event stream: hyper is done with the connection.
            None => {
                let _ = io.shutdown().await;
            }
        }
        Ok(())
    }
}

/// The application's service, with an event stream's body set aside.
struct HandOff<S, B> {
    inner: S,
    handed_off: Arc<Mutex<Option<B>>>,
}

// Nothing of `HandOff` is pinned: each call clones `inner`. hyper's
// `poll_without_shutdown` asks for an `Unpin` service.
impl<S, B> Unpin for HandOff<S, B> {}

impl<S, B> hyper::service::Service<Request<Incoming>> for HandOff<S, B>
where
    S: HttpService<B>,
    B: Body + Send + 'static,
{
    type Response = Response<Served<B>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let mut inner = self.inner.clone();
        let handed_off = Arc::clone(&self.handed_off);
        let get = request.method() == Method::GET;
        Box::pin(async move {
            poll_fn(|cx| inner.poll_ready(cx))
                .await
                .map_err(Into::into)?;
            let response = inner.call(request).await.map_err(Into::into)?;
            if !(get && response.status().is_success() && is_event_stream(&response)) {
                return Ok(response.map(|body| Served::Hyper { body }));
            }
            let (mut head, body) = response.into_parts();
            *handed_off.lock().unwrap_or_else(PoisonError::into_inner) = Some(body);
            // HTTP/1.0 without a length: hyper writes the head, ends the
            // (empty) body without framing, and ends the connection.
            head.version = Version::HTTP_10;
            head.headers.remove(header::CONTENT_LENGTH);
            head.headers.remove(header::TRANSFER_ENCODING);
            Ok(Response::from_parts(head, Served::HandedOff))
        })
    }
}

pub(crate) fn is_event_stream<B>(response: &Response<B>) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/event-stream"))
}

pin_project! {
    /// The application's body, or none for an event stream taken back.
    #[project = ServedProj]
    enum Served<B> {
        Hyper { #[pin] body: B },
        HandedOff,
    }
}

impl<B: Body> Body for Served<B>
where
    B::Error: Into<BoxError>,
{
    type Data = B::Data;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, BoxError>>> {
        match self.project() {
            ServedProj::Hyper { body } => body.poll_frame(cx).map_err(Into::into),
            ServedProj::HandedOff => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Served::Hyper { body } => body.is_end_stream(),
            // Not "empty": hyper would write `content-length: 0`.
            Served::HandedOff => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Served::Hyper { body } => body.size_hint(),
            Served::HandedOff => SizeHint::default(),
        }
    }
}

/// At most this many frames go out in one vectored write, as with hyper.
const GATHER: usize = 16;

/// At most this many ready frames are written when the server shuts down.
const DRAIN: usize = 4 * GATHER;

/// What the writer waits for next.
enum Next<F> {
    Frame(Option<F>),
    Ending,
}

/// Writes the body to `io` until it ends, a write fails, the client closes
/// or `ending` fires, then closes the connection.
async fn write_events<I, B>(io: &mut I, body: B, ending: Option<&Shutdown>)
where
    I: AsyncRead + AsyncWrite + Unpin,
    B: Body,
    B::Error: Into<BoxError>,
{
    let mut body = pin!(body);
    let signal = async {
        match ending {
            Some(ending) => ending.token().cancelled().await,
            None => std::future::pending().await,
        }
    };
    let mut signal = pin!(signal);
    let mut ended = false;
    while !ended {
        let next = poll_fn(|cx| {
            if signal.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Next::Ending);
            }
            if client_closed(io, cx) {
                return Poll::Ready(Next::Frame(None));
            }
            body.as_mut()
                .poll_frame(cx)
                .map(|frame| Next::Frame(frame.map(|frame| frame.map_err(Into::into))))
        })
        .await;
        let first = match next {
            Next::Frame(first) => first,
            Next::Ending => {
                if let Some(ending) = ending {
                    end_on_signal(io, body, ending).await;
                }
                return;
            }
        };
        let mut gathered = Gathered(VecDeque::new());
        match first {
            Some(Ok(frame)) => gathered.push(frame),
            Some(Err(error)) => {
                tracing::debug!(error = %error, "event stream body failed");
                break;
            }
            None => break,
        }
        // What else is ready now, without waiting for it.
        ended = gather_ready(&mut body, &mut gathered, GATHER).await;
        if io.write_all_buf(&mut gathered).await.is_err() || io.flush().await.is_err() {
            tracing::debug!("event stream client gone (write failed)");
            return;
        }
    }
    let _ = io.shutdown().await;
}

/// Moves the frames `body` has ready into `gathered`, up to `limit` in
/// all; true if the body ended.
async fn gather_ready<B>(
    body: &mut Pin<&mut B>,
    gathered: &mut Gathered<B::Data>,
    limit: usize,
) -> bool
where
    B: Body,
    B::Error: Into<BoxError>,
{
    while gathered.0.len() < limit {
        match poll_fn(|cx| Poll::Ready(body.as_mut().poll_frame(cx))).await {
            Poll::Ready(Some(Ok(frame))) => gathered.push(frame),
            Poll::Ready(Some(Err(error))) => {
                tracing::debug!(error = %error.into(), "event stream body failed");
                return true;
            }
            Poll::Ready(None) => return true,
            Poll::Pending => return false,
        }
    }
    false
}

/// The server is shutting down: writes what `body` has ready (with its own
/// final event if its `Shutdown` fired), then the server's drawn `retry:`
/// and final event if the body did not end by itself, and closes.
async fn end_on_signal<I, B>(io: &mut I, mut body: Pin<&mut B>, ending: &Shutdown)
where
    I: AsyncWrite + Unpin,
    B: Body,
    B::Error: Into<BoxError>,
{
    let mut gathered = Gathered(VecDeque::new());
    let ended = gather_ready(&mut body, &mut gathered, DRAIN).await;
    if io.write_all_buf(&mut gathered).await.is_err() {
        return;
    }
    if let (false, Some(last)) = (ended, ending.last_frame()) {
        if io.write_all(&last).await.is_err() {
            return;
        }
    }
    let _ = io.flush().await;
    let _ = io.shutdown().await;
}

/// Data frames as one [`Buf`], for one vectored write.
struct Gathered<D>(VecDeque<D>);

impl<D: Buf> Gathered<D> {
    fn push(&mut self, frame: Frame<D>) {
        // Trailers have no place in an event stream.
        if let Ok(data) = frame.into_data() {
            self.0.push_back(data);
        }
    }
}

impl<D: Buf> Buf for Gathered<D> {
    fn remaining(&self) -> usize {
        self.0.iter().map(Buf::remaining).sum()
    }

    fn chunk(&self) -> &[u8] {
        self.0
            .iter()
            .map(Buf::chunk)
            .find(|chunk| !chunk.is_empty())
            .unwrap_or(&[])
    }

    fn advance(&mut self, mut cnt: usize) {
        while let Some(front) = self.0.front_mut() {
            let left = front.remaining();
            if left > cnt {
                front.advance(cnt);
                return;
            }
            cnt -= left;
            self.0.pop_front();
        }
        assert_eq!(cnt, 0, "advanced past the end");
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut filled = 0;
        for buf in &self.0 {
            if filled == dst.len() {
                break;
            }
            filled += buf.chunks_vectored(&mut dst[filled..]);
        }
        filled
    }
}

/// Whether the client closed its side or the socket failed; what it sends
/// is dropped. Registers for the next read.
fn client_closed<I: AsyncRead + Unpin>(io: &mut I, cx: &mut Context<'_>) -> bool {
    let mut scratch = [0u8; 64];
    loop {
        let mut buf = ReadBuf::new(&mut scratch);
        match Pin::new(&mut *io).poll_read(cx, &mut buf) {
            Poll::Pending => return false,
            Poll::Ready(Ok(())) if buf.filled().is_empty() => return true,
            Poll::Ready(Ok(())) => continue,
            Poll::Ready(Err(_)) => return true,
        }
    }
}
