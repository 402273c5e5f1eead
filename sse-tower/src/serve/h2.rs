//! HTTP/2 connections of [`Serve::tls`](super::Serve::tls), served by
//! hyper's HTTP/2 with what `serve` gives an HTTP/1.1 connection: an idle
//! timeout in place of the request-head timeout, an event stream ended by
//! the server's shutdown with its final event, and a write deadline per
//! stream (the watchdog below).
//!
//! hyper polls a response body only when its stream has send capacity: a
//! frame the body yielded waits in hyper until the peer's flow-control
//! window opens, and the body is not polled meanwhile, so no timer inside
//! the body can fire. Each stream's task (hyper hands it to the
//! connection's executor, [`Watchdog`]) is therefore wrapped in
//! [`Watched`], which runs a timer while the last frame the body yielded
//! has not been taken: the body marks it (through a task-local) when it
//! yields a frame and clears it when it is polled again. When the timer
//! fires the stream's task is dropped, which drops the body (and its
//! subscription) and makes h2 reset the stream (`RST_STREAM`, `CANCEL`).

use std::future::{Future, poll_fn};
use std::marker::PhantomData;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Buf, Bytes};
use http::{HeaderMap, Method, Request, Response, header};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::http2;
use hyper_util::rt::{TokioIo, TokioTimer};
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::WaitForCancellationFutureOwned;

use crate::http1::{HttpService, ResponseBody, is_event_stream};
use crate::item::BoxError;
use crate::{Shutdown, telemetry};

/// At most this many ready frames are sent when the server shuts down, as
/// the HTTP/1.1 hand-off does.
const DRAIN: usize = 64;

/// How HTTP/2 connections are served.
#[derive(Clone, Debug)]
pub(super) struct H2 {
    builder: http2::Builder<Watchdog>,
    idle: Duration,
}

impl H2 {
    /// Streams whose frame waits `write_deadline` for the peer's window are
    /// reset; a connection without a stream for `idle` is closed.
    pub(super) fn new(write_deadline: Duration, idle: Duration) -> Self {
        let mut builder = http2::Builder::new(Watchdog {
            deadline: write_deadline,
        });
        builder.timer(TokioTimer::new());
        H2 { builder, idle }
    }
}

/// Serves one HTTP/2 connection until it ends; when `signal` completes it
/// shuts down gracefully (`GOAWAY`, the streams in flight finish), and an
/// event stream ends when `ending`'s token is cancelled, after what its
/// body has ready and then `ending`'s last frame, unless it ended by
/// itself.
pub(super) fn connection<I, S, B, F>(
    h2: &H2,
    io: I,
    service: S,
    signal: F,
    ending: Option<Shutdown>,
) -> impl Future<Output = Result<(), BoxError>> + Send + 'static
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: HttpService<B>,
    B: ResponseBody,
    F: Future<Output = ()> + Send + 'static,
{
    let activity = Arc::new(Activity::default());
    let service = H2Service {
        inner: service,
        ending,
        activity: Arc::clone(&activity),
        body: PhantomData,
    };
    let connection = h2.builder.serve_connection(TokioIo::new(io), service);
    let idle = h2.idle;
    async move {
        let mut connection = pin!(connection);
        let mut signal = pin!(signal);
        let mut closing = false;
        // Checked when it fires: a connection whose streams have not
        // changed since, and with none open, is idle.
        let mut timer = Box::pin(tokio::time::sleep(idle));
        let mut changes = activity.changes.load(Ordering::Relaxed);
        poll_fn(|cx| {
            if !closing && signal.as_mut().poll(cx).is_ready() {
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
            while !closing && timer.as_mut().poll(cx).is_ready() {
                let now = activity.changes.load(Ordering::Relaxed);
                if now == changes && activity.open.load(Ordering::Relaxed) == 0 {
                    tracing::debug!("idle HTTP/2 connection closed");
                    closing = true;
                    connection.as_mut().graceful_shutdown();
                } else {
                    changes = now;
                    timer.as_mut().reset(Instant::now() + idle);
                }
            }
            connection.as_mut().poll(cx)
        })
        .await
        .map_err(Into::into)
    }
}

/// The streams of a connection: how many are open, and how many times that
/// changed.
#[derive(Debug, Default)]
struct Activity {
    open: AtomicUsize,
    changes: AtomicUsize,
}

/// One open stream of a connection, from its request to its body's end.
#[derive(Debug)]
struct Active(Arc<Activity>);

impl Active {
    fn new(activity: &Arc<Activity>) -> Self {
        activity.open.fetch_add(1, Ordering::Relaxed);
        activity.changes.fetch_add(1, Ordering::Relaxed);
        Active(Arc::clone(activity))
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
        self.0.changes.fetch_add(1, Ordering::Relaxed);
    }
}

/// The application's service, its event streams ended by `ending`.
struct H2Service<S, B> {
    inner: S,
    ending: Option<Shutdown>,
    activity: Arc<Activity>,
    body: PhantomData<fn() -> B>,
}

impl<S, B> hyper::service::Service<Request<Incoming>> for H2Service<S, B>
where
    S: HttpService<B>,
    B: ResponseBody,
{
    type Response = Response<H2Body<B>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let mut inner = self.inner.clone();
        let active = Active::new(&self.activity);
        let ending = self.ending.clone();
        let get = request.method() == Method::GET;
        Box::pin(async move {
            poll_fn(|cx| inner.poll_ready(cx))
                .await
                .map_err(Into::into)?;
            let mut response = inner.call(request).await.map_err(Into::into)?;
            remove_connection_headers(response.headers_mut());
            let stream = get && response.status().is_success() && is_event_stream(&response);
            let ending = ending.filter(|_| stream);
            Ok(response.map(|body| H2Body::new(body, ending, active)))
        })
    }
}

