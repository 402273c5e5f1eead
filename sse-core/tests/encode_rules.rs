//! The encoder, rule by rule: each test is named after the rule it checks and
//! states the exact bytes, and where it matters what our decoder (a client)
//! reads back from them.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::value::RawValue;
use ssekit_core::decode::{DecodeError, Decoded, Decoder, MessageEvent};
use ssekit_core::{Event, EventError, Field};

/// What a client reads from `bytes`: every item, in order.
fn decode(bytes: &[u8]) -> Vec<Result<Decoded, DecodeError>> {
    Decoder::new().decode(bytes).collect()
}

fn event(event_type: &str, data: &str, last_event_id: &str) -> Result<Decoded, DecodeError> {
    Ok(Decoded::Event(MessageEvent::new(
        event_type,
        data,
        last_event_id,
    )))
}

// --- Data -------------------------------------------------------------------

#[test]
fn data_is_one_data_line() {
    let encoded = Event::data("hello");
    assert_eq!(encoded.as_bytes(), b"data: hello\n\n");
    assert_eq!(decode(encoded.as_bytes()), [event("message", "hello", "")]);
}

#[test]
fn data_is_split_on_lf() {
    assert_eq!(Event::data("a\nb").as_bytes(), b"data: a\ndata: b\n\n");
}

#[test]
fn data_is_split_on_crlf() {
    assert_eq!(Event::data("a\r\nb").as_bytes(), b"data: a\ndata: b\n\n");
}

#[test]
fn data_is_split_on_lone_cr() {
    assert_eq!(Event::data("a\rb").as_bytes(), b"data: a\ndata: b\n\n");
}

#[test]
fn lf_cr_in_data_is_two_line_breaks() {
    let encoded = Event::data("a\n\rb");
    assert_eq!(encoded.as_bytes(), b"data: a\ndata: \ndata: b\n\n");
    assert_eq!(decode(encoded.as_bytes()), [event("message", "a\n\nb", "")]);
}

#[test]
fn line_breaks_in_data_are_received_as_lf() {
    let encoded = Event::data("a\r\nb\rc\nd");
    assert_eq!(
        encoded.as_bytes(),
        b"data: a\ndata: b\ndata: c\ndata: d\n\n"
    );
    assert_eq!(
        decode(encoded.as_bytes()),
        [event("message", "a\nb\nc\nd", "")]
    );
}

#[test]
fn trailing_line_break_in_data_survives() {
    let encoded = Event::data("a\n");
    assert_eq!(encoded.as_bytes(), b"data: a\ndata: \n\n");
    assert_eq!(decode(encoded.as_bytes()), [event("message", "a\n", "")]);

    let encoded = Event::data("a\r\n");
    assert_eq!(encoded.as_bytes(), b"data: a\ndata: \n\n");
    assert_eq!(decode(encoded.as_bytes()), [event("message", "a\n", "")]);
}

#[test]
fn only_line_breaks_in_data_survive() {
    let encoded = Event::data("\n\n");
    assert_eq!(encoded.as_bytes(), b"data: \ndata: \ndata: \n\n");
    assert_eq!(decode(encoded.as_bytes()), [event("message", "\n\n", "")]);
}

#[test]
fn empty_data_survives() {
    let encoded = Event::data("");
    assert_eq!(encoded.as_bytes(), b"data: \n\n");
    assert_eq!(decode(encoded.as_bytes()), [event("message", "", "")]);
}

#[test]
fn leading_space_in_data_survives() {
    let encoded = Event::data(" a\n  b");
    assert_eq!(encoded.as_bytes(), b"data:  a\ndata:   b\n\n");
    assert_eq!(
        decode(encoded.as_bytes()),
        [event("message", " a\n  b", "")]
    );
}

#[test]
fn colon_in_data_survives() {
    let encoded = Event::data(":a: b\n: c");
    assert_eq!(encoded.as_bytes(), b"data: :a: b\ndata: : c\n\n");
    assert_eq!(
        decode(encoded.as_bytes()),
        [event("message", ":a: b\n: c", "")]
    );
}

#[test]
fn unicode_line_separators_are_not_line_breaks() {
    let data = "a\u{2028}b\u{2029}c\u{0085}d\u{000B}e\u{000C}f\u{1F600}";
    let encoded = Event::data(data);
    assert_eq!(
        encoded.as_bytes(),
        "data: a\u{2028}b\u{2029}c\u{0085}d\u{000B}e\u{000C}f\u{1F600}\n\n".as_bytes()
    );
    assert_eq!(decode(encoded.as_bytes()), [event("message", data, "")]);
}

