//! Properties of the encoder and the decoder together, over generated events,
//! strings and byte streams, each fed to the decoder in random chunks.

use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use ssekit_core::decode::{DecodeError, Decoded, Decoder, MessageEvent};
use ssekit_core::{Event, EventError, Field};

type Item = Result<Decoded, DecodeError>;

/// Cuts `bytes` at the given points (in any order, repeats allowed, so some
/// chunks may be empty).
fn split<'a>(bytes: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|cut| cut.index(bytes.len() + 1)).collect();
    points.sort_unstable();
    let mut chunks = Vec::with_capacity(points.len() + 1);
    let mut start = 0;
    for point in points {
        chunks.push(&bytes[start..point]);
        start = point;
    }
    chunks.push(&bytes[start..]);
    chunks
}

/// Feeds `chunks` to `decoder`; returns the items and the last event id.
fn decode_with(mut decoder: Decoder, chunks: &[&[u8]]) -> (Vec<Item>, Option<String>) {
    let mut items = Vec::new();
    for chunk in chunks {
        items.extend(decoder.decode(chunk));
    }
    (items, decoder.last_event_id().map(str::to_owned))
}

fn decode_chunks(chunks: &[&[u8]]) -> (Vec<Item>, Option<String>) {
    decode_with(Decoder::new(), chunks)
}

/// What a client receives as data for `data` sent by the builder: every line
/// break (CRLF, LF or a lone CR) becomes LF.
fn normalized(data: &str) -> String {
    data.replace("\r\n", "\n").replace('\r', "\n")
}

/// The retry a client reads back for `retry`: whole milliseconds, saturated.
fn received_retry(retry: Duration) -> Duration {
    Duration::from_millis(u64::try_from(retry.as_millis()).unwrap_or(u64::MAX))
}

/// Strings rich in the characters the format cares about, or anything.
fn text() -> impl Strategy<Value = String> {
    let tricky = prop_oneof![
        Just('a'),
        Just(' '),
        Just(':'),
        Just('\r'),
        Just('\n'),
        Just('\0'),
        Just('\u{2028}'),
        Just('\u{0085}'),
        Just('\u{FEFF}'),
        Just('\u{FFFD}'),
        Just('\u{E9}'),
        Just('\u{1F600}'),
        any::<char>(),
    ];
    prop_oneof![
        vec(tricky, 0..24).prop_map(|chars| chars.into_iter().collect()),
        any::<String>(),
    ]
}

fn without(
    text: impl Strategy<Value = String>,
    chars: &'static [char],
) -> impl Strategy<Value = String> {
    text.prop_map(move |s| s.replace(chars, ""))
}

/// A valid event: the builder must accept it.
#[derive(Debug, Clone)]
struct ValidEvent {
    event_type: String,
    id: Option<String>,
    data: String,
    retry: Option<Duration>,
    comments: Vec<String>,
}

impl ValidEvent {
    fn encode(&self) -> Event {
        let mut builder = Event::builder().event(self.event_type.as_str());
        if let Some(id) = &self.id {
            builder = builder.id(id.as_str());
        }
        if let Some(retry) = self.retry {
            builder = builder.retry(retry);
        }
        for comment in &self.comments {
            builder = builder.comment(comment.as_str());
        }
        builder
            .data(self.data.as_str())
            .build()
            .expect("a valid event builds")
    }
}

fn retry() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (any::<u64>(), 0..1_000_000u32).prop_map(|(ms, ns)| {
            Duration::from_millis(ms) + Duration::from_nanos(u64::from(ns))
        }),
        (any::<u64>(), 0..1_000_000_000u32).prop_map(|(s, ns)| Duration::new(s, ns)),
    ]
}

fn valid_event(id: impl Strategy<Value = Option<String>>) -> impl Strategy<Value = ValidEvent> {
    (
        without(text(), &['\r', '\n']),
        id,
        text(),
        proptest::option::of(retry()),
        vec(text(), 0..3),
    )
        .prop_map(|(event_type, id, data, retry, comments)| ValidEvent {
            event_type,
            id,
            data,
            retry,
            comments,
        })
}

fn valid_id() -> impl Strategy<Value = String> {
    without(text(), &['\r', '\n', '\0'])
}