/// Removes what HTTP/2 forbids in a response (RFC 9113 §8.2.2), which
/// hyper would otherwise remove with a warning.
fn remove_connection_headers(headers: &mut HeaderMap) {
    for name in [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        header::HeaderName::from_static("keep-alive"),
        header::HeaderName::from_static("proxy-connection"),
    ] {
        headers.remove(name);
    }
}

/// Where a body is in its shutdown.
#[derive(Clone, Copy, Debug)]
enum State {
    Streaming,
    Draining(usize),
    Done,
}

pin_project! {
    /// The application's body over HTTP/2: an event stream ends when the
    /// server shuts down, and tells the stream's [`Watched`] task when a
    /// frame it yielded waits.
    struct H2Body<B> {
        #[pin]
        body: B,
        #[pin]
        signal: Option<WaitForCancellationFutureOwned>,
        ending: Option<Shutdown>,
        state: State,
        _active: Active,
    }
}

impl<B> H2Body<B> {
    fn new(body: B, ending: Option<Shutdown>, active: Active) -> Self {
        H2Body {
            body,
            signal: ending
                .as_ref()
                .map(|ending| ending.token().clone().cancelled_owned()),
            ending,
            state: State::Streaming,
            _active: active,
        }
    }
}

type Polled<D> = Poll<Option<Result<Frame<H2Data<D>>, BoxError>>>;

fn wrap<D, E: Into<BoxError>>(
    frame: Option<Result<Frame<D>, E>>,
) -> Option<Result<Frame<H2Data<D>>, BoxError>> {
    frame.map(|frame| {
        frame
            .map(|frame| frame.map_data(H2Data::Body))
            .map_err(Into::into)
    })
}

