//! The harness the examples' browser tests share: it starts an example's
//! binary on a free port, a `chromedriver`, and headless Chromium sessions
//! driven through [`fantoccini`], and bounds every wait.
//!
//! ```no_run
//! use browser_test::{Browser, Example, wait_until};
//!
//! # async fn test() {
//! // Without a browser this prints why and returns; under `CI` it panics.
//! let Some(browser) = Browser::start().await else { return };
//! let server = Example::start("target/debug/clock", &["--every", "1"]).await;
//! let page = browser.open(server.url()).await;
//! let items = wait_until("an item", || async {
//!     let items = page.texts("li").await;
//!     if items.is_empty() { Err(items) } else { Ok(items) }
//! })
//! .await;
//! assert_eq!(items[0], "hello");
//! page.close().await;
//! # }
//! ```
//!
//! Chromium and chromedriver are Debian's (`apt-get install chromium
//! chromium-driver`), at `/usr/bin/chromium` and `/usr/bin/chromedriver`
//! unless the `CHROMIUM` and `CHROMEDRIVER` variables name others. When
//! either is missing, [`Browser::start`] fails the test if the `CI`
//! variable is set, and otherwise prints `browser tests did NOT run` to
//! stderr and returns `None`, so a test returns early.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::fmt::Debug;
use std::future::Future;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::time::Instant;

/// How long any one wait may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// How often [`wait_until`] checks again.
const POLL: Duration = Duration::from_millis(100);

/// The flags Chromium runs with: headless, and nothing that reaches out to
/// the network by itself.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
];

/// Awaits `future`, failing the test after [`TIMEOUT`].
pub async fn within<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(TIMEOUT, future).await {
        Ok(output) => output,
        Err(_) => panic!("timed out after {TIMEOUT:?} waiting for {what}"),
    }
}

/// Runs `check` every 100 ms until it returns `Ok`, and returns that value;
/// fails the test after [`TIMEOUT`], showing the last `Err` (what was seen
/// instead).
pub async fn wait_until<T, E, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Debug,
{
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match within(what, check()).await {
            Ok(value) => return value,
            Err(seen) if Instant::now() >= deadline => {
                panic!("timed out after {TIMEOUT:?} waiting for {what}; last seen: {seen:?}")
            }
            Err(_) => tokio::time::sleep(POLL).await,
        }
    }
}

/// A running `chromedriver`; [`open`](Self::open) starts a browser session
/// on a page. Stopped (with every browser it started) on drop.
#[derive(Debug)]
pub struct Browser {
    driver: Child,
    webdriver: String,
    chromium: PathBuf,
}

impl Browser {
    /// Starts `chromedriver` on a free port. `None` when chromedriver or
    /// Chromium is not installed and `CI` is not set (after saying so on
    /// stderr); a test then returns without running.
    ///
    /// # Panics
    ///
    /// When a browser is missing and `CI` is set: in CI the browser tests
    /// are mandatory.
    pub async fn start() -> Option<Browser> {
        let driver_path = program("CHROMEDRIVER", "/usr/bin/chromedriver");
        let chromium = program("CHROMIUM", "/usr/bin/chromium");
        for (name, path) in [("chromedriver", &driver_path), ("chromium", &chromium)] {
            if path.is_file() {
                continue;
            }
            let install = "apt-get install -y chromium chromium-driver";
            if std::env::var_os("CI").is_some() {
                panic!(
                    "CI is set and {name} is not at {}: the browser tests must run in CI ({install})",
                    path.display()
                );
            }
            // Straight to the process's stderr: the test harness captures
            // `eprintln!` of passing tests, and this must be seen.
            let _ = writeln!(
                std::io::stderr(),
                "browser tests did NOT run: {name} not found at {} ({install}, or set {})",
                path.display(),
                name.to_uppercase()
            );
            return None;
        }

        let mut driver = Command::new(&driver_path)
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            // Its own process group, so that dropping it also stops the
            // browsers it started.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", driver_path.display()));
        // "ChromeDriver was started successfully on port 44077."
        let mut lines = BufReader::new(driver.stdout.take().expect("piped")).lines();
        let port = within("chromedriver to start", async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some((_, port)) = line.split_once("successfully on port ") {
                    return port.trim_end_matches('.').parse::<u16>().ok();
                }
            }
            None
        })
        .await
        .expect("chromedriver printed the port it listens on");
        // Keep reading, so that chromedriver never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Some(Browser {
            driver,
            webdriver: format!("http://127.0.0.1:{port}"),
            chromium,
        })
    }

    /// A new headless Chromium (with a fresh profile) showing `url`.
    pub async fn open(&self, url: &str) -> Page {
        self.open_with(url, &[]).await
    }

    /// [`open`](Self::open), with `extra` flags for Chromium, such as
    /// `--ignore-certificate-errors` for an example's self-signed
    /// certificate.
    pub async fn open_with(&self, url: &str, extra: &[&str]) -> Page {
        let profile = tempfile::tempdir().expect("a temporary profile directory");
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|&arg| arg.to_owned()).collect();
        args.extend(extra.iter().map(|&arg| arg.to_owned()));
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let capabilities = json!({
            "goog:chromeOptions": { "binary": self.chromium, "args": args },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("an object literal")
        };
        let client = within(
            "a browser session",
            ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities)
                .connect(&self.webdriver),
        )
        .await
        .unwrap_or_else(|error| panic!("cannot start a Chromium session: {error}"));
        within("the page to load", client.goto(url))
            .await
            .unwrap_or_else(|error| panic!("cannot load {url}: {error}"));
        Page {
            client,
            _profile: profile,
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(pid) = self.driver.id() {
            // The whole group: chromedriver and the browsers it started.
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .status();
        }
    }
}

