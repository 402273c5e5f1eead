use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use futures_core::{FusedStream, Stream};
use http::header::{CONTENT_TYPE, HeaderName};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri};
use ssekit_core::decode::{Decoded, Decoder};
use tokio::time::{Instant, Sleep};

use crate::backoff::Rng;
use crate::builder::{Hook, HookFuture};
use crate::close::Shared;
use crate::comments::Comments;
use crate::redirect;
use crate::retry::retry_after;
use crate::service::{BoxBody, Connector, ResponseFuture};
use crate::{
    Attempt, Backoff, Builder, CloseHandle, Disconnect, Error, ErrorResponse, Item, RetryPolicy,
};

/// The header that carries the last event id on a reconnection.
const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");

/// A reconnecting client for one event stream, as a [`Stream`] of
/// [`Item`]s that follows the [crate's processing model](crate).
///
/// Its timers are tokio's: poll it inside a runtime with time enabled.
#[must_use = "streams do nothing unless polled"]
pub struct EventSource {
    connector: Box<dyn Connector>,
    uri: Uri,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
    hook: Option<Hook>,
    state: State,
    /// The decoder of the current connection; a new one for each.
    decoder: Decoder,
    /// The comment finder of the current connection, if comments are asked for.
    comments: Option<Comments>,
    max_event_size: usize,
    /// The standard's "last event ID string", kept across connections.
    last_event_id: String,
    /// The standard's "reconnection time".
    reconnection_time: Duration,
    backoff: Backoff,
    retry_policy: RetryPolicy,
    /// 0 when the source leaves redirects to the client.
    max_redirects: u32,
    max_error_body: usize,
    idle: Option<Idle>,
    /// Reconnections since the last `Open`.
    attempts: u32,
    /// The status that ended the last attempt, if it was retried.
    retried_status: Option<StatusCode>,
    rng: Rng,
    shared: Arc<Shared>,
}

enum State {
    /// About to start an attempt.
    Start,
    /// The `on_request` hook is preparing the attempt's request.
    Preparing(HookFuture),
    /// Waiting for the client to be ready for `request`, after `hops`
    /// redirects.
    Connecting {
        request: Option<Request<Bytes>>,
        hops: u32,
    },
    Requesting {
        response: ResponseFuture,
        /// The request, kept to follow a redirect.
        sent: Option<Request<Bytes>>,
        hops: u32,
    },
    Open(BoxBody),
    /// Reading the start of a refused response's body for its error.
    Refusing {
        body: BoxBody,
        status: StatusCode,
        headers: HeaderMap,
        collected: Vec<u8>,
    },
    Waiting(Pin<Box<Sleep>>),
    Closed,
}

/// The idle timeout: the timer is armed once and moved only when it fires
/// early, so a busy connection costs a clock read per frame.
struct Idle {
    timeout: Duration,
    last: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Idle {
    /// Something arrived (or a request went out).
    fn touch(&mut self) {
        self.last = Instant::now();
    }

    /// Whether nothing arrived for the timeout; registers for a wake-up if not.
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> bool {
        let deadline = self.last + self.timeout;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        loop {
            if sleep.as_mut().poll(cx).is_pending() {
                return false;
            }
            if sleep.deadline() >= deadline {
                return true;
            }
            sleep.as_mut().reset(deadline);
        }
    }
}

impl EventSource {
    /// A source for `uri` with the default settings, on the default HTTP/1
    /// client of [`Builder::build`] (`http://` only).
    #[cfg(feature = "hyper")]
    pub fn new(uri: Uri) -> Self {
        Self::builder(uri).build()
    }

    /// Starts configuring a source for `uri`.
    pub fn builder(uri: Uri) -> Builder {
        Builder::new(uri)
    }

    pub(crate) fn from_parts(builder: Builder, connector: Box<dyn Connector>) -> Self {
        let Builder {
            uri,
            method,
            headers,
            body,
            hook,
            retry,
            backoff,
            retry_policy,
            max_redirects,
            max_error_body,
            idle_timeout,
            comments,
            max_event_size,
            last_event_id,
        } = builder;
        let max_redirects = if connector.follows_redirects() {
            0
        } else {
            max_redirects
        };
        EventSource {
            connector,
            uri,
            method,
            headers,
            body,
            hook,
            state: State::Start,
            decoder: Decoder::new().with_max_event_size(max_event_size),
            comments: comments.then(|| Comments::new(max_event_size)),
            max_event_size,
            last_event_id,
            reconnection_time: retry,
            backoff,
            retry_policy,
            max_redirects,
            max_error_body,
            idle: idle_timeout.map(|timeout| Idle {
                timeout,
                last: Instant::now(),
                sleep: None,
            }),
            attempts: 0,
            retried_status: None,
            rng: Rng::new(),
            shared: Arc::default(),
        }
    }

