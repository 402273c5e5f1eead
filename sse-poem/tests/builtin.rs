//! What poem 3's own `poem::web::sse` writes for the same inputs, decoded as
//! a browser would, next to ours: the README's comparison table states only
//! what these tests show.

use sse_test_support::{
    INJECTING_ID, assert_builtin_injects_a_field_ours_refuses_the_id, received,
};

/// The wire bytes of one of poem's built-in events.
fn builtin_wire(event: poem::web::sse::Event) -> Vec<u8> {
    event.to_string().into_bytes()
}

#[test]
fn builtin_never_delivers_an_event_with_empty_data_ours_does() {
    let builtin = received(&builtin_wire(poem::web::sse::Event::message("")));
    assert!(builtin.is_empty());

    let ours = received(ssekit_poem::Event::data("").as_bytes());
    assert_eq!(ours.len(), 1);
    assert_eq!(ours[0].data(), "");
}

#[test]
fn builtin_drops_a_trailing_line_break_in_data_ours_keeps_it() {
    let builtin = received(&builtin_wire(poem::web::sse::Event::message("a\n")));
    assert_eq!(builtin[0].data(), "a");

    let ours = received(ssekit_poem::Event::data("a\n").as_bytes());
    assert_eq!(ours[0].data(), "a\n");
}

#[test]
fn builtin_lets_a_line_break_in_an_id_inject_a_field_ours_returns_an_error() {
    let builtin = poem::web::sse::Event::message("x").id(INJECTING_ID);
    assert_builtin_injects_a_field_ours_refuses_the_id(&builtin_wire(builtin));
}
