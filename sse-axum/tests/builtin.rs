//! What axum 0.8's own `axum::response::sse` does with the same inputs, so
//! that the README's comparison table states only what is tested here. Each
//! test names the built-in behaviour and checks it next to ours.

use sse_test_support as common;

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::response::IntoResponse;
use axum::routing::get;
use common::{Client, FrameReader};
use futures_util::stream;
use http_body_util::BodyExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The data a WHATWG-conforming client receives from `wire`.
fn received_data(wire: &[u8]) -> Vec<String> {
    common::received(wire)
        .into_iter()
        .map(|event| event.into_data())
        .collect()
}

/// The wire bytes axum's built-in `Sse` writes for one event.
async fn builtin_wire(event: axum::response::sse::Event) -> Vec<u8> {
    let response =
        axum::response::sse::Sse::new(stream::iter([Ok::<_, std::convert::Infallible>(event)]))
            .into_response();
    let body: Body = response.into_body();
    body.collect().await.unwrap().to_bytes().to_vec()
}

#[tokio::test]
async fn builtin_turns_a_crlf_in_data_into_two_line_breaks_ours_into_one() {
    let builtin = builtin_wire(axum::response::sse::Event::default().data("a\r\nb")).await;
    assert_eq!(received_data(&builtin), ["a\n\nb"]);

    let ours = ssekit_axum::Event::data("a\r\nb");
    assert_eq!(received_data(ours.as_bytes()), ["a\nb"]);
}

#[test]
fn builtin_panics_on_a_line_break_in_an_id_ours_returns_an_error() {
    let builtin = std::panic::catch_unwind(|| axum::response::sse::Event::default().id("1\n2"));
    assert!(builtin.is_err(), "axum's Event::id panics");

    let ours = ssekit_axum::Event::builder().id("1\n2").data("x").build();
    assert!(matches!(
        ours,
        Err(ssekit_core::EventError::LineBreak {
            field: ssekit_core::Field::Id
        })
    ));
}

#[tokio::test]
async fn builtin_keeps_graceful_shutdown_waiting_on_an_open_stream() {
    // A stream that never ends, served with axum's own `Sse`.
    let app = Router::new().route(
        "/events",
        get(|| async {
            axum::response::sse::Sse::new(stream::pending::<
                Result<axum::response::sse::Event, std::convert::Infallible>,
            >())
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let token = CancellationToken::new();
    let shutdown = token.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
            .unwrap();
    });
    let mut client = Client::connect(addr).await;
    let _open = FrameReader::new(client.get("/events", &[]).await);

    token.cancel();
    // Still running a whole second later: the open stream holds it. (With
    // ssekit-axum's `Shutdown`, the same server stops at once: see
    // `graceful_shutdown_ends_open_streams_within_a_second` in server.rs.)
    let outcome = tokio::time::timeout(Duration::from_secs(1), server).await;
    assert!(
        outcome.is_err(),
        "axum's built-in Sse kept the server running"
    );
}
