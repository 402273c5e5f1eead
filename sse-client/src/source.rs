use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures_core::{FusedStream, Stream};
use http::header::{CONTENT_TYPE, HeaderName};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, Uri};
use ssekit_core::decode::{Decoded, Decoder};
use tokio::time::Sleep;

use crate::backoff::Rng;
use crate::close::Shared;
use crate::service::{BoxBody, Connector, ResponseFuture};
use crate::{Backoff, Builder, CloseHandle, Disconnect, Error, Item};

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
    headers: HeaderMap,
    state: State,
    /// The decoder of the current connection; a new one for each.
    decoder: Decoder,
    max_event_size: usize,
    /// The standard's "last event ID string", kept across connections.
    last_event_id: String,
    /// The standard's "reconnection time".
    reconnection_time: Duration,
    backoff: Backoff,
    /// Reconnections since the last `Open`.
    attempts: u32,
    rng: Rng,
    shared: Arc<Shared>,
}

enum State {
    /// Waiting for the client to be ready for a request.
    Connecting,
    Requesting(ResponseFuture),
    Open(BoxBody),
    Waiting(Pin<Box<Sleep>>),
    Closed,
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
            headers,
            retry,
            backoff,
            max_event_size,
            last_event_id,
        } = builder;
        EventSource {
            connector,
            uri,
            headers,
            state: State::Connecting,
            decoder: Decoder::new().with_max_event_size(max_event_size),
            max_event_size,
            last_event_id,
            reconnection_time: retry,
            backoff,
            attempts: 0,
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
    }

    /// The request for the next connection.
    fn request(&self) -> Request<()> {
        let mut request = Request::new(());
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

    /// The connection is over: drop it and wait before the next.
    fn reconnect(&mut self, reason: Disconnect) -> Item {
        self.decoder = Decoder::new().with_max_event_size(self.max_event_size);
        self.attempts = self.attempts.saturating_add(1);
        let delay = self
            .backoff
            .delay(self.reconnection_time, self.attempts, &mut self.rng);
        self.state = if delay.is_zero() {
            State::Connecting
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
        self.shut();
        Item::Closed(error)
    }

    /// The standard's "announce the connection", or a failure if the
    /// response is not an event stream.
    fn open(&mut self, response: Response<BoxBody>) -> Item {
        if let Err(error) = check(&response) {
            return self.fail(error);
        }
        self.attempts = 0;
        // The id survives the connection: a resumed stream whose first blank
        // line comes before any `id:` keeps the position it resumed from.
        self.decoder = Decoder::new()
            .with_max_event_size(self.max_event_size)
            .with_last_event_id(&self.last_event_id);
        self.state = State::Open(response.into_body());
        Item::Open
    }
}

/// Copies an id, which rarely changes in a way that needs a new allocation.
fn set_id(last_event_id: &mut String, id: &str) {
    if last_event_id != id {
        last_event_id.clear();
        last_event_id.push_str(id);
    }
}

/// The checks of the standard's fetch response processing.
fn check(response: &Response<BoxBody>) -> Result<(), Error> {
    match response.status() {
        StatusCode::OK => {}
        StatusCode::NO_CONTENT => return Err(Error::NoContent),
        status => return Err(Error::Status(status)),
    }
    match response.headers().get(CONTENT_TYPE) {
        Some(value) if is_event_stream(value) => Ok(()),
        other => Err(Error::ContentType(other.cloned())),
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
                State::Connecting => match ready!(this.connector.poll_ready(cx)) {
                    Ok(()) => {
                        let request = this.request();
                        this.state = State::Requesting(this.connector.call(request));
                    }
                    Err(error) => return Poll::Ready(Some(this.fail(Error::Service(error)))),
                },
                State::Requesting(response) => {
                    let item = match ready!(response.as_mut().poll(cx)) {
                        Ok(response) => this.open(response),
                        Err(error) => this.reconnect(Disconnect::Request(error)),
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
                    // Everything read so far is out: the id as of the last
                    // blank line, which a dataless event may have moved.
                    if let Some(id) = this.decoder.last_event_id() {
                        set_id(&mut this.last_event_id, id);
                    }
                    let item = match ready!(body.as_mut().poll_feed(cx, &mut this.decoder)) {
                        Some(Ok(())) => continue,
                        Some(Err(error)) => this.reconnect(Disconnect::Body(error)),
                        // An event left incomplete is discarded with the decoder.
                        None => this.reconnect(Disconnect::Ended),
                    };
                    return Poll::Ready(Some(item));
                }
                State::Waiting(sleep) => {
                    ready!(sleep.as_mut().poll(cx));
                    this.state = State::Connecting;
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
            State::Connecting => "connecting",
            State::Requesting(_) => "requesting",
            State::Open(_) => "open",
            State::Waiting(_) => "waiting",
            State::Closed => "closed",
        };
        f.debug_struct("EventSource")
            .field("uri", &self.uri)
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
