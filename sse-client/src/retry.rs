use std::time::{Duration, SystemTime};

use http::header::RETRY_AFTER;
use http::{HeaderMap, StatusCode};

/// Which statuses other than `200 OK` are worth another attempt.
///
/// The default, [`RetryPolicy::browser`], retries none: like a browser's
/// `EventSource`, any other status ends the source with
/// [`Error::Status`](crate::Error::Status). A retried status is reported as
/// [`Disconnect::Status`](crate::Disconnect::Status), and the source waits
/// as long as the response's `Retry-After` says (seconds or an HTTP date),
/// else as long as the [`Backoff`](crate::Backoff) says. `204 No Content`
/// and a wrong content type end the source whatever the policy.
///
/// ```
/// use http::StatusCode;
/// use ssekit_client::RetryPolicy;
///
/// let policy = RetryPolicy::transient().status(StatusCode::UNAUTHORIZED);
/// assert!(policy.retries(StatusCode::SERVICE_UNAVAILABLE));
/// assert!(policy.retries(StatusCode::TOO_MANY_REQUESTS));
/// assert!(policy.retries(StatusCode::UNAUTHORIZED));
/// assert!(!policy.retries(StatusCode::NOT_FOUND));
/// assert!(!RetryPolicy::browser().retries(StatusCode::SERVICE_UNAVAILABLE));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetryPolicy {
    server_errors: bool,
    statuses: Vec<StatusCode>,
}

impl RetryPolicy {
    /// Retries nothing, as a browser does; the default.
    pub fn browser() -> Self {
        Self::default()
    }

    /// Retries every `5xx` and `429 Too Many Requests`.
    pub fn transient() -> Self {
        RetryPolicy {
            server_errors: true,
            statuses: vec![StatusCode::TOO_MANY_REQUESTS],
        }
    }

    /// Also retries `status` (say `401 Unauthorized`, when an
    /// [`on_request`](crate::Builder::on_request) hook refreshes a token).
    pub fn status(mut self, status: StatusCode) -> Self {
        if !self.statuses.contains(&status) {
            self.statuses.push(status);
        }
        self
    }

    /// Whether a response with `status` is retried. `200` and `204` are
    /// never retried: one opens the stream, the other closes it.
    pub fn retries(&self, status: StatusCode) -> bool {
        if status == StatusCode::OK || status == StatusCode::NO_CONTENT {
            return false;
        }
        (self.server_errors && status.is_server_error()) || self.statuses.contains(&status)
    }
}

/// What an [`on_request`](crate::Builder::on_request) hook finds in the
/// request's extensions: which attempt this is and how the last one ended.
///
/// ```
/// use http::StatusCode;
/// use ssekit_client::Attempt;
///
/// let first = Attempt::default();
/// assert_eq!((first.number(), first.status()), (0, None));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Attempt {
    number: u32,
    status: Option<StatusCode>,
}

impl Attempt {
    pub(crate) fn new(number: u32, status: Option<StatusCode>) -> Self {
        Attempt { number, status }
    }

    /// 0 for the first attempt and the first after an
    /// [`Item::Open`](crate::Item::Open), then 1, 2, … as in
    /// [`Item::Reconnecting`](crate::Item::Reconnecting).
    pub fn number(&self) -> u32 {
        self.number
    }

    /// The status that ended the previous attempt, if the
    /// [`RetryPolicy`] retried one (a `401` when a token expired, say).
    pub fn status(&self) -> Option<StatusCode> {
        self.status
    }
}

/// The wait a `Retry-After` header asks for: delay-seconds, or an HTTP date
/// (a date in the past asks for none). `None` if absent or malformed.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Digits that overflow a u64 still mean "a very long time".
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(
        date.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn retry_after_in_seconds_is_read() {
        assert_eq!(retry_after(&headers("120")), Some(Duration::from_secs(120)));
        assert_eq!(retry_after(&headers(" 0 ")), Some(Duration::ZERO));
    }

    #[test]
    fn retry_after_as_a_date_is_the_time_until_it() {
        let later = SystemTime::now() + Duration::from_secs(3600);
        let wait = retry_after(&headers(&httpdate::fmt_http_date(later))).unwrap();
        assert!(
            (Duration::from_secs(3595)..=Duration::from_secs(3600)).contains(&wait),
            "{wait:?}"
        );
    }

    #[test]
    fn retry_after_in_the_past_waits_nothing() {
        let wait = retry_after(&headers("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(wait, Some(Duration::ZERO));
    }

    #[test]
    fn malformed_retry_after_is_ignored() {
        for value in ["soon", "-1", "1.5", ""] {
            assert_eq!(retry_after(&headers(value)), None, "{value:?}");
        }
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn huge_retry_after_does_not_overflow() {
        let wait = retry_after(&headers("99999999999999999999999"));
        assert_eq!(wait, Some(Duration::from_secs(u64::MAX)));
    }

    #[test]
    fn no_content_and_ok_are_never_retried() {
        let policy = RetryPolicy::transient()
            .status(StatusCode::NO_CONTENT)
            .status(StatusCode::OK);
        assert!(!policy.retries(StatusCode::NO_CONTENT));
        assert!(!policy.retries(StatusCode::OK));
    }
}