    /// The URI the source requests.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The last event id, sent as `Last-Event-ID` on the next connection
    /// unless empty: the id of the last event yielded, or of a later dataless
    /// event.
    pub fn last_event_id(&self) -> &str {
        &self.last_event_id
    }

    /// The reconnection time: the server's latest `retry:`, or the one set
    /// with [`Builder::retry`].
    pub fn reconnection_time(&self) -> Duration {
        self.reconnection_time
    }

    /// Closes the source at once: the connection is dropped, and the stream
    /// ends (its next poll returns `None`).
    pub fn close(&mut self) {
        self.shut();
    }

    /// A handle that closes this source from elsewhere.
    pub fn close_handle(&self) -> CloseHandle {
        CloseHandle::new(self.shared.clone())
    }

    fn shut(&mut self) {
        self.state = State::Closed;
        self.decoder = Decoder::new();
        self.comments = None;
        if let Some(idle) = &mut self.idle {
            idle.sleep = None;
        }
    }

    /// The request for the next attempt, before the hook.
    fn request(&self) -> Request<Bytes> {
        let mut request = Request::new(self.body.clone());
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        if !self.last_event_id.is_empty() {
            // An id with control characters cannot be a header value; it is
            // not sent rather than sent mangled.
            if let Ok(value) = HeaderValue::from_str(&self.last_event_id) {
                request.headers_mut().insert(LAST_EVENT_ID, value);
            }
        }
        request
    }

    /// Starts an attempt: through the hook if there is one.
    fn begin(&mut self) {
        let mut request = self.request();
        self.state = match &self.hook {
            Some(hook) => {
                let attempt = Attempt::new(self.attempts, self.retried_status);
                request.extensions_mut().insert(attempt);
                State::Preparing(hook(request))
            }
            None => State::Connecting {
                request: Some(request),
                hops: 0,
            },
        };
    }

    /// The connection is over: drop it and wait before the next, `wait` if
    /// the server said how long, else as the backoff says.
    fn reconnect(&mut self, reason: Disconnect, wait: Option<Duration>) -> Item {
        tracing::debug!(uri = %self.uri, %reason, "event stream disconnected");
        self.decoder = Decoder::new().with_max_event_size(self.max_event_size);
        if self.comments.is_some() {
            self.comments = Some(Comments::new(self.max_event_size));
        }
        self.attempts = self.attempts.saturating_add(1);
        self.retried_status = match reason {
            Disconnect::Status(status) => Some(status),
            _ => None,
        };
        let delay = wait.unwrap_or_else(|| {
            self.backoff
                .delay(self.reconnection_time, self.attempts, &mut self.rng)
        });
        self.state = if delay.is_zero() {
            State::Start
        } else {
            State::Waiting(Box::pin(tokio::time::sleep(delay)))
        };
        Item::Reconnecting {
            delay,
            attempt: self.attempts,
            reason,
        }
    }

    /// The standard's "fail the connection".
    fn fail(&mut self, error: Error) -> Item {
        tracing::debug!(uri = %self.uri, %error, "event stream closed for good");
        self.shut();
        Item::Closed(error)
    }

    /// Handles a response: follows a redirect, announces the connection,
    /// retries or fails. `None` when there is nothing to yield yet.
    fn respond(
        &mut self,
        response: Response<BoxBody>,
        sent: Option<Request<Bytes>>,
        hops: u32,
    ) -> Option<Item> {
        let status = response.status();
        if let Some(next) = sent
            .as_ref()
            .and_then(|sent| redirect::next_request(sent, status, response.headers()))
        {
            if hops >= self.max_redirects {
                return Some(self.fail(Error::TooManyRedirects));
            }
            tracing::debug!(from = %self.uri, to = %next.uri(), %status, "following a redirect");
            self.state = State::Connecting {
                request: Some(next),
                hops: hops + 1,
            };
            return None;
        }
        match status {
            StatusCode::OK => Some(self.open(response)),
            StatusCode::NO_CONTENT => Some(self.fail(Error::NoContent)),
            status if self.retry_policy.retries(status) => {
                let wait = retry_after(response.headers());
                Some(self.reconnect(Disconnect::Status(status), wait))
            }
            status => {
                let (parts, body) = response.into_parts();
                if self.max_error_body == 0 {
                    let error = ErrorResponse::new(status, parts.headers, Bytes::new());
                    return Some(self.fail(Error::Status(error)));
                }
                self.state = State::Refusing {
                    body,
                    status,
                    headers: parts.headers,
                    collected: Vec::new(),
                };
                None
            }
        }
    }

