//! The json-broker binary against hostile clients, over real loopback
//! sockets (the helpers are `sse_test_support::hostile`'s): huge and slow
//! bodies, missing and wrong credentials, other origins, partial heads,
//! tokens with reserved characters, and a shutdown with all of it open.
//! Each test starts its own broker (`--every 0`), with short timeouts
//! where it needs them; every loop is bounded by a count or a deadline.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sse_test_support::hostile::{
    PeakRss, Server, chunked_upload, closed_within, connect_from, partial_heads, read_to_close,
    rss_of, slow_body, status_of, zero_window_reader,
};
use sse_test_support::process::ensure_nofile_limit;
use sse_test_support::{Client, FrameReader, within};
use tokio::io::AsyncWriteExt;

const JSON_BROKER: &str = env!("CARGO_BIN_EXE_json-broker");
const PUBLISHER: &str = "p-7Hq2xV9sLm";
/// A subscriber token with every character a URL or a form treats
/// specially.
const SUBSCRIBER: &str = "s+b/c=d&e%f g";

/// Starts the broker binary on 127.0.0.1:0 (`--every 0`, `RUST_LOG=debug`,
/// every line it writes kept) with the two tokens (by environment, as the
/// docs advise) and `args`. Killed on drop.
async fn start(args: &[&str]) -> Server {
    start_with_env(
        &[
            ("JSON_BROKER_PUBLISHER_TOKEN", PUBLISHER),
            ("JSON_BROKER_SUBSCRIBER_TOKEN", SUBSCRIBER),
        ],
        args,
    )
    .await
    .expect("the broker starts")
}

/// Starts the broker with `env` (and neither token from the test's own
/// environment) and `args`; `Err` with its output if it exits instead.
async fn start_with_env(env: &[(&str, &str)], args: &[&str]) -> Result<Server, Vec<String>> {
    let args = [&["--addr", "127.0.0.1:0", "--every", "0"], args].concat();
    let mut envs = vec![
        ("JSON_BROKER_PUBLISHER_TOKEN", None),
        ("JSON_BROKER_SUBSCRIBER_TOKEN", None),
    ];
    envs.extend(env.iter().map(|&(name, value)| (name, Some(value))));
    envs.push(("RUST_LOG", Some("debug")));
    Server::try_start(
        JSON_BROKER,
        &args,
        &envs,
        "json-broker listening on http://",
    )
    .await
}

/// A whole response to `request` (sent on a new connection, which the
/// request should close): status, head and body.
async fn exchange(addr: SocketAddr, request: &[u8]) -> (u16, String, String) {
    let mut tcp = connect_from(addr, 0, None).await;
    within("a request", tcp.write_all(request)).await.unwrap();
    let answer = read_to_close(&mut tcp, sse_test_support::WAIT)
        .await
        .expect("the server answers and closes");
    let status = status_of(&answer).unwrap_or_else(|| panic!("not HTTP: {answer:?}"));
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (status, head.to_owned(), body.to_owned())
}

/// `POST path` with `headers` (`name: value\r\n` lines) and `body`.
async fn post(addr: SocketAddr, path: &str, headers: &str, body: &str) -> (u16, String, String) {
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n{headers}\
         content-length: {}\r\n\r\n{body}",
        body.len()
    );
    exchange(addr, request.as_bytes()).await
}

/// Publishes `body` with the publisher token; the status and answer.
async fn publish(addr: SocketAddr, body: &str) -> (u16, String) {
    let headers =
        format!("authorization: Bearer {PUBLISHER}\r\ncontent-type: application/json\r\n");
    let (status, _, answer) = post(addr, "/publish", &headers, body).await;
    (status, answer)
}

/// Form-encodes `value`, as a browser's `URLSearchParams` does.
fn form_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                char::from(b).to_string()
            }
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `POST /session` with the form `token=<token, form-encoded>`: the
/// status, the session cookie (`name=value`) and the ticket, when given.
async fn sign_in(addr: SocketAddr, token: &str) -> (u16, Option<String>, Option<String>) {
    sign_in_raw(addr, &format!("token={}", form_encode(token))).await
}

async fn sign_in_raw(addr: SocketAddr, form: &str) -> (u16, Option<String>, Option<String>) {
    let headers = "content-type: application/x-www-form-urlencoded\r\n";
    let (status, head, body) = post(addr, "/session", headers, form).await;
    let cookie = head.lines().find_map(|line| {
        let value = line.strip_prefix("set-cookie: ")?;
        Some(value.split(';').next()?.to_owned())
    });
    let ticket = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|answer| answer["ticket"].as_str().map(str::to_owned));
    (status, cookie, ticket)
}

