//! `SseLayer` behind a real hyper server on 127.0.0.1, HTTP/1.1 and h2c.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Client, FrameReader, Version, pushed_events, serve, within};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use ssekit_core::Event;
use ssekit_tower::{KeepAlive, LastEventId, SseLayer};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;

async fn events_arrive_one_by_one_in_order(version: Version) {
    let (service, mut senders) = pushed_events();
    let service = ServiceBuilder::new()
        .layer(SseLayer::new().keep_alive(KeepAlive::disabled()))
        .service(service);
    let server = serve(service, CancellationToken::new()).await;

    let mut client = Client::connect(server.addr, version).await;
    let response = client.get("/events", &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let tx = within("the stream", senders.recv()).await.unwrap();
    let mut frames = FrameReader::opened(response.into_body()).await;

    for n in 0..20 {
        // The next event is produced only once the previous one has been
        // received: each one must have been flushed on its own.
        let event = Event::builder()
            .id(n.to_string())
            .data(format!("event {n}"))
            .build()
            .unwrap();
        tx.send(event).unwrap();
        assert_eq!(
            frames.next().await.unwrap(),
            format!("id: {n}\ndata: event {n}\n\n")
        );
    }
    drop(tx);
    assert_eq!(
        frames.next().await,
        None,
        "the end of the stream ends the response"
    );
}

#[tokio::test]
async fn events_arrive_one_by_one_in_order_each_before_the_stream_ends_over_http1() {
    events_arrive_one_by_one_in_order(Version::Http1).await;
}

#[tokio::test]
async fn events_arrive_one_by_one_in_order_each_before_the_stream_ends_over_http2() {
    events_arrive_one_by_one_in_order(Version::Http2).await;
}

/// An inner service that sets its own status and headers, including some an
/// event stream must not have.
fn service_with_own_headers() -> impl tower::Service<
    Request<Incoming>,
    Response = Response<futures_util::stream::Pending<Event>>,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone
+ Send
+ 'static {
    tower::service_fn(|_request: Request<Incoming>| async {
        let response = Response::builder()
            .status(StatusCode::CREATED)
            .header("x-custom", "kept")
            .header("content-type", "text/plain")
            .header("content-length", "12")
            .header("connection", "keep-alive")
            .header("keep-alive", "timeout=5")
            .header("transfer-encoding", "chunked")
            .header("upgrade", "websocket")
            .body(futures_util::stream::pending::<Event>())
            .unwrap();
        Ok::<_, std::convert::Infallible>(response)
    })
}

async fn headers_of(version: Version) -> http::response::Parts {
    let service = ServiceBuilder::new()
        .layer(SseLayer::new())
        .service(service_with_own_headers());
    let server = serve(service, CancellationToken::new()).await;
    let mut client = Client::connect(server.addr, version).await;
    let (parts, _body) = client.get("/events", &[]).await.into_parts();
    parts
}

fn assert_event_stream_headers(parts: &http::response::Parts) {
    assert_eq!(
        parts.status,
        StatusCode::CREATED,
        "the inner status is kept"
    );
    let headers = &parts.headers;
    assert_eq!(headers["content-type"], "text/event-stream");
    assert_eq!(headers["cache-control"], "no-cache, no-transform");
    assert_eq!(headers["x-accel-buffering"], "no");
    assert_eq!(headers["x-custom"], "kept");
    assert_eq!(headers.get_all("content-type").iter().count(), 1);
    for name in [
        "content-length",
        "connection",
        "keep-alive",
        "upgrade",
        "proxy-connection",
    ] {
        assert!(!headers.contains_key(name), "{name} must not be sent");
    }
}

#[tokio::test]
async fn the_response_has_exactly_the_event_stream_headers_over_http1() {
    let parts = headers_of(Version::Http1).await;
    assert_eq!(parts.version, http::Version::HTTP_11);
    assert_event_stream_headers(&parts);
    // HTTP/1.1 framing is the server's own: chunked, set by hyper.
    assert_eq!(parts.headers["transfer-encoding"], "chunked");
}

#[tokio::test]
async fn the_response_has_exactly_the_event_stream_headers_and_no_connection_specific_header_over_http2()
 {
    let parts = headers_of(Version::Http2).await;
    assert_eq!(parts.version, http::Version::HTTP_2);
    assert_event_stream_headers(&parts);
    assert!(!parts.headers.contains_key("transfer-encoding"));
}

#[tokio::test]
async fn keep_alive_comments_arrive_on_an_idle_stream_at_the_configured_interval() {
    let interval = Duration::from_millis(100);
    let (service, mut senders) = pushed_events();
    let service = ServiceBuilder::new()
        .layer(SseLayer::new().keep_alive(KeepAlive::new().interval(interval).text("ka")))
        .service(service);
    let server = serve(service, CancellationToken::new()).await;
    let mut client = Client::connect(server.addr, Version::Http1).await;
    let response = client.get("/events", &[]).await;
    let _tx = within("the stream", senders.recv()).await.unwrap();
    let mut frames = FrameReader::opened(response.into_body()).await;

    let mut previous = Instant::now();
    for _ in 0..3 {
        assert_eq!(frames.next().await.unwrap(), ":ka\n\n");
        let gap = previous.elapsed();
        assert!(
            gap >= Duration::from_millis(90),
            "keep-alive after {gap:?}, before the interval"
        );
        assert!(
            gap < Duration::from_millis(1000),
            "keep-alive after {gap:?}, far too late"
        );
        previous = Instant::now();
    }
}

