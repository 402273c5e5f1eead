//! The `reqwest` backend, over real HTTP from a scripted server: the body
//! streamed as it arrives, and reqwest's own redirect policy.

mod support;

use std::time::Duration;

use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Method, StatusCode};
use ssekit_client::{Disconnect, Error, EventSource, Item, RetryPolicy};
use support::{Reply, Server, next, next_event, until_end};

const CHAT_BODY: &str = r#"{"model":"m","stream":true}"#;

fn builder(server: &Server) -> ssekit_client::Builder {
    EventSource::builder(server.uri()).retry(Duration::from_millis(20))
}

#[tokio::test]
async fn openai_style_post_streams_to_done_through_reqwest() {
    let mut server = Server::start(vec![
        Reply::sse()
            .chunk("data: {\"content\":\"Hel\"}\n\n")
            .chunk("data: {\"content\":\"lo\"}\n\n")
            .chunk("data: [DONE]\n\n")
            .hold(),
    ])
    .await;
    let mut source = builder(&server)
        .method(Method::POST)
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .body(CHAT_BODY)
        .build_with_reqwest(reqwest::Client::new());
    assert!(matches!(next(&mut source).await, Item::Open));
    let mut chunks = Vec::new();
    loop {
        let event = next_event(&mut source).await;
        if event.data() == "[DONE]" {
            break;
        }
        chunks.push(event.into_data());
    }
    // `[DONE]` arrived while the connection stays open: nothing was buffered
    // to the end of the body.
    source.close();
    assert_eq!(chunks, [r#"{"content":"Hel"}"#, r#"{"content":"lo"}"#]);
    assert_eq!(server.dropped().await, 0);
    let request = &server.requests()[0];
    assert_eq!(request.request_line(), "POST /events HTTP/1.1");
    assert_eq!(request.header("accept"), Some("text/event-stream"));
    assert_eq!(request.body, CHAT_BODY.as_bytes());
}

#[tokio::test]
async fn reqwest_follows_see_other_with_a_get() {
    let server = Server::start(vec![
        Reply::redirect("303 See Other", "/stream"),
        Reply::sse().chunk("data: a\n\n"),
    ])
    .await;
    let mut source = builder(&server)
        .method(Method::POST)
        .body(CHAT_BODY)
        .build_with_reqwest(reqwest::Client::new());
    assert!(matches!(next(&mut source).await, Item::Open));
    assert_eq!(next_event(&mut source).await.data(), "a");
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].request_line(), "GET /stream HTTP/1.1");
    assert!(requests[1].body.is_empty());
}

#[tokio::test]
async fn reqwest_redirect_loop_ends_with_an_error() {
    let replies = (0..30)
        .map(|_| Reply::redirect("302 Found", "/events"))
        .collect();
    let server = Server::start(replies).await;
    let mut source = builder(&server).build_with_reqwest(reqwest::Client::new());
    let items = until_end(&mut source).await;
    assert!(
        matches!(items[..], [Item::Closed(Error::TooManyRedirects)]),
        "{items:?}"
    );
    // reqwest's default policy: the request and 10 redirects followed.
    assert_eq!(server.requests().len(), 11);
}

#[tokio::test]
async fn reqwest_without_redirects_makes_a_redirect_final() {
    let server = Server::start(vec![Reply::redirect("307 Temporary Redirect", "/stream")]).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut source = builder(&server).build_with_reqwest(client);
    let items = until_end(&mut source).await;
    let [Item::Closed(error)] = &items[..] else {
        panic!("expected one Closed, got {items:?}");
    };
    assert_eq!(error.status(), Some(StatusCode::TEMPORARY_REDIRECT));
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn reqwest_reconnects_with_the_last_event_id_and_retries_by_policy() {
    let unavailable = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    let server = Server::start(vec![
        Reply::sse().chunk("id: 7\ndata: a\n\n"),
        Reply::head(unavailable),
        Reply::sse().chunk("data: b\n\n"),
    ])
    .await;
    let mut source = builder(&server)
        .retry_policy(RetryPolicy::transient())
        .build_with_reqwest(reqwest::Client::new());
    let items = until_end(&mut source).await;
    assert!(
        matches!(
            items[3],
            Item::Reconnecting {
                reason: Disconnect::Status(StatusCode::SERVICE_UNAVAILABLE),
                ..
            }
        ),
        "{items:?}"
    );
    let ids: Vec<_> = server
        .requests()
        .iter()
        .map(|r| r.header("last-event-id").map(str::to_owned))
        .collect();
    let seven = Some("7".to_owned());
    assert_eq!(ids, [None, seven.clone(), seven.clone(), seven]);
}
