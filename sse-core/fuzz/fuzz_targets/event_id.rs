//! Parses arbitrary text as a broker event id (what a `Last-Event-ID` brings
//! back to the broker): never a panic, and an id that parses writes back as
//! text that parses to the same id.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ssekit_core::broker::EventId;

fuzz_target!(|input: &[u8]| {
    let text = String::from_utf8_lossy(input);
    if let Ok(id) = text.parse::<EventId>() {
        assert_eq!(id.to_string().parse::<EventId>(), Ok(id));
    }
});
