//! `Topics`: the topics of a subscription, parsed from a hostile query.

use ssekit_tower::{InvalidTopics, Topics};

#[test]
fn repeated_topic_parameters_are_kept_in_order_and_decoded() {
    let topics = Topics::from_query(Some("a=1&topic=room%3A1&topic=news+today")).unwrap();
    assert_eq!(topics.as_slice(), ["room:1", "news today"]);
}

#[test]
fn a_query_without_topic_is_missing() {
    assert_eq!(Topics::from_query(None), Err(InvalidTopics::Missing));
    assert_eq!(Topics::from_query(Some("")), Err(InvalidTopics::Missing));
    assert_eq!(
        Topics::from_query(Some("topics=a")),
        Err(InvalidTopics::Missing)
    );
}

#[test]
fn an_empty_topic_is_refused() {
    assert_eq!(
        Topics::from_query(Some("topic=a&topic")),
        Err(InvalidTopics::Empty)
    );
}

#[test]
fn a_topic_that_is_not_utf8_is_refused() {
    assert_eq!(
        Topics::from_query(Some("topic=caf%E9")),
        Err(InvalidTopics::NotUtf8)
    );
}

#[test]
fn a_topic_over_the_length_limit_is_refused() {
    let long = "x".repeat(Topics::DEFAULT_MAX_LEN + 1);
    assert_eq!(
        Topics::from_query(Some(&format!("topic={long}"))),
        Err(InvalidTopics::TooLong {
            len: Topics::DEFAULT_MAX_LEN + 1,
            max: Topics::DEFAULT_MAX_LEN
        })
    );
}

#[test]
fn the_length_limit_counts_decoded_bytes() {
    // Six encoded bytes, two decoded.
    let topics = Topics::from_query_with_limits(Some("topic=%41%42"), 1, 2).unwrap();
    assert_eq!(topics.as_slice(), ["AB"]);
}

#[test]
fn ten_thousand_topics_in_one_query_are_refused_at_the_limit() {
    let query = (0..10_000)
        .map(|i| format!("topic=t{i}"))
        .collect::<Vec<_>>()
        .join("&");
    assert_eq!(
        Topics::from_query(Some(&query)),
        Err(InvalidTopics::TooMany {
            max: Topics::DEFAULT_MAX_COUNT
        })
    );
}

#[test]
fn topics_at_both_limits_are_accepted() {
    let topic = "y".repeat(8);
    let query = vec![format!("topic={topic}"); 3].join("&");
    let topics = Topics::from_query_with_limits(Some(&query), 3, 8).unwrap();
    assert_eq!(topics.into_inner(), vec![topic; 3]);
}

#[test]
fn every_reason_reads_as_a_sentence() {
    assert_eq!(
        InvalidTopics::TooMany { max: 64 }.to_string(),
        "more than 64 topics in one subscription"
    );
    assert_eq!(
        InvalidTopics::Missing.to_string(),
        "no topic given (add ?topic=…)"
    );
}

#[test]
fn invalid_topics_are_refused_with_400_and_the_reason() {
    let invalid = Topics::from_query(Some("topic=")).unwrap_err();
    let response = ssekit_tower::refusal(&ssekit_tower::Refused::from(invalid));
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; charset=utf-8"
    );
    assert_eq!(response.body(), "a topic is empty");
}

#[test]
fn topics_are_a_slice_of_strings() {
    let topics = Topics::from_query(Some("topic=a&topic=b")).unwrap();
    assert_eq!(topics.len(), 2);
    assert_eq!(&topics[..], ["a", "b"]);
}
