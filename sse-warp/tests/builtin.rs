//! What warp 0.4's own `warp::sse` writes for the same inputs, decoded as a
//! browser would, next to ours: the README's comparison table states only
//! what these tests show.

use sse_test_support::{
    INJECTING_ID, assert_builtin_injects_a_field_ours_refuses_the_id, received,
};

/// The wire bytes of one of warp's built-in events.
fn builtin_wire(event: warp::sse::Event) -> Vec<u8> {
    event.to_string().into_bytes()
}

#[test]
fn builtin_drops_a_leading_space_in_data_ours_keeps_it() {
    let builtin = received(&builtin_wire(warp::sse::Event::default().data(" x")));
    assert_eq!(builtin[0].data(), "x");

    let ours = received(ssekit_warp::Event::data(" x").as_bytes());
    assert_eq!(ours[0].data(), " x");
}

#[test]
fn builtin_lets_a_line_break_in_an_id_inject_a_field_ours_returns_an_error() {
    let builtin = warp::sse::Event::default().id(INJECTING_ID).data("x");
    assert_builtin_injects_a_field_ours_refuses_the_id(&builtin_wire(builtin));
}

#[test]
fn builtin_loses_the_data_after_a_lone_cr_ours_keeps_it() {
    let builtin = received(&builtin_wire(warp::sse::Event::default().data("a\rb")));
    assert_eq!(builtin[0].data(), "a");

    let ours = received(ssekit_warp::Event::data("a\rb").as_bytes());
    assert_eq!(ours[0].data(), "a\nb");
}
