//! The decoder, rule by rule, against the WHATWG HTML algorithm
//! "interpreting an event stream". Each test is named after the rule it checks
//! and states the exact items the decoder must produce.

use std::time::Duration;

use futures_util::{FutureExt, StreamExt, stream};
use ssekit_core::decode::{DecodeError, DecodeStream, Decoded, Decoder, MessageEvent, StreamError};

type Item = Result<Decoded, DecodeError>;

/// Feeds `stream` to a new decoder in one chunk.
fn decode(stream: &[u8]) -> Vec<Item> {
    Decoder::new().decode(stream).collect()
}

/// Feeds `chunks` to a new decoder one after the other.
fn decode_chunks(chunks: &[&[u8]]) -> Vec<Item> {
    let mut decoder = Decoder::new();
    let mut items = Vec::new();
    for chunk in chunks {
        items.extend(decoder.decode(chunk));
    }
    items
}

fn event(event_type: &str, data: &str, last_event_id: &str) -> Item {
    Ok(Decoded::Event(MessageEvent::new(
        event_type,
        data,
        last_event_id,
    )))
}

fn retry(millis: u64) -> Item {
    Ok(Decoded::Retry(Duration::from_millis(millis)))
}

fn too_large(limit: usize) -> Item {
    Err(DecodeError::EventTooLarge { limit })
}

