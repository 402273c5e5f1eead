//! The response body: an event stream as HTTP body frames.

use std::any::Any;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use ssekit_core::Event;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::WaitForCancellationFutureOwned;

use crate::config::SseConfig;
use crate::disconnect::DisconnectGuard;
use crate::item::{BoxError, SseItem};
use crate::keep_alive::KeepAlive;
use crate::shutdown::Shutdown;
use crate::telemetry::EndReason;

pin_project! {
    /// An [`http_body::Body`] that serves a stream of [`Event`]s, or of
    /// `Result<Event, E>`, as an event stream; it sets no headers, which
    /// [`SseResponse`](crate::SseResponse) and [`SseLayer`](crate::SseLayer) do.
    ///
    /// - An event ready alone is one frame of its own [`Bytes`], not copied;
    ///   events ready together are gathered into frames of at most
    ///   [`SseConfig::coalesce`] bytes.
    /// - An idle stream gets [`KeepAlive`] comments.
    /// - The body ends when the stream ends; when it yields an `Err` or
    ///   panics ([`StreamPanicked`]), which is logged and answered by
    ///   [`SseConfig::error_event`]; or when the [`SseConfig::shutdown`]
    ///   token is cancelled. A panic ends this response only.
    /// - When the client goes away the server drops the body, and the stream
    ///   with it; [`SseConfig::on_disconnect`] observes that.
    /// - How it ended is logged at `debug` (`reason`: `end`, `error`,
    ///   `panic`, `shutdown` or `disconnect`, the last for a body dropped
    ///   before its end); with feature `metrics` the gauge `sse_streams_open`
    ///   counts the bodies made and not yet ended, and the counter
    ///   `sse_streams_closed_total{reason}` the ends. Every serving path
    ///   serves this body, so every one reports them.
    ///
    /// # Panics
    ///
    /// With keep-alive on, polling it in a Tokio runtime without its time
    /// driver panics, as every Tokio timer does; outside any Tokio runtime
    /// it sends no keep-alive.
    ///
    /// ```
    /// use http_body_util::BodyExt;
    /// use ssekit_core::Event;
    /// use ssekit_tower::{KeepAlive, SseBody, SseConfig};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let events = futures_util::stream::iter([Event::data("one"), Event::data("two")]);
    /// let config = SseConfig::new().keep_alive(KeepAlive::disabled());
    /// let body = SseBody::with_config(events, &config);
    ///
    /// let bytes = body.collect().await.unwrap().to_bytes();
    /// assert_eq!(bytes, "retry: 3000\n\ndata: one\n\ndata: two\n\n");
    /// # }
    /// ```
    pub struct SseBody<S> {
        // `None` once the body has ended: the stream is dropped at once.
        #[pin]
        stream: Option<S>,
        #[pin]
        timer: Option<Sleep>,
        #[pin]
        shutdown: Option<WaitForCancellationFutureOwned>,
        config: SseConfig,
        // A frame to send before polling the stream again: an event that did
        // not fit in the last coalesced frame, or the final event.
        carry: Option<Bytes>,
        last_frame: Instant,
        // Whether a frame went out since `last_frame` was last updated.
        sent: bool,
        state: State,
        // Last, so that it is dropped after the stream.
        guard: DisconnectGuard,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Start,
    Streaming,
    /// The stream is over; `carry` holds the last frame, if any.
    Ending,
    Done,
}

impl<S> SseBody<S> {
    /// A body over `stream` with the default [`SseConfig`].
    pub fn new(stream: S) -> Self {
        Self::with_config(stream, &SseConfig::default())
    }

    /// A body over `stream` that behaves as `config` says.
    pub fn with_config(stream: S, config: &SseConfig) -> Self {
        let shutdown = config
            .shutdown
            .as_ref()
            .map(|shutdown| shutdown.token().clone().cancelled_owned());
        SseBody {
            stream: Some(stream),
            timer: None,
            shutdown,
            config: config.clone(),
            carry: None,
            last_frame: Instant::now(),
            sent: false,
            state: State::Start,
            guard: DisconnectGuard::new(config.disconnect_hook()),
        }
    }

    /// The inner stream, or `None` once the body has ended (the stream is
    /// dropped as soon as it ends, fails or is shut down).
    pub fn get_ref(&self) -> Option<&S> {
        self.stream.as_ref()
    }

    /// The inner stream, mutably; `None` once the body has ended.
    pub fn get_mut(&mut self) -> Option<&mut S> {
        self.stream.as_mut()
    }

    /// The inner stream, pinned; `None` once the body has ended.
    pub fn get_pin_mut(self: Pin<&mut Self>) -> Option<Pin<&mut S>> {
        self.project().stream.as_pin_mut()
    }

    /// Takes the inner stream back (`None` once the body has ended). This
    /// is not a disconnect: the `on_disconnect` hook is not called, and no
    /// end is reported (the stream no longer counts as open).
    pub fn into_inner(mut self) -> Option<S> {
        self.guard.release();
        self.stream
    }
}

/// An empty body that ends at once, for middleware that answers on its
/// own (such as `tower_http::timeout::TimeoutLayer`'s `408`).
impl<S> Default for SseBody<S> {
    fn default() -> Self {
        SseBody {
            stream: None,
            timer: None,
            shutdown: None,
            config: SseConfig::default(),
            carry: None,
            last_frame: Instant::now(),
            sent: false,
            state: State::Done,
            guard: DisconnectGuard::idle(),
        }
    }
}

impl<S> Body for SseBody<S>
where
    S: Stream,
    S::Item: SseItem,
{
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let mut this = self.project();

        match *this.state {
            State::Streaming => {}
            State::Done => return Poll::Ready(None),
            State::Ending => {
                *this.state = State::Done;
                return match this.carry.take() {
                    Some(bytes) => ready_frame(bytes),
                    None => Poll::Ready(None),
                };
            }
            State::Start => {
                *this.state = State::Streaming;
                let retry = this.config.inner.retry.as_ref().map(Event::to_bytes);
                let first = this.config.first_event.as_ref().map(Event::to_bytes);
                if let Some(first) = joined(retry, first) {
                    *this.sent = true;
                    return ready_frame(first);
                }
            }
        }

        if let Some(shutdown) = this.shutdown.as_mut().as_pin_mut() {
            if shutdown.poll(cx).is_ready() {
                let last = this.config.shutdown.as_ref().and_then(Shutdown::last_frame);
                this.shutdown.set(None);
                this.stream.set(None);
                // An event held over from the last coalesced frame was taken
                // from the stream already: it goes out before the final one.
                *this.carry = joined(this.carry.take(), last);
                return end_now(this.state, this.carry, this.guard, EndReason::Shutdown);
            }
        }

        let first = match this.carry.take() {
            Some(bytes) => bytes,
            None => match poll_event(this.stream.as_mut(), this.config, cx) {
                Polled::Event(bytes) => bytes,
                Polled::End(last, reason) => {
                    this.stream.set(None);
                    *this.carry = last;
                    return end_now(this.state, this.carry, this.guard, reason);
                }
                Polled::Pending => {
                    if std::mem::take(this.sent) && this.config.inner.keep_alive.interval.is_some()
                    {
                        // The stream just went idle: its last frame went out now
                        // (one clock read per burst, not per event).
                        *this.last_frame = Instant::now();
                    }
                    return poll_keep_alive(
                        &this.config.inner.keep_alive,
                        this.timer,
                        this.last_frame,
                        cx,
                    );
                }
            },
        };
        *this.sent = true;

        let max = this.config.inner.coalesce;
        if first.len() >= max {
            return ready_frame(first);
        }
        // Gather the events that are ready too, up to `max` bytes, into one
        // frame: one write instead of many (see docs/BENCHMARKS.md).
        let mut gathered: Option<BytesMut> = None;
        loop {
            let next = match poll_event(this.stream.as_mut(), this.config, cx) {
                Polled::Event(next) => next,
                Polled::Pending => break,
                Polled::End(last, reason) => {
                    this.stream.set(None);
                    *this.carry = last;
                    *this.state = State::Ending;
                    this.guard.end(reason);
                    break;
                }
            };
            let len = gathered.as_ref().map_or(first.len(), BytesMut::len);
            if len + next.len() > max {
                *this.carry = Some(next);
                break;
            }
            let buffer = gathered.get_or_insert_with(|| {
                let mut buffer = BytesMut::with_capacity(max.min(4 * (first.len() + next.len())));
                buffer.extend_from_slice(&first);
                buffer
            });
            buffer.extend_from_slice(&next);
        }
        ready_frame(gathered.map_or(first, BytesMut::freeze))
    }

    fn is_end_stream(&self) -> bool {
        match self.state {
            State::Done => true,
            State::Ending => self.carry.is_none(),
            State::Start | State::Streaming => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        // Unknown length: no `content-length`, and compression predicates
        // that look at the size see an open-ended body.
        SizeHint::default()
    }
}

enum Polled {
    Event(Bytes),
    /// The stream ended (with this last frame, after an error), for this
    /// reason.
    End(Option<Bytes>, EndReason),
    Pending,
}

fn poll_event<S>(stream: Pin<&mut Option<S>>, config: &SseConfig, cx: &mut Context<'_>) -> Polled
where
    S: Stream,
    S::Item: SseItem,
{
    let Some(stream) = stream.as_pin_mut() else {
        // Only a default body has no stream while streaming.
        return Polled::End(None, EndReason::End);
    };
    // A panic in the stream would otherwise unwind through the server's
    // connection task and end every response on that connection (all the
    // streams of an HTTP/2 connection). The stream is not polled again
    // after it panicked: the caller drops it.
    let polled = match panic::catch_unwind(AssertUnwindSafe(|| stream.poll_next(cx))) {
        Ok(polled) => polled,
        Err(payload) => {
            let error = StreamPanicked::from_payload(payload);
            tracing::error!(error = %error, "event stream panicked; ending the SSE response");
            let last = config.error_event_for(&error).map(Event::into_bytes);
            return Polled::End(last, EndReason::Panic);
        }
    };
    match polled {
        Poll::Ready(Some(item)) => match item.into_result() {
            Ok(event) => Polled::Event(event.into_bytes()),
            Err(error) => {
                let error: BoxError = error.into();
                tracing::warn!(error = %error, "event stream failed; ending the SSE response");
                let last = config.error_event_for(&*error).map(Event::into_bytes);
                Polled::End(last, EndReason::Error)
            }
        },
        Poll::Ready(None) => Polled::End(None, EndReason::End),
        Poll::Pending => Polled::Pending,
    }
}

/// `first` then `second`, as one frame: copied only when both are there.
pub(crate) fn joined(first: Option<Bytes>, second: Option<Bytes>) -> Option<Bytes> {
    match (first, second) {
        (Some(first), Some(second)) => {
            let mut buffer = BytesMut::with_capacity(first.len() + second.len());
            buffer.extend_from_slice(&first);
            buffer.extend_from_slice(&second);
            Some(buffer.freeze())
        }
        (first, second) => first.or(second),
    }
}

/// The error an [`SseBody`] reports when its stream panicked: logged, and
/// handed to [`SseConfig::error_event`] like any stream error.
///
/// ```
/// use std::task::Poll;
/// use http_body_util::BodyExt;
/// use ssekit_core::Event;
/// use ssekit_tower::{SseBody, SseConfig, StreamPanicked};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let config = SseConfig::new().error_event(|error| {
///     let reason = if error.is::<StreamPanicked>() { "bug" } else { "failed" };
///     Event::builder().event("error").data(reason).build().ok()
/// });
/// let panics = futures_util::stream::poll_fn(|_| -> Poll<Option<Event>> { panic!("oops") });
/// let body = SseBody::with_config(panics, &config);
/// assert_eq!(
///     body.collect().await.unwrap().to_bytes(),
///     "retry: 3000\n\nevent: error\ndata: bug\n\n"
/// );
/// # }
/// ```
#[derive(Debug)]
pub struct StreamPanicked {
    message: Option<String>,
}

impl StreamPanicked {
    fn from_payload(payload: Box<dyn Any + Send>) -> Self {
        let message = match payload.downcast::<String>() {
            Ok(message) => Some(*message),
            Err(payload) => payload.downcast_ref::<&str>().map(|m| (*m).to_owned()),
        };
        StreamPanicked { message }
    }

    /// The panic's message, when it was a string.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }
}

impl fmt::Display for StreamPanicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.message {
            Some(message) => write!(f, "the event stream panicked: {message}"),
            None => f.write_str("the event stream panicked"),
        }
    }
}

