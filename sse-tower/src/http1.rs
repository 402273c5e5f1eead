//! [`serve_connection`]: HTTP/1 through hyper, but an event stream's socket
//! is taken back from hyper once the response head is written.
//!
//! An idle SSE connection served by hyper keeps hyper's per-connection
//! buffers for its whole life: an 8 KiB read buffer and an 8 KiB write
//! buffer that never shrink, one touched page of each resident. A server
//! holding ten thousand idle browsers spends most of its memory there.
//! Here hyper parses the request, the service answers it as usual, and
//! when the answer is an event stream (`Content-Type: text/event-stream`
//! on a `GET`), hyper writes the head and hands the socket back; the body
//! is then written to the socket directly, and hyper's connection state is
//! freed. Other responses are served by hyper as they would be, with
//! keep-alive. Measured in `docs/BENCHMARKS.md` (load, RSS per idle
//! connection).
//!
//! The event stream goes out close-delimited: the response is HTTP/1.0
//! with no length, so it ends when the connection closes, which is what an
//! event stream does anyway (`EventSource` reconnects). No chunk framing is
//! written around the events.

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

type BoxError = Box<dyn StdError + Send + Sync>;

/// Serves one connection with `builder`, as
/// `builder.serve_connection(io, service)` would, except that an event
/// stream's body is written to the socket directly once hyper has written
/// its head (see the [module docs](self)).
///
/// Resolves when the connection is done: hyper's error if hyper failed, or
/// `Ok` once an event stream ended (its body ended, or the client went
/// away, which drops the body and so unsubscribes it at once).
///
/// ```no_run
/// use std::convert::Infallible;
/// use hyper::server::conn::http1;
/// use hyper_util::rt::TokioTimer;
/// use ssekit_core::Event;
///
/// # async fn run() -> std::io::Result<()> {
/// let service = tower::service_fn(|_request: http::Request<hyper::body::Incoming>| async {
///     let events = futures_util::stream::iter([Event::data("hello")]);
///     Ok::<_, Infallible>(ssekit_tower::response(events))
/// });
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let mut builder = http1::Builder::new();
/// builder.timer(TokioTimer::new());
/// loop {
///     let (socket, _) = listener.accept().await?;
///     let connection = ssekit_tower::http1::serve_connection(&builder, socket, service.clone());
///     tokio::spawn(connection);
/// }
/// # }
/// ```
pub fn serve_connection<I, S, B>(
    builder: &http1::Builder,
    io: I,
    service: S,
) -> impl Future<Output = Result<(), hyper::Error>> + Send + 'static
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    serve_connection_with_shutdown(builder, io, service, std::future::pending())
}

/// [`serve_connection`], shut down gracefully when `shutdown` completes:
/// while hyper still serves the connection, it finishes the response in
/// flight and then closes instead of waiting for another request (hyper's
/// `graceful_shutdown`), as `hyper_util`'s `GracefulShutdown` would have
/// it. An event stream already handed off is not cut: it ends when its
/// body does, so give its body the same signal
/// ([`Shutdown`](crate::Shutdown)) to end it with a final event.
///
/// ```no_run
/// use std::convert::Infallible;
/// use hyper::server::conn::http1;
/// use hyper_util::rt::TokioTimer;
/// use ssekit_core::Event;
/// use ssekit_tower::{Shutdown, SseLayer};
/// use tokio_util::sync::CancellationToken;
/// use tokio_util::task::TaskTracker;
/// use tower::ServiceBuilder;
///
/// # async fn run() -> std::io::Result<()> {
/// let shutdown = CancellationToken::new();
/// let service = ServiceBuilder::new()
///     .layer(SseLayer::new().shutdown(Shutdown::new(shutdown.clone())))
///     .service_fn(|_request: http::Request<hyper::body::Incoming>| async {
///         let events = futures_util::stream::pending::<Event>();
///         Ok::<_, Infallible>(http::Response::new(events))
///     });
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let mut builder = http1::Builder::new();
/// builder.timer(TokioTimer::new());
/// let connections = TaskTracker::new();
/// loop {
///     tokio::select! {
///         accepted = listener.accept() => {
///             let (socket, _) = accepted?;
///             let signal = shutdown.clone().cancelled_owned();
///             connections.spawn(ssekit_tower::http1::serve_connection_with_shutdown(
///                 &builder, socket, service.clone(), signal,
///             ));
///         }
///         () = shutdown.cancelled() => break,
///     }
/// }
/// connections.close();
/// connections.wait().await; // every stream sent its end and closed
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
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
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
            Some(body) => write_events(&mut io, body).await,
            // Not an event stream: hyper is done with the connection.
            None => {
                let _ = io.shutdown().await;
            }
        }
        Ok(())
    }
}

/// The service hyper sees: the application's, with an event stream's body
/// set aside for [`serve_connection`] to write.
struct HandOff<S, B> {
    inner: S,
    handed_off: Arc<Mutex<Option<B>>>,
}

// Nothing of `HandOff` is pinned: each call clones `inner`. hyper's
// `poll_without_shutdown` asks for an `Unpin` service.
impl<S, B> Unpin for HandOff<S, B> {}

impl<S, B> hyper::service::Service<Request<Incoming>> for HandOff<S, B>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
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

fn is_event_stream<B>(response: &Response<B>) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/event-stream"))
}

pin_project! {
    /// A response body as hyper writes it: the application's, or none for
    /// an event stream written after the hand-off.
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

/// Frames gathered into one vectored write, as hyper gathers them: at
/// most this many.
const GATHER: usize = 16;

/// Writes the body's data frames to `io` until the body ends, a write
/// fails, or the client closes its side; then closes the connection. The
/// frames ready together (up to [`GATHER`]) go out in one vectored write.
async fn write_events<I, B>(io: &mut I, body: B)
where
    I: AsyncRead + AsyncWrite + Unpin,
    B: Body,
    B::Error: Into<BoxError>,
{
    let mut body = pin!(body);
    let mut ended = false;
    while !ended {
        let first = poll_fn(|cx| {
            if client_closed(io, cx) {
                return Poll::Ready(None);
            }
            body.as_mut().poll_frame(cx)
        })
        .await;
        let mut gathered = Gathered(VecDeque::new());
        match first.map(|frame| frame.map_err(Into::into)) {
            Some(Ok(frame)) => gathered.push(frame),
            Some(Err(error)) => {
                tracing::debug!(error = %error, "event stream body failed");
                break;
            }
            None => break,
        }
        // What else is ready now, without waiting for it.
        while gathered.0.len() < GATHER && !ended {
            match poll_fn(|cx| Poll::Ready(body.as_mut().poll_frame(cx))).await {
                Poll::Ready(Some(Ok(frame))) => gathered.push(frame),
                Poll::Ready(Some(Err(error))) => {
                    tracing::debug!(error = %error.into(), "event stream body failed");
                    ended = true;
                }
                Poll::Ready(None) => ended = true,
                Poll::Pending => break,
            }
        }
        if io.write_all_buf(&mut gathered).await.is_err() || io.flush().await.is_err() {
            tracing::debug!("event stream client gone (write failed)");
            return;
        }
    }
    let _ = io.shutdown().await;
}

/// Data frames as one [`Buf`], written with one vectored write where the
/// socket supports it.
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

/// Whether the client closed its side (or the socket failed). Bytes it
/// sends after its request are read and dropped: an event stream takes no
/// further requests. Registers for the next read when there is none.
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
