//! ssekit-warp over `warp::serve` on 127.0.0.1: the adapter suite, and
//! warp's gzip compression.

use sse_test_support::adapter_suite::{self as suite, Fixture, Served};

use futures_util::stream;
use http::request::Parts;
use ssekit_warp::broker::Broker;
use ssekit_warp::{Error, Event, KeepAlive, LastEventId, SseResponse, Topics};
use tokio::net::TcpListener;
use warp::filters::BoxedFilter;
use warp::filters::compression::gzip;
use warp::reply::Reply;
use warp::{Filter, Rejection};

type Routes = BoxedFilter<(Box<dyn Reply>,)>;

/// `filter` with its reply boxed, so that routes of any reply add up.
fn boxed<R: Reply + 'static>(
    filter: impl Filter<Extract = (R,), Error = Rejection> + Clone + Send + Sync + 'static,
) -> Routes {
    filter
        .map(|reply: R| Box::new(reply) as Box<dyn Reply>)
        .boxed()
}

async fn events(broker: Broker, topics: Topics, id: LastEventId) -> Result<impl Reply, Error> {
    let response = SseResponse::subscribe(&broker, &topics, &id).await?;
    Ok(response.keep_alive(KeepAlive::disabled()))
}

async fn private(
    broker: Broker,
    request: Parts,
    topics: Topics,
    id: LastEventId,
) -> Result<impl Reply, Error> {
    let authorize = sse_test_support::private::by_token;
    let response = SseResponse::subscribe_authorized(&broker, &authorize, &request, &topics, &id);
    Ok(response.await?.keep_alive(KeepAlive::disabled()))
}

/// The pushed stream's route alone.
fn pushed(fixture: &Fixture) -> Routes {
    let senders = fixture.senders.clone();
    boxed(
        warp::path("pushed").map(move || {
            SseResponse::new(suite::pushed(&senders)).keep_alive(KeepAlive::disabled())
        }),
    )
}

fn routes(fixture: &Fixture) -> Routes {
    let with = {
        let broker = fixture.broker.clone();
        warp::any().map(move || broker.clone())
    };
    let shutdown = fixture.shutdown.clone();
    let numbered = warp::path("numbered")
        .and(ssekit_warp::last_event_id())
        .map(|id: LastEventId| SseResponse::new(suite::numbered_after(&id)));
    let idle = warp::path("idle")
        .map(|| SseResponse::new(stream::pending::<Event>()).keep_alive(suite::fast_keep_alive()));
    let closing = warp::path("closing").map(move || {
        SseResponse::new(stream::pending::<Event>()).shutdown(suite::closing(&shutdown))
    });
    let not_sync = warp::path("not-sync").map(|| SseResponse::new(suite::not_sync()));
    let events = warp::path("events")
        .and(with.clone())
        .and(ssekit_warp::topics())
        .and(ssekit_warp::last_event_id())
        .then(events);
    let private = warp::path("private")
        .and(with)
        .and(ssekit_warp::request_parts())
        .and(ssekit_warp::topics())
        .and(ssekit_warp::last_event_id())
        .then(private);
    boxed(
        boxed(numbered)
            .or(boxed(idle))
            .unify()
            .or(boxed(closing))
            .unify()
            .or(boxed(not_sync))
            .unify()
            .or(boxed(events))
            .unify()
            .or(boxed(private))
            .unify()
            .or(pushed(fixture))
            .unify()
            .recover(ssekit_warp::recover),
    )
}

/// Serves `routes` until the fixture's token is cancelled, then shuts down
/// gracefully.
async fn serve_routes(routes: Routes, fixture: &Fixture) -> Served {
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

async fn serve(fixture: Fixture) -> Served {
    serve_routes(routes(&fixture), &fixture).await
}

sse_test_support::adapter_suite!(serve);

#[tokio::test]
async fn outside_warp_compression_the_stream_is_uncompressed_and_unbuffered() {
    suite::assert_pushed_events_arrive_uncompressed_and_promptly(|fixture: Fixture| async move {
        let page = boxed(warp::path("page").map(|| "page").with(gzip()));
        let routes = boxed(routes(&fixture).or(page).unify());
        serve_routes(routes, &fixture).await
    })
    .await;
}

#[tokio::test]
async fn warp_gzip_compresses_the_stream_but_each_event_arrives_promptly() {
    suite::assert_gzip_events_arrive_promptly(|fixture: Fixture| async move {
        serve_routes(boxed(pushed(&fixture).with(gzip())), &fixture).await
    })
    .await;
}
