//! ssekit-poem over `poem::Server` on 127.0.0.1: the adapter suite, and
//! poem's compression.

use sse_test_support::adapter_suite::{self as suite, Fixture, Served};

use std::time::Duration;

use futures_util::Stream;
use futures_util::stream::{self, Pending};
use poem::listener::TcpAcceptor;
use poem::middleware::Compression;
use poem::web::Data;
use poem::{Endpoint, EndpointExt, Request, Route, Server, get, handler};
use ssekit_poem::broker::Subscription;
use ssekit_poem::{Error, Event, KeepAlive, LastEventId, SseResponse, Topics};
use tokio::net::TcpListener;

/// poem notices a client that left only when it writes: the keep-alive is
/// what drops its subscription.
fn keep_alive() -> KeepAlive {
    KeepAlive::new().interval(Duration::from_millis(50))
}

#[handler]
async fn events(
    fixture: Data<&Fixture>,
    topics: Topics,
    last_event_id: LastEventId,
) -> Result<SseResponse<Subscription>, Error> {
    let response = SseResponse::subscribe(&fixture.broker, &topics, &last_event_id).await?;
    Ok(response.keep_alive(keep_alive()))
}

#[handler]
async fn private(
    request: &Request,
    Data(Fixture { broker, .. }): Data<&Fixture>,
    topics: Topics,
    id: LastEventId,
) -> poem::Result<SseResponse<Subscription>> {
    let authorize = sse_test_support::private::by_token;
    let subscribed = SseResponse::subscribe_authorized(broker, &authorize, request, &topics, &id);
    Ok(subscribed
        .await
        .map_err(Error::from)?
        .keep_alive(keep_alive()))
}

#[handler]
fn numbered(id: LastEventId) -> SseResponse<impl Stream<Item = Event>> {
    SseResponse::new(suite::numbered_after(&id))
}

#[handler]
fn idle() -> SseResponse<Pending<Event>> {
    SseResponse::new(stream::pending()).keep_alive(suite::fast_keep_alive())
}

#[handler]
fn closing(fixture: Data<&Fixture>) -> SseResponse<Pending<Event>> {
    SseResponse::new(stream::pending()).shutdown(suite::closing(&fixture.shutdown))
}

#[handler]
fn pushed(fixture: Data<&Fixture>) -> SseResponse<impl Stream<Item = Event> + use<>> {
    SseResponse::new(suite::pushed(&fixture.senders)).keep_alive(KeepAlive::disabled())
}

#[handler]
fn not_sync() -> SseResponse<impl Stream<Item = Event>> {
    SseResponse::new(suite::not_sync())
}

fn routes() -> Route {
    Route::new()
        .at("/numbered", get(numbered))
        .at("/idle", get(idle))
        .at("/closing", get(closing))
        .at("/pushed", get(pushed))
        .at("/not-sync", get(not_sync))
        .at("/events", get(events))
        .at("/private", get(private))
}

/// Serves `app` until the fixture's token is cancelled, then shuts down
/// gracefully (with no forced timeout: open streams must end by
/// themselves).
async fn serve_app(app: impl Endpoint + 'static, fixture: Fixture) -> Served {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = TcpAcceptor::from_tokio(listener).unwrap();
    let shutdown = fixture.shutdown.clone().cancelled_owned();
    let app = app.data(fixture);
    let server = tokio::spawn(async move {
        Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(app, shutdown, None)
            .await
            .unwrap();
    });
    Served { addr, server }
}

async fn serve(fixture: Fixture) -> Served {
    serve_app(routes(), fixture).await
}

sse_test_support::adapter_suite!(serve);

#[tokio::test]
async fn outside_poem_compression_the_stream_is_uncompressed_and_unbuffered() {
    #[handler]
    fn page() -> &'static str {
        "page"
    }
    suite::assert_pushed_events_arrive_uncompressed_and_promptly(|fixture: Fixture| async move {
        let app = routes().at("/page", get(page).with(Compression::new()));
        serve_app(app, fixture).await
    })
    .await;
}

#[tokio::test]
async fn poem_compression_compresses_the_stream_but_each_event_arrives_promptly() {
    suite::assert_gzip_events_arrive_promptly(|fixture: Fixture| async move {
        serve_app(routes().with(Compression::new()), fixture).await
    })
    .await;
}