/// One browser showing one page. [`close`](Self::close) it at the end of a
/// test to stop its browser at once.
#[derive(Debug)]
pub struct Page {
    client: Client,
    _profile: TempDir,
}

/// What a page's `#status` says (`examples/shared/live-stream.js`), and
/// every state it has had since [`Page::record_stream_states`].
#[derive(Debug, serde::Deserialize)]
pub struct StreamStatus {
    /// The text shown.
    pub text: String,
    /// `data-state`: `open`, `reconnecting`, `unavailable` or `stopped`.
    pub state: Option<String>,
    /// `data-opens`: how many times the stream really opened (the chat's).
    pub opens: u32,
    /// `data-ever-stopped`: set once the `EventSource` was ever `CLOSED`.
    pub ever_stopped: Option<String>,
    /// Each change of the state and the text, in order.
    pub history: Vec<String>,
}

impl Page {
    /// Records every change of the page's `#status` (kept by
    /// `examples/shared/live-stream.js`), so that a state between two polls
    /// of [`stream_status`](Self::stream_status) is seen too.
    pub async fn record_stream_states(&self) {
        let () = self
            .eval(
                "const status = document.getElementById('status');
                 window.statusHistory = [`${status.dataset.state} ${status.textContent}`];
                 new MutationObserver(() => {
                   window.statusHistory.push(`${status.dataset.state} ${status.textContent}`);
                 }).observe(status, { attributes: true, childList: true, characterData: true, subtree: true });
                 return null;",
                vec![],
            )
            .await;
    }

    /// What the page's `#status` says now; fails the test at once if its
    /// `EventSource` has ever been `CLOSED` (a browser that will not
    /// reconnect by itself).
    pub async fn stream_status(&self) -> StreamStatus {
        let status: StreamStatus = self
            .eval(
                "const status = document.getElementById('status');
                 return {
                   text: status.textContent,
                   state: status.dataset.state ?? null,
                   opens: Number(status.dataset.opens ?? 0),
                   ever_stopped: status.dataset.everStopped ?? null,
                   history: window.statusHistory ?? [],
                 };",
                vec![],
            )
            .await;
        assert_eq!(
            status.ever_stopped, None,
            "the page's EventSource reached CLOSED: {status:#?}"
        );
        assert!(
            status
                .history
                .iter()
                .all(|seen| !seen.starts_with("stopped")),
            "the page's EventSource reached CLOSED: {status:#?}"
        );
        status
    }

    /// Waits until the page's stream has opened `times` times in all and is
    /// open; fails the test if it ever reached `CLOSED`.
    pub async fn stream_opened(&self, times: u32) -> StreamStatus {
        wait_until(&format!("the stream to open {times} time(s)"), || async {
            let status = self.stream_status().await;
            if status.opens >= times && status.state.as_deref() == Some("open") {
                Ok(status)
            } else {
                Err(status)
            }
        })
        .await
    }

    /// The WebDriver client, for anything the helpers do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Runs `script` (a function body: `return …`) in the page with
    /// `args` as `arguments`, and reads what it returns.
    pub async fn eval<T: DeserializeOwned>(&self, script: &str, args: Vec<Value>) -> T {
        let value = within("a script", self.client.execute(script, args))
            .await
            .unwrap_or_else(|error| panic!("script failed: {error}\n{script}"));
        serde_json::from_value(value)
            .unwrap_or_else(|error| panic!("unexpected script result: {error}\n{script}"))
    }

    /// The text of every element `css` selects, in document order.
    pub async fn texts(&self, css: &str) -> Vec<String> {
        self.eval(
            "return Array.from(document.querySelectorAll(arguments[0]), e => e.textContent);",
            vec![css.into()],
        )
        .await
    }

    /// Waits (bounded, as [`wait_until`]) until the texts of the elements
    /// matching `css` are exactly `expected`.
    pub async fn wait_for_texts(&self, css: &str, expected: &[&str]) {
        wait_until(&format!("{css} to read {expected:?}"), || async {
            let texts = self.texts(css).await;
            if texts == expected {
                Ok(())
            } else {
                Err(texts)
            }
        })
        .await;
    }

    /// The value of attribute `name` of every element `css` selects.
    pub async fn attributes(&self, css: &str, name: &str) -> Vec<Option<String>> {
        self.eval(
            "return Array.from(document.querySelectorAll(arguments[0]), e => e.getAttribute(arguments[1]));",
            vec![css.into(), name.into()],
        )
        .await
    }

