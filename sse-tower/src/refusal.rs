//! Answering a refused subscription: the [`Refusal`] trait (a status,
//! headers and a reason), [`Unavailable`], how a refusal that passes is
//! answered, and [`refusal`], the answer with the defaults.

use std::borrow::Cow;
use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

#[cfg(feature = "broker")]
use http::header::WWW_AUTHENTICATE;
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use ssekit_core::Event;
#[cfg(feature = "broker")]
use ssekit_core::broker::BrokerError;

#[cfg(feature = "broker")]
use crate::authorize::{Denied, Refused};
use crate::response::set_event_stream_headers;
use crate::retry::Retry;
use crate::telemetry;
use crate::topics::InvalidTopics;

/// The header that carries a refusal's status when it is answered `200`
/// as an event stream, for clients that are not browsers.
pub const SSE_REFUSAL: HeaderName = HeaderName::from_static("sse-refusal");

/// The answer to a refused subscription, as [`Unavailable::new`] gives it:
/// a refusal that passes (a full limit, a failing backend, a broker shut
/// down, an internal error) is a `200` event stream that asks the browser
/// to come back and ends; one that does not (`400` for missing or invalid
/// topics, `401`/`403` for a [`Denied`](crate::Denied)) is its status with
/// the reason as text.
///
/// ```
/// use ssekit_core::broker::Broker;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let broker = Broker::builder().max_subscriptions(0).build();
/// let last_event_id = ssekit_tower::LastEventId::Absent;
/// let error = ssekit_tower::subscribe(&broker, &["chat"], &last_event_id).await.unwrap_err();
/// let response = ssekit_tower::refusal(&error);
/// assert_eq!(response.status(), 200);
/// assert_eq!(response.headers()["content-type"], "text/event-stream");
/// assert_eq!(response.headers()["sse-refusal"], "503");
/// assert!(response.body().starts_with("event: unavailable\nretry: "));
/// assert!(response.body().contains("data: {\"reason\":\"the broker already has its maximum"));
/// # }
/// ```
pub fn refusal<R: Refusal + ?Sized>(reason: &R) -> Response<String> {
    Unavailable::shared_default().answer(reason)
}

/// How a refusal that passes is answered (see [`refusal`]): `200
/// text/event-stream` whose only event sets a jittered `retry:` and is a
/// named notice, by default `unavailable` with
/// `{"reason":"…","retry":<ms>}` as data, with `Retry-After` and
/// [`SSE_REFUSAL`] headers. It carries no `id:`, so the browser keeps the
/// last id it had; the default retry is 5 s plus up to 5 s of jitter.
///
/// ```
/// use std::time::Duration;
/// use ssekit_core::broker::BrokerError;
/// use ssekit_tower::{Retry, Unavailable};
///
/// let unavailable = Unavailable::new().retry(Retry::new(Duration::from_secs(2))).notice("busy");
/// let response = unavailable.answer(&BrokerError::Closed);
/// assert_eq!(response.status(), 200);
/// assert_eq!(response.headers()["retry-after"], "2");
/// assert_eq!(
///     response.body(),
///     "event: busy\nretry: 2000\ndata: {\"reason\":\"the broker has been shut down\",\"retry\":2000}\n\n",
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unavailable {
    retry: Retry,
    notice: Option<Cow<'static, str>>,
    event_stream: bool,
}

impl Default for Unavailable {
    fn default() -> Self {
        Unavailable {
            retry: Self::DEFAULT_RETRY,
            notice: Some(Cow::Borrowed("unavailable")),
            event_stream: true,
        }
    }
}

impl Unavailable {
    /// The default retry: 5 s plus up to 5 s of jitter.
    pub const DEFAULT_RETRY: Retry =
        Retry::new(Duration::from_secs(5)).jitter(Duration::from_secs(5));

    /// The browser-safe answer: an event stream with a retry and an
    /// `unavailable` notice.
    pub fn new() -> Self {
        Self::default()
    }

    /// When the client is asked to come back (default
    /// [`DEFAULT_RETRY`](Self::DEFAULT_RETRY)).
    pub fn retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    /// Names the notice event (default `unavailable`).
    pub fn notice(mut self, event: impl Into<Cow<'static, str>>) -> Self {
        self.notice = Some(event.into());
        self
    }

