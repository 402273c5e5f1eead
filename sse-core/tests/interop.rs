//! Interoperability: a third-party, spec-compliant client reads our bytes.
//!
//! Our own decoder judging our own encoder would share any misreading of the
//! standard, so this test serves events encoded by `ssekit-core` over real HTTP
//! to the npm package `eventsource` (a WHATWG-compliant `EventSource` for
//! Node) and to `eventsource-parser` (the parser inside it, which also
//! reports `retry` values and comments), and checks that they receive
//! exactly what was meant.
//!
//! The stream is written in deliberately awkward chunks, with small delays,
//! so that field names, line ends and multi-byte characters are split across
//! TCP writes.
//!
//! It needs Node.js and the client's packages. It never skips: without them
//! it fails and names the command that installs them (run from the workspace
//! root):
//!
//! ```text
//! npm ci --prefix sse-core/tests/interop
//! ```

use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use serde_json::value::RawValue;
use ssekit_core::{Event, EventBuilder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::Command;
use tokio::time::{sleep, timeout};

/// The type of the last event; both clients stop when they receive it.
const END: &str = "interop-end";
/// Bounds every wait, so that a hang fails the test instead of blocking it.
const TIMEOUT: Duration = Duration::from_secs(30);
const INSTALL: &str = "npm ci --prefix sse-core/tests/interop";

const RESPONSE_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\n\
    Content-Type: text/event-stream\r\n\
    Cache-Control: no-cache\r\n\
    Connection: close\r\n\r\n";

/// One event as an `EventSource` dispatches it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Dispatched {
    event_type: String,
    data: String,
    last_event_id: String,
}

/// The events to send, and what a spec-compliant client must make of them.
#[derive(Default)]
struct Script {
    frames: Vec<Event>,
    dispatched: Vec<Dispatched>,
    retries: Vec<u64>,
    comments: Vec<String>,
}

impl Script {
    fn send(&mut self, event: Event) {
        self.frames.push(event);
    }

    fn expect(&mut self, event_type: &str, data: &str, last_event_id: &str) {
        self.dispatched.push(Dispatched {
            event_type: event_type.to_owned(),
            data: data.to_owned(),
            last_event_id: last_event_id.to_owned(),
        });
    }

    fn expect_retry(&mut self, millis: u64) {
        self.retries.push(millis);
    }

    fn expect_comments(&mut self, comments: &[&str]) {
        self.comments
            .extend(comments.iter().map(|c| (*c).to_owned()));
    }

    /// The stream, and the byte ranges of the frames too large to send in
    /// tiny chunks.
    fn body(&self) -> (Vec<u8>, Vec<Range<usize>>) {
        let mut body = Vec::new();
        let mut large = Vec::new();
        for frame in &self.frames {
            let start = body.len();
            body.extend_from_slice(frame.as_bytes());
            if frame.len() > 4096 {
                large.push(start..body.len());
            }
        }
        (body, large)
    }

    /// The event types to listen for, besides `message`.
    fn types(&self) -> Vec<String> {
        let mut types: Vec<String> = self
            .dispatched
            .iter()
            .map(|d| d.event_type.clone())
            .filter(|t| t != "message")
            .collect();
        // Sent without data, so never dispatched: listening proves it.
        types.push("ghost".to_owned());
        types.sort();
        types.dedup();
        types
    }
}

fn build(builder: EventBuilder<'_>) -> Event {
    builder
        .build()
        .expect("the script only builds valid events")
}