/// The items a client must read for `event`, sent after an event whose last
/// event id was `last_event_id`; updates `last_event_id`.
fn expected_items(event: &ValidEvent, last_event_id: &mut String) -> Vec<Item> {
    if let Some(id) = &event.id {
        last_event_id.clone_from(id);
    }
    let mut items = Vec::new();
    if let Some(retry) = event.retry {
        items.push(Ok(Decoded::Retry(received_retry(retry))));
    }
    items.push(Ok(Decoded::Event(MessageEvent::new(
        &event.event_type,
        normalized(&event.data),
        last_event_id.as_str(),
    ))));
    items
}

/// A byte stream made of pieces the format gives a meaning to, and arbitrary
/// bytes, so that most streams have fields and events in them.
fn stream_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(&b"data"[..]),
        Just(&b"event"[..]),
        Just(&b"id"[..]),
        Just(&b"retry"[..]),
        Just(&b":"[..]),
        Just(&b" "[..]),
        Just(&b"\r"[..]),
        Just(&b"\n"[..]),
        Just(&b"\r\n"[..]),
        Just(&b"\n\n"[..]),
        Just(&b"\xEF\xBB\xBF"[..]),
        Just(&b"\xEF\xBB"[..]),
        Just(&b"\0"[..]),
        Just(&b"\xFF"[..]),
        Just(&b"\xE2\x82"[..]),
        Just(&b"\xAC"[..]),
        Just(&b"12"[..]),
        Just(&b"x"[..]),
        Just(&b"data: x\n"[..]),
        Just(&b"event: t\n"[..]),
        Just(&b"id: 1\n"[..]),
        Just(&b"id: \0\n"[..]),
        Just(&b"retry: 5\n"[..]),
    ]
    .prop_map(<[u8]>::to_vec);
    let line = prop_oneof![
        Just(&b"data: x\n"[..]),
        Just(&b"data\r\n"[..]),
        Just(&b"event: t\r"[..]),
        Just(&b"id: 1\n"[..]),
        Just(&b"id\n"[..]),
        Just(&b"retry: 5\n"[..]),
        Just(&b":c\n"[..]),
        Just(&b"\n"[..]),
        Just(&b"\r"[..]),
        Just(&b"\r\n"[..]),
    ]
    .prop_map(<[u8]>::to_vec);
    prop_oneof![
        vec(prop_oneof![piece, vec(any::<u8>(), 1..4)], 0..48).prop_map(|pieces| pieces.concat()),
        vec(line, 0..16).prop_map(|lines| lines.concat()),
        vec(any::<u8>(), 0..256),
    ]
}

