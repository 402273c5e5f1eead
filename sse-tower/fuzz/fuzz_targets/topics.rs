//! Parses arbitrary query strings as a subscription's topics, and checks
//! the bounds a server relies on: never a panic; on success at least one
//! topic, at most the count limit, each non-empty and within the length
//! limit; and the limits hold however the query is written.
//!
//! Input layout: byte 0 is the count limit, byte 1 the length limit, the
//! rest the query string.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ssekit_tower::Topics;

fuzz_target!(|input: &[u8]| {
    let [count, len, query @ ..] = input else {
        return;
    };
    let (max_count, max_len) = (usize::from(*count % 16), usize::from(*len));
    let query = String::from_utf8_lossy(query);
    if let Ok(topics) = Topics::from_query_with_limits(Some(&query), max_count, max_len) {
        let topics = topics.as_slice();
        assert!(!topics.is_empty() && topics.len() <= max_count);
        for topic in topics {
            assert!(!topic.is_empty() && topic.len() <= max_len);
        }
    }
});