#[test]
fn nul_in_data_and_event_type_is_kept() {
    let encoded = Event::builder().event("a\0b").data("c\0d").build().unwrap();
    assert_eq!(encoded.as_bytes(), b"event: a\0b\ndata: c\0d\n\n");
    assert_eq!(decode(encoded.as_bytes()), [event("a\0b", "c\0d", "")]);
}

#[test]
fn bom_at_start_of_data_is_kept() {
    let encoded = Event::data("\u{FEFF}x");
    assert_eq!(encoded.as_bytes(), b"data: \xEF\xBB\xBFx\n\n");
    assert_eq!(
        decode(encoded.as_bytes()),
        [event("message", "\u{FEFF}x", "")]
    );
}

// --- Event type and id ------------------------------------------------------------

#[test]
fn fields_are_written_comments_type_id_retry_then_data() {
    let encoded = Event::builder()
        .data("d")
        .retry(Duration::from_millis(5))
        .id("1")
        .event("t")
        .comment("c")
        .build()
        .unwrap();
    assert_eq!(
        encoded.as_bytes(),
        b":c\nevent: t\nid: 1\nretry: 5\ndata: d\n\n"
    );
    assert_eq!(
        decode(encoded.as_bytes()),
        [
            Ok(Decoded::Retry(Duration::from_millis(5))),
            event("t", "d", "1")
        ]
    );
}

#[test]
fn empty_event_type_is_omitted() {
    let encoded = Event::builder().event("").data("x").build().unwrap();
    assert_eq!(encoded.as_bytes(), b"data: x\n\n");
}

#[test]
fn empty_id_is_written_and_resets_the_last_event_id() {
    let encoded = Event::builder().id("").data("x").build().unwrap();
    assert_eq!(encoded.as_bytes(), b"id: \ndata: x\n\n");
    let mut decoder = Decoder::new();
    assert_eq!(decoder.decode(b"id: 1\n\n").count(), 0);
    assert_eq!(decoder.last_event_id(), Some("1"));
    let items: Vec<_> = decoder.decode(encoded.as_bytes()).collect();
    assert_eq!(items, [event("message", "x", "")]);
    assert_eq!(decoder.last_event_id(), Some(""));
}

#[test]
fn leading_space_in_event_type_and_id_survives() {
    let encoded = Event::builder()
        .event(" t")
        .id(" 1")
        .data("x")
        .build()
        .unwrap();
    assert_eq!(encoded.as_bytes(), b"event:  t\nid:  1\ndata: x\n\n");
    assert_eq!(decode(encoded.as_bytes()), [event(" t", "x", " 1")]);
}

#[test]
fn setting_a_field_twice_keeps_the_last_value() {
    let encoded = Event::builder()
        .event("a")
        .event("b")
        .id("1")
        .id("2")
        .data("x")
        .data("y")
        .build()
        .unwrap();
    assert_eq!(encoded.as_bytes(), b"event: b\nid: 2\ndata: y\n\n");
}

#[test]
fn event_type_with_line_break_is_an_error() {
    for event_type in ["a\nb", "a\rb", "a\r\nb", "\n", "a\r"] {
        let error = Event::builder()
            .event(event_type)
            .data("x")
            .build()
            .unwrap_err();
        assert!(
            matches!(
                error,
                EventError::LineBreak {
                    field: Field::EventType
                }
            ),
            "{event_type:?}: {error:?}"
        );
        assert_eq!(error.field(), Field::EventType);
    }
}

#[test]
fn id_with_line_break_is_an_error() {
    for id in ["1\n2", "1\r2", "1\r\n2", "\r", "1\n"] {
        let error = Event::builder().id(id).data("x").build().unwrap_err();
        assert!(
            matches!(error, EventError::LineBreak { field: Field::Id }),
            "{id:?}: {error:?}"
        );
        assert_eq!(error.field(), Field::Id);
    }
}

#[test]
fn id_with_nul_is_an_error() {
    for id in ["\0", "1\u{0}2", "1\0"] {
        let error = Event::builder().id(id).data("x").build().unwrap_err();
        assert!(
            matches!(error, EventError::Nul { field: Field::Id }),
            "{id:?}: {error:?}"
        );
    }
}