    /// The standard's "announce the connection", or a failure if the
    /// response is not an event stream.
    fn open(&mut self, response: Response<BoxBody>) -> Item {
        match response.headers().get(CONTENT_TYPE) {
            Some(value) if is_event_stream(value) => {}
            other => {
                let error = Error::ContentType(other.cloned());
                return self.fail(error);
            }
        }
        self.attempts = 0;
        self.retried_status = None;
        // The id survives the connection: a resumed stream whose first blank
        // line comes before any `id:` keeps the position it resumed from.
        self.decoder = Decoder::new()
            .with_max_event_size(self.max_event_size)
            .with_last_event_id(&self.last_event_id);
        self.state = State::Open(response.into_body());
        Item::Open
    }

    /// Whether the idle timeout ran out; `false` without one.
    fn idle_expired(idle: &mut Option<Idle>, cx: &mut Context<'_>) -> bool {
        idle.as_mut().is_some_and(|idle| idle.poll_expired(cx))
    }
}

/// Copies an id, which rarely changes in a way that needs a new allocation.
fn set_id(last_event_id: &mut String, id: &str) {
    if last_event_id != id {
        last_event_id.clear();
        last_event_id.push_str(id);
    }
}

/// `text/event-stream`, in any case, with or without parameters.
fn is_event_stream(content_type: &HeaderValue) -> bool {
    let bytes = content_type.as_bytes();
    let essence = bytes.split(|&b| b == b';').next().unwrap_or(bytes);
    essence
        .trim_ascii()
        .eq_ignore_ascii_case(b"text/event-stream")
}

impl Stream for EventSource {
    type Item = Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        let this = self.get_mut();
        if matches!(this.state, State::Closed) {
            return Poll::Ready(None);
        }
        if this.shared.poll_closed(cx) {
            this.shut();
            return Poll::Ready(None);
        }
        loop {
            match &mut this.state {
                State::Start => this.begin(),
                State::Preparing(hook) => match ready!(hook.as_mut().poll(cx)) {
                    Ok(request) => {
                        this.state = State::Connecting {
                            request: Some(request),
                            hops: 0,
                        }
                    }
                    Err(error) => {
                        return Poll::Ready(Some(this.reconnect(Disconnect::Hook(error), None)));
                    }
                },
                State::Connecting { request, hops } => {
                    match ready!(this.connector.poll_ready(cx)) {
                        Ok(()) => {
                            let request = request.take().expect("a request to send");
                            let sent = (this.max_redirects > 0).then(|| request.clone());
                            let hops = *hops;
                            if let Some(idle) = &mut this.idle {
                                idle.touch();
                            }
                            this.state = State::Requesting {
                                response: this.connector.call(request),
                                sent,
                                hops,
                            };
                        }
                        Err(error) => {
                            return Poll::Ready(Some(this.fail(Error::Service(error))));
                        }
                    }
                }
                State::Requesting {
                    response,
                    sent,
                    hops,
                } => {
                    let response = match response.as_mut().poll(cx) {
                        Poll::Ready(response) => response,
                        Poll::Pending if Self::idle_expired(&mut this.idle, cx) => {
                            return Poll::Ready(Some(this.reconnect(Disconnect::Idle, None)));
                        }
                        Poll::Pending => return Poll::Pending,
                    };
                    let (sent, hops) = (sent.take(), *hops);
                    let item = match response {
                        Ok(response) => match this.respond(response, sent, hops) {
                            Some(item) => item,
                            None => continue,
                        },
                        Err(error) if this.connector.is_redirect_limit(&error) => {
                            this.fail(Error::TooManyRedirects)
                        }
                        Err(error) => this.reconnect(Disconnect::Request(error), None),
                    };
                    return Poll::Ready(Some(item));
                }
                State::Open(body) => {
                    match this.decoder.next_item() {
                        Some(Ok(Decoded::Event(event))) => {
                            set_id(&mut this.last_event_id, event.last_event_id());
                            return Poll::Ready(Some(Item::Event(event)));
                        }
                        Some(Ok(Decoded::Retry(retry))) => {
                            this.reconnection_time = retry;
                            continue;
                        }
                        Some(Ok(_)) => continue,
                        Some(Err(error)) => return Poll::Ready(Some(Item::Dropped(error))),
                        None => {}
                    }
                    if let Some(comment) = this.comments.as_mut().and_then(Comments::next) {
                        return Poll::Ready(Some(Item::Comment(comment)));
                    }
                    // Everything read so far is out: the id as of the last
                    // blank line, which a dataless event may have moved.
                    if let Some(id) = this.decoder.last_event_id() {
                        set_id(&mut this.last_event_id, id);
                    }
                    let (decoder, comments) = (&mut this.decoder, &mut this.comments);
                    let mut sink = |chunk: &[u8]| {
                        decoder.feed(chunk);
                        if let Some(comments) = comments {
                            comments.feed(chunk);
                        }
                    };
                    let item = match body.as_mut().poll_feed(cx, &mut sink) {
                        Poll::Ready(Some(Ok(()))) => {
                            if let Some(idle) = &mut this.idle {
                                idle.touch();
                            }
                            continue;
                        }
                        Poll::Ready(Some(Err(error))) => {
                            this.reconnect(Disconnect::Body(error), None)
                        }
                        // An event left incomplete is discarded with the decoder.
                        Poll::Ready(None) => this.reconnect(Disconnect::Ended, None),
                        Poll::Pending if Self::idle_expired(&mut this.idle, cx) => {
                            this.reconnect(Disconnect::Idle, None)
                        }
                        Poll::Pending => return Poll::Pending,
                    };
                    return Poll::Ready(Some(item));
                }
                State::Refusing {
                    body, collected, ..
                } => {
                    let limit = this.max_error_body;
                    let mut sink = |chunk: &[u8]| {
                        let room = limit.saturating_sub(collected.len());
                        collected.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    };
                    match body.as_mut().poll_feed(cx, &mut sink) {
                        Poll::Ready(Some(Ok(()))) => {
                            if let Some(idle) = &mut this.idle {
                                idle.touch();
                            }
                            if collected.len() < limit {
                                continue;
                            }
                        }
                        // What came before the end, an error or the timeout
                        // is the body.
                        Poll::Ready(_) => {}
                        Poll::Pending if Self::idle_expired(&mut this.idle, cx) => {}
                        Poll::Pending => return Poll::Pending,
                    }
                    let State::Refusing {
                        status,
                        headers,
                        collected,
                        ..
                    } = std::mem::replace(&mut this.state, State::Closed)
                    else {
                        unreachable!("the state is Refusing");
                    };
                    let error = ErrorResponse::new(status, headers, collected);
                    return Poll::Ready(Some(this.fail(Error::Status(error))));
                }
                State::Waiting(sleep) => {
                    ready!(sleep.as_mut().poll(cx));
                    this.state = State::Start;
                }
                State::Closed => return Poll::Ready(None),
            }
        }
    }
}

