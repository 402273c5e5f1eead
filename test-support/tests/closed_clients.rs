//! A client that closes a quiet event stream, through each framework's own
//! server, served as the adapters' docs show it (`axum::serve` and
//! `poem::Server` over a `WriteDeadlineListener`, `warp::serve`): the rule
//! that each adapter's `serve` keeps in `serve_suite!`
//! ([`sse_test_support::serve`]). `axum::serve` and `warp::serve` keep it
//! (hyper reads for the end of the connection while a response body
//! waits); `poem::Server` does not: once hyper's connection has failed on
//! the client's close, poem polls it again for its graceful shutdown, and
//! the response body it still holds, with its stream, stays until a write
//! fails. `ssekit_poem::serve` is the poem path that notices at once.

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use poem::listener::{Acceptor, Listener};
use poem::web::Data;
use poem::{EndpointExt, IntoResponse, Response, handler};
use sse_test_support::adapter_suite::{Fixture, Served, fixture};
use sse_test_support::serve::{
    a_client_that_closes_a_quiet_stream_is_noticed_within_a_second as rule, open_quiet,
};
use sse_test_support::{subscriptions_become, within};
use ssekit_core::Event;
use ssekit_core::broker::Broker;
use tokio::net::TcpListener;
use warp::Filter;

const DEADLINE: Duration = Duration::from_secs(30);

async fn axum_serve(fixture: Fixture) -> Served {
    let app = Router::new()
        .route(
            "/quiet",
            get(
                |State(broker): State<Broker>, id: ssekit_axum::LastEventId| async move {
                    ssekit_axum::SseResponse::subscribe(&broker, &["quiet"], &id)
                        .await
                        .unwrap()
                },
            ),
        )
        .with_state(fixture.broker.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let listener = ssekit_axum::WriteDeadlineListener::new(listener, DEADLINE);
    let shutdown = fixture.shutdown.clone().cancelled_owned();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .unwrap();
    });
    Served { addr, server }
}

#[tokio::test]
async fn a_client_that_closes_a_quiet_stream_is_noticed_within_a_second_by_axum_serve() {
    rule(axum_serve).await;
}

#[handler]
async fn quiet(Data(broker): Data<&Broker>, id: ssekit_poem::LastEventId) -> Response {
    ssekit_poem::SseResponse::subscribe(broker, &["quiet"], &id)
        .await
        .unwrap()
        .into_response()
}

async fn poem_server(fixture: Fixture) -> Served {
    let listener = poem::listener::TcpListener::bind("127.0.0.1:0");
    let acceptor = ssekit_poem::WriteDeadlineListener::new(listener, DEADLINE)
        .into_acceptor()
        .await
        .unwrap();
    let addr = *acceptor.local_addr()[0].as_socket_addr().unwrap();
    let app = poem::Route::new()
        .at("/quiet", poem::get(quiet))
        .data(fixture.broker.clone());
    let shutdown = fixture.shutdown.clone().cancelled_owned();
    let server = tokio::spawn(async move {
        poem::Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(app, shutdown, Some(Duration::from_secs(1)))
            .await
            .unwrap();
    });
    Served { addr, server }
}

/// What `poem::Server` does instead (the limitation `ssekit_poem`'s docs
/// state): closed quiet streams are all still held a second later, and go
/// only once something is written to them.
#[tokio::test]
async fn poem_server_holds_a_closed_quiet_stream_until_its_next_write() {
    const STREAMS: u64 = 20;
    let (fixture, _senders) = fixture(Broker::new());
    let served = poem_server(fixture.clone()).await;
    let mut sockets = Vec::new();
    for _ in 0..STREAMS {
        sockets.push(within("a quiet stream's head", open_quiet(served.addr)).await);
    }
    subscriptions_become(&fixture.broker, STREAMS).await;

    drop(sockets);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(fixture.broker.stats().subscriptions, STREAMS);

    // The first write after the close succeeds (the peer answers it with a
    // reset), the next one fails.
    within("the streams to go", async {
        while fixture.broker.stats().subscriptions > 0 {
            fixture
                .broker
                .publish("quiet", Event::data("anyone?"))
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

async fn warp_serve(fixture: Fixture) -> Served {
    let broker = fixture.broker.clone();
    let routes = warp::path("quiet").and(ssekit_warp::last_event_id()).then(
        move |id: ssekit_warp::LastEventId| {
            let broker = broker.clone();
            async move {
                ssekit_warp::SseResponse::subscribe(&broker, &["quiet"], &id)
                    .await
                    .unwrap()
            }
        },
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(
        warp::serve(routes)
            .incoming(listener)
            .graceful(fixture.shutdown.clone().cancelled_owned())
            .run(),
    );
    Served { addr, server }
}

#[tokio::test]
async fn a_client_that_closes_a_quiet_stream_is_noticed_within_a_second_by_warp_serve() {
    rule(warp_serve).await;
}
