//! The chat in a real browser: headless Chromium through chromedriver (see
//! the `browser-test` crate). Without a browser each test says so on
//! stderr and returns; under `CI` a missing browser fails it.

mod common;

use std::path::PathBuf;

use browser_test::{Browser, Example, Page, form, wait_until};

const CHAT: &str = env!("CARGO_BIN_EXE_chat");

/// Waits until the page's `EventSource` has opened `times` times.
async fn connected(page: &Page, times: u32) {
    wait_until(&format!("the stream to open {times} time(s)"), || async {
        let opens = page.attributes("#status", "data-opens").await;
        match opens
            .first()
            .cloned()
            .flatten()
            .and_then(|n| n.parse::<u32>().ok())
        {
            Some(opens) if opens >= times => Ok(()),
            _ => Err(opens),
        }
    })
    .await;
}

/// Waits until the page shows exactly `expected` as its messages' text.
async fn shows(page: &Page, expected: &[&str]) {
    wait_until(&format!("the messages {expected:?}"), || async {
        let texts = page.texts("#messages .text").await;
        if texts == expected {
            Ok(())
        } else {
            Err(texts)
        }
    })
    .await;
}

async fn send(page: &Page, user: &str, message: &str) {
    page.fill("#user", user).await;
    page.fill("#message", message).await;
    page.click("#submit").await;
}

/// The values a chart has drawn: one array per series.
async fn drawn(page: &Page, chart: &str) -> Vec<Vec<f64>> {
    let values = page
        .attributes(&format!("#chart-{chart}"), "data-values")
        .await;
    let values = values
        .first()
        .cloned()
        .flatten()
        .unwrap_or_else(|| "[]".to_owned());
    serde_json::from_str(&values).expect("data-values is JSON")
}

#[tokio::test]
async fn a_message_reaches_the_pages_of_its_room_and_no_other() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = Example::start(CHAT, &[]).await;
    let alice = browser.open(&format!("{}/room/lobby", server.url())).await;
    let bob = browser.open(&format!("{}/room/lobby", server.url())).await;
    let carol = browser
        .open(&format!("{}/room/elsewhere", server.url()))
        .await;
    for page in [&alice, &bob, &carol] {
        connected(page, 1).await;
    }

    send(&alice, "alice", "hello, lobby").await;
    shows(&bob, &["hello, lobby"]).await;
    shows(&alice, &["hello, lobby"]).await;
    assert_eq!(bob.texts("#messages .user").await, ["alice"]);

    // Carol's own message comes after Alice's in the broker's order: had
    // Alice's reached her room, it would be on her page before her own.
    send(&carol, "carol", "anyone here?").await;
    shows(&carol, &["anyone here?"]).await;
    shows(&bob, &["hello, lobby"]).await;

    for page in [alice, bob, carol] {
        page.close().await;
    }
}

#[tokio::test]
async fn an_empty_message_is_refused_with_a_reason() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = Example::start(CHAT, &[]).await;
    let page = browser.open(&format!("{}/room/quiet", server.url())).await;
    connected(&page, 1).await;

    // The `required` attribute stops the browser's form; a script does not.
    let (status, reason) = server
        .post(
            "/room/quiet",
            "application/x-www-form-urlencoded",
            &form(&[("user", "dan"), ("message", " ")]),
        )
        .await;
    assert_eq!((status, reason.as_str()), (400, "message is empty"));
    let long = "x".repeat(501);
    let (status, reason) = server
        .post(
            "/room/quiet",
            "application/x-www-form-urlencoded",
            &form(&[("user", "dan"), ("message", &long)]),
        )
        .await;
    assert_eq!(
        (status, reason.as_str()),
        (400, "message is longer than 500 characters")
    );

    send(&page, "dan", "fine").await;
    shows(&page, &["fine"]).await;
    page.close().await;
}

#[tokio::test]
async fn the_charts_draw_the_stats_events_as_they_arrive() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = Example::start(CHAT, &[]).await;
    let page = browser.open(&format!("{}/room/charts", server.url())).await;
    connected(&page, 1).await;

    // Two stats events drawn, then two more: the charts move.
    let before = wait_until("two points on the heap chart", || async {
        let heap = drawn(&page, "heap").await;
        if heap[0].len() >= 2 {
            Ok(heap[0].clone())
        } else {
            Err(heap)
        }
    })
    .await;
    let after = wait_until("two more points on the heap chart", || async {
        let heap = drawn(&page, "heap").await;
        if heap[0].len() >= before.len() + 2 {
            Ok(heap[0].clone())
        } else {
            Err(heap)
        }
    })
    .await;
    assert!(
        after.iter().all(|&bytes| bytes > 0.0),
        "heap in use: {after:?}"
    );

    let allocations = drawn(&page, "allocations").await;
    assert_eq!(allocations.len(), 2, "allocations/s and frees/s");
    assert!(
        allocations[0].iter().any(|&n| n > 0.0),
        "allocations/s: {allocations:?}"
    );

    // Drawn by the binary's own script: nothing came from another host.
    let loaded: Vec<String> = page
        .eval(
            "return performance.getEntriesByType('resource').map(e => e.name);",
            vec![],
        )
        .await;
    assert!(
        loaded.iter().any(|url| url.ends_with("/assets/charts.js")),
        "{loaded:?}"
    );
    assert!(
        loaded.iter().all(|url| url.starts_with(server.url())),
        "{loaded:?}"
    );

    // This page is a user; posted messages show as inbound traffic.
    send(&page, "erin", "hello from the chat example").await;
    send(&page, "frank", "the charts follow the stats events").await;
    shows(
        &page,
        &[
            "hello from the chat example",
            "the charts follow the stats events",
        ],
    )
    .await;
    wait_until(
        "a user and inbound messages on the traffic chart",
        || async {
            let traffic = drawn(&page, "traffic").await;
            let users = traffic[0].last().copied().unwrap_or(0.0);
            let inbound: f64 = traffic[1].iter().sum();
            if users >= 1.0 && inbound >= 2.0 {
                Ok(())
            } else {
                Err(traffic)
            }
        },
    )
    .await;

    // The README's picture: a few more seconds of charts, then a screenshot.
    wait_until("eight points on the charts", || async {
        let heap = drawn(&page, "heap").await;
        if heap[0].len() >= 8 {
            Ok(())
        } else {
            Err(heap[0].len())
        }
    })
    .await;
    let screenshot = match std::env::var_os("UPDATE_SCREENSHOT") {
        Some(_) => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/chat.png")),
        None => PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("chat.png"),
    };
    page.screenshot(&screenshot).await;
    page.close().await;
}