    /// Sends no notice, only the `retry:`.
    pub fn no_notice(mut self) -> Self {
        self.notice = None;
        self
    }

    /// Answers the refusal's own status (`503`, `500`) with `Retry-After`
    /// and the reason as text instead: for APIs no browser reads, since an
    /// `EventSource` that gets it stops for good.
    ///
    /// ```
    /// # use ssekit_core::broker::BrokerError;
    /// # use ssekit_tower::Unavailable;
    /// let response = Unavailable::new().status_answer().answer(&BrokerError::Closed);
    /// assert_eq!(response.status(), 503);
    /// ```
    pub fn status_answer(mut self) -> Self {
        self.event_stream = false;
        self
    }

    /// The status [`answer`](Self::answer) gives `reason`: `200` for a
    /// refusal that passes answered as an event stream, else its own.
    ///
    /// ```
    /// # use ssekit_core::broker::BrokerError;
    /// # use ssekit_tower::Unavailable;
    /// assert_eq!(Unavailable::new().status(&BrokerError::Closed), 200);
    /// assert_eq!(Unavailable::new().status(&BrokerError::NoTopic), 400);
    /// ```
    pub fn status<R: Refusal + ?Sized>(&self, reason: &R) -> StatusCode {
        if self.event_stream && reason.passes() {
            StatusCode::OK
        } else {
            reason.status()
        }
    }

    /// The defaults, built once.
    #[doc(hidden)]
    pub fn shared_default() -> &'static Unavailable {
        static DEFAULT: OnceLock<Unavailable> = OnceLock::new();
        DEFAULT.get_or_init(Unavailable::new)
    }

    /// The response for `reason`: a final refusal is always its status; one
    /// that [passes](Refusal::passes) is answered as this policy says.
    ///
    /// Every refusal answered is logged once, at `info` if it passes and
    /// `debug` if final, with its [`kind`](Refusal::kind) and the status
    /// answered, never its reason nor anything of the request; with feature
    /// `metrics`, the counter `sse_refusals_total{kind}` counts it. The
    /// adapters' `Error`s and [`refusal`] answer through it, so every
    /// serving path reports its refusals.
    ///
    /// ```
    /// # use ssekit_tower::{Denied, Unavailable};
    /// let response = Unavailable::new().answer(&Denied::Unauthenticated);
    /// assert_eq!(response.status(), 401);
    /// ```
    pub fn answer<R: Refusal + ?Sized>(&self, reason: &R) -> Response<String> {
        telemetry::refused(reason.kind(), self.status(reason), reason.passes());
        if !reason.passes() {
            return status_answer(reason, None);
        }
        let retry = self.retry.sample();
        if !self.event_stream {
            return status_answer(reason, Some(retry));
        }
        let text = reason.to_string();
        let ms = retry.as_millis();
        let frame = match &self.notice {
            Some(name) => {
                let data = format!(
                    "{{\"reason\":{},\"retry\":{ms}}}",
                    serde_json::Value::from(text.as_str())
                );
                Event::builder()
                    .event(&**name)
                    .data(data)
                    .retry(retry)
                    .build()
            }
            None => Ok(Event::retry(retry)),
        };
        // A notice name with a line break cannot be sent: the retry alone is.
        let frame = frame.unwrap_or_else(|_| Event::retry(retry));
        let body = String::from_utf8_lossy(frame.as_bytes()).into_owned();
        let mut response = Response::new(body);
        let headers = response.headers_mut();
        set_event_stream_headers(headers);
        headers.insert(SSE_REFUSAL, HeaderValue::from(reason.status().as_u16()));
        headers.insert(RETRY_AFTER, retry_after(retry));
        response
    }
}

/// `Retry-After` in whole seconds, rounded up.
fn retry_after(retry: Duration) -> HeaderValue {
    HeaderValue::from(retry.as_millis().div_ceil(1000) as u64)
}

fn status_answer<R: Refusal + ?Sized>(reason: &R, retry: Option<Duration>) -> Response<String> {
    let mut response = Response::new(reason.to_string());
    *response.status_mut() = reason.status();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    reason.headers(headers);
    if let Some(retry) = retry {
        headers.insert(RETRY_AFTER, retry_after(retry));
    }
    response
}

