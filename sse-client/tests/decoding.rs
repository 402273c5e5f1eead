//! Every rule of the event stream format, read over real HTTP from a
//! scripted server, the bytes split across chunks.

mod support;

use std::time::Duration;

use ssekit_client::{DecodeError, Disconnect, EventSource, Item};
use support::{Reply, Server, events, message, next, until_reconnecting};

/// The items of a stream served as `chunks` on one connection, up to the
/// reconnection that follows its end.
async fn read(chunks: &[&[u8]]) -> Vec<Item> {
    let reply = chunks.iter().fold(Reply::sse(), |reply, c| reply.chunk(c));
    let server = Server::start(vec![reply]).await;
    let mut source = server.source();
    assert!(matches!(next(&mut source).await, Item::Open));
    until_reconnecting(&mut source).await
}

#[tokio::test]
async fn bom_split_across_chunks_is_skipped() {
    let items = read(&[b"\xEF", b"\xBB", b"\xBFdata: a\n\n"]).await;
    assert_eq!(events(&items), [message("a", "")]);
}

#[tokio::test]
async fn only_one_bom_is_skipped() {
    // The second BOM is part of the field name, so the field is unknown.
    let items = read(&[b"\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\ndata: b\n\n"]).await;
    assert_eq!(events(&items), [message("b", "")]);
}

#[tokio::test]
async fn crlf_split_across_chunks_is_one_line_end() {
    let items = read(&[b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]).await;
    assert_eq!(events(&items), [message("a\nb", "")]);
}

#[tokio::test]
async fn lone_cr_ends_a_line() {
    let items = read(&[b"data: a\rdata: b\r", b"\rdata: c\r\r"]).await;
    assert_eq!(events(&items), [message("a\nb", ""), message("c", "")]);
}

#[tokio::test]
async fn lf_cr_and_crlf_mix_in_one_stream() {
    let items = read(&[b"data: a\ndata: b\r\n\r", b"data: c\r\n", b"\n"]).await;
    assert_eq!(events(&items), [message("a\nb", ""), message("c", "")]);
}

#[tokio::test]
async fn one_leading_space_is_removed_from_a_value() {
    let items = read(&[b"data:a\n\ndata:  b\n\n"]).await;
    assert_eq!(events(&items), [message("a", ""), message(" b", "")]);
}

#[tokio::test]
async fn comments_and_unknown_fields_are_ignored() {
    let items = read(&[b": hello\nfoo: bar\ndata: a\n: again\n\n"]).await;
    assert_eq!(events(&items), [message("a", "")]);
}

#[tokio::test]
async fn a_line_without_colon_is_a_field_with_an_empty_value() {
    let items = read(&[b"data\ndata\n\n"]).await;
    assert_eq!(events(&items), [message("\n", "")]);
}

#[tokio::test]
async fn an_event_without_data_is_not_dispatched() {
    let items = read(&[b"event: ping\n\nid: 3\n\ndata: a\n\n"]).await;
    assert_eq!(events(&items), [message("a", "3")]);
}

#[tokio::test]
async fn event_field_sets_the_type_for_one_event() {
    let items = read(&[b"event: add\ndata: 1\n\ndata: 2\n\n"]).await;
    assert_eq!(
        events(&items),
        [
            ("add".to_owned(), "1".to_owned(), String::new()),
            message("2", ""),
        ]
    );
}

#[tokio::test]
async fn id_is_kept_for_later_events() {
    let items = read(&[b"id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\n"]).await;
    assert_eq!(
        events(&items),
        [message("a", "1"), message("b", "1"), message("c", "")]
    );
}

#[tokio::test]
async fn id_with_nul_is_ignored() {
    let items = read(&[b"id: 1\ndata: a\n\nid: 2\0x\ndata: b\n\n"]).await;
    assert_eq!(events(&items), [message("a", "1"), message("b", "1")]);
}

#[tokio::test]
async fn invalid_utf8_becomes_replacement_characters() {
    let items = read(&[b"data: a\xFFb\xE2", b"\x82\xAC\n\n"]).await;
    assert_eq!(events(&items), [message("a\u{FFFD}b\u{20AC}", "")]);
}

#[tokio::test]
async fn utf8_split_across_chunks_is_kept_whole() {
    let items = read(&[b"data: \xF0\x9F", b"\x98\x80\n\n"]).await;
    assert_eq!(events(&items), [message("\u{1F600}", "")]);
}

#[tokio::test]
async fn eof_discards_the_pending_event() {
    let items = read(&[b"data: a\n\ndata: b\n"]).await;
    assert_eq!(events(&items), [message("a", "")]);
    assert!(matches!(
        items.last(),
        Some(Item::Reconnecting {
            reason: Disconnect::Ended,
            ..
        })
    ));
}

#[tokio::test]
async fn eof_discards_an_event_without_its_blank_line() {
    let items = read(&[b"data: a\n\ndata: b"]).await;
    assert_eq!(events(&items), [message("a", "")]);
}

#[tokio::test]
async fn retry_of_ascii_digits_sets_the_reconnection_time() {
    let items = read(&[b"retry: 70\n\n"]).await;
    assert!(matches!(
        items.last(),
        Some(Item::Reconnecting { delay, attempt: 1, .. }) if *delay == Duration::from_millis(70)
    ));
}

#[tokio::test]
async fn retry_that_is_not_all_digits_is_ignored() {
    let chunks: &[&[u8]] = &[
        b"retry: 50\n",
        b"retry: +5\nretry: -5\nretry: 5s\nretry: 1.5\nretry:  5\nretry: 5 \nretry:\nretry\n\n",
    ];
    let items = read(chunks).await;
    assert!(matches!(
        items.last(),
        Some(Item::Reconnecting { delay, .. }) if *delay == Duration::from_millis(50)
    ));
}

#[tokio::test]
async fn retry_takes_effect_before_the_blank_line() {
    // The field is applied when its line ends, even if the event it belongs
    // to is then discarded at EOF.
    let items = read(&[b"data: x\nretry: 30\n"]).await;
    assert!(events(&items).is_empty());
    assert!(matches!(
        items.last(),
        Some(Item::Reconnecting { delay, .. }) if *delay == Duration::from_millis(30)
    ));
}

#[tokio::test]
async fn retry_line_cut_by_eof_is_ignored() {
    // `Server::source` sets a reconnection time of 20 ms.
    let items = read(&[b"retry: 30"]).await;
    assert!(matches!(
        items.last(),
        Some(Item::Reconnecting { delay, .. }) if *delay == Duration::from_millis(20)
    ));
}

#[tokio::test]
async fn event_over_the_size_limit_is_dropped_and_the_stream_goes_on() {
    let reply = Reply::sse().chunks([b"data: far too long for the bound\n", b"\ndata: ok\n\n"]);
    let server = Server::start(vec![reply]).await;
    let mut source = EventSource::builder(server.uri())
        .max_event_size(8)
        .retry(Duration::from_millis(20))
        .build();
    assert!(matches!(next(&mut source).await, Item::Open));
    let items = until_reconnecting(&mut source).await;
    assert!(matches!(
        items[0],
        Item::Dropped(DecodeError::EventTooLarge { limit: 8 })
    ));
    assert_eq!(events(&items), [message("ok", "")]);
}
