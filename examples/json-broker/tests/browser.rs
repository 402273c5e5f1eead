//! The JSON broker in a real browser: headless Chromium through
//! chromedriver (see the `browser-test` crate). Without a browser the
//! browser tests say so on stderr and return; under `CI` a missing browser
//! fails them.

use browser_test::{Browser, Example, Page, wait_until};
use serde_json::{Value, json};

const JSON_BROKER: &str = env!("CARGO_BIN_EXE_json-broker");

/// The table's rows: (event id, timestamp, message).
async fn rows(page: &Page) -> Vec<(String, String, String)> {
    page.eval(
        "return Array.from(document.querySelectorAll('#events tr'), row =>
            [row.dataset.id, row.cells[0].textContent, row.cells[1].textContent]);",
        vec![],
    )
    .await
}

/// Publishes `body`; the id the event went out with.
async fn publish(server: &Example, body: Value) -> String {
    let (status, response) = server
        .post("/publish", "application/json", &body.to_string())
        .await;
    assert_eq!(status, 202, "{response}");
    let response: Value = serde_json::from_str(&response).expect("a JSON answer");
    response["id"].as_str().expect("an id").to_owned()
}

#[tokio::test]
async fn the_table_fills_with_timed_events_and_published_ones() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = Example::start(JSON_BROKER, &["--every", "1"]).await;
    let page = browser.open(server.url()).await;

    let ticks = wait_until("two timed events in the table", || async {
        let rows = rows(&page).await;
        if rows.len() >= 2 { Ok(rows) } else { Err(rows) }
    })
    .await;
    let n = |message: &str| -> u64 {
        let n = message.strip_prefix("tick ").expect("`tick N`");
        n.parse().expect("a number")
    };
    assert_eq!(n(&ticks[1].2), n(&ticks[0].2) + 1, "{ticks:?}");
    assert!(
        ticks[0].1.ends_with('Z'),
        "an ISO timestamp: {}",
        ticks[0].1
    );

    let plain = publish(&server, json!({ "data": "hello from POST" })).await;
    let object = json!({ "timestamp": 0, "message": "a JSON message" }).to_string();
    let structured = publish(&server, json!({ "data": object, "retry": 2000 })).await;
    let rows = wait_until("the published events in the table", || async {
        let rows = rows(&page).await;
        let published: Vec<_> = rows
            .iter()
            .filter(|row| !row.2.starts_with("tick "))
            .cloned()
            .collect();
        if published.len() >= 2 {
            Ok(published)
        } else {
            Err(rows)
        }
    })
    .await;
    assert_eq!(rows[0].0, plain);
    assert_eq!(rows[0].2, "hello from POST");
    assert_eq!(
        rows[1],
        (
            structured,
            "1970-01-01T00:00:00.000Z".to_owned(),
            "a JSON message".to_owned()
        )
    );
    page.close().await;
}

#[tokio::test]
async fn a_page_on_another_origin_connects_and_publishes() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = Example::start(JSON_BROKER, &["--every", "0"]).await;
    // `localhost` and `127.0.0.1` are different origins to the browser.
    let other_origin = server.url().replace("127.0.0.1", "localhost");
    let page = browser.open(&other_origin).await;

    let script = "
        const [url] = arguments;
        window.received = [];
        const source = new EventSource(url + '/events');
        source.onmessage = (event) => window.received.push(event.data);
        source.onopen = () => fetch(url + '/publish', {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ data: 'across origins' }),
        }).then(response => window.published = response.status);
        return null;";
    let () = page.eval(script, vec![server.url().into()]).await;
    wait_until("the event published across origins", || async {
        let seen: (Option<u16>, Vec<String>) = page
            .eval(
                "return [window.published ?? null, window.received];",
                vec![],
            )
            .await;
        if seen == (Some(202), vec!["across origins".to_owned()]) {
            Ok(())
        } else {
            Err(seen)
        }
    })
    .await;
    page.close().await;
}

/// Waits until `page`'s table shows exactly the messages `expected`.
async fn wait_for_messages(page: &Page, expected: &[&str]) {
    wait_until("the table", || async {
        let seen: Vec<String> = rows(page).await.into_iter().map(|row| row.2).collect();
        if seen == expected { Ok(()) } else { Err(seen) }
    })
    .await;
}

