//! `ssekit_warp::serve` on 127.0.0.1: a subset of the adapter suite, with
//! a filter that rejects and one that was recovered.

use std::convert::Infallible;

use futures_util::stream;
use sse_test_support::adapter_suite::{self as suite, Fixture, Served};
use sse_test_support::serve::spawn;
use ssekit_warp::{Event, LastEventId, SseResponse};
use warp::Filter;

async fn serve(fixture: Fixture) -> Served {
    let token = fixture.shutdown.clone();
    let numbered = warp::path("numbered")
        .and(ssekit_warp::last_event_id())
        .map(|id: LastEventId| SseResponse::new(suite::numbered_after(&id)));
    let closing = warp::path("closing")
        .map(move || SseResponse::new(stream::pending::<Event>()).shutdown(suite::closing(&token)));
    let broker = fixture.broker.clone();
    let quiet =
        warp::path("quiet")
            .and(ssekit_warp::last_event_id())
            .then(move |id: LastEventId| {
                let broker = broker.clone();
                async move {
                    SseResponse::subscribe(&broker, &["quiet"], &id)
                        .await
                        .unwrap()
                }
            });
    // `Error = Rejection`.
    let routes = numbered.or(closing).or(quiet);
    spawn(&fixture, |l, s| {
        ssekit_warp::serve(l, routes).with_graceful_shutdown(s)
    })
    .await
}

sse_test_support::serve_suite!(serve);

#[tokio::test]
async fn a_filter_recovered_into_infallible_is_served() {
    let recovered = warp::path("hello").map(|| "hello").recover(|_| async {
        Ok::<_, Infallible>(warp::reply::with_status(
            "none",
            warp::http::StatusCode::NOT_FOUND,
        ))
    });
    let (fixture, _) = suite::fixture(ssekit_warp::broker::Broker::new());
    let served = spawn(&fixture, |listener, signal| {
        ssekit_warp::serve(listener, recovered).with_graceful_shutdown(signal)
    })
    .await;
    let mut client = sse_test_support::Client::connect(served.addr).await;
    assert_eq!(
        sse_test_support::text(client.get("/hello", &[]).await).await,
        "hello"
    );
    let missing = client.get("/missing", &[]).await;
    assert_eq!(missing.status(), 404);
}
