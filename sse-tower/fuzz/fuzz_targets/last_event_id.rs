//! Parses arbitrary `Last-Event-ID` header values and `lastEventId` query
//! strings, and checks what a service may rely on: never a panic; a
//! `Present` id is UTF-8 without NUL, CR or LF and within the limit; an
//! invalid value is never `Present`; and the header wins over the query.
//!
//! Input layout: byte 0 is the limit, byte 1 splits the rest into a header
//! value and a query string.

#![no_main]

use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use ssekit_tower::LastEventId;

fn check(parsed: &LastEventId, max_len: usize) {
    if let LastEventId::Present(id) = parsed {
        assert!(id.len() <= max_len, "{} bytes over the limit {max_len}", id.len());
        assert!(!id.bytes().any(|b| matches!(b, b'\0' | b'\r' | b'\n')));
    }
}

fuzz_target!(|input: &[u8]| {
    let [limit, split, rest @ ..] = input else {
        return;
    };
    let max_len = usize::from(*limit);
    let (value, query) = rest.split_at(usize::from(*split).min(rest.len()));
    let query = String::from_utf8_lossy(query);

    let from_value = LastEventId::parse(value, max_len);
    check(&from_value, max_len);
    if let LastEventId::Present(id) = &from_value {
        assert_eq!(id.as_bytes(), value, "a valid value is kept exactly");
    }

    let from_query = LastEventId::from_query(Some(&query), max_len);
    check(&from_query, max_len);

    let mut headers = HeaderMap::new();
    if let Ok(header) = HeaderValue::from_bytes(value) {
        headers.insert("last-event-id", header);
        let both = LastEventId::from_headers_or_query(&headers, Some(&query), max_len);
        assert_eq!(both, LastEventId::parse(value, max_len), "the header wins");
    } else {
        let only_query = LastEventId::from_headers_or_query(&headers, Some(&query), max_len);
        assert_eq!(only_query, from_query);
    }
});