/// Opens `GET path` with `headers`; the status, and the frames if `200`.
async fn subscribe(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &[u8])],
) -> (u16, Option<FrameReader>) {
    let response = Client::connect(addr).await.get(path, headers).await;
    let status = response.status().as_u16();
    (status, (status == 200).then(|| FrameReader::new(response)))
}

/// The data of the events `frames` carries up to and including the one
/// whose data is `last`.
async fn data_until(frames: &mut FrameReader, last: &str) -> Vec<String> {
    let mut seen = Vec::new();
    // Bounded: each frame within WAIT, and at most 100 of them.
    for _ in 0..100 {
        let frame = frames.next().await.expect("the stream goes on");
        if let Some(data) = frame
            .lines()
            .find_map(|line| line.strip_prefix("data: ").or(line.strip_prefix("data:")))
        {
            seen.push(data.to_owned());
            if data == last {
                return seen;
            }
        }
    }
    panic!("{last:?} never came; saw {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_512_mib_chunked_post_is_refused_413_and_rss_grows_under_16_mib() {
    let broker = start(&[]).await;
    // Warm up the paths the upload takes, so the baseline includes them.
    assert_eq!(publish(broker.addr(), r#"{"data": "warm"}"#).await.0, 202);
    let before = rss_of(broker.pid());
    // Bounded by the drop below, and by 10 000 samples.
    let peak = PeakRss::watch(broker.pid(), Duration::from_millis(5));
    let head = format!(
        "POST /publish HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {PUBLISHER}\r\n\
         content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n",
        broker.addr()
    );
    let upload = chunked_upload(broker.addr(), head.as_bytes(), 512 << 20, 64 << 10, b'\n').await;
    let after = rss_of(broker.pid());
    let peak = peak.peak().max(after);
    let growth = peak.saturating_sub(before);
    println!(
        "512 MiB chunked POST: answered after {} KiB in {:?}; RSS {} KiB before, peak growth {} KiB",
        upload.sent >> 10,
        upload.took,
        before >> 10,
        growth >> 10
    );
    assert_eq!(
        status_of(&upload.answer),
        Some(413),
        "{:?}",
        String::from_utf8_lossy(&upload.answer)
    );
    assert!(!upload.finished, "the whole body was taken");
    assert!(growth < 16 << 20, "RSS grew by {growth} bytes");

    // A body of line breaks, declared: refused before it is read.
    let line_breaks = "\\n".repeat(1 << 20);
    let (status, _) = publish(broker.addr(), &format!(r#"{{"data": "{line_breaks}"}}"#)).await;
    assert_eq!(status, 413);
    // Under the limit, line breaks are data like any other.
    let line_breaks = "\\n".repeat(30_000);
    let (status, answer) = publish(broker.addr(), &format!(r#"{{"data": "{line_breaks}"}}"#)).await;
    assert_eq!(status, 202, "{answer}");
}

#[tokio::test]
async fn a_body_sent_one_byte_a_second_is_cut_off_by_the_body_timeout() {
    let broker = start(&["--body-timeout-ms", "1500"]).await;
    let body = br#"{"data": "slow, very slow, far too slow"}"#;
    let head = format!(
        "POST /publish HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {PUBLISHER}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        broker.addr(),
        body.len()
    );
    let slow = slow_body(broker.addr(), head.as_bytes(), body, Duration::from_secs(1)).await;
    println!(
        "slow body: cut off after {} bytes, {:?}",
        slow.sent, slow.took
    );
    assert!(slow.cut_off, "the whole slow body was taken: {slow:?}");
    assert_eq!(status_of(&slow.answer), Some(408), "{slow:?}");
    assert!(
        slow.took < Duration::from_millis(2500),
        "cut off after {:?}",
        slow.took
    );
}

#[tokio::test]
async fn publishing_needs_the_publisher_token_and_a_wrong_one_of_the_same_length_is_401() {
    let broker = start(&[]).await;
    let json = "content-type: application/json\r\n";
    let body = r#"{"data": "x"}"#;
    let (status, head, _) = post(broker.addr(), "/publish", json, body).await;
    assert_eq!(status, 401);
    assert!(
        head.to_ascii_lowercase()
            .contains("www-authenticate: bearer"),
        "{head}"
    );
    let mut wrong = PUBLISHER.to_owned().into_bytes();
    *wrong.last_mut().unwrap() ^= 1;
    let wrong = String::from_utf8(wrong).unwrap();
    assert_eq!(wrong.len(), PUBLISHER.len());
    for authorization in [
        format!("authorization: Bearer {wrong}\r\n"),
        format!("authorization: Bearer {PUBLISHER}x\r\n"),
        format!("authorization: Basic {PUBLISHER}\r\n"),
        format!("authorization: {PUBLISHER}\r\n"),
    ] {
        let headers = format!("{authorization}{json}");
        let (status, _, _) = post(broker.addr(), "/publish", &headers, body).await;
        assert_eq!(status, 401, "{authorization}");
    }
    assert_eq!(publish(broker.addr(), body).await.0, 202);
    // The scheme is case-insensitive (RFC 9110), the token is not.
    let headers = format!("authorization: bearer {PUBLISHER}\r\n{json}");
    assert_eq!(post(broker.addr(), "/publish", &headers, body).await.0, 202);
    let headers = format!(
        "authorization: Bearer {}\r\n{json}",
        PUBLISHER.to_uppercase()
    );
    assert_eq!(post(broker.addr(), "/publish", &headers, body).await.0, 401);
}

#[tokio::test]
async fn a_body_that_is_not_json_is_415_and_retry_outside_1_s_to_60_s_is_400() {
    let broker = start(&[]).await;
    for content_type in ["text/plain", "application/x-www-form-urlencoded", ""] {
        let headers =
            format!("authorization: Bearer {PUBLISHER}\r\ncontent-type: {content_type}\r\n");
        let (status, _, _) = post(broker.addr(), "/publish", &headers, r#"{"data": "x"}"#).await;
        assert_eq!(status, 415, "{content_type:?}");
    }
    for retry in ["0", "999", "60001", "18446744073709551615"] {
        let (status, answer) = publish(
            broker.addr(),
            &format!(r#"{{"data": "x", "retry": {retry}}}"#),
        )
        .await;
        assert_eq!(status, 400, "retry {retry}: {answer}");
        assert!(
            answer.contains("retry must be from 1000 to 60000 ms"),
            "{answer}"
        );
    }
    for retry in ["1000", "60000"] {
        let (status, answer) = publish(
            broker.addr(),
            &format!(r#"{{"data": "x", "retry": {retry}}}"#),
        )
        .await;
        assert_eq!(status, 202, "retry {retry}: {answer}");
    }
}

#[tokio::test]
async fn a_cross_origin_publish_is_refused_unless_the_origin_is_allowed() {
    let allowed = "http://allowed.example";
    let broker = start(&["--allow-origin", allowed]).await;
    let preflight = |origin: &str| {
        format!(
            "OPTIONS /publish HTTP/1.1\r\nhost: {}\r\norigin: {origin}\r\nconnection: close\r\n\
             access-control-request-method: POST\r\n\
             access-control-request-headers: authorization, content-type\r\n\r\n",
            broker.addr()
        )
    };
    let (status, head, _) =
        exchange(broker.addr(), preflight("http://evil.example").as_bytes()).await;
    assert_eq!(status, 403, "{head}");
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("access-control-allow-origin"),
        "{head}"
    );
    let (status, head, _) = exchange(broker.addr(), preflight(allowed).as_bytes()).await;
    assert_eq!(status, 204, "{head}");
    let head = head.to_ascii_lowercase();
    assert!(
        head.contains(&format!("access-control-allow-origin: {allowed}")),
        "{head}"
    );
    assert!(!head.contains("access-control-allow-credentials"), "{head}");

    // Even with the token (a page that somehow holds it), a request from
    // another origin is refused; subscribing is open to every origin.
    let headers = format!(
        "origin: http://evil.example\r\nauthorization: Bearer {PUBLISHER}\r\n\
         content-type: application/json\r\n"
    );
    let (status, _, _) = post(broker.addr(), "/publish", &headers, r#"{"data": "x"}"#).await;
    assert_eq!(status, 403);
    let (status, _) = subscribe(
        broker.addr(),
        "/events",
        &[("origin", b"http://evil.example")],
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_partial_heads_are_closed_within_the_head_timeout() {
    ensure_nofile_limit(4_000);
    let broker = start(&["--header-read-timeout-ms", "1000"]).await;
    let opened = Instant::now();
    let heads = partial_heads(
        broker.addr(),
        1_000,
        b"POST /publish HTTP/1.1\r\nhost: x\r\n",
    )
    .await;
    let took = closed_within(heads, Duration::from_secs(3)).await;
    println!(
        "1 000 partial heads: opened in {:?}, all closed {:?} after",
        opened.elapsed(),
        took
    );
    let took = took.unwrap_or_else(|open| panic!("{open} partial heads still open after 3 s"));
    // The head timeout is 1 s from each open; the last opened just before
    // this wait began.
    assert!(took < Duration::from_secs(2), "{took:?}");
    // The broker still serves.
    assert_eq!(publish(broker.addr(), r#"{"data": "x"}"#).await.0, 202);
}

#[tokio::test]
async fn a_subscriber_token_with_reserved_characters_signs_in_when_url_encoded() {
    let broker = start(&[]).await;
    let (status, cookie, ticket) = sign_in(broker.addr(), SUBSCRIBER).await;
    assert_eq!(status, 200);
    let cookie = cookie.expect("a session cookie");
    let ticket = ticket.expect("a ticket");
    // Sent as is, the `+`, `&` and `%` change it: not the token.
    let (status, cookie_raw, _) = sign_in_raw(broker.addr(), &format!("token={SUBSCRIBER}")).await;
    assert_eq!((status, cookie_raw), (401, None));

    let (_, mut with_cookie) =
        subscribe(broker.addr(), "/events", &[("cookie", cookie.as_bytes())]).await;
    let ticket_path = format!("/events?ticket={}", form_encode(&ticket));
    let (_, mut with_ticket) = subscribe(broker.addr(), &ticket_path, &[]).await;
    publish(broker.addr(), r#"{"data": "secret", "private": true}"#).await;
    publish(broker.addr(), r#"{"data": "public"}"#).await;
    for frames in [&mut with_cookie, &mut with_ticket] {
        let frames = frames.as_mut().expect("the stream opens");
        assert_eq!(data_until(frames, "public").await, ["secret", "public"]);
    }
}

#[tokio::test]
async fn a_private_event_never_reaches_a_subscriber_without_the_credential() {
    let broker = start(&["--ticket-ttl-secs", "1"]).await;
    let (_, before) = publish(broker.addr(), r#"{"data": "before"}"#).await;
    let before: serde_json::Value = serde_json::from_str(&before).unwrap();
    let before = before["id"].as_str().unwrap().to_owned();
    let mut wrong = SUBSCRIBER.to_owned().into_bytes();
    wrong[0] ^= 1;
    let wrong = String::from_utf8(wrong).unwrap();
    assert_eq!(
        sign_in(broker.addr(), &wrong).await.0,
        401,
        "a wrong token of the same length"
    );
    let (_, _, ticket) = sign_in(broker.addr(), SUBSCRIBER).await;
    let ticket = ticket.expect("a ticket");

    let forged = format!("json-broker-session={}", "0".repeat(64));
    let (status, _) = subscribe(broker.addr(), "/events", &[("cookie", forged.as_bytes())]).await;
    assert_eq!(status, 401, "a forged cookie");
    let token_path = format!("/events?token={}", form_encode(SUBSCRIBER));
    assert_eq!(
        subscribe(broker.addr(), &token_path, &[]).await.0,
        400,
        "a token in the URL"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let expired = format!("/events?ticket={ticket}");
    assert_eq!(
        subscribe(broker.addr(), &expired, &[]).await.0,
        401,
        "an expired ticket"
    );

    let (_, anonymous) = subscribe(broker.addr(), "/events", &[]).await;
    let (_, other_origin) = subscribe(
        broker.addr(),
        "/events",
        &[("origin", b"http://evil.example")],
    )
    .await;
    publish(broker.addr(), r#"{"data": "secret", "private": true}"#).await;
    publish(broker.addr(), r#"{"data": "public"}"#).await;
    for frames in [anonymous, other_origin] {
        let mut frames = frames.expect("public events are open");
        assert_eq!(data_until(&mut frames, "public").await, ["public"]);
    }
    // Nor on resume: a stream resumed from before both replays the public
    // one only.
    let last_event_id = [("last-event-id", before.as_bytes())];
    let (_, resumed) = subscribe(broker.addr(), "/events", &last_event_id).await;
    let mut resumed = resumed.expect("the stream resumes");
    assert_eq!(data_until(&mut resumed, "public").await, ["public"]);
}

#[tokio::test]
async fn tokens_tickets_and_cookies_never_appear_in_the_logs_at_debug() {
    let broker = start(&[]).await;
    let (_, cookie, ticket) = sign_in(broker.addr(), SUBSCRIBER).await;
    let (cookie, ticket) = (cookie.unwrap(), ticket.unwrap());
    sign_in(broker.addr(), "wrong").await;
    let (_, frames) = subscribe(broker.addr(), &format!("/events?ticket={ticket}"), &[]).await;
    let (_, frames_cookie) =
        subscribe(broker.addr(), "/events", &[("cookie", cookie.as_bytes())]).await;
    let (status, _) = subscribe(
        broker.addr(),
        &format!("/events?token={}", form_encode(SUBSCRIBER)),
        &[],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        publish(broker.addr(), r#"{"data": "x", "private": true}"#)
            .await
            .0,
        202
    );
    let headers = "authorization: Bearer wrong-token\r\ncontent-type: application/json\r\n";
    post(broker.addr(), "/publish", headers, "{}").await;
    drop((frames, frames_cookie));
    broker.signal("INT").await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let output = broker.output();
    assert!(
        output.iter().any(|line| line.contains("DEBUG")),
        "the log is at DEBUG: {output:#?}"
    );
    assert!(
        output.iter().any(|line| line.contains("/session")),
        "{output:#?}"
    );
    let session_id = cookie.split_once('=').unwrap().1;
    for secret in [
        PUBLISHER,
        SUBSCRIBER,
        &form_encode(SUBSCRIBER),
        "wrong-token",
        &ticket,
        session_id,
    ] {
        let leaks: Vec<_> = output.iter().filter(|line| line.contains(secret)).collect();
        assert!(leaks.is_empty(), "{secret:?} is in the log: {leaks:#?}");
    }
}

#[tokio::test]
async fn the_broker_refuses_to_start_without_a_publisher_token_unless_open_publish() {
    let refused = start_with_env(&[], &[]).await;
    let output = refused.err().expect("no start without a publisher token");
    assert!(
        output.iter().any(|line| line.contains("--open-publish")),
        "{output:#?}"
    );
    let open = start_with_env(&[], &["--open-publish"])
        .await
        .expect("starts");
    assert!(
        open.output()
            .iter()
            .any(|line| line.contains("WARN") && line.contains("--open-publish")),
        "{:#?}",
        open.output()
    );
    let json = "content-type: application/json\r\n";
    let (status, _, _) = post(open.addr(), "/publish", json, r#"{"data": "x"}"#).await;
    assert_eq!(status, 202);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_takes_under_a_second_with_every_hostile_client_open() {
    ensure_nofile_limit(8_000);
    let broker = start(&[]).await;
    let addr = broker.addr();

    let heads = partial_heads(addr, 1_000, b"GET /events HTTP/1.1\r\n").await;
    // A slow body and a stalled chunked upload, both well within the
    // default 10 s body timeout.
    let slow_head = format!(
        "POST /publish HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {PUBLISHER}\r\n\
         content-type: application/json\r\ncontent-length: 100\r\n\r\n{{"
    );
    let mut slow = connect_from(addr, 1, None).await;
    slow.write_all(slow_head.as_bytes()).await.unwrap();
    let chunked_head = format!(
        "POST /publish HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {PUBLISHER}\r\n\
         content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n8000\r\n{}",
        "x".repeat(16 << 10)
    );
    let mut chunked = connect_from(addr, 2, None).await;
    chunked.write_all(chunked_head.as_bytes()).await.unwrap();
    // Zero-window readers, flooded with 60 KiB events, and quiet streams.
    let mut zero_windows = Vec::new();
    for i in 0..20 {
        let request = b"GET /events HTTP/1.1\r\nhost: x\r\n\r\n";
        zero_windows.push(zero_window_reader(addr, i, 4096, request).await);
    }
    let mut streams = Vec::new();
    for _ in 0..20 {
        let (status, frames) = subscribe(addr, "/events", &[]).await;
        assert_eq!(status, 200);
        streams.push(frames.unwrap());
    }
    let big = format!(r#"{{"data": "{}"}}"#, "x".repeat(60 << 10));
    for _ in 0..20 {
        assert_eq!(publish(addr, &big).await.0, 202);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    broker.signal("INT").await;
    let mut broker = broker;
    let status = broker.exit(sse_test_support::WAIT).await;
    let took = started.elapsed();
    println!(
        "shutdown with 1 000 partial heads, a slow body, a stalled upload, 20 zero windows and 20 streams: {took:?}"
    );
    assert!(status.success(), "{status}: {:#?}", broker.output());
    assert!(took < Duration::from_secs(1), "shutdown took {took:?}");
    for mut frames in streams {
        // Each stream ends (after its shutdown `retry:`).
        within("a stream's end", async {
            while frames.next_unbounded().await.is_some() {}
        })
        .await;
    }
    let _ = (heads, slow, chunked, zero_windows);
}
