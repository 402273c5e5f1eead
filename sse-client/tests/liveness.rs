//! Retry policies, error bodies, the idle timeout and comments over real
//! HTTP from a scripted server.

mod support;

use std::time::Duration;

use http::StatusCode;
use ssekit_client::{Disconnect, Error, EventSource, Item, RetryPolicy};
use support::{Reply, Server, next, next_event, until_end};
use tokio::time::Instant;

const UNAVAILABLE: &str = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: application/json\r\nContent-Length: 24\r\nConnection: close\r\n\r\n{\"error\":\"overloaded\"}\r\n";

#[tokio::test]
async fn service_unavailable_is_final_by_default_with_its_response() {
    let server = Server::start(vec![Reply::head(UNAVAILABLE)]).await;
    let items = until_end(&mut server.source()).await;
    let [Item::Closed(Error::Status(response))] = &items[..] else {
        panic!("expected a status error, got {items:?}");
    };
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(response.body(), "{\"error\":\"overloaded\"}\r\n");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn error_body_is_cut_at_the_limit() {
    let server = Server::start(vec![Reply::head(UNAVAILABLE)]).await;
    let mut source = EventSource::builder(server.uri()).max_error_body(8).build();
    let items = until_end(&mut source).await;
    let [Item::Closed(Error::Status(response))] = &items[..] else {
        panic!("expected a status error, got {items:?}");
    };
    assert_eq!(response.body(), "{\"error\"");
}

#[tokio::test]
async fn zero_error_body_limit_reads_no_body() {
    let server = Server::start(vec![Reply::head(UNAVAILABLE)]).await;
    let mut source = EventSource::builder(server.uri()).max_error_body(0).build();
    let items = until_end(&mut source).await;
    let [Item::Closed(Error::Status(response))] = &items[..] else {
        panic!("expected a status error, got {items:?}");
    };
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.body().is_empty());
}

#[tokio::test]
async fn transient_policy_retries_service_unavailable_after_retry_after() {
    let server = Server::start(vec![
        Reply::head(UNAVAILABLE),
        Reply::sse().chunk("data: a\n\n"),
    ])
    .await;
    let mut source = EventSource::builder(server.uri())
        .retry(Duration::from_millis(20))
        .retry_policy(RetryPolicy::transient())
        .build();
    let item = next(&mut source).await;
    assert!(
        matches!(
            item,
            Item::Reconnecting {
                reason: Disconnect::Status(StatusCode::SERVICE_UNAVAILABLE),
                delay,
                attempt: 1,
                ..
            } if delay == Duration::from_secs(1)
        ),
        "{item:?}"
    );
    assert!(matches!(next(&mut source).await, Item::Open));
    assert_eq!(next_event(&mut source).await.data(), "a");
    let requests = server.requests();
    let waited = requests[1].at - requests[0].at;
    assert!(waited >= Duration::from_secs(1), "retried after {waited:?}");
}

#[tokio::test]
async fn silent_server_is_detected_within_the_idle_timeout_and_resumed() {
    let timeout = Duration::from_millis(300);
    let mut server = Server::start(vec![
        Reply::sse().chunk("id: 1\ndata: a\n\n").hold(),
        Reply::sse().chunk("data: b\n\n"),
    ])
    .await;
    let mut source = EventSource::builder(server.uri())
        .retry(Duration::from_millis(20))
        .idle_timeout(timeout)
        .build();
    assert!(matches!(next(&mut source).await, Item::Open));
    assert_eq!(next_event(&mut source).await.data(), "a");
    let silent_since = Instant::now();
    let item = next(&mut source).await;
    let detected = silent_since.elapsed();
    assert!(
        matches!(
            item,
            Item::Reconnecting {
                reason: Disconnect::Idle,
                ..
            }
        ),
        "{item:?}"
    );
    assert!(
        detected >= timeout - Duration::from_millis(20),
        "{detected:?}"
    );
    assert!(detected < timeout * 3, "{detected:?}");
    // The silent connection is dropped, and the next one resumes.
    assert_eq!(server.dropped().await, 0);
    assert!(matches!(next(&mut source).await, Item::Open));
    assert_eq!(next_event(&mut source).await.data(), "b");
    assert_eq!(server.requests()[1].header("last-event-id"), Some("1"));
}

#[tokio::test]
async fn keep_alive_comments_keep_the_connection_under_the_idle_timeout() {
    let mut reply = Reply::sse();
    for _ in 0..6 {
        reply = reply.chunk(":\n\n").pause(Duration::from_millis(50));
    }
    let server = Server::start(vec![reply.chunk("data: end\n\n")]).await;
    let mut source = EventSource::builder(server.uri())
        .idle_timeout(Duration::from_millis(200))
        .build();
    assert!(matches!(next(&mut source).await, Item::Open));
    // 400 ms of keep-alives, twice the timeout, then the event.
    assert_eq!(next_event(&mut source).await.data(), "end");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn server_that_never_answers_is_dropped_after_the_idle_timeout() {
    let server = Server::start(vec![Reply::head("").hold()]).await;
    let mut source = EventSource::builder(server.uri())
        .retry(Duration::from_millis(20))
        .idle_timeout(Duration::from_millis(100))
        .build();
    let item = next(&mut source).await;
    assert!(
        matches!(
            item,
            Item::Reconnecting {
                reason: Disconnect::Idle,
                ..
            }
        ),
        "{item:?}"
    );
}

#[tokio::test]
async fn comments_are_yielded_when_asked_for() {
    let server = Server::start(vec![Reply::sse().chunk(": ping\n\n").chunk("data: a\n\n")]).await;
    let mut source = EventSource::builder(server.uri()).comments(true).build();
    assert!(matches!(next(&mut source).await, Item::Open));
    assert!(matches!(next(&mut source).await, Item::Comment(c) if c == "ping"));
    assert_eq!(next_event(&mut source).await.data(), "a");
}

#[tokio::test]
async fn comments_are_not_yielded_by_default() {
    let server = Server::start(vec![Reply::sse().chunk(": ping\n\n").chunk("data: a\n\n")]).await;
    let mut source = server.source();
    assert!(matches!(next(&mut source).await, Item::Open));
    assert_eq!(next_event(&mut source).await.data(), "a");
}