/// The standard's algorithm written as plainly as possible: decode the whole
/// stream as UTF-8, drop one BOM, cut it into lines and interpret each line.
/// A final line without a line end is never interpreted.
fn reference(stream: &[u8]) -> (Vec<Item>, Option<String>) {
    let text = String::from_utf8_lossy(stream);
    let mut rest = text.strip_prefix('\u{FEFF}').unwrap_or(&text);

    let mut items = Vec::new();
    let mut data = String::new();
    let mut event_type = String::new();
    let mut id_buffer = String::new();
    let mut last_event_id = None;
    while let Some(end) = rest.find(['\r', '\n']) {
        let line = &rest[..end];
        let break_len = if rest[end..].starts_with("\r\n") {
            2
        } else {
            1
        };
        rest = &rest[end + break_len..];

        if line.is_empty() {
            last_event_id = Some(id_buffer.clone());
            if data.is_empty() {
                event_type.clear();
                continue;
            }
            if data.ends_with('\n') {
                data.pop();
            }
            items.push(Ok(Decoded::Event(MessageEvent::new(
                &event_type,
                std::mem::take(&mut data),
                id_buffer.as_str(),
            ))));
            event_type.clear();
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        let (name, value) = match line.find(':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(' ').unwrap_or(value))
            }
            None => (line, ""),
        };
        match name {
            "event" => event_type = value.to_owned(),
            "data" => {
                data.push_str(value);
                data.push('\n');
            }
            "id" if !value.contains('\0') => id_buffer = value.to_owned(),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                let millis = value.bytes().fold(0u64, |n, digit| {
                    n.saturating_mul(10).saturating_add(u64::from(digit - b'0'))
                });
                items.push(Ok(Decoded::Retry(Duration::from_millis(millis))));
            }
            _ => {}
        }
    }
    (items, last_event_id)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// (a) Any valid event reads back as exactly that event, however its
    /// bytes are chunked.
    #[test]
    fn valid_event_decodes_to_itself_in_any_chunking(
        event in valid_event(valid_id().prop_map(Some)),
        cuts in vec(any::<Index>(), 0..8),
    ) {
        let encoded = event.encode();
        let (items, last_event_id) = decode_chunks(&split(encoded.as_bytes(), &cuts));

        let id = event.id.clone().unwrap_or_default();
        prop_assert_eq!(&items, &expected_items(&event, &mut String::new()));
        let Some(Ok(Decoded::Event(received))) = items.last() else {
            unreachable!("checked above");
        };
        let expected_type = if event.event_type.is_empty() { "message" } else { &event.event_type };
        prop_assert_eq!(received.event_type(), expected_type);
        prop_assert_eq!(received.data(), normalized(&event.data));
        prop_assert_eq!(received.last_event_id(), id.as_str());
        prop_assert_eq!(last_event_id.as_deref(), Some(id.as_str()));
    }

    /// (b) The decoder never panics, and chunking never changes what it reads.
    #[test]
    fn chunking_never_changes_the_items(
        stream in stream_bytes(),
        cuts in vec(any::<Index>(), 0..8),
        max_event_size in prop_oneof![Just(None), (0..24usize).prop_map(Some)],
    ) {
        let decoder = || match max_event_size {
            Some(max) => Decoder::new().with_max_event_size(max),
            None => Decoder::new(),
        };
        let whole = decode_with(decoder(), &[&stream]);
        let chunked = decode_with(decoder(), &split(&stream, &cuts));
        prop_assert_eq!(&chunked, &whole);
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        prop_assert_eq!(&decode_with(decoder(), &bytes), &whole);
    }

    /// (b) Without a size bound hit, the decoder reads every stream exactly
    /// as the standard's algorithm, written plainly, does.
    #[test]
    fn decoder_agrees_with_the_standard_algorithm(
        stream in stream_bytes(),
        cuts in vec(any::<Index>(), 0..8),
    ) {
        let expected = reference(&stream);
        prop_assert_eq!(&decode_chunks(&split(&stream, &cuts)), &expected);
    }

    /// (c) The builder refuses exactly the values that would break the
    /// stream, and any event it builds reads back exactly as intended: one
    /// event with its data, or, without data, none (only the id moves).
    #[test]
    fn builder_refuses_exactly_what_would_break_the_stream(
        event_type in text(),
        id in text(),
        data in proptest::option::of(text()),
        cuts in vec(any::<Index>(), 0..4),
    ) {
        let mut builder = Event::builder().event(event_type.as_str()).id(id.as_str());
        if let Some(data) = &data {
            builder = builder.data(data.as_str());
        }
        let result = builder.build();
        let type_breaks = event_type.contains(['\r', '\n']);
        let id_breaks = id.contains(['\r', '\n']);
        let id_nul = id.contains('\0');
        match result {
            Err(EventError::LineBreak { field: Field::EventType }) => prop_assert!(type_breaks),
            Err(EventError::LineBreak { field: Field::Id }) => prop_assert!(!type_breaks && id_breaks),
            Err(EventError::Nul { field: Field::Id }) => prop_assert!(!type_breaks && !id_breaks && id_nul),
            Err(other) => prop_assert!(false, "unexpected error {:?}", other),
            Ok(encoded) => {
                prop_assert!(!type_breaks && !id_breaks && !id_nul);
                let (items, last_event_id) = decode_chunks(&split(encoded.as_bytes(), &cuts));
                let expected = match &data {
                    Some(data) => vec![Ok(Decoded::Event(MessageEvent::new(&event_type, normalized(data), id.as_str())))],
                    None => Vec::new(),
                };
                prop_assert_eq!(items, expected);
                prop_assert_eq!(last_event_id, Some(id));
            }
        }
    }

    /// (d) A stream of encoded events reads back as exactly those events, in
    /// order, with the last event id carried over events that set none.
    #[test]
    fn concatenated_events_decode_in_order(
        events in vec(valid_event(proptest::option::of(valid_id())), 1..6),
        keep_alives in vec(any::<bool>(), 6),
        cuts in vec(any::<Index>(), 0..12),
    ) {
        let mut stream = Vec::new();
        let mut expected = Vec::new();
        let mut last_event_id = String::new();
        for (event, keep_alive) in events.iter().zip(&keep_alives) {
            stream.extend_from_slice(event.encode().as_bytes());
            if *keep_alive {
                stream.extend_from_slice(Event::KEEP_ALIVE.as_bytes());
            }
            expected.extend(expected_items(event, &mut last_event_id));
        }
        let (items, received_last_event_id) = decode_chunks(&split(&stream, &cuts));
        prop_assert_eq!(items, expected);
        prop_assert_eq!(received_last_event_id, Some(last_event_id));
    }
}