impl std::error::Error for StreamPanicked {}

#[inline]
fn ready_frame(bytes: Bytes) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
    Poll::Ready(Some(Ok(Frame::data(bytes))))
}

/// Ends the body by itself (not a disconnect) for `reason`, after the
/// frame in `carry` if there is one.
fn end_now(
    state: &mut State,
    carry: &mut Option<Bytes>,
    guard: &mut DisconnectGuard,
    reason: EndReason,
) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
    *state = State::Done;
    guard.end(reason);
    match carry.take() {
        Some(bytes) => ready_frame(bytes),
        None => Poll::Ready(None),
    }
}

/// When the stream has nothing ready: a keep-alive if it has been idle for
/// a whole interval, else `Pending` with the timer armed.
fn poll_keep_alive(
    keep_alive: &KeepAlive,
    mut timer: Pin<&mut Option<Sleep>>,
    last_frame: &mut Instant,
    cx: &mut Context<'_>,
) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
    let Some(interval) = keep_alive.interval else {
        return Poll::Pending;
    };
    if timer.is_none() {
        // Creating a `Sleep` outside a Tokio runtime panics; without one
        // there is simply no keep-alive.
        if tokio::runtime::Handle::try_current().is_err() {
            return Poll::Pending;
        }
        timer.set(Some(tokio::time::sleep_until(*last_frame + interval)));
    }
    let Some(mut sleep) = timer.as_pin_mut() else {
        return Poll::Pending;
    };
    loop {
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        let due = *last_frame + interval;
        if due > sleep.deadline() {
            // A frame went out after the timer was armed: move the timer to
            // one interval after that frame instead of sending anything.
            sleep.as_mut().reset(due);
            continue;
        }
        let now = Instant::now();
        *last_frame = now;
        sleep.as_mut().reset(now + interval);
        return ready_frame(keep_alive.event.to_bytes());
    }
}

impl<S> fmt::Debug for SseBody<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SseBody")
            .field("state", &self.state)
            .field("config", &self.config)
            .field("last_frame", &self.last_frame)
            .field("guard", &self.guard)
            .finish_non_exhaustive()
    }
}