impl FusedStream for EventSource {
    fn is_terminated(&self) -> bool {
        matches!(self.state, State::Closed)
    }
}

impl fmt::Debug for EventSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Start => "starting",
            State::Preparing(_) => "preparing",
            State::Connecting { .. } => "connecting",
            State::Requesting { .. } => "requesting",
            State::Open(_) => "open",
            State::Refusing { .. } => "refusing",
            State::Waiting(_) => "waiting",
            State::Closed => "closed",
        };
        f.debug_struct("EventSource")
            .field("uri", &self.uri)
            .field("method", &self.method)
            .field("state", &state)
            .field("last_event_id", &self.last_event_id)
            .field("reconnection_time", &self.reconnection_time)
            .field("backoff", &self.backoff)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_and_items_can_move_between_threads() {
        fn send<T: Send>() {}
        fn send_sync<T: Send + Sync>() {}
        send::<EventSource>();
        send::<Item>();
        send_sync::<CloseHandle>();
        send_sync::<Error>();
    }

    #[test]
    fn content_type_matches_case_insensitively_with_parameters() {
        for value in [
            "text/event-stream",
            "Text/Event-Stream",
            "text/event-stream; charset=utf-8",
            "text/event-stream ;charset=utf-8",
        ] {
            assert!(is_event_stream(&HeaderValue::from_static(value)), "{value}");
        }
    }

    #[test]
    fn other_content_types_do_not_match() {
        for value in [
            "text/plain",
            "text/event-streams",
            "",
            "text/event",
            "event-stream",
        ] {
            assert!(
                !is_event_stream(&HeaderValue::from_static(value)),
                "{value}"
            );
        }
    }
}