fn script() -> Script {
    let mut s = Script::default();

    // A comment before any event, with every kind of line break.
    s.send(Event::comment("ssekit-core interop\nLF\r\nCRLF\rCR"));
    s.expect_comments(&["ssekit-core interop", "LF", "CRLF", "CR"]);
    s.send(Event::retry(Duration::ZERO));
    s.expect_retry(0);

    s.send(build(Event::builder().id("1").data("plain")));
    s.expect("message", "plain", "1");

    // Line breaks in data: the client sees each one as LF.
    for (data, received) in [
        ("a\r\nb", "a\nb"),
        ("a\rb", "a\nb"),
        ("a\nb", "a\nb"),
        ("trailing LF\n", "trailing LF\n"),
        ("trailing CRLF\r\n", "trailing CRLF\n"),
        ("trailing CR\r", "trailing CR\n"),
        ("", ""),
        ("\n", "\n"),
        ("\r\n\r\n", "\n\n"),
        ("\r\r\n\n", "\n\n\n"),
        ("LF CR\n\rx", "LF CR\n\nx"),
        ("top\n\nbottom", "top\n\nbottom"),
    ] {
        s.send(Event::data(data));
        s.expect("message", received, "1");
    }

    // Data that looks like syntax, or is awkward text: received unchanged.
    for data in [
        " leading space",
        "  two leading spaces",
        "trailing space ",
        "a:b: c",
        ":looks like a comment",
        "data: looks like a field",
        "x\nid: 666\nevent: injected\n\ndata: injected",
        "tab\there",
        "nul\0byte",
        "\u{feff}BOM inside",
        "U+2028\u{2028}U+2029\u{2029}NEL\u{85}VT\u{b}FF\u{c}",
        "emoji 🎉 family 👩‍👩‍👧 flag 🇺🇳 CJK 日本語 combining e\u{301}",
    ] {
        s.send(Event::data(data));
        s.expect("message", data, "1");
    }

    // Event types.
    s.send(build(Event::builder().event("update").data("typed")));
    s.expect("update", "typed", "1");
    s.send(build(Event::builder().event(" spaced type").data("t")));
    s.expect(" spaced type", "t", "1");
    s.send(build(Event::builder().event("tÿpe ✓ 🎉").data("t")));
    s.expect("tÿpe ✓ 🎉", "t", "1");
    s.send(build(Event::builder().event("message").data("explicit")));
    s.expect("message", "explicit", "1");
    s.send(build(Event::builder().event("").data("empty type")));
    s.expect("message", "empty type", "1");
    // A type without data dispatches nothing, and does not leak into the
    // next event.
    s.send(build(Event::builder().event("ghost")));
    s.send(Event::data("after ghost"));
    s.expect("message", "after ghost", "1");

    // Ids: kept by the client until the next one.
    s.send(build(Event::builder().id("").data("empty id")));
    s.expect("message", "empty id", "");
    s.send(Event::data("still no id"));
    s.expect("message", "still no id", "");
    s.send(build(Event::builder().id(" leading space id").data("x")));
    s.expect("message", "x", " leading space id");
    s.send(build(Event::builder().id("42")));
    s.send(Event::data("after an id alone"));
    s.expect("message", "after an id alone", "42");
    s.send(build(
        Event::builder()
            .id("ünï:cöde 😀")
            .event("update")
            .data("unicode id"),
    ));
    s.expect("update", "unicode id", "ünï:cöde 😀");

    // Comments between events and inside one.
    s.send(Event::comment("between\r\nevents"));
    s.expect_comments(&["between", "events"]);
    s.send(Event::KEEP_ALIVE);
    s.expect_comments(&[""]);
    s.send(build(
        Event::builder()
            .comment("inline\ncomment")
            .comment("second")
            .event("update")
            .id("7")
            .data("after comments"),
    ));
    s.expect_comments(&["inline", "comment", "second"]);
    s.expect("update", "after comments", "7");

    // Retry: whole milliseconds.
    s.send(build(
        Event::builder()
            .retry(Duration::from_micros(1500))
            .data("with retry"),
    ));
    s.expect_retry(1);
    s.expect("message", "with retry", "7");
    s.send(Event::retry(Duration::from_millis(2500)));
    s.expect_retry(2500);

    // JSON, including a raw value with raw line breaks.
    let raw = RawValue::from_string("{\n  \"text\": \"raw\",\r\n  \"list\": [1,\r2]\n}".to_owned())
        .expect("valid JSON");
    s.send(build(Event::builder().event("json").json(&raw)));
    s.expect(
        "json",
        "{\n  \"text\": \"raw\",\n  \"list\": [1,\n2]\n}",
        "7",
    );
    let value = serde_json::json!({ "lines": "one\ntwo\r\nthree", "sep": "\u{2028}", "e": "😀" });
    s.send(Event::json(&value).expect("serializable"));
    s.expect("message", &serde_json::to_string(&value).unwrap(), "7");

    // A large event, with multi-byte characters and CRLFs split across writes.
    let big = "big ä€𝄞 line\r\n".repeat(4000);
    s.send(build(Event::builder().event("big").data(big.as_str())));
    s.expect("big", &big.replace("\r\n", "\n"), "7");

    s.send(build(
        Event::builder()
            .retry(Duration::from_secs(3))
            .event(END)
            .id("end")
            .data("end"),
    ));
    s.expect_retry(3000);
    s.expect(END, "end", "end");
    s
}

