//! The JSON broker in a real browser: headless Chromium through
//! chromedriver (see the `browser-test` crate). Without a browser the
//! browser tests say so on stderr and return; under `CI` a missing browser
//! fails them.

use browser_test::{Browser, Example, Page, wait_until, within};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const JSON_BROKER: &str = env!("CARGO_BIN_EXE_json-broker");
/// The publisher token every broker here starts with.
const PUBLISHER: &str = "p1-publisher";
/// A subscriber token with the characters a URL or a form treats
/// specially: the page must send it encoded.
const SUBSCRIBER: &str = "s3+c/r=e&t%";

/// Starts the broker with the publisher token and `args`.
async fn start(args: &[&str]) -> Example {
    let mut all = vec!["--publisher-token", PUBLISHER];
    all.extend_from_slice(args);
    Example::start(JSON_BROKER, &all).await
}

/// `POST /publish` with `authorization` (a whole header value, or none)
/// and a JSON content type: the status and the answer.
async fn post_publish(server: &Example, authorization: Option<&str>, body: &str) -> (u16, String) {
    let authority = server.url().trim_start_matches("http://").to_owned();
    within("POST /publish", async {
        let mut tcp = TcpStream::connect(&authority)
            .await
            .expect("the broker is up");
        let authorization =
            authorization.map_or(String::new(), |value| format!("Authorization: {value}\r\n"));
        let request = format!(
            "POST /publish HTTP/1.1\r\nHost: {authority}\r\n{authorization}\
             Content-Type: application/json\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        );
        tcp.write_all(request.as_bytes()).await.expect("sent");
        let mut response = String::new();
        tcp.read_to_string(&mut response).await.expect("a response");
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok());
        (status.expect("an HTTP response"), body.to_owned())
    })
    .await
}

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
    let bearer = format!("Bearer {PUBLISHER}");
    let (status, response) = post_publish(server, Some(&bearer), &body.to_string()).await;
    assert_eq!(status, 202, "{response}");
    let response: Value = serde_json::from_str(&response).expect("a JSON answer");
    response["id"].as_str().expect("an id").to_owned()
}

#[tokio::test]
async fn the_table_fills_with_timed_events_and_published_ones() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = start(&["--every", "1"]).await;
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
async fn a_page_on_an_allowed_origin_publishes_and_reads_private_events_with_a_ticket() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    // The page comes from one broker; it talks to another, which allows
    // the first one's origin, and to a third, which does not.
    let home = start(&["--every", "0"]).await;
    let allowing = start(&[
        "--every",
        "0",
        "--subscriber-token",
        SUBSCRIBER,
        "--allow-origin",
        home.url(),
    ])
    .await;
    let refusing = start(&["--every", "0"]).await;
    let page = browser.open(home.url()).await;

    let script = "
        const [url, other, publisher, subscriber] = arguments;
        window.received = [];
        window.refused = null;
        const publish = (to, data) => fetch(to + '/publish', {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: 'Bearer ' + publisher },
            body: JSON.stringify(data),
        });
        // A ticket: POST /session, then the stream with it in the URL.
        fetch(url + '/session', { method: 'POST', body: new URLSearchParams({ token: subscriber }) })
            .then(response => response.json())
            .then(({ ticket }) => {
                const source = new EventSource(url + '/events?' + new URLSearchParams({ ticket }));
                source.onmessage = (event) => window.received.push(event.data);
                source.onopen = () => publish(url, { data: 'private, across origins', private: true })
                    .then(response => window.published = response.status);
            });
        publish(other, { data: 'refused' }).then(
            response => window.refused = 'answered ' + response.status,
            error => window.refused = error.name);
        return null;";
    let args = vec![
        allowing.url().into(),
        refusing.url().into(),
        PUBLISHER.into(),
        SUBSCRIBER.into(),
    ];
    let () = page.eval(script, args).await;
    wait_until("the private event published across origins", || async {
        let seen: (Option<u16>, Vec<String>, Option<String>) = page
            .eval(
                "return [window.published ?? null, window.received, window.refused];",
                vec![],
            )
            .await;
        let expected = (
            Some(202),
            vec!["private, across origins".to_owned()],
            // The preflight is refused: the browser never sends the POST.
            Some("TypeError".to_owned()),
        );
        if seen == expected { Ok(()) } else { Err(seen) }
    })
    .await;
    let refused = refusing.output();
    assert!(
        !refused.iter().any(|line| line.contains("published")),
        "{refused:#?}"
    );
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

/// Waits until `page`'s status reads `connected`.
async fn wait_connected(page: &Page) {
    page.wait_for_texts("#status", &["connected"]).await;
}

