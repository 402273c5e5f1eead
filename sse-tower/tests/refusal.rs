//! How each refusal is answered: one that passes keeps a browser's
//! `EventSource` reconnecting (`200 text/event-stream`, a `retry:`, a
//! notice, no `id:`); one that is final by nature keeps its status.
#![cfg(feature = "broker")]

use std::fmt;
use std::time::Duration;

use http::{Response, StatusCode};
use ssekit_core::broker::{Broker, BrokerError};
use ssekit_core::decode::{Decoded, Decoder};
use ssekit_tower::{
    Denied, InvalidTopics, LastEventId, Refusal, Refused, Retry, Unavailable, refusal,
};

/// What a browser makes of an answer's body: its `retry:` values and its
/// events as `(type, data, last event id)`.
fn as_a_browser_reads_it(body: &str) -> (Vec<Duration>, Vec<(String, String, String)>) {
    let mut retries = Vec::new();
    let mut events = Vec::new();
    for item in Decoder::new().decode(body.as_bytes()) {
        match item.expect("a well-formed stream") {
            Decoded::Retry(retry) => retries.push(retry),
            Decoded::Event(event) => events.push((
                event.event_type().to_owned(),
                event.data().to_owned(),
                event.last_event_id().to_owned(),
            )),
            _ => unreachable!("the decoder yields events and retries"),
        }
    }
    (retries, events)
}

/// Asserts `response` is the browser-safe answer for a refusal whose own
/// status is `status`, and returns the retry it asks for.
fn assert_answered_as_unavailable(response: &Response<String>, status: u16) -> Duration {
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(
        response.headers()["cache-control"],
        "no-cache, no-transform"
    );
    assert_eq!(
        response.headers()["sse-refusal"],
        status.to_string().as_str()
    );
    let body = response.body();
    assert!(
        !body.contains("id:"),
        "no id: overwrites the browser's last id: {body:?}"
    );
    let (retries, events) = as_a_browser_reads_it(body);
    let [retry] = retries[..] else {
        panic!("one retry: in {body:?}")
    };
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(retry_after, retry.as_millis().div_ceil(1000) as u64);
    let [(kind, data, last_event_id)] = &events[..] else {
        panic!("one notice in {body:?}")
    };
    assert_eq!(kind, "unavailable");
    assert_eq!(
        last_event_id, "",
        "the notice leaves the last event id alone"
    );
    let notice: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!(notice["retry"], retry.as_millis() as u64);
    assert!(notice["reason"].as_str().is_some_and(|r| !r.is_empty()));
    retry
}

fn in_default_window(retry: Duration) -> bool {
    (Duration::from_secs(5)..=Duration::from_secs(10)).contains(&retry)
}

#[tokio::test]
async fn a_full_subscription_limit_is_answered_200_with_a_retry_and_a_notice() {
    let broker = Broker::builder().max_subscriptions(0).build();
    let error = ssekit_tower::subscribe(&broker, &["room"], &LastEventId::Absent)
        .await
        .unwrap_err();
    let response = refusal(&error);
    assert!(in_default_window(assert_answered_as_unavailable(
        &response, 503
    )));
    assert!(
        response
            .body()
            .contains("the broker already has its maximum of 0 subscriptions")
    );
}

#[tokio::test]
async fn a_full_topic_is_answered_200_with_a_retry_and_a_notice() {
    let broker = Broker::builder().max_subscribers_per_topic(1).build();
    let _first = ssekit_tower::subscribe(&broker, &["room"], &LastEventId::Absent)
        .await
        .unwrap();
    let error = ssekit_tower::subscribe(&broker, &["room"], &LastEventId::Absent)
        .await
        .unwrap_err();
    assert!(matches!(error, BrokerError::TooManySubscribers { .. }));
    assert_answered_as_unavailable(&refusal(&error), 503);
}

#[test]
fn a_failing_backend_is_answered_200_with_a_retry_and_a_notice() {
    let unreachable = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
    let response = refusal(&BrokerError::Backend(Box::new(unreachable)));
    assert_answered_as_unavailable(&response, 503);
}

#[tokio::test]
async fn a_broker_that_shut_down_is_answered_200_with_a_retry() {
    let broker = Broker::new();
    broker.shutdown(None);
    let error = ssekit_tower::subscribe(&broker, &["room"], &LastEventId::Absent)
        .await
        .unwrap_err();
    assert!(matches!(error, BrokerError::Closed));
    assert_answered_as_unavailable(&refusal(&error), 503);
}

/// An application's own refusal for an internal error.
struct Internal;