/// What the server saw of one connection.
#[derive(Debug)]
struct Served {
    path: String,
    headers: Vec<(String, String)>,
    /// Whether the whole stream was written; the error otherwise.
    result: Result<(), String>,
}

impl Served {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Chunk sizes cycled through when writing the stream: small and uneven, so
/// that lines, field names and UTF-8 sequences are split.
const CHUNKS: &[usize] = &[1, 2, 3, 1, 5, 2, 7, 1, 4, 11, 3, 1, 13, 6];
/// The chunk size within large frames, odd so that it also splits characters.
const LARGE_CHUNK: usize = 997;

async fn write_awkwardly(
    stream: &mut TcpStream,
    body: &[u8],
    large: &[Range<usize>],
) -> io::Result<()> {
    let mut offset = 0;
    let mut i = 0;
    while offset < body.len() {
        let size = if large.iter().any(|r| r.contains(&offset)) {
            LARGE_CHUNK
        } else {
            CHUNKS[i % CHUNKS.len()]
        };
        let end = (offset + size).min(body.len());
        stream.write_all(&body[offset..end]).await?;
        stream.flush().await?;
        offset = end;
        i += 1;
        sleep(Duration::from_millis(1)).await;
    }
    Ok(())
}

/// Reads a request head, up to the blank line.
async fn read_head(stream: &mut TcpStream) -> io::Result<(String, Vec<(String, String)>)> {
    let mut head = Vec::new();
    let mut buf = [0; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > 16 * 1024 {
            return Err(io::Error::other("request head too long"));
        }
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Err(io::Error::other(
                "connection closed inside the request head",
            ));
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    if parts.next() != Some("GET") {
        return Err(io::Error::other(format!(
            "expected a GET request, got {request_line:?}"
        )));
    }
    let path = parts.next().unwrap_or_default().to_owned();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Ok((path, headers))
}

async fn serve_one(
    mut stream: TcpStream,
    body: Arc<Vec<u8>>,
    large: Arc<Vec<Range<usize>>>,
) -> Served {
    let (path, headers) = match read_head(&mut stream).await {
        Ok(head) => head,
        Err(e) => {
            return Served {
                path: String::new(),
                headers: Vec::new(),
                result: Err(format!("reading the request: {e}")),
            };
        }
    };
    let result = async {
        stream.set_nodelay(true)?;
        stream.write_all(RESPONSE_HEAD).await?;
        stream.flush().await?;
        write_awkwardly(&mut stream, &body, &large).await?;
        // Keep the connection open until the client closes it, so that the
        // client never sees the stream end (and reconnects) before it has
        // read the last event.
        let mut sink = [0; 256];
        match timeout(TIMEOUT, async {
            while stream.read(&mut sink).await? != 0 {}
            io::Result::Ok(())
        })
        .await
        {
            Ok(read) => read,
            Err(_) => Err(io::Error::other("the client did not close the connection")),
        }
    }
    .await
    .map_err(|e| format!("serving {path}: {e}"));
    Served {
        path,
        headers,
        result,
    }
}

/// Serves the stream to the two connections the client makes, then reports
/// what it saw of them.
async fn serve(listener: TcpListener, body: Vec<u8>, large: Vec<Range<usize>>) -> Vec<Served> {
    let body = Arc::new(body);
    let large = Arc::new(large);
    let served = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let Ok((stream, _)) = listener.accept().await else {
            break;
        };
        let (body, large, served) = (body.clone(), large.clone(), served.clone());
        tasks.push(tokio::spawn(async move {
            let s = serve_one(stream, body, large).await;
            served.lock().unwrap().push(s);
        }));
    }
    for task in tasks {
        task.await.expect("connection task panicked");
    }
    Arc::try_unwrap(served)
        .expect("all tasks are done")
        .into_inner()
        .unwrap()
}

/// The client's folder, after checking that it can run: fails, never skips.
fn client_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop");
    match std::process::Command::new("node").arg("--version").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "`node --version` failed ({}): the interop test needs Node.js (20 or later) on PATH",
            out.status
        ),
        Err(e) => panic!(
            "cannot run `node` ({e}): the interop test needs Node.js (20 or later) on PATH, \
             then its packages: `{INSTALL}` (from the workspace root)"
        ),
    }
    for package in ["eventsource", "eventsource-parser"] {
        let path = dir.join("node_modules").join(package).join("package.json");
        assert!(
            path.is_file(),
            "{} is missing: install the interop test's npm packages with `{INSTALL}` \
             (from the workspace root)",
            path.display()
        );
    }
    dir
}