#[tokio::test]
async fn events_push_keep_alive_comments_back() {
    let interval = Duration::from_millis(200);
    let (service, mut senders) = pushed_events();
    let service = ServiceBuilder::new()
        .layer(SseLayer::new().keep_alive(KeepAlive::new().interval(interval)))
        .service(service);
    let server = serve(service, CancellationToken::new()).await;
    let mut client = Client::connect(server.addr, Version::Http1).await;
    let response = client.get("/events", &[]).await;
    let tx = within("the stream", senders.recv()).await.unwrap();
    let mut frames = FrameReader::opened(response.into_body()).await;

    // Events every 50 ms for 500 ms: no keep-alive in between.
    for n in 0..10 {
        tx.send(Event::data(&n.to_string())).unwrap();
        assert_eq!(frames.next().await.unwrap(), format!("data: {n}\n\n"));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let last_event = Instant::now() - Duration::from_millis(50);
    assert_eq!(frames.next().await.unwrap(), ":\n\n");
    let gap = last_event.elapsed();
    assert!(
        gap >= Duration::from_millis(180),
        "keep-alive {gap:?} after the last event"
    );
}

/// A stream that reports when it is dropped.
fn guarded_stream(
    dropped: oneshot::Sender<Instant>,
) -> impl futures_util::Stream<Item = Event> + Send + 'static {
    struct Guard(Option<oneshot::Sender<Instant>>);
    impl Drop for Guard {
        fn drop(&mut self) {
            if let Some(tx) = self.0.take() {
                let _ = tx.send(Instant::now());
            }
        }
    }
    let guard = Guard(Some(dropped));
    use futures_util::StreamExt;
    futures_util::stream::once(async { Event::data("first") })
        .chain(futures_util::stream::pending())
        .map(move |event| {
            let _ = &guard;
            event
        })
}

async fn client_disconnect_drops_the_stream(version: Version) {
    let (dropped_tx, dropped_rx) = oneshot::channel();
    let dropped_tx = Arc::new(std::sync::Mutex::new(Some(dropped_tx)));
    let disconnects = Arc::new(AtomicUsize::new(0));
    let counter = disconnects.clone();
    let service = ServiceBuilder::new()
        .layer(
            SseLayer::new()
                .keep_alive(KeepAlive::disabled())
                .on_disconnect(move || {
                    counter.fetch_add(1, Ordering::SeqCst);
                }),
        )
        .service(tower::service_fn(move |_request: Request<Incoming>| {
            let tx = dropped_tx.lock().unwrap().take().expect("one request");
            async move { Ok::<_, std::convert::Infallible>(Response::new(guarded_stream(tx))) }
        }));
    let server = serve(service, CancellationToken::new()).await;
    let mut client = Client::connect(server.addr, version).await;
    let response = client.get("/events", &[]).await;
    let mut frames = FrameReader::opened(response.into_body()).await;
    assert_eq!(frames.next().await.unwrap(), "data: first\n\n");

    let disconnected_at = Instant::now();
    drop(frames);
    client.disconnect();

    let dropped_at = within("the stream to be dropped", dropped_rx)
        .await
        .unwrap();
    let delay = dropped_at - disconnected_at;
    assert!(
        delay < Duration::from_millis(100),
        "stream dropped {delay:?} after the disconnect"
    );
    within("the hook", async {
        while disconnects.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    assert_eq!(disconnects.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_client_disconnect_drops_the_stream_within_milliseconds_and_calls_the_hook_over_http1() {
    client_disconnect_drops_the_stream(Version::Http1).await;
}

#[tokio::test]
async fn a_client_disconnect_drops_the_stream_within_milliseconds_and_calls_the_hook_over_http2() {
    client_disconnect_drops_the_stream(Version::Http2).await;
}

#[tokio::test]
async fn the_service_reads_last_event_id_from_a_real_request() {
    let service = ServiceBuilder::new()
        .layer(SseLayer::new().keep_alive(KeepAlive::disabled()))
        .service(tower::service_fn(|request: Request<Incoming>| async move {
            let seen = match request.extensions().get::<LastEventId>() {
                Some(LastEventId::Present(id)) => format!("present {id}"),
                Some(LastEventId::Absent) => "absent".to_owned(),
                Some(LastEventId::Invalid(reason)) => format!("invalid: {reason}"),
                None => "missing extension".to_owned(),
            };
            let stream = futures_util::stream::iter([Event::data(&seen)]);
            Ok::<_, std::convert::Infallible>(Response::new(stream))
        }));
    let server = serve(service, CancellationToken::new()).await;

    let long = "x".repeat(2000);
    for (headers, expected) in [
        (vec![], "data: absent\n\n".to_owned()),
        (
            vec![("last-event-id", "41")],
            "data: present 41\n\n".to_owned(),
        ),
        (
            vec![("last-event-id", long.as_str())],
            "data: invalid: the last event id is 2000 bytes long, over the limit of 1024\n\n"
                .to_owned(),
        ),
    ] {
        let mut client = Client::connect(server.addr, Version::Http1).await;
        let response = client.get("/events", &headers).await;
        assert_eq!(response.status(), StatusCode::OK);
        let mut frames = FrameReader::opened(response.into_body()).await;
        assert_eq!(frames.rest().await, vec![expected]);
    }
}
