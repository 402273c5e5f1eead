//! Builds events from arbitrary field strings and checks the builder's
//! promise: either `build` refuses (a CR or LF in the type or id, a NUL in
//! the id, and nothing else), or the encoded event reads back, through the
//! standard's algorithm, as exactly the intended fields — so no content of
//! one field can inject another field or another event.
//!
//! Input: an `arbitrary` stream of optional strings for the type, id, data
//! and comment, and an optional retry in milliseconds.

#![no_main]

use std::time::Duration;

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use ssekit_core::Event;
use ssekit_core::decode::{Decoded, Decoder};

struct Fields {
    event: Option<String>,
    id: Option<String>,
    data: Option<String>,
    comment: Option<String>,
    retry: Option<u32>,
}

fn fields(u: &mut Unstructured<'_>) -> Result<Fields> {
    Ok(Fields {
        event: u.arbitrary()?,
        id: u.arbitrary()?,
        data: u.arbitrary()?,
        comment: u.arbitrary()?,
        retry: u.arbitrary()?,
    })
}

fuzz_target!(|input: &[u8]| {
    let Ok(f) = fields(&mut Unstructured::new(input)) else {
        return;
    };
    let mut builder = Event::builder();
    if let Some(event) = &f.event {
        builder = builder.event(event.as_str());
    }
    if let Some(id) = &f.id {
        builder = builder.id(id.as_str());
    }
    if let Some(data) = &f.data {
        builder = builder.data(data.as_str());
    }
    if let Some(comment) = &f.comment {
        builder = builder.comment(comment.as_str());
    }
    if let Some(retry) = f.retry {
        builder = builder.retry(Duration::from_millis(u64::from(retry)));
    }

    let line_break = |s: &Option<String>| s.as_deref().is_some_and(|s| s.contains(['\r', '\n']));
    let must_refuse = line_break(&f.event)
        || line_break(&f.id)
        || f.id.as_deref().is_some_and(|id| id.contains('\0'));
    let event = match builder.build() {
        Ok(event) => {
            assert!(!must_refuse, "a field that breaks the stream was accepted");
            event
        }
        Err(_) => {
            assert!(must_refuse, "valid fields were refused");
            return;
        }
    };

    let mut decoder = Decoder::new().with_max_event_size(usize::MAX);
    let items: Vec<Decoded> = decoder
        .decode(event.as_bytes())
        .map(|item| item.expect("an encoded event never overflows an unbounded decoder"))
        .collect();
    let events: Vec<_> = items
        .iter()
        .filter_map(|item| match item {
            Decoded::Event(event) => Some(event),
            _ => None,
        })
        .collect();
    let retries: Vec<Duration> = items
        .iter()
        .filter_map(|item| match item {
            Decoded::Retry(retry) => Some(*retry),
            _ => None,
        })
        .collect();

    assert_eq!(
        retries,
        f.retry
            .map(|ms| Duration::from_millis(u64::from(ms)))
            .into_iter()
            .collect::<Vec<_>>()
    );
    assert_eq!(decoder.last_event_id().unwrap_or(""), f.id.as_deref().unwrap_or(""));
    match &f.data {
        None => assert!(events.is_empty(), "an event without data was dispatched"),
        Some(data) => {
            assert_eq!(events.len(), 1, "one event with data reads as {} events", events.len());
            let expected_type = match f.event.as_deref() {
                None | Some("") => "message",
                Some(event) => event,
            };
            assert_eq!(events[0].event_type(), expected_type);
            assert_eq!(events[0].data(), data.replace("\r\n", "\n").replace('\r', "\n"));
            assert_eq!(events[0].last_event_id(), f.id.as_deref().unwrap_or(""));
        }
    }
});
