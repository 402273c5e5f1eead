//! `ssekit_axum::serve` on 127.0.0.1: a subset of the adapter suite, and
//! `ConnectInfo` without `into_make_service_with_connect_info`.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::routing::get;
use futures_util::stream;
use sse_test_support::adapter_suite::{self as suite, Fixture, Served};
use sse_test_support::serve::spawn;
use ssekit_axum::{Event, LastEventId, SseResponse};

async fn serve(fixture: Fixture) -> Served {
    let app = Router::new()
        .route(
            "/numbered",
            get(|id: LastEventId| async move { SseResponse::new(suite::numbered_after(&id)) }),
        )
        .route(
            "/closing",
            get(|State(token): State<Fixture>| async move {
                SseResponse::new(stream::pending::<Event>())
                    .shutdown(suite::closing(&token.shutdown))
            }),
        )
        .route(
            "/quiet",
            get(
                |State(fixture): State<Fixture>, id: LastEventId| async move {
                    SseResponse::subscribe(&fixture.broker, &["quiet"], &id)
                        .await
                        .unwrap()
                },
            ),
        )
        .route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
        )
        .with_state(fixture.clone());
    spawn(&fixture, |l, s| {
        ssekit_axum::serve(l, app).with_graceful_shutdown(s)
    })
    .await
}

sse_test_support::serve_suite!(serve, the_handler_sees_the_peers_address);
