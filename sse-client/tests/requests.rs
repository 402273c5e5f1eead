//! The request a source sends: method, body, the per-attempt hook, and
//! redirects as `fetch` follows them, over real HTTP from a scripted server.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use http::{Method, StatusCode};
use ssekit_client::{Attempt, Disconnect, Error, EventSource, Item, RetryPolicy};
use support::{Reply, Server, events, message, next, next_event, until_end};

const CHAT_BODY: &str =
    r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;

/// An OpenAI-style completion stream: JSON chunks, then `data: [DONE]`.
fn completion_stream() -> Reply {
    Reply::sse()
        .chunk("data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n")
        .chunk("data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\n")
        .chunk(": processing\n\n")
        .chunk("data: [DONE]\n\n")
        .hold()
}

/// Reads data until `[DONE]`, then closes the source.
async fn read_to_done(source: &mut EventSource) -> Vec<String> {
    assert!(matches!(next(source).await, Item::Open));
    let mut chunks = Vec::new();
    loop {
        let event = next_event(source).await;
        if event.data() == "[DONE]" {
            source.close();
            return chunks;
        }
        chunks.push(event.into_data());
    }
}

#[tokio::test]
async fn openai_style_post_streams_to_done() {
    let mut server = Server::start(vec![completion_stream()]).await;
    let mut source = EventSource::builder(server.uri())
        .method(Method::POST)
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .body(CHAT_BODY)
        .build();
    let chunks = read_to_done(&mut source).await;
    assert_eq!(
        chunks,
        [
            r#"{"choices":[{"delta":{"content":"Hel"}}]}"#,
            r#"{"choices":[{"delta":{"content":"lo"}}]}"#,
        ]
    );
    assert_eq!(server.dropped().await, 0);
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].request_line(), "POST /events HTTP/1.1");
    assert_eq!(requests[0].header("content-type"), Some("application/json"));
    assert_eq!(requests[0].header("accept"), Some("text/event-stream"));
    assert_eq!(requests[0].body, CHAT_BODY.as_bytes());
}

#[cfg(feature = "json")]
#[tokio::test]
async fn json_body_is_serialized_with_its_content_type() {
    let server = Server::start(vec![]).await;
    let mut source = EventSource::builder(server.uri())
        .method(Method::POST)
        .json(&serde_json::json!({ "model": "m", "stream": true }))
        .unwrap()
        .build();
    until_end(&mut source).await;
    let request = &server.requests()[0];
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.body, br#"{"model":"m","stream":true}"#);
}

#[tokio::test]
async fn token_hook_refreshes_after_unauthorized() {
    let unauthorized = "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer error=\"invalid_token\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    let server = Server::start(vec![
        Reply::head(unauthorized),
        Reply::sse().chunk("id: 1\ndata: hello\n\n"),
    ])
    .await;
    // The cached token has expired; the hook refreshes it when the server
    // says so.
    let token = Arc::new(Mutex::new("expired"));
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let seen = attempts.clone();
    let mut source = EventSource::builder(server.uri())
        .retry(Duration::from_millis(20))
        .retry_policy(RetryPolicy::browser().status(StatusCode::UNAUTHORIZED))
        .on_request(move |mut request| {
            let token = token.clone();
            let attempt = *request.extensions().get::<Attempt>().unwrap();
            seen.lock().unwrap().push(attempt);
            async move {
                if attempt.status() == Some(StatusCode::UNAUTHORIZED) {
                    *token.lock().unwrap() = "fresh"; // a call to the token service
                }
                let value = HeaderValue::try_from(format!("Bearer {}", token.lock().unwrap()))?;
                request.headers_mut().insert(AUTHORIZATION, value);
                Ok(request)
            }
        })
        .build();
    let items = until_end(&mut source).await;
    assert!(
        matches!(
            items[..],
            [
                Item::Reconnecting {
                    reason: Disconnect::Status(StatusCode::UNAUTHORIZED),
                    attempt: 1,
                    ..
                },
                Item::Open,
                Item::Event(_),
                Item::Reconnecting { .. },
                Item::Closed(Error::NoContent),
            ]
        ),
        "{items:?}"
    );
    assert_eq!(events(&items), [message("hello", "1")]);
    let authorizations: Vec<_> = server
        .requests()
        .iter()
        .map(|r| r.header("authorization").map(str::to_owned))
        .collect();
    let bearer = |t: &str| Some(format!("Bearer {t}"));
    assert_eq!(
        authorizations,
        [bearer("expired"), bearer("fresh"), bearer("fresh")]
    );
    let attempts: Vec<_> = attempts
        .lock()
        .unwrap()
        .iter()
        .map(|a| (a.number(), a.status()))
        .collect();
    assert_eq!(
        attempts,
        [(0, None), (1, Some(StatusCode::UNAUTHORIZED)), (1, None)]
    );
}

