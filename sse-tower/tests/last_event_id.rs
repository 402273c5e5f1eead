//! `LastEventId`: the header or the `lastEventId` query parameter, parsed
//! within a limit, one rule per test.

use http::HeaderMap;
use ssekit_tower::{InvalidLastEventId, LastEventId};

fn headers(values: &[&str]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for value in values {
        headers.append("last-event-id", value.parse().unwrap());
    }
    headers
}

#[test]
fn no_header_is_absent() {
    assert_eq!(
        LastEventId::from_headers(&HeaderMap::new()),
        LastEventId::Absent
    );
    assert!(LastEventId::from_headers(&HeaderMap::new()).is_absent());
}

#[test]
fn a_header_value_is_the_id_unchanged() {
    let id = LastEventId::from_headers(&headers(&["42"]));
    assert_eq!(id, LastEventId::Present("42".to_owned()));
    assert_eq!(id.as_str(), Some("42"));
    assert_eq!(id.invalid_reason(), None);
}

#[test]
fn a_header_over_the_limit_is_too_long() {
    assert_eq!(
        LastEventId::from_headers_with_limit(&headers(&["0123456789"]), 4),
        LastEventId::Invalid(InvalidLastEventId::TooLong { len: 10, max: 4 })
    );
}

#[test]
fn an_id_with_nul_cr_or_lf_is_a_forbidden_char() {
    for value in [&b"a\0b"[..], b"a\rb", b"a\nb"] {
        let id = LastEventId::parse(value, 1024);
        assert_eq!(id.invalid_reason(), Some(InvalidLastEventId::ForbiddenChar));
        assert_eq!(id.as_str(), None);
    }
}

#[test]
fn an_id_that_is_not_utf8_is_invalid() {
    assert_eq!(
        LastEventId::parse(b"\xc3", 8),
        LastEventId::Invalid(InvalidLastEventId::NotUtf8)
    );
}

#[test]
fn the_query_parameter_is_form_decoded() {
    let id = LastEventId::from_query(Some("a=1&lastEventId=evt%2042"), 1024);
    assert_eq!(id.as_str(), Some("evt 42"));
    let plus = LastEventId::from_query(Some("lastEventId=a+b"), 1024);
    assert_eq!(plus.as_str(), Some("a b"));
}

#[test]
fn no_query_parameter_is_absent() {
    assert_eq!(
        LastEventId::from_query(Some("a=1"), 1024),
        LastEventId::Absent
    );
    assert_eq!(LastEventId::from_query(None, 1024), LastEventId::Absent);
}

#[test]
fn a_decoded_query_id_with_a_line_break_is_a_forbidden_char() {
    assert_eq!(
        LastEventId::from_query(Some("lastEventId=a%0Ab"), 1024),
        LastEventId::Invalid(InvalidLastEventId::ForbiddenChar)
    );
}

#[test]
fn a_repeated_query_parameter_is_invalid() {
    assert_eq!(
        LastEventId::from_query(Some("lastEventId=1&lastEventId=2"), 1024),
        LastEventId::Invalid(InvalidLastEventId::Repeated)
    );
}

#[test]
fn the_query_limit_counts_decoded_bytes() {
    assert_eq!(
        LastEventId::from_query(Some("lastEventId=%41%41%41"), 2),
        LastEventId::Invalid(InvalidLastEventId::TooLong { len: 3, max: 2 })
    );
}

#[test]
fn the_header_wins_over_the_query_even_when_invalid() {
    let query = Some("lastEventId=7");
    let none = HeaderMap::new();
    assert_eq!(
        LastEventId::from_headers_or_query(&none, query, 1024).as_str(),
        Some("7")
    );
    assert_eq!(
        LastEventId::from_headers_or_query(&headers(&["9"]), query, 1024).as_str(),
        Some("9")
    );
    assert_eq!(
        LastEventId::from_headers_or_query(&headers(&["1", "2"]), query, 1024),
        LastEventId::Invalid(InvalidLastEventId::Repeated)
    );
}

#[test]
fn an_application_chosen_id_converts_to_present_or_absent() {
    assert_eq!(
        LastEventId::from(Some("7".to_owned())),
        LastEventId::Present("7".to_owned())
    );
    assert_eq!(LastEventId::from(None), LastEventId::Absent);
}
