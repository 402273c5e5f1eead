//! `SseLayer`, `SseResponse` and `LastEventId` without a network.

use std::convert::Infallible;
use std::sync::mpsc;

use http::{HeaderValue, Request, Response, StatusCode};
use ssekit_core::Event;
use ssekit_tower::{InvalidLastEventId, LastEventId, SseConfig, SseLayer, SseResponse};
use tower::{ServiceBuilder, ServiceExt};

/// Runs a request through `layer` and returns what the inner service saw.
async fn seen_by_service(request: Request<()>, layer: SseLayer) -> Option<LastEventId> {
    let (tx, rx) = mpsc::channel();
    let service = ServiceBuilder::new()
        .layer(layer)
        .service(tower::service_fn(move |request: Request<()>| {
            let _ = tx.send(request.extensions().get::<LastEventId>().cloned());
            async { Ok::<_, Infallible>(Response::new(futures_util::stream::empty::<Event>())) }
        }));
    service.oneshot(request).await.unwrap();
    rx.try_recv().unwrap()
}

fn with_last_event_id(value: &[u8]) -> Request<()> {
    Request::builder()
        .header("last-event-id", HeaderValue::from_bytes(value).unwrap())
        .body(())
        .unwrap()
}

#[tokio::test]
async fn a_request_without_last_event_id_gets_absent() {
    let seen = seen_by_service(Request::new(()), SseLayer::new()).await;
    assert_eq!(seen, Some(LastEventId::Absent));
}

#[tokio::test]
async fn a_valid_last_event_id_is_present() {
    let seen = seen_by_service(with_last_event_id(b"evt-42"), SseLayer::new()).await;
    assert_eq!(seen, Some(LastEventId::Present("evt-42".to_owned())));
}

#[tokio::test]
async fn without_the_header_the_layer_reads_the_last_event_id_query_parameter() {
    // What a page sends when it re-creates its EventSource after CLOSED.
    let request = Request::get("/events?lastEventId=41").body(()).unwrap();
    let seen = seen_by_service(request, SseLayer::new()).await;
    assert_eq!(seen, Some(LastEventId::Present("41".to_owned())));
}

#[tokio::test]
async fn the_header_wins_over_the_query_parameter_in_the_layer() {
    let request = Request::get("/events?lastEventId=1")
        .header("last-event-id", "2")
        .body(())
        .unwrap();
    let seen = seen_by_service(request, SseLayer::new()).await;
    assert_eq!(seen, Some(LastEventId::Present("2".to_owned())));
}

#[tokio::test]
async fn an_empty_last_event_id_is_present_and_empty() {
    let seen = seen_by_service(with_last_event_id(b""), SseLayer::new()).await;
    assert_eq!(seen, Some(LastEventId::Present(String::new())));
}

#[tokio::test]
async fn a_last_event_id_that_is_not_utf8_is_invalid() {
    let seen = seen_by_service(with_last_event_id(b"caf\xe9"), SseLayer::new()).await;
    assert_eq!(
        seen,
        Some(LastEventId::Invalid(InvalidLastEventId::NotUtf8))
    );
}

#[tokio::test]
async fn a_last_event_id_over_the_limit_is_refused_without_being_kept() {
    let layer = SseLayer::new().max_last_event_id_len(8);
    let seen = seen_by_service(with_last_event_id(b"123456789"), layer).await;
    assert_eq!(
        seen,
        Some(LastEventId::Invalid(InvalidLastEventId::TooLong {
            len: 9,
            max: 8
        }))
    );
}

#[tokio::test]
async fn a_last_event_id_at_the_limit_is_accepted() {
    let layer = SseLayer::new().max_last_event_id_len(8);
    let seen = seen_by_service(with_last_event_id(b"12345678"), layer).await;
    assert_eq!(seen, Some(LastEventId::Present("12345678".to_owned())));
}

#[tokio::test]
async fn the_config_sets_the_last_event_id_limit_of_a_layer() {
    let layer = SseLayer::with_config(SseConfig::new().max_last_event_id_len(8));
    let seen = seen_by_service(with_last_event_id(b"123456789"), layer).await;
    assert_eq!(
        seen.unwrap().invalid_reason(),
        Some(InvalidLastEventId::TooLong { len: 9, max: 8 })
    );
}