#[test]
fn builder_returns_the_first_error() {
    let error = Event::builder()
        .event("a\nb")
        .id("1\u{0}2")
        .build()
        .unwrap_err();
    assert!(matches!(
        error,
        EventError::LineBreak {
            field: Field::EventType
        }
    ));

    let error = Event::builder()
        .id("1\u{0}2")
        .event("a\nb")
        .id("\n")
        .build()
        .unwrap_err();
    assert!(matches!(error, EventError::Nul { field: Field::Id }));
}

#[test]
fn error_is_kept_when_the_field_is_set_again() {
    let error = Event::builder()
        .event("a\nevent: admin")
        .event("ok")
        .data("x")
        .build()
        .unwrap_err();
    assert!(matches!(
        error,
        EventError::LineBreak {
            field: Field::EventType
        }
    ));
}

#[test]
fn builder_never_panics_on_bad_input() {
    let nasty = ["\n", "\r", "\r\n", "\0", "\n\r\0", "", ":", " ", "\u{FEFF}"];
    for event_type in nasty {
        for id in nasty {
            for data in nasty {
                let result = std::panic::catch_unwind(|| {
                    Event::builder()
                        .event(event_type)
                        .id(id)
                        .data(data)
                        .comment(data)
                        .build()
                        .is_ok()
                });
                let valid = !event_type.contains(['\r', '\n']) && !id.contains(['\r', '\n', '\0']);
                assert_eq!(result.ok(), Some(valid), "{event_type:?} {id:?} {data:?}");
            }
        }
    }
}

// --- retry ------------------------------------------------------------------

#[test]
fn retry_is_written_in_whole_milliseconds() {
    assert_eq!(
        Event::retry(Duration::from_millis(2500)).as_bytes(),
        b"retry: 2500\n\n"
    );
    assert_eq!(
        Event::retry(Duration::from_secs(3)).as_bytes(),
        b"retry: 3000\n\n"
    );
}

#[test]
fn sub_millisecond_retry_is_truncated() {
    assert_eq!(
        Event::retry(Duration::from_micros(1999)).as_bytes(),
        b"retry: 1\n\n"
    );
    assert_eq!(
        Event::retry(Duration::from_nanos(999_999)).as_bytes(),
        b"retry: 0\n\n"
    );
}

#[test]
fn retry_alone_is_received_as_retry_only() {
    let encoded = Event::retry(Duration::from_millis(10));
    assert_eq!(
        decode(encoded.as_bytes()),
        [Ok(Decoded::Retry(Duration::from_millis(10)))]
    );
}

#[test]
fn maximal_retry_is_written_exactly_and_read_saturated() {
    let encoded = Event::retry(Duration::MAX);
    assert_eq!(encoded.as_bytes(), b"retry: 18446744073709551615999\n\n");
    assert_eq!(
        decode(encoded.as_bytes()),
        [Ok(Decoded::Retry(Duration::from_millis(u64::MAX)))]
    );
}

// --- Comments -----------------------------------------------------------------

#[test]
fn comment_is_one_comment_line() {
    assert_eq!(Event::comment("ping").as_bytes(), b":ping\n\n");
}

#[test]
fn comment_with_line_breaks_becomes_several_comment_lines() {
    let encoded = Event::comment("a\nb\r\nc\rd\n");
    assert_eq!(encoded.as_bytes(), b":a\n:b\n:c\n:d\n:\n\n");
    assert_eq!(decode(encoded.as_bytes()), []);
}

#[test]
fn each_builder_comment_is_written_in_order() {
    let encoded = Event::builder()
        .comment("one")
        .comment("two\nthree")
        .data("x")
        .build()
        .unwrap();
    assert_eq!(encoded.as_bytes(), b":one\n:two\n:three\ndata: x\n\n");
    assert_eq!(decode(encoded.as_bytes()), [event("message", "x", "")]);
}

#[test]
fn keep_alive_is_an_empty_comment() {
    assert_eq!(Event::KEEP_ALIVE.as_bytes(), b":\n\n");
    assert_eq!(Event::comment(""), Event::KEEP_ALIVE);
    assert_eq!(decode(Event::KEEP_ALIVE.as_bytes()), []);
}

// --- JSON -------------------------------------------------------------------------