#[tokio::test]
async fn unauthorized_is_final_under_the_default_policy() {
    let unauthorized =
        "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    let server = Server::start(vec![Reply::head(unauthorized)]).await;
    let items = until_end(&mut server.source()).await;
    let [Item::Closed(error)] = &items[..] else {
        panic!("expected one Closed, got {items:?}");
    };
    assert_eq!(error.status(), Some(StatusCode::UNAUTHORIZED));
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn failing_hook_is_a_disconnect_and_is_retried() {
    let server = Server::start(vec![Reply::sse().chunk("data: a\n\n")]).await;
    let calls = Arc::new(Mutex::new(0));
    let counted = calls.clone();
    let mut source = EventSource::builder(server.uri())
        .retry(Duration::from_millis(20))
        .on_request(move |request| {
            let first = {
                let mut calls = counted.lock().unwrap();
                *calls += 1;
                *calls == 1
            };
            async move {
                if first {
                    return Err("the token service is down".into());
                }
                Ok(request)
            }
        })
        .build();
    let items = until_end(&mut source).await;
    assert!(
        matches!(
            items[0],
            Item::Reconnecting {
                reason: Disconnect::Hook(_),
                ..
            }
        ),
        "{items:?}"
    );
    assert_eq!(events(&items), [message("a", "")]);
    // The failed attempt sent nothing.
    assert_eq!(server.requests().len(), 2);
    assert_eq!(*calls.lock().unwrap(), 3);
}

#[tokio::test]
async fn temporary_redirect_leads_to_the_stream() {
    let server = Server::start(vec![
        Reply::redirect("307 Temporary Redirect", "/stream?v=2"),
        Reply::sse().chunk("id: 1\ndata: a\n\n"),
    ])
    .await;
    let items = until_end(&mut server.source()).await;
    assert_eq!(events(&items), [message("a", "1")]);
    let lines: Vec<_> = server
        .requests()
        .iter()
        .map(|r| r.request_line().to_owned())
        .collect();
    // The reconnection starts from the source's own URI again.
    assert_eq!(
        lines,
        [
            "GET /events HTTP/1.1",
            "GET /stream?v=2 HTTP/1.1",
            "GET /events HTTP/1.1"
        ]
    );
    assert_eq!(
        server.requests()[1].header("accept"),
        Some("text/event-stream")
    );
    assert_eq!(server.requests()[2].header("last-event-id"), Some("1"));
}

#[tokio::test]
async fn temporary_redirect_keeps_method_and_body() {
    let server = Server::start(vec![
        Reply::redirect("307 Temporary Redirect", "/stream"),
        Reply::sse().chunk("data: a\n\n"),
    ])
    .await;
    let mut source = EventSource::builder(server.uri())
        .method(Method::POST)
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .body(CHAT_BODY)
        .max_redirects(1)
        .build();
    assert!(matches!(next(&mut source).await, Item::Open));
    let requests = server.requests();
    assert_eq!(requests[1].request_line(), "POST /stream HTTP/1.1");
    assert_eq!(requests[1].header("content-type"), Some("application/json"));
    assert_eq!(requests[1].body, CHAT_BODY.as_bytes());
}

#[tokio::test]
async fn see_other_turns_a_post_into_a_get() {
    let server = Server::start(vec![
        Reply::redirect("303 See Other", "/stream"),
        Reply::sse().chunk("data: a\n\n"),
    ])
    .await;
    let mut source = EventSource::builder(server.uri())
        .method(Method::POST)
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .body(CHAT_BODY)
        .build();
    assert!(matches!(next(&mut source).await, Item::Open));
    assert_eq!(next_event(&mut source).await.data(), "a");
    let requests = server.requests();
    assert_eq!(requests[0].request_line(), "POST /events HTTP/1.1");
    assert_eq!(requests[1].request_line(), "GET /stream HTTP/1.1");
    assert_eq!(requests[1].header("content-type"), None);
    assert!(requests[1].body.is_empty());
}

#[tokio::test]
async fn redirect_loop_ends_after_twenty_redirects() {
    let replies = (0..30)
        .map(|_| Reply::redirect("302 Found", "/events"))
        .collect();
    let server = Server::start(replies).await;
    let items = until_end(&mut server.source()).await;
    assert!(
        matches!(items[..], [Item::Closed(Error::TooManyRedirects)]),
        "{items:?}"
    );
    // The request and 20 redirects followed; the 21st is not.
    assert_eq!(server.requests().len(), 21);
}

#[tokio::test]
async fn max_redirects_bounds_the_hops() {
    let replies = (0..3)
        .map(|_| Reply::redirect("307 Temporary Redirect", "/events"))
        .collect();
    let server = Server::start(replies).await;
    let mut source = EventSource::builder(server.uri()).max_redirects(2).build();
    let items = until_end(&mut source).await;
    assert!(
        matches!(items[..], [Item::Closed(Error::TooManyRedirects)]),
        "{items:?}"
    );
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn cross_origin_redirect_drops_authorization_and_keeps_other_headers() {
    let other = Server::start(vec![Reply::sse().chunk("data: a\n\n")]).await;
    let server = Server::start(vec![Reply::redirect("302 Found", &other.uri().to_string())]).await;
    let mut source = EventSource::builder(server.uri())
        .header(AUTHORIZATION, HeaderValue::from_static("Bearer secret"))
        .header("x-trace", HeaderValue::from_static("abc"))
        .last_event_id("9")
        .build();
    assert!(matches!(next(&mut source).await, Item::Open));
    let first = &server.requests()[0];
    assert_eq!(first.header("authorization"), Some("Bearer secret"));
    let hop = &other.requests()[0];
    assert_eq!(hop.header("authorization"), None);
    assert_eq!(hop.header("x-trace"), Some("abc"));
    assert_eq!(hop.header("last-event-id"), Some("9"));
    assert_eq!(hop.header("accept"), Some("text/event-stream"));
}

#[tokio::test]
async fn same_origin_redirect_keeps_authorization() {
    let server = Server::start(vec![
        Reply::redirect("302 Found", "/stream"),
        Reply::sse().chunk("data: a\n\n"),
    ])
    .await;
    let mut source = EventSource::builder(server.uri())
        .header(AUTHORIZATION, HeaderValue::from_static("Bearer secret"))
        .build();
    assert!(matches!(next(&mut source).await, Item::Open));
    assert_eq!(
        server.requests()[1].header("authorization"),
        Some("Bearer secret")
    );
}

#[tokio::test]
async fn redirect_without_location_is_final() {
    let head = "HTTP/1.1 302 Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    let server = Server::start(vec![Reply::head(head)]).await;
    let items = until_end(&mut server.source()).await;
    let [Item::Closed(error)] = &items[..] else {
        panic!("expected one Closed, got {items:?}");
    };
    assert_eq!(error.status(), Some(StatusCode::FOUND));
}