#[tokio::test]
async fn the_default_limit_is_one_kibibyte() {
    assert_eq!(LastEventId::DEFAULT_MAX_LEN, 1024);
    let at_limit = vec![b'a'; 1024];
    let over = vec![b'a'; 1025];
    assert!(
        seen_by_service(with_last_event_id(&at_limit), SseLayer::new())
            .await
            .unwrap()
            .as_str()
            .is_some()
    );
    assert_eq!(
        seen_by_service(with_last_event_id(&over), SseLayer::new())
            .await
            .unwrap()
            .invalid_reason(),
        Some(InvalidLastEventId::TooLong {
            len: 1025,
            max: 1024
        })
    );
}

#[tokio::test]
async fn repeated_last_event_id_headers_are_invalid() {
    let request = Request::builder()
        .header("last-event-id", "1")
        .header("last-event-id", "2")
        .body(())
        .unwrap();
    let seen = seen_by_service(request, SseLayer::new()).await;
    assert_eq!(
        seen,
        Some(LastEventId::Invalid(InvalidLastEventId::Repeated))
    );
}

#[test]
fn a_last_event_id_with_nul_cr_or_lf_is_invalid() {
    for value in [&b"a\0b"[..], b"a\rb", b"a\nb"] {
        assert_eq!(
            LastEventId::parse(value, 1024),
            LastEventId::Invalid(InvalidLastEventId::ForbiddenChar),
            "{value:?}"
        );
    }
}

#[tokio::test]
async fn the_layer_and_the_response_builder_set_the_same_headers() {
    let service = ServiceBuilder::new()
        .layer(SseLayer::new())
        .service(tower::service_fn(|_: Request<()>| async {
            Ok::<_, Infallible>(Response::new(futures_util::stream::empty::<Event>()))
        }));
    let from_layer = service.oneshot(Request::new(())).await.unwrap();
    let from_builder = SseResponse::new(futures_util::stream::empty::<Event>()).into_response();

    assert_eq!(from_layer.status(), StatusCode::OK);
    assert_eq!(from_builder.status(), StatusCode::OK);
    assert_eq!(from_layer.headers(), from_builder.headers());
    assert_eq!(from_builder.headers().len(), 3);
}

#[tokio::test]
async fn the_layer_keeps_the_inner_status_and_headers_and_replaces_the_content_type() {
    let service = ServiceBuilder::new()
        .layer(SseLayer::new())
        .service(tower::service_fn(|_: Request<()>| async {
            let response = Response::builder()
                .status(StatusCode::ACCEPTED)
                .header("content-type", "application/json")
                .header("x-trace", "t1")
                .header("content-length", "3")
                .body(futures_util::stream::empty::<Event>())
                .unwrap();
            Ok::<_, Infallible>(response)
        }));
    let response = service.oneshot(Request::new(())).await.unwrap();

    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(response.headers()["x-trace"], "t1");
    assert!(!response.headers().contains_key("content-length"));
}

#[tokio::test]
async fn the_layer_removes_every_connection_specific_header_the_service_set() {
    let service = ServiceBuilder::new()
        .layer(SseLayer::new())
        .service(tower::service_fn(|_request: Request<()>| async {
            let response = Response::builder()
                .header("connection", "keep-alive, x-hop")
                .header("connection", "upgrade")
                .header("x-hop", "1")
                .header("keep-alive", "timeout=5")
                .header("proxy-connection", "keep-alive")
                .header("te", "trailers")
                .header("transfer-encoding", "chunked")
                .header("transfer-encoding", "gzip")
                .header("upgrade", "websocket")
                .header("content-length", "12")
                .header("x-end-to-end", "kept")
                .body(futures_util::stream::empty::<Event>())
                .unwrap();
            Ok::<_, Infallible>(response)
        }));
    let response = service.oneshot(Request::new(())).await.unwrap();
    let headers = response.headers();
    for name in [
        "connection",
        "x-hop",
        "keep-alive",
        "proxy-connection",
        "te",
        "transfer-encoding",
        "upgrade",
        "content-length",
    ] {
        assert!(!headers.contains_key(name), "{name} must not be sent");
    }
    assert_eq!(headers["x-end-to-end"], "kept");
    assert_eq!(headers["content-type"], "text/event-stream");
}