#[tokio::test]
async fn after_the_server_drops_the_stream_the_page_resumes_with_nothing_lost_or_twice() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = Example::start(CHAT, &common::ADMIN_ARGS).await;
    let page = browser.open(&format!("{}/room/resume", server.url())).await;
    connected(&page, 1).await;
    let post = |message: &'static str| {
        let server = &server;
        async move {
            let body = form(&[("user", "grace"), ("message", message)]);
            let (status, id) = server
                .post("/room/resume", "application/x-www-form-urlencoded", &body)
                .await;
            assert_eq!(status, 202, "{id}");
            id
        }
    };

    post("before 1").await;
    post("before 2").await;
    shows(&page, &["before 1", "before 2"]).await;

    // The server ends the stream; the page reconnects after the `retry:`
    // the stream ended with (1 s plus up to 4 s of jitter).
    // What is published meanwhile reaches it once, after what it had.
    assert_eq!(common::disconnect_all(server.url()).await, 204);
    let mut ids = Vec::new();
    for message in ["meanwhile 1", "meanwhile 2", "meanwhile 3"] {
        ids.push(post(message).await);
    }
    connected(&page, 2).await;
    server.wait_for_output("resume=Replayed").await;
    post("after").await;
    shows(
        &page,
        &[
            "before 1",
            "before 2",
            "meanwhile 1",
            "meanwhile 2",
            "meanwhile 3",
            "after",
        ],
    )
    .await;

    let shown: Vec<String> = page
        .attributes("#messages li", "data-id")
        .await
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(
        shown[2..5],
        ids[..],
        "each message shown once, under the id it was published with"
    );
    page.close().await;
}

/// The `#status` text and `data-state`, `data-opens` and
/// `data-ever-stopped`.
async fn status(page: &Page) -> (String, [Option<String>; 3]) {
    page.eval(
        "const status = document.getElementById('status');
         return [status.textContent,
                 ['state', 'opens', 'everStopped'].map(name => status.dataset[name] ?? null)];",
        vec![],
    )
    .await
}

#[tokio::test]
async fn a_page_turned_away_says_unavailable_and_connects_by_itself_later() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = Example::start(CHAT, &["--max-subscriptions", "1"]).await;
    let first = browser.open(&format!("{}/room/full", server.url())).await;
    connected(&first, 1).await;

    // The chat is full: the second page's stream is answered 200 with an
    // `unavailable` notice, which fires `open` too. The page shows the
    // notice, counts no open, and the browser keeps trying by itself.
    let second = browser.open(&format!("{}/room/full", server.url())).await;
    let (text, _) = wait_until("the notice on the second page", || async {
        let seen = status(&second).await;
        match &seen.1 {
            [Some(state), opens, None]
                if state == "unavailable" && opens.as_deref() == Some("0") =>
            {
                Ok(seen)
            }
            _ => Err(seen),
        }
    })
    .await;
    let notice =
        "unavailable (the broker already has its maximum of 1 subscriptions), retrying in ";
    let seconds = text
        .strip_prefix(notice)
        .and_then(|rest| rest.strip_suffix(" s"))
        .and_then(|n| n.parse::<u64>().ok());
    assert!(seconds.is_some_and(|n| (5..=10).contains(&n)), "{text:?}");

    // Once the first page has gone, the second one's next attempt opens a
    // stream; it has never been stopped.
    first.close().await;
    server.wait_for_output("stream closed").await;
    connected(&second, 1).await;
    let (text, [state, opens, ever_stopped]) = status(&second).await;
    assert_eq!(
        (
            text.as_str(),
            state.as_deref(),
            opens.as_deref(),
            ever_stopped
        ),
        ("connected", Some("open"), Some("1"), None)
    );
    let body = form(&[("user", "jo"), ("message", "in at last")]);
    let (code, _) = server
        .post("/room/full", "application/x-www-form-urlencoded", &body)
        .await;
    assert_eq!(code, 202);
    shows(&second, &["in at last"]).await;
    second.close().await;
}
