//! The chat binary against hostile clients, over real sockets on
//! 127.0.0.1: every input bounded, nothing growing for ever, the admin
//! route closed to whoever lacks its token or comes from another site.
//!
//! Each test starts its own chat process (short timings by flag), watches
//! its rooms and broker topics through the `stats` events of a stream
//! (`rooms`, `topics`), its memory through `/proc/PID/statm`, its log on
//! stderr, and with `--redis` the keys of a Redis server of its own.
//! Every wait is bounded.

mod common;

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use browser_test::form;
use futures_util::StreamExt;
use serde_json::Value;
use sse_test_support::hostile::{Server, closed_within, partial_heads};
use sse_test_support::process::ensure_nofile_limit;
use sse_test_support::redis::RedisServer;
use ssekit_client::{EventSource, Item};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::Command;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep, timeout};

use common::{ADMIN_ARGS, ADMIN_TOKEN, admin_disconnect};

const CHAT: &str = env!("CARGO_BIN_EXE_chat");

/// The longest any single wait of these tests may take.
const WAIT: Duration = Duration::from_secs(10);

/// Held by the tests that measure time or memory, so that the others'
/// load does not skew them (tests of one file run side by side).
static MEASURING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Starts a chat process with `args` on a free port of 127.0.0.1, logging
/// at `log` (`RUST_LOG`); killed on drop, its stdout and stderr kept line
/// by line.
async fn start(args: &[&str], log: &str) -> Server {
    let args = [&["--addr", "127.0.0.1:0"], args].concat();
    let envs = [("RUST_LOG", Some(log)), ("CHAT_ADMIN_TOKEN", None)];
    Server::start(CHAT, &args, &envs, "chat listening on http://").await
}

fn url(chat: &Server) -> String {
    format!("http://{}", chat.addr())
}

/// A stream of `room`, followed until dropped.
fn follow(chat: &Server, room: &str) -> EventSource {
    EventSource::builder(format!("{}/stream/{room}", url(chat)).parse().unwrap()).build()
}

/// The next `stats` event's data on `source`.
async fn next_stats(source: &mut EventSource) -> Value {
    timeout(WAIT, async {
        loop {
            match source.next().await.expect("the stream goes on") {
                Item::Event(event) if event.event_type() == "stats" => {
                    return serde_json::from_str(event.data()).expect("stats are JSON");
                }
                Item::Closed(error) => panic!("the stream closed: {error}"),
                _ => {}
            }
        }
    })
    .await
    .expect("a stats event every second")
}

/// Waits (at most `within`) for a `stats` event where `rooms` and
/// `topics` are as given; how long it took.
async fn stats_become(
    source: &mut EventSource,
    rooms: u64,
    topics: u64,
    within: Duration,
) -> Duration {
    let start = Instant::now();
    loop {
        let stats = next_stats(source).await;
        if stats["rooms"] == rooms && stats["topics"] == topics {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "after {:?}, not {rooms} rooms and {topics} topics: {stats}",
            start.elapsed()
        );
    }
}

/// One keep-alive HTTP/1.1 connection, for many small requests.
struct Connection {
    io: BufReader<TcpStream>,
    host: String,
}

/// A response: status, headers (lower-case names), body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, value)| value.as_str())
    }
}

impl Connection {
    async fn open(addr: SocketAddr) -> Connection {
        Connection {
            io: BufReader::new(TcpStream::connect(addr).await.expect("the chat is up")),
            host: addr.to_string(),
        }
    }

    async fn request(&mut self, method: &str, path: &str, body: &str) -> Answer {
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            self.host,
            body.len()
        );
        timeout(WAIT, async {
            self.io
                .get_mut()
                .write_all(request.as_bytes())
                .await
                .unwrap();
            let mut line = String::new();
            self.io.read_line(&mut line).await.unwrap();
            let status = line
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("not a status line: {line:?}"));
            let mut headers = Vec::new();
            loop {
                line.clear();
                self.io.read_line(&mut line).await.unwrap();
                let Some((name, value)) = line.trim_end().split_once(':') else {
                    break;
                };
                headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
            }
            let length: usize = headers
                .iter()
                .find(|(name, _)| name == "content-length")
                .map_or(0, |(_, value)| value.parse().unwrap());
            let mut body = vec![0; length];
            self.io.read_exact(&mut body).await.unwrap();
            Answer {
                status,
                headers,
                body: String::from_utf8(body).unwrap(),
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no answer to {method} {path}"))
    }

    async fn post(&mut self, room: &str, user: &str, message: &str) -> Answer {
        let body = form(&[("user", user), ("message", message)]);
        self.request("POST", &format!("/room/{room}"), &body).await
    }
}

/// The status line and `Content-Type` of `GET path`, read from a fresh
/// connection that is then dropped (a stream is left after its head).
async fn head_of_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    timeout(WAIT, async {
        let mut byte = [0; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(tcp.read(&mut byte).await.unwrap(), 1, "closed in the head");
            head.push(byte[0]);
        }
    })
    .await
    .expect("a response head");
    let head = String::from_utf8(head).unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let content_type = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-type")
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_default();
    (status, content_type)
}