impl fmt::Display for Internal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("internal error")
    }
}

impl Refusal for Internal {
    fn status(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }
}

#[test]
fn an_internal_error_is_answered_200_with_a_retry() {
    assert_answered_as_unavailable(&refusal(&Internal), 500);
}

#[test]
fn unauthenticated_is_final_401_with_www_authenticate() {
    let response = refusal(&Refused::from(Denied::Unauthenticated));
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; charset=utf-8"
    );
    assert!(response.headers().get("sse-refusal").is_none());
    assert_eq!(
        response.body(),
        "no valid credentials for this subscription"
    );
}

#[test]
fn forbidden_is_final_403() {
    let denied = Denied::Forbidden {
        topic: "admin".into(),
    };
    let response = refusal(&Refused::from(denied));
    assert_eq!(response.status(), 403);
    assert_eq!(response.body(), "not allowed to read topic \"admin\"");
}

#[test]
fn missing_or_invalid_topics_are_final_400() {
    for invalid in [InvalidTopics::Missing, InvalidTopics::Empty] {
        let response = refusal(&Refused::from(invalid));
        assert_eq!(response.status(), 400);
        assert_eq!(
            response.headers()["content-type"],
            "text/plain; charset=utf-8"
        );
    }
    assert_eq!(refusal(&BrokerError::NoTopic).status(), 400);
}

#[test]
fn each_answer_draws_its_own_retry_within_the_window() {
    let retries: Vec<Duration> = (0..200)
        .map(|_| assert_answered_as_unavailable(&refusal(&BrokerError::Closed), 503))
        .collect();
    assert!(retries.iter().all(|retry| in_default_window(*retry)));
    let first = retries[0];
    assert!(retries.iter().any(|retry| *retry != first), "jittered");
}

#[test]
fn a_configured_retry_notice_name_and_no_notice_are_answered_as_set() {
    let unavailable = Unavailable::new().retry(Retry::new(Duration::from_millis(1500)));
    let response = unavailable
        .clone()
        .notice("busy")
        .answer(&BrokerError::Closed);
    assert_eq!(response.headers()["retry-after"], "2");
    assert_eq!(
        response.body(),
        "event: busy\nretry: 1500\ndata: {\"reason\":\"the broker has been shut down\",\"retry\":1500}\n\n"
    );
    let response = unavailable.no_notice().answer(&BrokerError::Closed);
    assert_eq!(response.status(), 200);
    assert_eq!(response.body(), "retry: 1500\n\n");
}

#[test]
fn a_notice_name_with_a_line_break_sends_the_retry_alone() {
    let unavailable = Unavailable::new()
        .retry(Retry::new(Duration::from_secs(1)))
        .notice("two\nlines");
    let response = unavailable.answer(&BrokerError::Closed);
    assert_eq!(response.status(), 200);
    assert_eq!(response.body(), "retry: 1000\n\n");
}

#[test]
fn a_reason_with_quotes_and_line_breaks_stays_one_json_data_line() {
    struct Odd;
    impl fmt::Display for Odd {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a \"quoted\"\nreason\r\\")
        }
    }
    impl Refusal for Odd {
        fn status(&self) -> StatusCode {
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
    let response = refusal(&Odd);
    assert_answered_as_unavailable(&response, 503);
    let (_, events) = as_a_browser_reads_it(response.body());
    let notice: serde_json::Value = serde_json::from_str(&events[0].1).unwrap();
    assert_eq!(notice["reason"], "a \"quoted\"\nreason\r\\");
}

#[test]
fn status_answer_keeps_the_refusals_own_status_with_retry_after() {
    let unavailable = Unavailable::new()
        .retry(Retry::new(Duration::from_secs(7)))
        .status_answer();
    let response = unavailable.answer(&BrokerError::Closed);
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "7");
    assert_eq!(response.body(), "the broker has been shut down");
    // Final refusals are the same either way.
    assert_eq!(
        unavailable
            .answer(&Refused::from(Denied::Unauthenticated))
            .status(),
        401
    );
}

#[test]
fn which_refusals_pass() {
    assert!(BrokerError::Closed.passes());
    assert!(BrokerError::TooManySubscriptions { max: 1 }.passes());
    assert!(Internal.passes());
    assert!(!BrokerError::NoTopic.passes());
    assert!(!Denied::Unauthenticated.passes());
    assert!(!InvalidTopics::Missing.passes());
    assert!(!Refused::from(InvalidTopics::Missing).passes());
    assert!(Refused::from(BrokerError::Closed).passes());
}
