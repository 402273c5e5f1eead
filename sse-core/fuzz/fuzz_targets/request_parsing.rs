//! What a request brings that the server parses before anything else: the
//! `Last-Event-ID` header, the `lastEventId` and `topic` query parameters,
//! and the broker's event ids. For arbitrary input none of them panics, and
//! what each accepts keeps its promises: within the length limits, no NUL,
//! CR or LF in an id, no empty topic, and an event id that reads back as
//! itself.
//!
//! Input layout: byte 0 is the length limit, byte 1 the topic count limit,
//! the rest is the header value and, read as text, the query and the id.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sse_core::broker::EventId;
use sse_tower::{InvalidLastEventId, LastEventId, Topics};

fn check_id(parsed: &LastEventId, max_len: usize) {
    match parsed {
        LastEventId::Present(id) => {
            assert!(id.len() <= max_len, "an id over the limit was accepted");
            assert!(!id.contains(['\0', '\r', '\n']), "an id that breaks a stream was accepted");
        }
        LastEventId::Invalid(InvalidLastEventId::TooLong { len, max }) => {
            assert!(len > max && *max == max_len);
        }
        LastEventId::Absent | LastEventId::Invalid(_) => {}
    }
}

fuzz_target!(|input: &[u8]| {
    let [max_len, max_count, rest @ ..] = input else {
        return;
    };
    let (max_len, max_count) = (usize::from(*max_len), usize::from(*max_count));

    let header = LastEventId::parse(rest, max_len);
    check_id(&header, max_len);
    if let LastEventId::Present(id) = &header {
        assert_eq!(id.as_bytes(), rest, "the header value is the id, unchanged");
    }

    let text = String::from_utf8_lossy(rest);
    check_id(&LastEventId::from_query(Some(&text), max_len), max_len);

    if let Ok(topics) = Topics::from_query_with_limits(Some(&text), max_count, max_len) {
        assert!(!topics.as_slice().is_empty() && topics.as_slice().len() <= max_count);
        for topic in topics.as_slice() {
            assert!(!topic.is_empty() && topic.len() <= max_len);
        }
    }

    if let Ok(id) = text.parse::<EventId>() {
        assert_eq!(id.to_string().parse::<EventId>(), Ok(id));
    }
});