impl<B> Body for H2Body<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = H2Data<B::Data>;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Polled<B::Data> {
        let mut this = self.project();
        // Polled again: the frame yielded last was taken.
        watch(|watch| watch.waiting.store(false, Ordering::Relaxed));
        let polled = loop {
            match *this.state {
                State::Streaming => {
                    if let Some(signal) = this.signal.as_mut().as_pin_mut() {
                        if signal.poll(cx).is_ready() {
                            this.signal.set(None);
                            *this.state = State::Draining(0);
                            continue;
                        }
                    }
                    break this.body.as_mut().poll_frame(cx).map(wrap);
                }
                State::Draining(sent) => {
                    if sent < DRAIN {
                        match this.body.as_mut().poll_frame(cx) {
                            Poll::Ready(Some(frame)) => {
                                *this.state = State::Draining(sent + 1);
                                break Poll::Ready(wrap(Some(frame)));
                            }
                            // Ended by itself (its own `Shutdown`, say).
                            Poll::Ready(None) => {
                                *this.state = State::Done;
                                break Poll::Ready(None);
                            }
                            Poll::Pending => {}
                        }
                    }
                    *this.state = State::Done;
                    let last = this.ending.as_ref().and_then(Shutdown::last_frame);
                    break Poll::Ready(last.map(|last| Ok(Frame::data(H2Data::Last(last)))));
                }
                State::Done => break Poll::Ready(None),
            }
        };
        if let Poll::Ready(Some(Ok(_))) = polled {
            watch(|watch| {
                watch.waiting.store(true, Ordering::Relaxed);
                watch.yielded.fetch_add(1, Ordering::Relaxed);
            });
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        match self.state {
            State::Streaming => self.body.is_end_stream(),
            State::Draining(_) => false,
            State::Done => true,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self.state {
            State::Streaming => self.body.size_hint(),
            State::Draining(_) | State::Done => SizeHint::default(),
        }
    }
}

/// A frame of the application's body, or the server's last frame.
#[derive(Debug)]
pub(super) enum H2Data<D> {
    Body(D),
    Last(Bytes),
}

impl<D: Buf> Buf for H2Data<D> {
    fn remaining(&self) -> usize {
        match self {
            H2Data::Body(data) => data.remaining(),
            H2Data::Last(bytes) => bytes.remaining(),
        }
    }

    fn chunk(&self) -> &[u8] {
        match self {
            H2Data::Body(data) => data.chunk(),
            H2Data::Last(bytes) => bytes.chunk(),
        }
    }

    fn advance(&mut self, cnt: usize) {
        match self {
            H2Data::Body(data) => data.advance(cnt),
            H2Data::Last(bytes) => bytes.advance(cnt),
        }
    }
}

/// What a stream's body tells its [`Watched`] task.
#[derive(Debug, Default)]
struct Watch {
    /// A frame the body yielded waits to be taken.
    waiting: AtomicBool,
    /// Frames yielded: progress, which restarts the deadline.
    yielded: AtomicUsize,
}

tokio::task_local! {
    static WATCH: Arc<Watch>;
}

/// Runs `f` on the current stream's watch, if a [`Watched`] task polls.
fn watch(f: impl FnOnce(&Watch)) {
    let _ = WATCH.try_with(|watch| f(watch));
}

/// The executor of an HTTP/2 connection's streams: each runs on a task of
/// its own, under a write deadline.
#[derive(Clone, Copy, Debug)]
pub(super) struct Watchdog {
    deadline: Duration,
}

impl<F> hyper::rt::Executor<F> for Watchdog
where
    F: Future<Output = ()> + Send + 'static,
{
    fn execute(&self, future: F) {
        tokio::spawn(Watched {
            inner: future,
            watch: Arc::default(),
            deadline: self.deadline,
            timer: None,
            timed: None,
        });
    }
}

pin_project! {
    /// A stream's task, dropped (and its stream reset) once a frame its
    /// body yielded has waited the whole deadline for the peer's window.
    struct Watched<F> {
        #[pin]
        inner: F,
        watch: Arc<Watch>,
        deadline: Duration,
        // Allocated when a frame first waits, then reused.
        timer: Option<Pin<Box<Sleep>>>,
        // The count of frames yielded when the timer was set.
        timed: Option<usize>,
    }
}

impl<F: Future<Output = ()>> Future for Watched<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        let inner = this.inner;
        if WATCH
            .sync_scope(Arc::clone(this.watch), || inner.poll(cx))
            .is_ready()
        {
            return Poll::Ready(());
        }
        if !this.watch.waiting.load(Ordering::Relaxed) {
            *this.timed = None;
            return Poll::Pending;
        }
        let yielded = this.watch.yielded.load(Ordering::Relaxed);
        let deadline = *this.deadline;
        if *this.timed != Some(yielded) {
            *this.timed = Some(yielded);
            let until = Instant::now() + deadline;
            match this.timer {
                Some(timer) => timer.as_mut().reset(until),
                None => *this.timer = Some(Box::pin(tokio::time::sleep_until(until))),
            }
        }
        let Some(timer) = this.timer.as_mut() else {
            return Poll::Pending;
        };
        ready!(timer.as_mut().poll(cx));
        telemetry::evicted_stream(deadline);
        // Returning drops the stream's task: its body, and the stream,
        // which h2 resets.
        Poll::Ready(())
    }
}
