//! The tower-layer example in a real browser (headless Chromium through
//! chromedriver, see the `browser-test` crate), served both ways: by
//! `ssekit_tower::serve`, where an event stream leaves hyper after its head,
//! and with `--hyper-util` on a plain hyper-util server. Without a browser
//! the tests say so on stderr and return; under `CI` a missing browser fails
//! them.

use browser_test::{Browser, Example, Page, wait_until};

#[tokio::test]
async fn served_by_ssekit_tower() {
    ticks_close_and_shutdown(&[]).await;
}

#[tokio::test]
async fn on_a_hyper_util_server() {
    ticks_close_and_shutdown(&["--hyper-util"]).await;
}

/// A page receives ticks in order; closing it unsubscribes its stream;
/// Ctrl-C sends an open page the `shutdown` event, closes every
/// connection and exits cleanly.
async fn ticks_close_and_shutdown(args: &[&str]) {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let binary = env!("CARGO_BIN_EXE_tower-layer");
    let mut server = Example::start(binary, args).await;

    let first = browser.open(server.url()).await;
    consecutive_ticks(&first).await;
    first.close().await;
    server.wait_for_output("client disconnected").await;

    let second = browser.open(server.url()).await;
    consecutive_ticks(&second).await;
    server.interrupt().await;
    wait_until("the page to show the shutdown event", || async {
        let items = second.texts("#events li").await;
        if items
            .first()
            .is_some_and(|item| item == "server shutting down")
        {
            Ok(())
        } else {
            Err(items)
        }
    })
    .await;
    server.wait_for_output("all connections closed").await;
    assert!(server.exited().await, "{:#?}", server.output());
    second.close().await;
}

/// Waits for two ticks on `page` (`tick N (id N)`, newest first) and
/// checks that they are consecutive.
async fn consecutive_ticks(page: &Page) {
    let ticks = wait_until("two ticks on the page", || async {
        let items = page.texts("#events li").await;
        let ticks: Vec<u64> = items.iter().filter_map(|item| tick(item)).collect();
        if ticks.len() >= 2 {
            Ok(ticks)
        } else {
            Err(items)
        }
    })
    .await;
    assert!(
        ticks.windows(2).all(|pair| pair[0] == pair[1] + 1),
        "{ticks:?}"
    );
}

/// `N` of `tick N (id N)`, with the event's data and id agreeing.
fn tick(item: &str) -> Option<u64> {
    let (data, id) = item.strip_prefix("tick ")?.split_once(" (id ")?;
    assert_eq!(Some(data), id.strip_suffix(')'), "{item}");
    data.parse().ok()
}
