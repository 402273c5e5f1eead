//! Reconnection over real HTTP: `Last-Event-ID`, the reconnection time, the
//! backoff, and closing.

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use ssekit_client::{Backoff, Disconnect, EventSource, Item};
use support::{LIMIT, Reply, Server, events, message, next, next_event, until_end};
use tokio::time::{Instant, timeout};

/// The `Last-Event-ID` header of each request the server got, in order.
fn last_event_ids(server: &Server) -> Vec<Option<String>> {
    server
        .requests()
        .iter()
        .map(|r| r.header("last-event-id").map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn requests_ask_for_an_uncached_event_stream() {
    let server = Server::start(vec![]).await;
    let items = until_end(&mut server.source()).await;
    assert_eq!(items.len(), 1);
    let requests = server.requests();
    assert!(requests[0].head.starts_with("GET /events HTTP/1.1\r\n"));
    assert_eq!(requests[0].header("accept"), Some("text/event-stream"));
    assert_eq!(requests[0].header("cache-control"), Some("no-cache"));
    assert_eq!(requests[0].header("last-event-id"), None);
}

#[tokio::test]
async fn reconnect_sends_the_last_event_id() {
    let server = Server::start(vec![
        Reply::sse().chunk("id: 7\ndata: a\n\n"),
        Reply::sse().chunk("data: b\n\n"),
    ])
    .await;
    let items = until_end(&mut server.source()).await;
    // The new stream's id buffer starts at the id it resumed from, as a
    // browser's does, so an event without `id:` keeps it.
    assert_eq!(events(&items), [message("a", "7"), message("b", "7")]);
    let ids = last_event_ids(&server);
    let seven = Some("7".to_owned());
    assert_eq!(ids, [None, seven.clone(), seven]);
}

#[tokio::test]
async fn a_resumed_stream_that_only_keeps_alive_keeps_the_id() {
    let server = Server::start(vec![
        Reply::sse().chunk("id: 7\ndata: a\n\n"),
        Reply::sse().chunk(":\n\n"),
    ])
    .await;
    until_end(&mut server.source()).await;
    let ids = last_event_ids(&server);
    let seven = Some("7".to_owned());
    assert_eq!(ids, [None, seven.clone(), seven]);
}

#[tokio::test]
async fn id_survives_a_connection_that_completes_no_event() {
    let server = Server::start(vec![
        Reply::sse().chunk("id: 7\ndata: a\n\n"),
        Reply::sse().chunk("data: cut off\n"),
        Reply::hang_up(),
    ])
    .await;
    until_end(&mut server.source()).await;
    let ids = last_event_ids(&server);
    let seven = Some("7".to_owned());
    assert_eq!(ids, [None, seven.clone(), seven.clone(), seven]);
}

#[tokio::test]
async fn empty_last_event_id_is_not_sent() {
    let server = Server::start(vec![
        Reply::sse().chunk("id: 7\ndata: a\n\nid\ndata: b\n\n"),
    ])
    .await;
    let items = until_end(&mut server.source()).await;
    assert_eq!(events(&items), [message("a", "7"), message("b", "")]);
    assert_eq!(server.requests()[1].header("last-event-id"), None);
}

#[tokio::test]
async fn dataless_event_still_moves_the_last_event_id() {
    let server = Server::start(vec![Reply::sse().chunk("id: 7\ndata: a\n\nid: 8\n\n")]).await;
    until_end(&mut server.source()).await;
    assert_eq!(server.requests()[1].header("last-event-id"), Some("8"));
}

#[tokio::test]
async fn id_with_nul_is_not_sent_back() {
    let server = Server::start(vec![
        Reply::sse().chunk("id: 1\ndata: a\n\nid: 2\0\ndata: b\n\n"),
    ])
    .await;
    until_end(&mut server.source()).await;
    assert_eq!(server.requests()[1].header("last-event-id"), Some("1"));
}

#[tokio::test]
async fn unicode_id_is_sent_back_as_utf8() {
    let server = Server::start(vec![Reply::sse().chunk("id: é-1\ndata: a\n\n")]).await;
    until_end(&mut server.source()).await;
    assert_eq!(server.requests()[1].header("last-event-id"), Some("é-1"));
}

#[tokio::test]
async fn initial_last_event_id_is_sent_on_the_first_request() {
    let server = Server::start(vec![]).await;
    let mut source = EventSource::builder(server.uri())
        .last_event_id("41")
        .build();
    until_end(&mut source).await;
    assert_eq!(server.requests()[0].header("last-event-id"), Some("41"));
}

#[tokio::test]
async fn retry_delay_is_honoured() {
    let server = Server::start(vec![Reply::sse().chunk("retry: 150\ndata: a\n\n")]).await;
    let mut source = server.source();
    let items = until_end(&mut source).await;
    assert!(matches!(
        items[2],
        Item::Reconnecting { delay, attempt: 1, reason: Disconnect::Ended, .. }
            if delay == Duration::from_millis(150)
    ));
    let requests = server.requests();
    let waited = requests[1].at - requests[0].at;
    assert!(
        waited >= Duration::from_millis(150),
        "reconnected after {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(5),
        "reconnected after {waited:?}"
    );
    assert_eq!(source.reconnection_time(), Duration::from_millis(150));
}

#[tokio::test]
async fn body_cut_short_is_a_network_error_and_reconnects() {
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 100\r\n\r\n";
    let server = Server::start(vec![Reply::head(head).chunk("id: 1\ndata: a\n\n")]).await;
    let items = until_end(&mut server.source()).await;
    assert_eq!(events(&items), [message("a", "1")]);
    assert!(matches!(
        items[2],
        Item::Reconnecting {
            reason: Disconnect::Body(_),
            attempt: 1,
            ..
        }
    ));
    assert_eq!(server.requests()[1].header("last-event-id"), Some("1"));
}

/// The `(delay, attempt)` of every `Reconnecting` among `items`, and a
/// letter per item: `O`pen, `E`vent, `R`econnecting, `C`losed.
fn trace(items: &[Item]) -> (Vec<(Duration, u32)>, String) {
    let mut delays = Vec::new();
    let mut kinds = String::new();
    for item in items {
        kinds.push(match item {
            Item::Open => 'O',
            Item::Event(_) => 'E',
            Item::Reconnecting { delay, attempt, .. } => {
                delays.push((*delay, *attempt));
                'R'
            }
            Item::Closed(_) => 'C',
            _ => '?',
        });
    }
    (delays, kinds)
}

#[tokio::test]
async fn backoff_grows_on_refused_attempts_and_resets_after_open() {
    let server = Server::start(vec![
        Reply::sse().chunk("data: a\n\n"),
        Reply::hang_up(),
        Reply::hang_up(),
        Reply::hang_up(),
        Reply::sse().chunk("data: b\n\n"),
        Reply::hang_up(),
    ])
    .await;
    let mut source = EventSource::builder(server.uri())
        .retry(Duration::from_millis(20))
        .backoff(
            Backoff::new()
                .jitter(0.0)
                .max_delay(Duration::from_millis(100)),
        )
        .build();
    let items = until_end(&mut source).await;
    let (delays, kinds) = trace(&items);
    assert_eq!(kinds, "OERRRROERRC");
    let ms = Duration::from_millis;
    assert_eq!(
        delays,
        [
            (ms(20), 1),
            (ms(40), 2),
            (ms(80), 3),
            (ms(100), 4),
            (ms(20), 1),
            (ms(40), 2),
        ]
    );
    // The waits really happened: the requests are spread by at least the
    // sum of the delays.
    let requests = server.requests();
    let spread = requests.last().unwrap().at - requests[0].at;
    assert!(spread >= ms(300), "all requests within {spread:?}");
}

#[tokio::test]
async fn close_ends_the_stream_at_once_and_drops_the_connection() {
    let mut server = Server::start(vec![Reply::sse().chunk("data: a\n\n").hold()]).await;
    let mut source = server.source();
    assert!(matches!(next(&mut source).await, Item::Open));
    assert_eq!(next_event(&mut source).await.data(), "a");
    source.close();
    assert!(source.next().await.is_none());
    assert_eq!(server.dropped().await, 0);
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn close_handle_wakes_a_pending_stream() {
    let mut server = Server::start(vec![Reply::sse().hold()]).await;
    let mut source = server.source();
    let handle = source.close_handle();
    assert!(matches!(next(&mut source).await, Item::Open));
    let closer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        handle.close();
    });
    let started = Instant::now();
    let end = timeout(LIMIT, source.next())
        .await
        .expect("close did not wake the stream");
    assert!(end.is_none());
    assert!(started.elapsed() >= Duration::from_millis(50));
    closer.await.unwrap();
    assert_eq!(server.dropped().await, 0);
}

#[tokio::test]
async fn close_during_the_reconnection_wait_ends_the_stream() {
    let server = Server::start(vec![Reply::sse()]).await;
    let mut source = EventSource::builder(server.uri())
        .retry(Duration::from_secs(3600))
        .build();
    assert!(matches!(next(&mut source).await, Item::Open));
    assert!(matches!(next(&mut source).await, Item::Reconnecting { .. }));
    let handle = source.close_handle();
    handle.close();
    assert!(handle.is_closed());
    let end = timeout(LIMIT, source.next())
        .await
        .expect("the stream did not end");
    assert!(end.is_none());
    assert_eq!(server.requests().len(), 1);
}