/// Waits until the script's `window.replayed` is exactly `expected`.
async fn wait_for_replayed(page: &Page, expected: &[&str]) {
    wait_until("the resumed stream", || async {
        let replayed: Vec<String> = page.eval("return window.replayed;", vec![]).await;
        if replayed == expected {
            Ok(())
        } else {
            Err(replayed)
        }
    })
    .await;
}

#[tokio::test]
async fn private_events_reach_only_the_page_with_the_token_live_and_on_resume() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let args = ["--every", "0", "--subscriber-token", "s3cret"];
    let server = Example::start(JSON_BROKER, &args).await;
    let start = publish(&server, json!({ "data": "before" })).await;
    let with_token = browser
        .open(&format!("{}/?token=s3cret", server.url()))
        .await;
    let without = browser.open(server.url()).await;
    for page in [&with_token, &without] {
        wait_until("the page connected", || async {
            let status: String = page
                .eval(
                    "return document.getElementById('status').textContent;",
                    vec![],
                )
                .await;
            if status == "connected" {
                Ok(())
            } else {
                Err(status)
            }
        })
        .await;
    }
    publish(&server, json!({ "data": "secret", "private": true })).await;
    publish(&server, json!({ "data": "public" })).await;
    wait_for_messages(&with_token, &["secret", "public"]).await;
    // The public event came after the private one: had the private one
    // reached this page, it would be in the table before it.
    wait_for_messages(&without, &["public"]).await;

    // Resuming from before both (`lastEventId`, as a page that kept it
    // would): the replay holds the private event for the token only.
    let resume = "
        const [url, start, token] = arguments;
        const query = '?lastEventId=' + encodeURIComponent(start) + (token ? '&token=' + token : '');
        window.replayed = [];
        const source = new EventSource(url + '/events' + query);
        source.onmessage = (event) => window.replayed.push(event.data);
        return null;";
    for (page, token) in [(&with_token, "s3cret"), (&without, "")] {
        let args = vec![server.url().into(), start.clone().into(), token.into()];
        let () = page.eval(resume, args).await;
    }
    wait_for_replayed(&with_token, &["secret", "public"]).await;
    wait_for_replayed(&without, &["public"]).await;
    // A marker after the replays: nothing else came before it.
    publish(&server, json!({ "data": "marker" })).await;
    wait_for_replayed(&with_token, &["secret", "public", "marker"]).await;
    wait_for_replayed(&without, &["public", "marker"]).await;

    let wrong = "
        const [url] = arguments;
        return fetch(url + '/events?token=wrong').then(response => response.status);";
    let status: u16 = without.eval(wrong, vec![server.url().into()]).await;
    assert_eq!(status, 401);
    with_token.close().await;
    without.close().await;
}

#[tokio::test]
async fn publish_refuses_invalid_input_with_a_reason() {
    let server = Example::start(JSON_BROKER, &["--every", "0"]).await;
    for (body, reason) in [
        ("{}", "invalid request: missing field `data`"),
        ("not json", "invalid request: expected ident"),
        (
            r#"{"data": "x", "event": "a\nb"}"#,
            "invalid event: event type must not contain a line break",
        ),
        (
            r#"{"data": "x", "retry": -1}"#,
            "invalid request: invalid value: integer `-1`",
        ),
        (
            r#"{"data": "x", "colour": "red"}"#,
            "invalid request: unknown field `colour`",
        ),
    ] {
        let (status, answer) = server.post("/publish", "application/json", body).await;
        assert_eq!(status, 400, "{body} -> {answer}");
        assert!(answer.starts_with(reason), "{body} -> {answer}");
    }
}

/// Ctrl-C ends the open page's stream (the page sees the connection go)
/// and the server exits cleanly.
#[tokio::test]
async fn ctrl_c_ends_the_open_streams_and_exits() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let mut server = Example::start(JSON_BROKER, &["--every", "1"]).await;
    let page = browser.open(server.url()).await;
    wait_until("a timed event in the table", || async {
        let rows = rows(&page).await;
        if rows.is_empty() { Err(rows) } else { Ok(()) }
    })
    .await;

    server.interrupt().await;
    assert!(server.exited().await, "{:#?}", server.output());
    page.wait_for_texts("#status", &["reconnecting…"]).await;
    page.close().await;
}