#[tokio::test]
async fn private_events_reach_only_the_signed_in_page_live_and_on_resume() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = start(&["--every", "0", "--subscriber-token", SUBSCRIBER]).await;
    let start_id = publish(&server, json!({ "data": "before" })).await;
    let signed_in = browser.open(server.url()).await;
    let without = browser.open(server.url()).await;

    // A wrong token first: the page says so and stays as it was.
    signed_in.fill("#token", "s3+c/r=e&t!").await;
    signed_in.click("#sign-in button").await;
    signed_in
        .wait_for_texts("#session", &["not the subscriber token"])
        .await;
    // The token, typed as is: the page encodes it, the broker decodes it.
    signed_in.fill("#token", SUBSCRIBER).await;
    signed_in.click("#sign-in button").await;
    signed_in
        .wait_for_texts("#session", &["signed in: private events included"])
        .await;
    let url: String = signed_in.eval("return location.href;", vec![]).await;
    assert!(!url.contains("token"), "{url}");
    for page in [&signed_in, &without] {
        wait_connected(page).await;
    }
    publish(&server, json!({ "data": "secret", "private": true })).await;
    publish(&server, json!({ "data": "public" })).await;
    wait_for_messages(&signed_in, &["secret", "public"]).await;
    // The public event came after the private one: had the private one
    // reached this page, it would be in the table before it.
    wait_for_messages(&without, &["public"]).await;

    // Resuming from before both (`lastEventId`, as a page that kept it
    // would): the replay holds the private event for the session only.
    let resume = "
        const [url, start] = arguments;
        window.replayed = [];
        const source = new EventSource(url + '/events?lastEventId=' + encodeURIComponent(start));
        source.onmessage = (event) => window.replayed.push(event.data);
        return null;";
    for page in [&signed_in, &without] {
        let args = vec![server.url().into(), start_id.clone().into()];
        let () = page.eval(resume, args).await;
    }
    wait_for_replayed(&signed_in, &["secret", "public"]).await;
    wait_for_replayed(&without, &["public"]).await;
    // A marker after the replays: nothing else came before it.
    publish(&server, json!({ "data": "marker" })).await;
    wait_for_replayed(&signed_in, &["secret", "public", "marker"]).await;
    wait_for_replayed(&without, &["public", "marker"]).await;

    // The token is in no URL and no log line.
    let output = server.output();
    assert!(
        !output.iter().any(|line| line.contains(SUBSCRIBER)),
        "{output:#?}"
    );
    signed_in.close().await;
    without.close().await;
}

#[tokio::test]
async fn publish_refuses_invalid_input_with_a_reason() {
    let server = start(&["--every", "0"]).await;
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
            r#"{"data": "x", "retry": 0}"#,
            "invalid request: retry must be from 1000 to 60000 ms",
        ),
        (
            r#"{"data": "x", "colour": "red"}"#,
            "invalid request: unknown field `colour`",
        ),
    ] {
        let bearer = format!("Bearer {PUBLISHER}");
        let (status, answer) = post_publish(&server, Some(&bearer), body).await;
        assert_eq!(status, 400, "{body} -> {answer}");
        assert!(answer.starts_with(reason), "{body} -> {answer}");
    }
    // Without the publisher token, nothing is even read.
    let (status, answer) = post_publish(&server, None, r#"{"data": "x"}"#).await;
    assert_eq!(status, 401, "{answer}");
}

/// Ctrl-C ends the open page's stream (the page sees the connection go)
/// and the server exits cleanly.
#[tokio::test]
async fn ctrl_c_ends_the_open_streams_and_exits() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let mut server = start(&["--every", "1"]).await;
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

#[tokio::test]
async fn over_https_the_page_publishes_from_its_own_origin_over_http2() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = start(&["--self-signed", "--every", "0"]).await;
    assert!(server.url().starts_with("https://"), "{}", server.url());
    let page = browser
        .open_with(server.url(), &["--ignore-certificate-errors"])
        .await;
    // Same origin, so the browser sends `Origin`; over HTTP/2 the host is
    // the request's authority, and there is no `Host` header.
    let status: u16 = page
        .eval(
            "return fetch('/publish', {
               method: 'POST',
               headers: { 'authorization': arguments[0], 'content-type': 'application/json' },
               body: JSON.stringify({ data: 'over h2' }),
             }).then((response) => response.status);",
            vec![format!("Bearer {PUBLISHER}").into()],
        )
        .await;
    assert_eq!(status, 202);
    // The page came over HTTP/2 (the post shared its connection).
    let protocol: String = page
        .eval(
            "return performance.getEntriesByType('navigation')[0].nextHopProtocol;",
            vec![],
        )
        .await;
    assert_eq!(protocol, "h2");
    wait_until("the published event in the table", || async {
        let rows = rows(&page).await;
        if rows.iter().any(|row| row.2 == "over h2") {
            Ok(())
        } else {
            Err(rows)
        }
    })
    .await;
    page.close().await;
}
