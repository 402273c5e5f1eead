//! The clock in a real browser: headless Chromium through chromedriver (see
//! the `browser-test` crate). Without a browser the test says so on stderr
//! and returns; under `CI` a missing browser fails it.

use browser_test::{Browser, Example, wait_until};

#[tokio::test]
async fn the_page_lists_the_broadcasts_as_they_arrive() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = Example::start(env!("CARGO_BIN_EXE_clock"), &["--every", "1"]).await;
    let page = browser.open(server.url()).await;
    server.wait_for_output("Added new client").await;

    let messages = wait_until("two broadcasts on the page", || async {
        let messages = page.texts("#messages li").await;
        if messages.len() >= 2 {
            Ok(messages)
        } else {
            Err(messages)
        }
    })
    .await;
    let numbers: Vec<u64> = messages
        .iter()
        .map(|message| {
            let rest = message
                .strip_prefix("Message: ")
                .expect("`Message: N - the time is …`");
            let (n, time) = rest
                .split_once(" - the time is ")
                .expect("`N - the time is …`");
            assert!(time.ends_with(" UTC"), "{message}");
            n.parse().expect("a number")
        })
        .collect();
    assert!(
        numbers.windows(2).all(|pair| pair[1] == pair[0] + 1),
        "{numbers:?}"
    );
    server
        .wait_for_output("Broadcast message to 1 clients")
        .await;

    page.close().await;
    server.wait_for_output("Removed client").await;
}

/// Ctrl-C ends the open page's stream (the page sees the connection go)
/// and the server exits cleanly.
#[tokio::test]
async fn ctrl_c_ends_the_open_streams_and_exits() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let mut server = Example::start(env!("CARGO_BIN_EXE_clock"), &["--every", "1"]).await;
    let page = browser.open(server.url()).await;
    server.wait_for_output("Added new client").await;
    page.wait_for_texts("#status", &["connected"]).await;

    server.interrupt().await;
    server.wait_for_output("Removed client").await;
    assert!(server.exited().await, "{:#?}", server.output());
    page.wait_for_texts("#status", &["reconnecting…"]).await;
    page.close().await;
}
