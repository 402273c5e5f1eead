//! `ssekit_poem::serve` on 127.0.0.1: a subset of the adapter suite, and
//! `RemoteAddr` as under `poem::Server`.

use futures_util::stream;
use poem::web::{Data, RemoteAddr};
use poem::{EndpointExt, IntoResponse, Request, Response, handler};
use sse_test_support::adapter_suite::{self as suite, Fixture, Served};
use sse_test_support::serve::spawn;
use ssekit_poem::{Event, LastEventId, SseResponse};

/// `/numbered`, `/closing`, `/quiet`, and anything else: the peer's
/// address.
#[handler]
async fn app(
    request: &Request,
    id: LastEventId,
    fixture: Data<&Fixture>,
    peer: &RemoteAddr,
) -> Response {
    match request.uri().path() {
        "/quiet" => SseResponse::subscribe(&fixture.broker, &["quiet"], &id)
            .await
            .unwrap()
            .into_response(),
        "/numbered" => SseResponse::new(suite::numbered_after(&id)).into_response(),
        "/closing" => SseResponse::new(stream::pending::<Event>())
            .shutdown(suite::closing(&fixture.shutdown))
            .into_response(),
        _ => peer.as_socket_addr().unwrap().to_string().into_response(),
    }
}

async fn serve(fixture: Fixture) -> Served {
    let endpoint = app.data(fixture.clone());
    spawn(&fixture, |l, s| {
        ssekit_poem::serve(l, endpoint).with_graceful_shutdown(s)
    })
    .await
}

sse_test_support::serve_suite!(serve, the_handler_sees_the_peers_address);
