//! The chat page in a real browser (headless Chromium, see the
//! `browser-test` crate) when the chat cannot serve its stream for a
//! while: Redis down, or the admission limit full. The page is answered
//! `200` with an `unavailable` notice and a `retry:`, so the browser's
//! `EventSource` keeps reconnecting by itself (any other status would stop
//! it for good: `CLOSED`), and resumes with its `Last-Event-ID` once the
//! chat can serve it again. Without a browser each test says so on stderr
//! and returns; under `CI` a missing browser fails it. A missing
//! `redis-server` always fails it.

mod common;

use std::time::Duration;

use browser_test::{Browser, Example, Page, StreamStatus, form, wait_until, within};
use futures_util::StreamExt;
use sse_test_support::redis::RedisServer;
use ssekit_client::{EventSource, Item};
use tokio::time::Instant;

const CHAT: &str = env!("CARGO_BIN_EXE_chat");

/// How long Redis stays down.
const OUTAGE: Duration = Duration::from_secs(10);

/// Waits until the page shows the `unavailable` notice.
async fn unavailable(page: &Page) -> StreamStatus {
    wait_until("the unavailable notice", || async {
        let status = page.stream_status().await;
        if status.state.as_deref() == Some("unavailable")
            && status.text.starts_with("unavailable (")
        {
            Ok(status)
        } else {
            Err(status)
        }
    })
    .await
}

/// `POST /room/{room}`: the status and the body (the id when accepted).
async fn post(chat: &Example, room: &str, message: &str) -> (u16, String) {
    let body = form(&[("user", "ida"), ("message", message)]);
    chat.post(
        &format!("/room/{room}"),
        "application/x-www-form-urlencoded",
        &body,
    )
    .await
}

async fn posted(chat: &Example, room: &str, message: &str) -> String {
    let (status, id) = post(chat, room, message).await;
    assert_eq!(status, 202, "{message}: {id}");
    id
}

/// The messages the page shows: each one's text and id.
async fn shown(page: &Page) -> Vec<(String, String)> {
    let texts = page.texts("#messages .text").await;
    let ids = page.attributes("#messages li", "data-id").await;
    texts
        .into_iter()
        .zip(ids)
        .map(|(text, id)| (text, id.unwrap_or_default()))
        .collect()
}

async fn shows(page: &Page, expected: &[(String, String)]) {
    wait_until(&format!("the messages {expected:?}"), || async {
        let shown = shown(page).await;
        if shown == expected {
            Ok(())
        } else {
            Err(shown)
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_rides_out_a_redis_outage_and_sees_every_message_once() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    // Every acknowledged write is on disk before the reply: what was
    // published before the crash is there after the restart.
    let mut redis = RedisServer::start_persistent();
    let chat = Example::start(
        CHAT,
        &[
            "--redis",
            &redis.url(),
            "--admin",
            "--admin-token",
            common::ADMIN_TOKEN,
            // The disconnect asks the page back after exactly 1 s.
            "--shutdown-jitter-ms",
            "0",
        ],
    )
    .await;
    let page = browser.open(&format!("{}/room/outage", chat.url())).await;
    page.stream_opened(1).await;
    page.record_stream_states().await;

    let mut expected = Vec::new();
    for message in ["before 1", "before 2", "before 3"] {
        let id = posted(&chat, "outage", message).await;
        expected.push((message.to_owned(), id));
    }
    shows(&page, &expected).await;

    // Redis crashes; the page's connection is dropped, so its browser
    // reconnects in the outage: after 1 s, then as each notice says.
    let pid = redis.pid().expect("redis-server runs");
    redis.kill();
    let down = Instant::now();
    assert_eq!(common::disconnect_all(chat.url()).await, 204);
    let (code, body) = post(&chat, "outage", "in the outage").await;
    // A failed post is a plain 503 the page's form shows, never the event
    // stream answer that keeps an EventSource reconnecting.
    assert_eq!(code, 503, "posted with Redis (pid {pid}) down: {body}");
    assert!(body.starts_with("broker backend: "), "{body}");
    let mut notice = None;
    while down.elapsed() < OUTAGE {
        let status = page.stream_status().await;
        if notice.is_none() && status.state.as_deref() == Some("unavailable") {
            notice = Some(status.text);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let notice = notice.expect("the page showed the unavailable notice in the outage");
    assert!(notice.starts_with("unavailable ("), "{notice:?}");

    // Redis is back with its data. Posted while the page still waits to
    // come back (up to 10 s after its last notice): replayed to it.
    redis.restart();
    let id = posted(&chat, "outage", "after 1").await;
    expected.push(("after 1".to_owned(), id));
    // The page's next attempt resumes after the last id it had, and then
    // gets what is posted live.
    page.stream_opened(2).await;
    let id = posted(&chat, "outage", "after 2").await;
    expected.push(("after 2".to_owned(), id));
    shows(&page, &expected).await;

    // Each message once, in order, under the id it was published with;
    // nothing of the failed post; the browser never gave up.
    assert_eq!(shown(&page).await, expected);
    let status = page.stream_status().await;
    assert!(
        status
            .history
            .iter()
            .any(|seen| seen.starts_with("unavailable unavailable (")),
        "{status:#?}"
    );
    page.close().await;
}

/// A stream of `chat` that holds one admission slot until dropped: it
/// has received a `stats` event, so it was admitted, not turned away.
async fn hold_a_slot(chat: &Example) -> EventSource {
    let uri = format!("{}/stream/holder", chat.url()).parse().unwrap();
    let mut source = EventSource::builder(uri).build();
    within("the holder to be admitted", async {
        loop {
            match source.next().await.expect("the stream goes on") {
                Item::Event(event) if event.event_type() == "stats" => return,
                Item::Event(event) if event.event_type() == "unavailable" => {
                    panic!("the holder was turned away: {}", event.into_data())
                }
                Item::Closed(error) => panic!("the holder's stream closed: {error}"),
                _ => {}
            }
        }
    })
    .await;
    source
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_refused_by_a_full_admission_limit_connects_once_the_limit_allows() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let redis = RedisServer::start();
    let chat = Example::start(CHAT, &["--redis", &redis.url(), "--max-subscriptions", "1"]).await;
    let mut holder = hold_a_slot(&chat).await;

    // The page is turned away: the notice, and the browser waits as told.
    let page = browser
        .open(&format!("{}/room/admission", chat.url()))
        .await;
    page.record_stream_states().await;
    let refused = unavailable(&page).await;
    assert_eq!(refused.opens, 0, "{refused:#?}");
    assert!(
        refused.text.contains("maximum of 1 subscriptions"),
        "{refused:#?}"
    );

    // The slot is released well before the page's next attempt (5 to
    // 10 s after the notice): that attempt is admitted.
    holder.close();
    drop(holder);
    let released = Instant::now();
    chat.wait_for_output("stream closed").await;
    page.stream_opened(1).await;
    let waited = released.elapsed();
    assert!(
        waited <= Duration::from_secs(12),
        "connected {waited:?} after the slot was released"
    );

    let id = posted(&chat, "admission", "let in").await;
    shows(&page, &[("let in".to_owned(), id)]).await;
    page.stream_status().await;
    page.close().await;
}