fn string(record: &Value, key: &str) -> String {
    match &record[key] {
        Value::String(s) => s.clone(),
        other => panic!("{key} should be a string in {record}, got {other}"),
    }
}

/// Compares event by event, so that a failure names the first difference.
fn assert_events(client: &str, received: &[Dispatched], expected: &[Dispatched]) {
    for (i, (got, want)) in received.iter().zip(expected).enumerate() {
        assert_eq!(got, want, "{client}: event #{i} differs");
    }
    assert_eq!(
        received.len(),
        expected.len(),
        "{client}: received {} events, expected {}; the unmatched ones: {:?}",
        received.len(),
        expected.len(),
        if received.len() > expected.len() {
            &received[expected.len()..]
        } else {
            &expected[received.len()..]
        }
    );
}

#[tokio::test]
async fn eventsource_reads_our_events_exactly() {
    let dir = client_dir();
    let script = script();
    let (body, large) = script.body();
    let types = script.types();
    assert!(
        types.iter().all(|t| !t.contains(',')),
        "types are passed comma-separated"
    );

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(serve(listener, body, large));

    let child = Command::new("node")
        .arg("client.mjs")
        .arg(&base)
        .arg(types.join(","))
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawning node");
    let output = timeout(TIMEOUT, child.wait_with_output())
        .await
        .expect("the node client did not finish within 30 s")
        .expect("waiting for node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the node client failed ({}).\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );

    let served = timeout(TIMEOUT, server)
        .await
        .expect("the server did not finish within 30 s")
        .expect("server task panicked");
    assert_eq!(
        served.len(),
        2,
        "expected one connection per client: {served:?}"
    );
    for s in &served {
        assert_eq!(s.result, Ok(()), "connection to {:?}", s.path);
    }
    let es = served
        .iter()
        .find(|s| s.path == "/eventsource")
        .unwrap_or_else(|| panic!("no EventSource connection: {served:?}"));
    assert_eq!(es.header("accept"), Some("text/event-stream"));
    assert_eq!(es.header("last-event-id"), None, "first connection");

    let mut es_events = Vec::new();
    let mut parser_events = Vec::new();
    let mut retries = Vec::new();
    let mut comments = Vec::new();
    for line in stdout.lines() {
        let record: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("bad line from the node client ({e}): {line:?}"));
        match (record["client"].as_str(), record["kind"].as_str()) {
            (Some("eventsource"), Some("event")) => es_events.push(Dispatched {
                event_type: string(&record, "type"),
                data: string(&record, "data"),
                last_event_id: string(&record, "lastEventId"),
            }),
            (Some("parser"), Some("event")) => {
                parser_events.push((string(&record, "type"), string(&record, "data")));
            }
            (Some("parser"), Some("retry")) => retries.push(
                record["value"]
                    .as_u64()
                    .unwrap_or_else(|| panic!("retry should be an integer: {record}")),
            ),
            (Some("parser"), Some("comment")) => comments.push(string(&record, "value")),
            _ => panic!("the client reported a problem: {record}\nstderr:\n{stderr}"),
        }
    }

    assert_events("eventsource", &es_events, &script.dispatched);
    let expected_pairs: Vec<(String, String)> = script
        .dispatched
        .iter()
        .map(|d| (d.event_type.clone(), d.data.clone()))
        .collect();
    for (i, (got, want)) in parser_events.iter().zip(&expected_pairs).enumerate() {
        assert_eq!(got, want, "eventsource-parser: event #{i} differs");
    }
    assert_eq!(
        parser_events.len(),
        expected_pairs.len(),
        "eventsource-parser: number of events"
    );
    assert_eq!(retries, script.retries, "eventsource-parser: retry values");
    assert_eq!(comments, script.comments, "eventsource-parser: comments");

    // The JSON data is still the same JSON.
    let json = es_events
        .iter()
        .find(|e| e.event_type == "json")
        .expect("the json event");
    let reparsed: Value = serde_json::from_str(&json.data).unwrap();
    assert_eq!(
        reparsed,
        serde_json::json!({ "text": "raw", "list": [1, 2] })
    );
}
