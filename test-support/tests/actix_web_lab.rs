//! What actix-web-lab's `sse` writes for the inputs the other frameworks'
//! built-ins get wrong (see `sse-*/tests/builtin.rs`), decoded as a browser
//! would: the README's comparison table states only what these tests show.

use actix_web_lab::sse::{Data, Event, Sse};
use futures_util::stream;
use sse_test_support::received;

/// The wire bytes actix-web-lab's `Sse` body writes for `events`, or the
/// error it ends with.
async fn wire(events: Vec<Event>) -> Result<Vec<u8>, String> {
    let sse = Sse::from_infallible_stream(stream::iter(events));
    actix_web::body::to_bytes(sse)
        .await
        .map(|bytes| bytes.to_vec())
        .map_err(|error| error.to_string())
}

fn data(text: &str) -> Event {
    Event::Data(Data::new(text.to_owned()))
}

#[tokio::test(flavor = "current_thread")]
async fn crlf_and_lone_cr_in_data_arrive_as_one_line_break_each() {
    let events = received(&wire(vec![data("a\r\nb"), data("c\rd")]).await.unwrap());
    assert_eq!(events[0].data(), "a\nb");
    assert_eq!(events[1].data(), "c\nd");
}

#[tokio::test(flavor = "current_thread")]
async fn leading_space_empty_data_and_trailing_line_break_survive() {
    let events = received(&wire(vec![data(" x"), data(""), data("a\n")]).await.unwrap());
    let data: Vec<&str> = events.iter().map(|e| e.data()).collect();
    assert_eq!(data, [" x", "", "a\n"]);
}

#[tokio::test(flavor = "current_thread")]
async fn a_line_break_in_an_id_ends_the_stream_with_an_error() {
    let bad = Event::Data(Data::new("x").id("1\nevent: admin"));
    let outcome = wire(vec![data("before"), bad]).await;
    assert!(
        outcome.is_err(),
        "the body fails instead of injecting a field"
    );
}
