//! ssekit-axum over `axum::serve` on 127.0.0.1: the adapter suite, and
//! tower-http's compression.

use sse_test_support::adapter_suite::{self as suite, Fixture, Served};
use sse_test_support::private::by_token;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use futures_util::stream;
use http::request::Parts;
use ssekit_axum::broker::Subscription;
use ssekit_axum::{Error, Event, KeepAlive, LastEventId, SseResponse, Topics};
use tokio::net::TcpListener;
use tower_http::compression::CompressionLayer;

async fn events(
    State(Fixture { broker, .. }): State<Fixture>,
    topics: Topics,
    last_event_id: LastEventId,
) -> Result<SseResponse<Subscription>, Error> {
    let response = SseResponse::subscribe(&broker, &topics, &last_event_id).await?;
    Ok(response.keep_alive(KeepAlive::disabled()))
}

async fn private(
    State(Fixture { broker, .. }): State<Fixture>,
    request: Parts,
    topics: Topics,
    last_event_id: LastEventId,
) -> Result<SseResponse<Subscription>, Error> {
    let response =
        SseResponse::subscribe_authorized(&broker, &by_token, &request, &topics, &last_event_id)
            .await?;
    Ok(response.keep_alive(KeepAlive::disabled()))
}

fn routes(fixture: Fixture) -> Router {
    Router::new()
        .route(
            "/numbered",
            get(|id: LastEventId| async move { SseResponse::new(suite::numbered_after(&id)) }),
        )
        .route(
            "/idle",
            get(|| async {
                SseResponse::new(stream::pending::<Event>()).keep_alive(suite::fast_keep_alive())
            }),
        )
        .route(
            "/closing",
            get(|State(fixture): State<Fixture>| async move {
                SseResponse::new(stream::pending::<Event>())
                    .shutdown(suite::closing(&fixture.shutdown))
            }),
        )
        .route(
            "/pushed",
            get(|State(fixture): State<Fixture>| async move {
                SseResponse::new(suite::pushed(&fixture.senders)).keep_alive(KeepAlive::disabled())
            }),
        )
        .route(
            "/not-sync",
            get(|| async { SseResponse::new(suite::not_sync()) }),
        )
        .route("/events", get(events))
        .route("/private", get(private))
        .with_state(fixture)
}

/// Serves `app` until the fixture's token is cancelled, then shuts down
/// gracefully.
async fn serve_app(app: Router, fixture: &Fixture) -> Served {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = fixture.shutdown.clone().cancelled_owned();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .unwrap();
    });
    Served { addr, server }
}

async fn serve(fixture: Fixture) -> Served {
    let shutdown = fixture.clone();
    serve_app(routes(fixture), &shutdown).await
}

sse_test_support::adapter_suite!(serve);

#[tokio::test]
async fn compression_layer_leaves_the_stream_uncompressed_and_unbuffered() {
    suite::assert_pushed_events_arrive_uncompressed_and_promptly(|fixture: Fixture| async move {
        let shutdown = fixture.clone();
        serve_app(routes(fixture).layer(CompressionLayer::new()), &shutdown).await
    })
    .await;
}
