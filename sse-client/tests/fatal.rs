//! Responses that end a source for good.

mod support;

use http::{HeaderMap, HeaderValue, StatusCode};
use ssekit_client::{Error, ErrorResponse, EventSource, Item};
use support::{Reply, Server, events, message, next, until_end};

async fn items_for(head: &str) -> (Vec<Item>, usize) {
    let server = Server::start(vec![Reply::head(head).chunk("data: a\n\n")]).await;
    let items = until_end(&mut server.source()).await;
    (items, server.requests().len())
}

#[tokio::test]
async fn no_content_closes_for_good() {
    let (items, requests) = items_for("HTTP/1.1 204 No Content\r\n\r\n").await;
    assert!(
        matches!(items[..], [Item::Closed(Error::NoContent)]),
        "{items:?}"
    );
    assert_eq!(requests, 1);
}

#[tokio::test]
async fn server_error_closes_with_the_status() {
    let head = "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";
    let (items, requests) = items_for(head).await;
    let [Item::Closed(error)] = &items[..] else {
        panic!("expected one Closed, got {items:?}");
    };
    assert_eq!(error.status(), Some(StatusCode::INTERNAL_SERVER_ERROR));
    assert_eq!(requests, 1);
}

#[tokio::test]
async fn redirect_is_final_when_following_is_off() {
    let head =
        "HTTP/1.1 301 Moved Permanently\r\nLocation: /elsewhere\r\nConnection: close\r\n\r\n";
    let server = Server::start(vec![Reply::head(head)]).await;
    let mut source = EventSource::builder(server.uri()).max_redirects(0).build();
    let items = until_end(&mut source).await;
    let [Item::Closed(error)] = &items[..] else {
        panic!("expected one Closed, got {items:?}");
    };
    assert_eq!(error.status(), Some(StatusCode::MOVED_PERMANENTLY));
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn wrong_content_type_closes() {
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n";
    let (items, requests) = items_for(head).await;
    let [Item::Closed(Error::ContentType(Some(content_type)))] = &items[..] else {
        panic!("expected a content type error, got {items:?}");
    };
    assert_eq!(content_type, HeaderValue::from_static("text/plain"));
    assert_eq!(requests, 1);
}

#[tokio::test]
async fn missing_content_type_closes() {
    let head = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
    let (items, _) = items_for(head).await;
    assert!(
        matches!(items[..], [Item::Closed(Error::ContentType(None))]),
        "{items:?}"
    );
}

#[tokio::test]
async fn content_type_with_parameters_is_an_event_stream() {
    let head = "HTTP/1.1 200 OK\r\nContent-Type: Text/Event-Stream; charset=utf-8\r\nConnection: close\r\n\r\n";
    let server = Server::start(vec![Reply::head(head).chunk("data: a\n\n")]).await;
    let mut source = server.source();
    assert!(matches!(next(&mut source).await, Item::Open));
    let items = until_end(&mut source).await;
    assert_eq!(events(&items), [message("a", "")]);
}

#[tokio::test]
async fn fatal_error_after_a_reconnection_ends_the_stream() {
    let server = Server::start(vec![
        Reply::sse().chunk("id: 1\ndata: a\n\n"),
        Reply::head("HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n"),
    ])
    .await;
    let mut source = server.source();
    let items = until_end(&mut source).await;
    let [
        Item::Open,
        Item::Event(_),
        Item::Reconnecting { .. },
        Item::Closed(error),
    ] = &items[..]
    else {
        panic!("expected Open, Event, Reconnecting, Closed, got {items:?}");
    };
    assert_eq!(error.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn errors_read_well() {
    assert_eq!(
        Error::NoContent.to_string(),
        "the server answered 204 No Content, which tells the client to stop"
    );
    assert_eq!(
        Error::Status(ErrorResponse::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            HeaderMap::new(),
            ""
        ))
        .to_string(),
        "the server answered 500 Internal Server Error, not 200 OK"
    );
    assert_eq!(
        Error::ContentType(Some(HeaderValue::from_static("text/html"))).to_string(),
        "the response is not an event stream: its content type is \"text/html\""
    );
    assert_eq!(
        Error::ContentType(None).to_string(),
        "the response is not an event stream: its content type is missing"
    );
    assert_eq!(
        Error::TooManyRedirects.to_string(),
        "the server redirected more times than allowed"
    );
}