/// The start of a request head that never ends.
const PARTIAL_HEAD: &[u8] = b"GET /room/lobby HTTP/1.1\r\nHost: chat\r\nUser-Agent: sl";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_new_rooms_are_forgotten_after_the_idle_age_and_rss_comes_back() {
    let _measuring = MEASURING.lock().await;
    const ROOMS: usize = 10_000;
    // Longer than the posts take (4.5 to 6.5 s in a debug build on 2
    // cores), so that every room is there at once.
    const IDLE: Duration = Duration::from_secs(15);
    // What RSS may keep above its baseline once every room has gone, of
    // the 21 to 23 MiB they took: the allocator keeps some pages and its
    // metadata. Measured: 2.9 MiB, 6 s after the rooms went (jemalloc's
    // background thread returns freed pages after its 10 s decay; without
    // it, 10.7 MiB stayed after 30 s). The heap in use comes back within
    // a few KiB: nothing of the rooms is left.
    const TOLERANCE: u64 = 6 << 20;
    const HEAP_TOLERANCE: u64 = 256 << 10;
    let chat = start(&["--room-idle-ms", "15000", "--max-rooms", "20000"], "info").await;
    let mut observer = follow(&chat, "observer");
    // Settled: the observer's room topic and `stats`, no room.
    stats_become(&mut observer, 0, 2, WAIT).await;
    let heap_before = next_stats(&mut observer).await["heap"].as_u64().unwrap();
    let baseline = chat.rss();

    let started = Instant::now();
    let message = "x".repeat(400);
    let mut posters = JoinSet::new();
    for poster in 0..4 {
        let addr = chat.addr();
        let message = message.clone();
        posters.spawn(async move {
            let mut connection = Connection::open(addr).await;
            for n in (poster..ROOMS).step_by(4) {
                let answer = connection
                    .post(&format!("flood-{n}"), "mallory", &message)
                    .await;
                assert_eq!(answer.status, 202, "room {n}: {}", answer.body);
            }
        });
    }
    while let Some(done) = posters.join_next().await {
        done.unwrap();
    }
    let posting = started.elapsed();
    // Every room is there until its idle time is up (the posts took less).
    assert!(posting < IDLE, "posting took {posting:?}");
    // Each room and its topic, beside the observer's and `stats`.
    stats_become(&mut observer, ROOMS as u64, ROOMS as u64 + 2, WAIT).await;
    let heap_peak = next_stats(&mut observer).await["heap"].as_u64().unwrap();
    let peak = chat.rss();

    // Gone from the chat's map and from the broker within the idle time
    // and a sweep (a quarter of it) after the last post.
    let gone = stats_become(&mut observer, 0, 2, IDLE * 2).await + posting;
    assert!(gone < IDLE + IDLE / 2 + posting, "gone after {gone:?}");
    let heap_after = next_stats(&mut observer).await["heap"].as_u64().unwrap();

    let waiting = Instant::now();
    let (limit, every) = (baseline + TOLERANCE, Duration::from_millis(500));
    let after = chat
        .rss_settled(limit, Duration::from_secs(30), every)
        .await;
    eprintln!(
        "{ROOMS} rooms posted in {posting:?}, gone {gone:?} after the first post; \
         heap {} KiB before, {} KiB at the peak, {} KiB after; \
         RSS {} KiB before, {} KiB at the peak, {} KiB after {:?} more",
        heap_before / 1024,
        heap_peak / 1024,
        heap_after / 1024,
        baseline / 1024,
        peak / 1024,
        after / 1024,
        waiting.elapsed()
    );
    assert!(
        peak > baseline + TOLERANCE,
        "the rooms took memory: {peak} against {baseline}"
    );
    assert!(
        heap_after <= heap_before + HEAP_TOLERANCE,
        "the heap kept {heap_after} bytes against {heap_before}"
    );
    assert!(
        after <= baseline + TOLERANCE,
        "RSS {after} stayed above {baseline} + {TOLERANCE}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_partial_request_heads_are_closed_within_the_head_timeout() {
    let _measuring = MEASURING.lock().await;
    const HEADS: usize = 1000;
    const TIMEOUT: Duration = Duration::from_secs(1);
    ensure_nofile_limit(4 * HEADS as u64);
    let chat = start(&["--header-read-timeout-ms", "1000"], "info").await;
    let started = Instant::now();
    let heads = partial_heads(chat.addr(), HEADS, PARTIAL_HEAD).await;
    let opened = started.elapsed();

    // Meanwhile the chat serves everyone else.
    let mut connection = Connection::open(chat.addr()).await;
    assert_eq!(
        connection.request("GET", "/room/lobby", "").await.status,
        200
    );

    // Each closes a head timeout after it opened: the last within the
    // timeout after the last opened, give or take the timer's tick and
    // the load of 2 cores.
    let took = closed_within(heads, TIMEOUT + Duration::from_millis(1500))
        .await
        .unwrap_or_else(|open| panic!("{open} half heads still open"));
    eprintln!("{HEADS} partial heads opened in {opened:?}, all closed {took:?} later");
    assert!(
        opened + took >= TIMEOUT,
        "closed early: {:?}",
        opened + took
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_takes_under_a_second_with_rooms_streams_and_partial_heads_open() {
    let _measuring = MEASURING.lock().await;
    const HEADS: usize = 1000;
    const STREAMS: usize = 100;
    ensure_nofile_limit(4 * (HEADS + STREAMS) as u64);
    let mut chat = start(&["--max-rooms", "2000"], "info").await;
    let mut connection = Connection::open(chat.addr()).await;
    for n in 0..1000 {
        assert_eq!(
            connection
                .post(&format!("r{n}"), "ann", "hello")
                .await
                .status,
            202
        );
    }
    let mut streams = JoinSet::new();
    let (opened, mut open) = tokio::sync::mpsc::channel(STREAMS);
    for n in 0..STREAMS {
        let mut source = follow(&chat, &format!("r{n}"));
        let opened = opened.clone();
        streams.spawn(async move {
            // Open: its first `stats` event has arrived.
            next_stats(&mut source).await;
            opened.send(()).await.unwrap();
            timeout(WAIT, async {
                loop {
                    match source.next().await {
                        None | Some(Item::Reconnecting { .. }) | Some(Item::Closed(_)) => return,
                        Some(_) => {}
                    }
                }
            })
            .await
            .expect("the stream ends at shutdown")
        });
    }
    for _ in 0..STREAMS {
        timeout(WAIT, open.recv()).await.expect("every stream open");
    }
    let heads = partial_heads(chat.addr(), HEADS, PARTIAL_HEAD).await;

    let (took, exit) = chat.terminate_and_time(WAIT).await;
    let success = exit.success();
    eprintln!("shutdown with 1000 rooms, {STREAMS} streams and {HEADS} partial heads: {took:?}");
    assert!(success, "{:?}", chat.output());
    assert!(took < Duration::from_secs(1), "shutdown took {took:?}");
    while let Some(ended) = streams.join_next().await {
        ended.unwrap();
    }
    closed_within(heads, WAIT)
        .await
        .unwrap_or_else(|open| panic!("{open} half heads still open after the exit"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_beyond_the_room_cap_is_429_and_every_stream_stays_200() {
    let chat = start(&["--max-rooms", "3", "--room-idle-ms", "1000"], "info").await;
    let mut observer = follow(&chat, "observer");
    let mut connection = Connection::open(chat.addr()).await;

    // Viewing rooms that do not exist makes nothing.
    for n in 0..200 {
        let answer = connection
            .request("GET", &format!("/room/unseen-{n}"), "")
            .await;
        assert_eq!(answer.status, 200);
    }
    stats_become(&mut observer, 0, 2, WAIT).await;

    for room in ["a", "b", "c"] {
        assert_eq!(connection.post(room, "ann", "hi").await.status, 202);
    }
    let refused = connection.post("d", "ann", "hi").await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert!(
        refused.body.contains("maximum of 3 rooms"),
        "{}",
        refused.body
    );
    assert!(refused.header("retry-after").is_some());
    // An existing room takes posts; every room's stream is served, the
    // refused one's too, for a page must keep reconnecting.
    assert_eq!(connection.post("a", "ann", "still here").await.status, 202);
    for room in ["a", "d", "never-posted"] {
        let (status, content_type) = head_of_get(chat.addr(), &format!("/stream/{room}")).await;
        assert_eq!(
            (status, content_type.as_str()),
            (200, "text/event-stream"),
            "/stream/{room}"
        );
    }
    let stats = next_stats(&mut observer).await;
    assert_eq!(stats["rooms"], 3, "{stats}");

    // Once the rooms are idle they go, and a new room is welcome.
    stats_become(&mut observer, 0, 2, WAIT).await;
    assert_eq!(connection.post("d", "ann", "at last").await.status, 202);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nick_with_line_breaks_and_escapes_is_logged_escaped() {
    let chat = start(&[], "info,chat=debug").await;
    let mut connection = Connection::open(chat.addr()).await;
    let nick = "eve\r\nINFO forged\u{1b}[31m";
    let answer = connection.post("logs", nick, "hello").await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    let logged = r"eve\r\nINFO forged\u{1b}[31m";
    let started = Instant::now();
    while !chat
        .output()
        .iter()
        .any(|line| line.contains("message posted"))
    {
        assert!(
            started.elapsed() < WAIT,
            "no DEBUG line: {:?}",
            chat.output()
        );
        sleep(Duration::from_millis(20)).await;
    }
    let output = chat.output();
    let line = output
        .iter()
        .find(|line| line.contains("message posted"))
        .unwrap();
    assert!(line.contains(logged), "{line}");
    for line in &output {
        assert!(!line.starts_with("INFO forged"), "a forged line: {line:?}");
        assert!(
            !line.contains(['\r', '\u{1b}']),
            "raw control characters: {line:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_disconnect_needs_the_token_and_refuses_other_sites() {
    let chat = start(&ADMIN_ARGS, "info").await;
    let url = url(&chat);
    let mut stream = follow(&chat, "watched");
    next_stats(&mut stream).await;
    let bearer = format!("Authorization: Bearer {ADMIN_TOKEN}");
    let origin = format!("Origin: {url}");

    assert_eq!(admin_disconnect(&url, &[]).await, 401);
    assert_eq!(
        admin_disconnect(&url, &["Authorization: Bearer wrong"]).await,
        401
    );
    let token_only = format!("Authorization: {ADMIN_TOKEN}");
    assert_eq!(admin_disconnect(&url, &[&token_only]).await, 401);
    for cross in [
        "Origin: http://evil.example",
        "Origin: null",
        "Sec-Fetch-Site: cross-site",
        "Sec-Fetch-Site: same-site",
    ] {
        assert_eq!(admin_disconnect(&url, &[cross]).await, 403, "{cross}");
        assert_eq!(
            admin_disconnect(&url, &[&bearer, cross]).await,
            403,
            "{cross} with the token"
        );
    }
    // None of that ended the stream: the next event is still a `stats`.
    next_stats(&mut stream).await;

    assert_eq!(
        admin_disconnect(&url, &[&bearer, &origin, "Sec-Fetch-Site: same-origin"]).await,
        204
    );
    timeout(WAIT, async {
        loop {
            match stream.next().await.expect("the source goes on") {
                Item::Reconnecting { .. } => return,
                Item::Closed(error) => panic!("closed for good: {error}"),
                _ => {}
            }
        }
    })
    .await
    .expect("the stream ended by the disconnect");
    assert!(
        chat.output().iter().all(|line| !line.contains(ADMIN_TOKEN)),
        "the token was logged"
    );
}

#[tokio::test]
async fn the_admin_route_is_not_served_without_a_token_of_sixteen_characters() {
    for args in [&["--admin"][..], &["--admin", "--admin-token", "short"]] {
        let output = timeout(
            WAIT,
            Command::new(CHAT)
                .args(["--addr", "127.0.0.1:0"])
                .args(args)
                .env_remove("CHAT_ADMIN_TOKEN")
                .stdin(Stdio::null())
                .output(),
        )
        .await
        .expect("the chat refuses at once")
        .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} started");
        assert!(stderr.contains("--admin-token"), "{args:?}: {stderr}");
    }
    // Without `--admin`, no admin route at all.
    let chat = start(&[], "info").await;
    let status = admin_disconnect(
        &url(&chat),
        &[&format!("Authorization: Bearer {ADMIN_TOKEN}")],
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_a_dead_rooms_stream_expires_after_the_idle_age() {
    let redis = RedisServer::start();
    let chat = start(&["--redis", &redis.url(), "--room-idle-ms", "1000"], "info").await;
    let mut connection = Connection::open(chat.addr()).await;
    assert_eq!(connection.post("ephemeral", "ann", "hi").await.status, 202);
    let key = "sse:topic:room:{ephemeral}";
    assert_eq!(integer(&redis.command(&["EXISTS", key])), 1);
    let ttl = integer(&redis.command(&["PTTL", key]));
    assert!((1..=1000).contains(&ttl), "PTTL {ttl}");
    let started = Instant::now();
    while integer(&redis.command(&["EXISTS", key])) != 0 {
        assert!(started.elapsed() < WAIT, "{key} is still in Redis");
        sleep(Duration::from_millis(100)).await;
    }
    // And the chat's own record of it, at its next sweep.
    let mut observer = follow(&chat, "observer");
    while next_stats(&mut observer).await["rooms"] != 0 {
        assert!(started.elapsed() < WAIT, "the room is still counted");
    }
}

/// The integer of a RESP reply (`:N`).
fn integer(reply: &str) -> i64 {
    reply
        .trim()
        .strip_prefix(':')
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not an integer reply: {reply:?}"))
}