/// A reason a subscription was refused: its status, the headers that
/// status calls for, and whether it passes; its `Display` is the reason
/// the client is given.
///
/// ```
/// use ssekit_tower::{Denied, Refusal};
///
/// let mut headers = http::HeaderMap::new();
/// Denied::Unauthenticated.headers(&mut headers);
/// assert_eq!(headers["www-authenticate"], "Bearer");
/// assert!(!Denied::Unauthenticated.passes());
/// ```
pub trait Refusal: fmt::Display {
    /// The refusal's status.
    fn status(&self) -> StatusCode;

    /// Adds the headers the status calls for (`WWW-Authenticate`).
    fn headers(&self, headers: &mut HeaderMap) {
        let _ = headers;
    }

    /// Whether trying again later may succeed, so that a browser must keep
    /// reconnecting (default: a `5xx` or `429` status).
    fn passes(&self) -> bool {
        let status = self.status();
        status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS
    }

    /// The refusal's kind, a name from a small fixed set: the `kind` of its
    /// log line and of the `sse_refusals_total` metric, so never anything
    /// the request chose (default `other`). ssekit's own refusals are
    /// `subscriptions_full`, `topic_full`, `backend`, `closed`, `internal`,
    /// `topics`, `unauthenticated` and `forbidden`.
    ///
    /// ```
    /// use ssekit_core::broker::BrokerError;
    /// use ssekit_tower::{Denied, Refusal};
    ///
    /// let forbidden = Denied::Forbidden { topic: "payroll".into() };
    /// assert_eq!(forbidden.kind(), "forbidden");
    /// assert_eq!(BrokerError::TooManySubscriptions { max: 10 }.kind(), "subscriptions_full");
    /// ```
    fn kind(&self) -> &'static str {
        "other"
    }
}

#[cfg(feature = "broker")]
impl Refusal for BrokerError {
    fn status(&self) -> StatusCode {
        match self {
            BrokerError::TooManySubscriptions { .. }
            | BrokerError::TooManySubscribers { .. }
            | BrokerError::Backend(_)
            | BrokerError::Closed => StatusCode::SERVICE_UNAVAILABLE,
            BrokerError::NoTopic | BrokerError::SpansUnits { .. } => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            BrokerError::TooManySubscriptions { .. } => "subscriptions_full",
            BrokerError::TooManySubscribers { .. } => "topic_full",
            BrokerError::Backend(_) => "backend",
            BrokerError::Closed => "closed",
            BrokerError::NoTopic | BrokerError::SpansUnits { .. } => "topics",
            _ => "internal",
        }
    }
}

#[cfg(feature = "broker")]
impl Refusal for Denied {
    fn status(&self) -> StatusCode {
        Denied::status(self)
    }

    fn headers(&self, headers: &mut HeaderMap) {
        if let Denied::Unauthenticated = self {
            headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Denied::Unauthenticated => "unauthenticated",
            Denied::Forbidden { .. } => "forbidden",
        }
    }
}

#[cfg(feature = "broker")]
impl Refusal for Refused {
    fn status(&self) -> StatusCode {
        match self {
            Refused::Denied(denied) => Refusal::status(denied),
            Refused::Broker(error) => error.status(),
            Refused::Topics(invalid) => invalid.status(),
        }
    }

    fn headers(&self, headers: &mut HeaderMap) {
        match self {
            Refused::Denied(denied) => denied.headers(headers),
            Refused::Broker(error) => error.headers(headers),
            Refused::Topics(invalid) => invalid.headers(headers),
        }
    }

    fn passes(&self) -> bool {
        match self {
            Refused::Denied(denied) => denied.passes(),
            Refused::Broker(error) => error.passes(),
            Refused::Topics(invalid) => invalid.passes(),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Refused::Denied(denied) => denied.kind(),
            Refused::Broker(error) => error.kind(),
            Refused::Topics(invalid) => invalid.kind(),
        }
    }
}

impl Refusal for InvalidTopics {
    fn status(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }

    fn kind(&self) -> &'static str {
        "topics"
    }
}