#[test]
fn json_is_one_compact_data_line() {
    let encoded = Event::json(&serde_json::json!({ "a": "b\nc\r" })).unwrap();
    assert_eq!(encoded.as_bytes(), b"data: {\"a\":\"b\\nc\\r\"}\n\n");
}

#[test]
fn raw_json_with_line_breaks_is_received_with_lf() {
    let raw = "{\r\n  \"a\": 1,\n  \"b\": [\r    \"x\"\r\n  ]\n}";
    let value = RawValue::from_string(raw.to_owned()).unwrap();
    let encoded = Event::builder().event("j").json(&value).build().unwrap();
    assert_eq!(
        encoded.as_bytes(),
        b"event: j\ndata: {\ndata:   \"a\": 1,\ndata:   \"b\": [\ndata:     \"x\"\ndata:   ]\ndata: }\n\n"
    );
    let normalized = "{\n  \"a\": 1,\n  \"b\": [\n    \"x\"\n  ]\n}";
    let items = decode(encoded.as_bytes());
    assert_eq!(items, [event("j", normalized, "")]);

    let Some(Ok(Decoded::Event(received))) = items.first() else {
        unreachable!();
    };
    let parsed: serde_json::Value = serde_json::from_str(received.data()).unwrap();
    assert_eq!(parsed, serde_json::json!({ "a": 1, "b": ["x"] }));
}

#[test]
fn json_that_cannot_be_serialized_is_an_error() {
    let mut map = BTreeMap::new();
    map.insert(vec![1u8], 1);
    let error = Event::builder().json(&map).build().unwrap_err();
    assert!(matches!(error, EventError::Json { .. }), "{error:?}");
    assert_eq!(error.field(), Field::Data);
}

// --- Sharing ----------------------------------------------------------------------

#[test]
fn clone_shares_the_encoded_bytes() {
    let encoded = Event::builder().event("t").data("x").build().unwrap();
    let clone = encoded.clone();
    assert_eq!(clone.as_bytes().as_ptr(), encoded.as_bytes().as_ptr());
    assert_eq!(encoded.to_bytes().as_ptr(), encoded.as_bytes().as_ptr());
    let ptr = encoded.as_bytes().as_ptr();
    assert_eq!(encoded.into_bytes().as_ptr(), ptr);
}

#[test]
fn len_is_the_encoded_size() {
    assert_eq!(Event::data("a\nb").len(), b"data: a\ndata: b\n\n".len());
}

// --- Injection ----------------------------------------------------------------------

#[test]
fn line_breaks_in_data_cannot_inject_an_event() {
    let data = "x\n\nevent: admin\ndata: pwned";
    let encoded = Event::data(data);
    assert_eq!(
        encoded.as_bytes(),
        b"data: x\ndata: \ndata: event: admin\ndata: data: pwned\n\n"
    );
    assert_eq!(decode(encoded.as_bytes()), [event("message", data, "")]);
}

#[test]
fn lone_crs_in_data_cannot_inject_an_event() {
    let encoded = Event::data("x\r\rid: 9\rdata: pwned\r\r");
    assert_eq!(
        encoded.as_bytes(),
        b"data: x\ndata: \ndata: id: 9\ndata: data: pwned\ndata: \ndata: \n\n"
    );
    assert_eq!(
        decode(encoded.as_bytes()),
        [event("message", "x\n\nid: 9\ndata: pwned\n\n", "")]
    );
}

#[test]
fn line_breaks_in_id_cannot_inject_a_field() {
    let error = Event::builder()
        .id("1\nevent: x")
        .data("y")
        .build()
        .unwrap_err();
    assert!(matches!(error, EventError::LineBreak { field: Field::Id }));
}

#[test]
fn line_breaks_in_event_type_cannot_inject_an_event() {
    let error = Event::builder()
        .event("x\r\rdata: pwned\r\r")
        .build()
        .unwrap_err();
    assert!(matches!(
        error,
        EventError::LineBreak {
            field: Field::EventType
        }
    ));
}

#[test]
fn line_breaks_in_comment_cannot_inject_an_event() {
    let encoded = Event::builder()
        .comment("a\n\ndata: pwned\r\revent: admin")
        .data("ok")
        .build()
        .unwrap();
    assert_eq!(
        encoded.as_bytes(),
        b":a\n:\n:data: pwned\n:\n:event: admin\ndata: ok\n\n"
    );
    assert_eq!(decode(encoded.as_bytes()), [event("message", "ok", "")]);
}
