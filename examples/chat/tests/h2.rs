//! Past the six-connections-per-origin wall: one page opens 12
//! `EventSource`s to the chat. Over HTTPS (`--self-signed`) Chromium
//! speaks HTTP/2 and all 12 streams share one connection; over plain
//! HTTP/1.1 it opens at most six connections to one origin, and the
//! seventh stream waits for ever. Which protocol each stream used is read
//! from the chat's log (`stream opened … version=…`), since an open
//! `EventSource` may have no resource timing entry yet.

use std::time::Duration;

use browser_test::{Browser, Example, Page, form, wait_until};
use serde::Deserialize;

const CHAT: &str = env!("CARGO_BIN_EXE_chat");

/// How many streams the page opens: twice a browser's HTTP/1.1 limit.
const STREAMS: usize = 12;

/// One `EventSource` of the page: when it opened and when the broadcast
/// reached it (`performance.now()`, ms), if it did.
#[derive(Debug, Deserialize)]
struct Stream {
    opened: Option<f64>,
    got: Option<f64>,
}

/// Opens `STREAMS` `EventSource`s to `/stream/{room}` from `page`.
async fn open_streams(page: &Page, room: &str) {
    let () = page
        .eval(
            "window.streams = [];
             for (let i = 0; i < arguments[1]; i++) {
               const seen = { opened: null, got: null };
               const source = new EventSource(`/stream/${arguments[0]}`);
               source.onopen = () => { seen.opened ??= performance.now(); };
               source.onmessage = (event) => {
                 if (event.data.includes('broadcast')) seen.got ??= performance.now();
               };
               window.streams.push(seen);
             }
             return null;",
            vec![room.into(), STREAMS.into()],
        )
        .await;
}

async fn streams(page: &Page) -> Vec<Stream> {
    page.eval("return window.streams;", vec![]).await
}

/// The chat's log lines for the streams of `room` opened over `version`.
fn opened_over(server: &Example, room: &str, version: &str) -> usize {
    server
        .output()
        .iter()
        .filter(|line| line.contains("stream opened"))
        .filter(|line| line.contains(&format!("room={room} ")))
        .filter(|line| line.contains(&format!("version={version}")))
        .count()
}

#[tokio::test]
async fn over_https_twelve_streams_to_one_origin_all_get_a_broadcast_within_a_second() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = Example::start(CHAT, &["--self-signed"]).await;
    assert!(server.url().starts_with("https://"), "{}", server.url());
    // Any page of the origin: this one opens no stream of its own.
    let page = browser
        .open_with(
            &format!("{}/assets/chat.js", server.url()),
            &["--ignore-certificate-errors"],
        )
        .await;
    open_streams(&page, "wall").await;
    wait_until("every stream to open", || async {
        let streams = streams(&page).await;
        if streams.iter().all(|stream| stream.opened.is_some()) {
            Ok(())
        } else {
            Err(streams)
        }
    })
    .await;
    wait_until("the chat to log every stream over HTTP/2", || async {
        match opened_over(&server, "wall", "HTTP/2.0") {
            STREAMS => Ok(()),
            seen => Err(seen),
        }
    })
    .await;

    // Posted from the page: over HTTP/2 the post shares the connection too.
    let posted: f64 = page
        .eval(
            "const sent = performance.now();
             return fetch('/room/wall', {
               method: 'POST',
               headers: { 'content-type': 'application/x-www-form-urlencoded' },
               body: arguments[0],
             }).then((response) => response.ok ? sent : -response.status);",
            vec![form(&[("user", "h2"), ("message", "broadcast")]).into()],
        )
        .await;
    assert!(posted >= 0.0, "the post was answered {}", -posted);
    let arrivals = wait_until("the broadcast on every stream", || async {
        let streams = streams(&page).await;
        let arrivals: Vec<f64> = streams.iter().filter_map(|stream| stream.got).collect();
        if arrivals.len() == STREAMS {
            Ok(arrivals)
        } else {
            Err(streams)
        }
    })
    .await;
    let last = arrivals.iter().copied().fold(f64::MIN, f64::max);
    assert!(
        last - posted < 1000.0,
        "the last stream got the broadcast {} ms after the post",
        last - posted
    );
    assert_eq!(opened_over(&server, "wall", "HTTP/1.1"), 0);
    page.close().await;
}

#[tokio::test]
async fn over_http1_the_seventh_stream_to_one_origin_stalls() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = Example::start(CHAT, &[]).await;
    let page = browser
        .open(&format!("{}/assets/chat.js", server.url()))
        .await;
    open_streams(&page, "wall").await;
    wait_until("six streams to open", || async {
        let streams = streams(&page).await;
        match streams
            .iter()
            .filter(|stream| stream.opened.is_some())
            .count()
        {
            6 => Ok(()),
            _ => Err(streams),
        }
    })
    .await;

    // Posted from the test's own connection: the page has none to spare.
    let (status, _) = server
        .post(
            "/room/wall",
            "application/x-www-form-urlencoded",
            &form(&[("user", "h1"), ("message", "broadcast")]),
        )
        .await;
    assert_eq!(status, 202);
    wait_until("the broadcast on six streams", || async {
        let streams = streams(&page).await;
        match streams.iter().filter(|stream| stream.got.is_some()).count() {
            6 => Ok(()),
            _ => Err(streams),
        }
    })
    .await;
    // A while later the other six still wait: not opened, nothing received.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let streams = streams(&page).await;
    let served = streams
        .iter()
        .filter(|s| s.opened.is_some() && s.got.is_some())
        .count();
    let stalled = streams
        .iter()
        .filter(|s| s.opened.is_none() && s.got.is_none())
        .count();
    assert_eq!((served, stalled), (6, STREAMS - 6), "{streams:?}");
    // The chat saw six requests, all HTTP/1.1: the seventh never left the
    // browser.
    assert_eq!(opened_over(&server, "wall", "HTTP/1.1"), 6);
    assert_eq!(opened_over(&server, "wall", "HTTP/2.0"), 0);
    page.close().await;
}