    /// Types `text` into the (emptied) field `css` selects, as a user would.
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("a field that can be cleared");
        within("typing", field.send_keys(text))
            .await
            .expect("a field that takes keys");
    }

    /// Clicks the element `css` selects.
    pub async fn click(&self, css: &str) {
        let element = self.find(css).await;
        within("a click", element.click())
            .await
            .unwrap_or_else(|error| panic!("cannot click {css}: {error}"));
    }

    /// Saves a PNG screenshot of the page to `path`.
    pub async fn screenshot(&self, path: &Path) {
        let png = within("a screenshot", self.client.screenshot())
            .await
            .expect("a screenshot");
        std::fs::write(path, png)
            .unwrap_or_else(|error| panic!("cannot write {}: {error}", path.display()));
    }

    /// Ends the browser session.
    pub async fn close(self) {
        let _ = within("the browser to close", self.client.close()).await;
    }

    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        within(css, self.client.wait().for_element(Locator::Css(css)))
            .await
            .unwrap_or_else(|error| panic!("no element {css}: {error}"))
    }
}

/// An example's binary, started on a free port of 127.0.0.1, stopped on
/// drop. Its output (stdout and stderr) is kept, for tests of its logs.
#[derive(Debug)]
pub struct Example {
    child: Child,
    url: String,
    output: Arc<Mutex<Vec<String>>>,
}

impl Example {
    /// Runs `binary --addr 127.0.0.1:0 ARGS…` and waits for the URL it
    /// prints (`http://…`, or `https://…`).
    pub async fn start(binary: &str, args: &[&str]) -> Example {
        let mut child = Command::new(binary)
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {binary}: {error}"));
        let output = Arc::new(Mutex::new(Vec::new()));
        collect_lines(child.stdout.take(), Arc::clone(&output));
        collect_lines(child.stderr.take(), Arc::clone(&output));
        let url = wait_until("the example to print its URL", || {
            let output = Arc::clone(&output);
            async move {
                let output = output.lock().expect("not poisoned");
                output
                    .iter()
                    .find_map(|line| {
                        line.split_whitespace()
                            .find(|w| w.starts_with("http://") || w.starts_with("https://"))
                    })
                    .map(|url| url.trim_end_matches('/').to_owned())
                    .ok_or_else(|| output.clone())
            }
        })
        .await;
        Example { child, url, output }
    }

    /// Sends the example `SIGINT`, as Ctrl-C would (through `kill`).
    pub async fn interrupt(&self) {
        let pid = self.child.id().expect("the example is running");
        let status = within(
            "kill -INT",
            Command::new("kill")
                .args(["-INT", &pid.to_string()])
                .status(),
        )
        .await
        .expect("`kill` runs");
        assert!(status.success(), "kill -INT {pid}: {status}");
    }

    /// Waits until the example exits, and whether it exited with success.
    pub async fn exited(&mut self) -> bool {
        within("the example to exit", self.child.wait())
            .await
            .expect("waiting for the example")
            .success()
    }

    /// `http://127.0.0.1:PORT` (or `https://…`), without a trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every line the example has written so far.
    pub fn output(&self) -> Vec<String> {
        self.output.lock().expect("not poisoned").clone()
    }

    /// Waits until a line of the example's output contains `text`.
    pub async fn wait_for_output(&self, text: &str) {
        wait_until(&format!("the example to log {text:?}"), || async {
            let output = self.output();
            if output.iter().any(|line| line.contains(text)) {
                Ok(())
            } else {
                Err(output)
            }
        })
        .await;
    }

    /// `POST`s `body` to `path` (HTTP/1.1, one connection, plain HTTP
    /// only); returns the status and the response body.
    pub async fn post(&self, path: &str, content_type: &str, body: &str) -> (u16, String) {
        let authority = self.url.trim_start_matches("http://");
        within(&format!("POST {path}"), async {
            let mut tcp = TcpStream::connect(authority)
                .await
                .expect("the example is up");
            let request = format!(
                "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: {content_type}\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            tcp.write_all(request.as_bytes())
                .await
                .expect("a request sent");
            let mut response = String::new();
            tcp.read_to_string(&mut response).await.expect("a response");
            let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
            let status = head
                .split_whitespace()
                .nth(1)
                .and_then(|status| status.parse().ok())
                .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
            (status, body.to_owned())
        })
        .await
    }
}

/// Form-encodes `fields` (`application/x-www-form-urlencoded`).
pub fn form(fields: &[(&str, &str)]) -> String {
    let encode = |text: &str| {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    char::from(b).to_string()
                }
                b' ' => "+".to_owned(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    fields
        .iter()
        .map(|(name, value)| format!("{}={}", encode(name), encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

fn collect_lines(
    pipe: Option<impl AsyncRead + Unpin + Send + 'static>,
    into: Arc<Mutex<Vec<String>>>,
) {
    let Some(pipe) = pipe else { return };
    tokio::spawn(async move {
        let mut lines = BufReader::new(pipe).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            into.lock().expect("not poisoned").push(line);
        }
    });
}

fn program(variable: &str, default: &str) -> PathBuf {
    std::env::var_os(variable).map_or_else(|| PathBuf::from(default), PathBuf::from)
}