/// Decodes `chunks` with `DecodeStream`, which ends where the chunks end.
fn decode_to_end(chunks: &[&'static [u8]]) -> (Vec<Item>, Option<String>) {
    let source = stream::iter(chunks.to_vec()).map(Ok::<_, std::io::Error>);
    let mut decoded = DecodeStream::new(source);
    let mut items = Vec::new();
    while let Some(item) = decoded
        .next()
        .now_or_never()
        .expect("the source never waits")
    {
        items.push(item.map_err(|error| match error {
            StreamError::Decode(error) => error,
            StreamError::Source(error) => panic!("the source never fails: {error}"),
            other => panic!("unexpected stream error: {other}"),
        }));
    }
    let last_event_id = decoded.decoder().last_event_id().map(str::to_owned);
    (items, last_event_id)
}

// --- The byte order mark -------------------------------------------------

#[test]
fn bom_at_stream_start_is_skipped_once() {
    assert_eq!(
        decode(b"\xEF\xBB\xBFdata: x\n\n"),
        [event("message", "x", "")]
    );
}

#[test]
fn bom_split_across_chunks_is_skipped() {
    assert_eq!(
        decode_chunks(&[b"\xEF", b"", b"\xBB", b"\xBF", b"data: x\n\n"]),
        [event("message", "x", "")]
    );
    assert_eq!(
        decode_chunks(&[b"\xEF\xBB", b"\xBFdata: x\n\n"]),
        [event("message", "x", "")]
    );
}

#[test]
fn second_bom_is_content() {
    // The first line's field name is U+FEFF "data", an unknown field.
    assert_eq!(
        decode(b"\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\ndata: b\n\n"),
        [event("message", "b", "")]
    );
    assert_eq!(
        decode_chunks(&[b"\xEF\xBB\xBF", b"\xEF\xBB\xBFdata: a\n\ndata: b\n\n"]),
        [event("message", "b", "")]
    );
}

#[test]
fn bom_after_stream_start_is_content() {
    assert_eq!(
        decode_chunks(&[b"data: a\n\n", b"\xEF\xBB\xBFdata: b\n\ndata: c\n\n"]),
        [event("message", "a", ""), event("message", "c", "")]
    );
    assert_eq!(
        decode(b"data: \xEF\xBB\xBFx\n\n"),
        [event("message", "\u{FEFF}x", "")]
    );
}

#[test]
fn partial_bom_followed_by_other_bytes_keeps_those_bytes() {
    // `EF BB` then `data` is the field name U+FFFD "data", unknown: had the
    // held-back bytes been dropped, "a" would have been dispatched.
    let expected = [event("message", "b", "")];
    assert_eq!(decode(b"\xEF\xBBdata: a\n\ndata: b\n\n"), expected);
    assert_eq!(
        decode_chunks(&[b"\xEF\xBB", b"data: a\n\ndata: b\n\n"]),
        expected
    );
    assert_eq!(
        decode_chunks(&[b"\xEF", b"\xBB", b"data: a\n\ndata: b\n\n"]),
        expected
    );
    assert_eq!(
        decode_chunks(&[b"\xEF", b"data: a\n\ndata: b\n\n"]),
        expected
    );
}

#[test]
fn partial_bom_followed_by_line_end_is_a_line_of_content() {
    // `EF` then LF is a line (an unknown field named U+FFFD), not nothing.
    assert_eq!(
        decode_chunks(&[b"\xEF", b"\ndata: a\n\n"]),
        [event("message", "a", "")]
    );
}

// --- Line ends ------------------------------------------------------------

#[test]
fn lf_is_a_line_end() {
    assert_eq!(
        decode(b"data: a\ndata: b\n\n"),
        [event("message", "a\nb", "")]
    );
}

#[test]
fn cr_is_a_line_end() {
    assert_eq!(
        decode(b"data: a\rdata: b\r\r"),
        [event("message", "a\nb", "")]
    );
}

#[test]
fn crlf_is_one_line_end() {
    // Were CRLF two line ends, "a" would be dispatched alone.
    assert_eq!(
        decode(b"data: a\r\ndata: b\r\n\r\n"),
        [event("message", "a\nb", "")]
    );
}

#[test]
fn crlf_split_across_chunks_is_one_line_end() {
    assert_eq!(
        decode_chunks(&[b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]),
        [event("message", "a\nb", "")]
    );
}

#[test]
fn crlf_split_by_an_empty_chunk_is_one_line_end() {
    assert_eq!(
        decode_chunks(&[b"data: a\r", b"", b"\ndata: b\r\n\r", b"", b"\n"]),
        [event("message", "a\nb", "")]
    );
}

#[test]
fn cr_at_chunk_end_then_other_byte_is_a_line_end() {
    assert_eq!(
        decode_chunks(&[b"data: a\r", b"data: b\r", b"\r"]),
        [event("message", "a\nb", "")]
    );
}

#[test]
fn lf_cr_is_two_line_ends() {
    assert_eq!(
        decode(b"data: a\n\rdata: b\n\n"),
        [event("message", "a", ""), event("message", "b", "")]
    );
    assert_eq!(
        decode_chunks(&[b"data: a\n", b"\rdata: b\n\n"]),
        [event("message", "a", ""), event("message", "b", "")]
    );
}

#[test]
fn cr_cr_is_two_line_ends() {
    assert_eq!(
        decode_chunks(&[b"data: a\r", b"\rdata: b\r\r"]),
        [event("message", "a", ""), event("message", "b", "")]
    );
}

// --- Fields ---------------------------------------------------------------

#[test]
fn one_leading_space_after_colon_is_removed() {
    assert_eq!(decode(b"data: x\n\n"), [event("message", "x", "")]);
    assert_eq!(decode(b"data:x\n\n"), [event("message", "x", "")]);
    assert_eq!(
        decode(b"event: t\nid: 1\ndata: x\n\n"),
        [event("t", "x", "1")]
    );
}

#[test]
fn only_one_leading_space_is_removed() {
    assert_eq!(
        decode(b"event:  t\nid:  1\ndata:  x\n\n"),
        [event(" t", " x", " 1")]
    );
}

#[test]
fn leading_space_split_from_colon_across_chunks_is_removed() {
    assert_eq!(
        decode_chunks(&[b"data:", b" x\n\n"]),
        [event("message", "x", "")]
    );
    assert_eq!(
        decode_chunks(&[b"data:", b" ", b" x\n\n"]),
        [event("message", " x", "")]
    );
}

#[test]
fn other_whitespace_after_colon_is_kept() {
    assert_eq!(decode(b"data:\tx\n\n"), [event("message", "\tx", "")]);
}

#[test]
fn trailing_space_in_value_is_kept() {
    assert_eq!(decode(b"data: x \n\n"), [event("message", "x ", "")]);
}

#[test]
fn line_without_colon_is_a_field_with_empty_value() {
    assert_eq!(decode(b"data\n\n"), [event("message", "", "")]);
    assert_eq!(
        decode(b"event: t\nevent\ndata: x\n\n"),
        [event("message", "x", "")]
    );
    assert_eq!(
        decode(b"id: 1\ndata: a\n\nid\ndata: b\n\n"),
        [event("message", "a", "1"), event("message", "b", "")]
    );
}

#[test]
fn data_without_colon_appends_an_empty_line() {
    assert_eq!(
        decode(b"data: a\ndata\ndata: b\n\n"),
        [event("message", "a\n\nb", "")]
    );
}

#[test]
fn colons_after_the_first_are_part_of_the_value() {
    assert_eq!(
        decode(b"data: a: b:c\n\n"),
        [event("message", "a: b:c", "")]
    );
}

#[test]
fn comments_are_ignored() {
    assert_eq!(
        decode(b": hi\ndata: a\n:data: b\n:\ndata: c\n\n"),
        [event("message", "a\nc", "")]
    );
}

#[test]
fn comment_only_event_dispatches_nothing() {
    assert_eq!(decode(b": keep-alive\n\n:\n\n"), []);
}

#[test]
fn unknown_fields_are_ignored() {
    assert_eq!(
        decode(b"foo: bar\ndata: a\ndatas: b\ndat: c\nevents: t\nids: 9\n\n"),
        [event("message", "a", "")]
    );
}

#[test]
fn field_names_are_case_sensitive() {
    let mut decoder = Decoder::new();
    let items: Vec<_> = decoder
        .decode(b"Data: a\nEVENT: t\nId: 1\nRetry: 5\ndata: b\n\n")
        .collect();
    assert_eq!(items, [event("message", "b", "")]);
    assert_eq!(decoder.last_event_id(), Some(""));
}

#[test]
fn field_name_with_leading_space_is_unknown() {
    assert_eq!(
        decode(b" data: a\ndata: b\n id: 1\n event: t\n\n"),
        [event("message", "b", "")]
    );
}

// --- retry ----------------------------------------------------------------

#[test]
fn retry_of_ascii_digits_is_used() {
    assert_eq!(decode(b"retry: 2500\n"), [retry(2500)]);
    assert_eq!(decode(b"retry:0\n"), [retry(0)]);
    assert_eq!(decode(b"retry: 007\n"), [retry(7)]);
}

#[test]
fn retry_not_all_ascii_digits_is_ignored() {
    let stream: &[u8] = b"retry: +5\n\
        retry: -5\n\
        retry: 5s\n\
        retry: 1.5\n\
        retry: 1e3\n\
        retry:  5\n\
        retry: 5 \n\
        retry: \xEF\xBC\x95\n\
        retry:\n\
        retry: \n\
        retry\n \
        retry: 5\n\
        retry : 5\n";
    assert_eq!(decode(stream), []);
}

#[test]
fn huge_retry_saturates() {
    assert_eq!(
        decode(b"retry: 99999999999999999999999999999999999999\n"),
        [retry(u64::MAX)]
    );
}

#[test]
fn retry_is_reported_in_stream_order_without_an_event() {
    assert_eq!(
        decode(b"data: a\nretry: 10\n\nretry: 20\n\n"),
        [retry(10), event("message", "a", ""), retry(20)]
    );
}

#[test]
fn last_retry_field_is_reported_each_time() {
    assert_eq!(decode(b"retry: 1\nretry: 2\n"), [retry(1), retry(2)]);
}

// --- id -------------------------------------------------------------------

#[test]
fn id_sets_the_last_event_id() {
    let mut decoder = Decoder::new();
    let items: Vec<_> = decoder.decode(b"id: 42\ndata: a\n\n").collect();
    assert_eq!(items, [event("message", "a", "42")]);
    assert_eq!(decoder.last_event_id(), Some("42"));
}

#[test]
fn id_with_nul_is_ignored() {
    let mut decoder = Decoder::new();
    let items: Vec<_> = decoder
        .decode(b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n")
        .collect();
    assert_eq!(
        items,
        [event("message", "a", "1"), event("message", "b", "1")]
    );
    assert_eq!(decoder.last_event_id(), Some("1"));
}

#[test]
fn last_event_id_is_kept_across_events() {
    assert_eq!(
        decode(b"id: 7\ndata: a\n\ndata: b\n\nevent: t\ndata: c\n\n"),
        [
            event("message", "a", "7"),
            event("message", "b", "7"),
            event("t", "c", "7"),
        ]
    );
}

#[test]
fn event_without_data_still_updates_last_event_id() {
    let mut decoder = Decoder::new();
    let items: Vec<_> = decoder.decode(b"id: 1\ndata: a\n\nid: 2\n\n").collect();
    assert_eq!(items, [event("message", "a", "1")]);
    assert_eq!(decoder.last_event_id(), Some("2"));
    let items: Vec<_> = decoder.decode(b"data: b\n\n").collect();
    assert_eq!(items, [event("message", "b", "2")]);
}

#[test]
fn empty_id_resets_the_last_event_id() {
    let mut decoder = Decoder::new();
    let items: Vec<_> = decoder
        .decode(b"id: 1\ndata: a\n\nid:\ndata: b\n\n")
        .collect();
    assert_eq!(
        items,
        [event("message", "a", "1"), event("message", "b", "")]
    );
    assert_eq!(decoder.last_event_id(), Some(""));
}

#[test]
fn last_event_id_is_none_before_the_first_blank_line() {
    let mut decoder = Decoder::new();
    assert_eq!(decoder.decode(b"id: 1\ndata: a\n").count(), 0);
    assert_eq!(decoder.last_event_id(), None);
    assert_eq!(decoder.decode(b"\n").count(), 1);
    assert_eq!(decoder.last_event_id(), Some("1"));
}

#[test]
fn last_event_id_changes_only_at_a_blank_line() {
    let mut decoder = Decoder::new();
    assert_eq!(decoder.decode(b"id: 1\n\nid: 2\ndata: x\n").count(), 0);
    assert_eq!(decoder.last_event_id(), Some("1"));
}

#[test]
fn last_id_field_of_an_event_wins() {
    assert_eq!(
        decode(b"id: 1\nid: 2\ndata: a\n\n"),
        [event("message", "a", "2")]
    );
}

#[test]
fn resumed_last_event_id_is_kept_until_an_id_field() {
    let mut decoder = Decoder::new().with_last_event_id("7");
    assert_eq!(decoder.last_event_id(), None);
    let items: Vec<_> = decoder
        .decode(b": keep-alive\n\ndata: a\n\nid: 8\ndata: b\n\n")
        .collect();
    assert_eq!(
        items,
        [event("message", "a", "7"), event("message", "b", "8")]
    );
    assert_eq!(decoder.last_event_id(), Some("8"));
}

#[test]
fn resumed_last_event_id_with_nul_is_ignored() {
    let mut decoder = Decoder::new().with_last_event_id("7\08");
    let items: Vec<_> = decoder.decode(b"data: a\n\n").collect();
    assert_eq!(items, [event("message", "a", "")]);
    assert_eq!(decoder.last_event_id(), Some(""));
}

// --- Dispatch -------------------------------------------------------------

#[test]
fn empty_data_buffer_dispatches_nothing() {
    assert_eq!(decode(b"event: t\n\n\n\nid: 1\n\n"), []);
}

#[test]
fn event_type_is_reset_when_nothing_is_dispatched() {
    assert_eq!(
        decode(b"event: t\n\ndata: a\n\n"),
        [event("message", "a", "")]
    );
}

#[test]
fn event_type_is_reset_after_dispatch() {
    assert_eq!(
        decode(b"event: t\ndata: a\n\ndata: b\n\n"),
        [event("t", "a", ""), event("message", "b", "")]
    );
}

#[test]
fn data_lines_are_joined_with_lf() {
    assert_eq!(
        decode(b"data: a\ndata: b\ndata: c\n\n"),
        [event("message", "a\nb\nc", "")]
    );
}

#[test]
fn one_trailing_lf_is_removed_from_data() {
    assert_eq!(decode(b"data: a\n\n"), [event("message", "a", "")]);
}

#[test]
fn only_one_trailing_lf_is_removed_from_data() {
    assert_eq!(decode(b"data: a\ndata\n\n"), [event("message", "a\n", "")]);
    assert_eq!(decode(b"data\ndata\n\n"), [event("message", "\n", "")]);
}

#[test]
fn event_type_is_message_by_default() {
    let items = decode(b"data: a\n\n");
    let Some(Ok(Decoded::Event(received))) = items.first() else {
        panic!("one event, got {items:?}");
    };
    assert_eq!(received.event_type(), "message");
    assert_eq!(items, [event("message", "a", "")]);
}

#[test]
fn empty_event_field_means_message() {
    assert_eq!(decode(b"event:\ndata: a\n\n"), [event("message", "a", "")]);
}

#[test]
fn last_event_field_wins() {
    let items = decode(b"event: a\nevent: b\ndata: d\n\n");
    assert_eq!(items, [event("b", "d", "")]);
    let Some(Ok(Decoded::Event(received))) = items.first() else {
        unreachable!();
    };
    assert_eq!(received.event_type(), "b");
}

// --- End of stream ----------------------------------------------------------

#[test]
fn pending_data_is_discarded_at_end_of_stream() {
    let (items, last_event_id) = decode_to_end(&[b"data: a\n\n", b"id: 2\ndata: b\n"]);
    assert_eq!(items, [event("message", "a", "")]);
    assert_eq!(last_event_id.as_deref(), Some(""));
}

#[test]
fn unterminated_last_line_is_discarded_at_end_of_stream() {
    let (items, _) = decode_to_end(&[b"data: a\n\ndata: b\n", b"\ndata: c"]);
    assert_eq!(
        items,
        [event("message", "a", ""), event("message", "b", "")]
    );
}

#[test]
fn cr_at_end_of_stream_ends_the_event() {
    let (items, _) = decode_to_end(&[b"data: a\r", b"\r"]);
    assert_eq!(items, [event("message", "a", "")]);
}

// --- UTF-8 ------------------------------------------------------------------

#[test]
fn invalid_utf8_becomes_replacement_character() {
    assert_eq!(
        decode(b"data: a\xFFb\n\ndata: c\n\n"),
        [
            event("message", "a\u{FFFD}b", ""),
            event("message", "c", "")
        ]
    );
}

#[test]
fn invalid_utf8_in_type_and_id_becomes_replacement_character() {
    assert_eq!(
        decode(b"event: t\xC0\nid: \xFF1\ndata: a\n\n"),
        [event("t\u{FFFD}", "a", "\u{FFFD}1")]
    );
}

#[test]
fn utf8_sequence_cut_by_line_end_is_one_replacement_character() {
    // E2 82 is the start of a three-byte sequence; the LF ends it.
    assert_eq!(
        decode(b"data: \xE2\x82\ndata: x\xF0\x9F\n\n"),
        [event("message", "\u{FFFD}\nx\u{FFFD}", "")]
    );
}

#[test]
fn multibyte_char_split_across_chunks_decodes() {
    assert_eq!(
        decode_chunks(&[b"data: \xE2", b"\x82", b"\xAC \xF0\x9F", b"\x98\x80\n\n"]),
        [event("message", "\u{20AC} \u{1F600}", "")]
    );
}

// --- The event size bound ------------------------------------------------------

#[test]
fn event_over_max_size_is_an_error_and_decoding_resumes() {
    let mut decoder = Decoder::new().with_max_event_size(8);
    let items: Vec<_> = decoder.decode(b"data: 123456789\n\ndata: ok\n\n").collect();
    assert_eq!(items, [too_large(8), event("message", "ok", "")]);
}

#[test]
fn lines_before_the_overflow_take_effect_and_the_rest_of_the_event_is_skipped() {
    // The id and retry come before the line that goes over the bound, so
    // they are processed as usual; the id after it is skipped with the rest
    // of the event. The blank line still sets the last event id.
    let mut decoder = Decoder::new().with_max_event_size(8);
    let items: Vec<_> = decoder
        .decode(b"id: 5\nretry: 7\ndata: 123456789\nid: 6\n\n")
        .collect();
    assert_eq!(items, [retry(7), too_large(8)]);
    assert_eq!(decoder.last_event_id(), Some("5"));
    let items: Vec<_> = decoder.decode(b"data: ok\n\n").collect();
    assert_eq!(items, [event("message", "ok", "5")]);
}

#[test]
fn event_at_max_size_is_decoded() {
    // Seven data bytes and the LF that ends the data line make eight.
    let mut decoder = Decoder::new().with_max_event_size(8);
    let items: Vec<_> = decoder
        .decode(b"data: 1234567\n\ndata: 12345678\n\n")
        .collect();
    assert_eq!(items, [event("message", "1234567", ""), too_large(8)]);
}

#[test]
fn event_over_max_size_over_several_lines_is_reported_once() {
    let mut decoder = Decoder::new().with_max_event_size(8);
    let items: Vec<_> = decoder
        .decode(b"data: 1234\ndata: 5678\ndata: 9\nevent: t\ndata: y\n\ndata: ok\n\n")
        .collect();
    assert_eq!(items, [too_large(8), event("message", "ok", "")]);
}

#[test]
fn event_over_max_size_split_in_bytes_is_reported_once() {
    let stream = b"event: t\ndata: 123456789\nretry: 5\n\ndata: ok\n\n";
    let mut decoder = Decoder::new().with_max_event_size(8);
    let mut items = Vec::new();
    for byte in stream.chunks(1) {
        items.extend(decoder.decode(byte));
    }
    assert_eq!(items, [too_large(8), event("message", "ok", "")]);
}

#[test]
fn type_and_id_count_against_max_size() {
    let mut decoder = Decoder::new().with_max_event_size(8);
    let items: Vec<_> = decoder
        .decode(b"event: 123456789\ndata: a\n\nid: 123456789\ndata: b\n\ndata: ok\n\n")
        .collect();
    assert_eq!(
        items,
        [too_large(8), too_large(8), event("message", "ok", "")]
    );
    assert_eq!(decoder.last_event_id(), Some(""));
}

#[test]
fn lowering_the_bound_below_a_buffered_event_drops_that_event() {
    // The event has buffered 8 bytes when the bound drops to 4: the next byte
    // of it goes over (and must not underflow the remaining budget).
    let mut decoder = Decoder::new();
    assert_eq!(decoder.decode(b"data: 12345678").count(), 0);
    let mut decoder = decoder.with_max_event_size(4);
    let items: Vec<_> = decoder
        .decode(
            b"9

data: ok

",
        )
        .collect();
    assert_eq!(items, [too_large(4), event("message", "ok", "")]);
}

#[test]
fn comments_and_unknown_fields_do_not_count_against_max_size() {
    let mut decoder = Decoder::new().with_max_event_size(8);
    let items: Vec<_> = decoder
        .decode(
            b": a comment far longer than eight bytes\nunknown: also far too long\ndata: ok\n\n",
        )
        .collect();
    assert_eq!(items, [event("message", "ok", "")]);
}

#[test]
fn max_event_size_error_reaches_decode_stream() {
    let chunks =
        stream::iter([&b"data: 123456789\n\n"[..], b"data: ok\n\n"]).map(Ok::<_, std::io::Error>);
    let decoded = DecodeStream::with_decoder(chunks, Decoder::new().with_max_event_size(8));
    let items: Vec<_> = decoded
        .collect::<Vec<_>>()
        .now_or_never()
        .expect("the source never waits");
    assert!(
        matches!(
            items.as_slice(),
            [
                Err(StreamError::Decode(DecodeError::EventTooLarge { limit: 8 })),
                Ok(Decoded::Event(ok)),
            ] if *ok == MessageEvent::new("message", "ok", "")
        ),
        "{items:?}"
    );
}

// --- Chunking ---------------------------------------------------------------

#[test]
fn eight_mib_data_line_fed_in_1kib_chunks_decodes() {
    const LEN: usize = 8 * 1024 * 1024;
    let data: String = (0..LEN)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let mut stream = Vec::with_capacity(LEN + 16);
    stream.extend_from_slice(b"data: ");
    stream.extend_from_slice(data.as_bytes());
    stream.extend_from_slice(b"\n\n");

    let mut decoder = Decoder::new();
    let mut items = Vec::new();
    for chunk in stream.chunks(1024) {
        items.extend(decoder.decode(chunk));
    }
    assert_eq!(items.len(), 1);
    assert!(items[0] == event("message", &data, ""), "the 8 MiB event");
}

/// A small stream that uses every rule that spans bytes: the BOM, CRLF,
/// multi-byte characters, the optional space, comments, retry and ids.
const MIXED: &[u8] = b"\xEF\xBB\xBF: hello\r\n\
    retry: 3000\r\n\
    event: greet\r\
    id: 1\n\
    data: h\xC3\xA9llo\r\n\
    data:  w\xF0\x9F\x98\x80rld\r\n\r\n\
    data\n\
    id: 2\n\n\
    id\r\r\
    event: x\ndata:last\r\r";

#[test]
fn mixed_stream_decodes_as_specified() {
    let mut decoder = Decoder::new();
    let items: Vec<_> = decoder.decode(MIXED).collect();
    assert_eq!(
        items,
        [
            retry(3000),
            event("greet", "h\u{E9}llo\n w\u{1F600}rld", "1"),
            event("message", "", "2"),
            event("x", "last", ""),
        ]
    );
    assert_eq!(decoder.last_event_id(), Some(""));
}

#[test]
fn every_split_in_two_gives_the_same_items_as_the_whole() {
    let whole = decode(MIXED);
    for at in 0..=MIXED.len() {
        let (a, b) = MIXED.split_at(at);
        assert_eq!(decode_chunks(&[a, b]), whole, "split at {at}");
    }
}

#[test]
fn every_split_in_three_gives_the_same_items_as_the_whole() {
    let whole = decode(MIXED);
    for i in 0..=MIXED.len() {
        for j in i..=MIXED.len() {
            let chunks = [&MIXED[..i], &MIXED[i..j], &MIXED[j..]];
            assert_eq!(decode_chunks(&chunks), whole, "split at {i} and {j}");
        }
    }
}

#[test]
fn byte_by_byte_gives_the_same_items_as_the_whole() {
    let chunks: Vec<&[u8]> = MIXED.chunks(1).collect();
    assert_eq!(decode_chunks(&chunks), decode(MIXED));
}

#[test]
fn feed_and_next_item_give_the_same_items_as_decode() {
    let mut decoder = Decoder::new();
    let mut items = Vec::new();
    for chunk in MIXED.chunks(7) {
        decoder.feed(chunk);
        while let Some(item) = decoder.next_item() {
            items.push(item);
        }
    }
    assert_eq!(items, decode(MIXED));
}
