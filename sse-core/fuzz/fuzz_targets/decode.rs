//! Feeds arbitrary bytes to the decoder split into arbitrary chunks, and
//! checks that the chunking changes nothing: the items decoded from the
//! chunks, and the last event id, are those decoded from the whole input fed
//! at once. A small event bound makes the overflow path reachable too.
//!
//! Input layout: byte 0 picks the event bound, the next `n` bytes (`n` from
//! byte 1) are chunk lengths, the rest is the stream.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ssekit_core::decode::Decoder;

fuzz_target!(|input: &[u8]| {
    let [bound, cuts, rest @ ..] = input else {
        return;
    };
    let max_event_size = match bound {
        0..=127 => usize::from(*bound),
        _ => ssekit_core::decode::DEFAULT_MAX_EVENT_SIZE,
    };
    let cuts = usize::from(*cuts % 32).min(rest.len());
    let (lengths, stream) = rest.split_at(cuts);

    let mut whole = Decoder::new().with_max_event_size(max_event_size);
    let expected: Vec<_> = whole.decode(stream).collect();

    let mut chunked = Decoder::new().with_max_event_size(max_event_size);
    let mut items = Vec::new();
    let mut left = stream;
    let mut lengths = lengths.iter().map(|&len| usize::from(len)).cycle();
    while !left.is_empty() {
        let mut len = lengths.next().unwrap_or(1);
        if len == 0 {
            // An empty chunk must change nothing; then move on by one byte.
            items.extend(chunked.decode(&[]));
            len = 1;
        }
        let (chunk, after) = left.split_at(len.min(left.len()));
        items.extend(chunked.decode(chunk));
        left = after;
    }

    assert_eq!(items, expected);
    assert_eq!(chunked.last_event_id(), whole.last_event_id());
});
