//! The chat behind Debian's nginx, configured by the shipped
//! `deploy/nginx/ssekit.conf` (only its two addresses marked `test:` are
//! changed), with a page open in a real browser (headless Chromium, see the
//! `browser-test` crate) while the chat restarts: the page gets the next
//! message and its `EventSource` never reaches `CLOSED` (`#status` never
//! gets `data-ever-stopped="true"`).
//!
//! nginx runs as a child of the test (`nginx -p <temp dir> -g 'daemon
//! off;'`, its pid, logs and temporary files in that directory), on a free
//! port of 127.0.0.1, and is stopped by its pid. A missing nginx always
//! fails the test (`apt-get install nginx-light`); without a browser each
//! test says so on stderr and returns, and under `CI` fails.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use browser_test::{Browser, Page, wait_until, within};
use sse_test_support::hostile::Server;
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

const CHAT: &str = env!("CARGO_BIN_EXE_chat");

/// The shipped configuration, and the lines the test changes in it.
const SHIPPED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../deploy/nginx/ssekit.conf"
);
const UPSTREAM_LINE: &str = "server 127.0.0.1:3000 max_fails=0;  # test: upstream";
const LISTEN_LINE: &str = "listen 80;  # test: listen";

/// The chat's shutdown jitter here: retries of 1–2 s keep the test short.
const JITTER_MS: &str = "1000";

/// How long the chat stays down in the outage variant.
const DOWN: Duration = Duration::from_secs(2);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// `kill -SIGNAL pid`.
async fn signal(pid: u32, signal: &str) {
    let status = within(
        &format!("kill -{signal} {pid}"),
        Command::new("kill")
            .args([format!("-{signal}"), pid.to_string()])
            .status(),
    )
    .await
    .expect("`kill` runs");
    assert!(status.success(), "kill -{signal} {pid}: {status}");
}

/// Starts a chat process on `127.0.0.1:port` with `--reuse-port`, its
/// output kept, and waits until it says it listens.
async fn start_chat(port: u16) -> Server {
    let addr = format!("127.0.0.1:{port}");
    let args = [
        "--addr",
        &addr,
        "--reuse-port",
        "--shutdown-jitter-ms",
        JITTER_MS,
    ];
    Server::start(
        CHAT,
        &args,
        &[("RUST_LOG", Some("info"))],
        "chat listening on http://",
    )
    .await
}

/// Sends `chat` `SIGTERM` (a graceful shutdown) and waits until it exited.
async fn terminate(mut chat: Server) {
    let (_, status) = chat.terminate_and_time(browser_test::TIMEOUT).await;
    assert!(
        status.success(),
        "the chat exited with {status}: {:?}",
        chat.output()
    );
}

/// nginx as a child process, in its own directory; stopped by its pid.
struct Nginx {
    child: Option<Child>,
    pid: u32,
    dir: PathBuf,
    port: u16,
}

impl Nginx {
    /// Runs the shipped site on a free port of 127.0.0.1, in front of the
    /// chat on `upstream`, and waits until it accepts connections.
    async fn start(upstream: u16) -> Nginx {
        let program = std::env::var_os("NGINX")
            .map_or_else(|| PathBuf::from("/usr/sbin/nginx"), PathBuf::from);
        assert!(
            program.is_file(),
            "nginx is not at {}: the nginx test needs Debian's nginx (apt-get install -y nginx-light), or NGINX=/path/to/nginx",
            program.display()
        );
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("chat-nginx-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a directory for nginx");
        std::fs::write(dir.join("ssekit.conf"), site(upstream, port)).expect("the site written");
        std::fs::write(dir.join("nginx.conf"), main_conf(&dir)).expect("nginx.conf written");
        let log = std::fs::File::create(dir.join("stderr.log")).expect("a log file");
        let child = Command::new(&program)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-e")
            .arg(dir.join("error.log"))
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the log file"))
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", program.display()));
        let pid = child.id().expect("nginx is running");
        let mut nginx = Nginx {
            child: Some(child),
            pid,
            dir,
            port,
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = tokio::time::Instant::now() + browser_test::TIMEOUT;
        loop {
            let child = nginx.child.as_mut().expect("started");
            if let Some(status) = child.try_wait().expect("nginx's status") {
                panic!("nginx exited ({status}): {}", nginx.logs());
            }
            if TcpStream::connect(addr).await.is_ok() {
                return nginx;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "nginx did not listen on {addr}: {}",
                nginx.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Its error log and its own output, for a failure's message.
    fn logs(&self) -> String {
        ["stderr.log", "error.log"]
            .iter()
            .map(|name| std::fs::read_to_string(self.dir.join(name)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The statuses of the event stream requests it answered, in order.
    fn stream_statuses(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("access.log"))
            .unwrap_or_default()
            .lines()
            .filter(|line| line.contains("GET /stream/"))
            .filter_map(|line| {
                line.split("\" ")
                    .nth(1)?
                    .split(' ')
                    .next()
                    .map(str::to_owned)
            })
            .collect()
    }

    /// Stops it by its pid and waits: `SIGTERM`, nginx's fast shutdown
    /// (its graceful one, `SIGQUIT`, would wait for the open streams).
    async fn stop(mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        signal(self.pid, "TERM").await;
        within("nginx to exit", child.wait())
            .await
            .expect("waiting for nginx");
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // A test that failed: stop the master by its pid (its workers
            // exit with it), then kill it if it lingers.
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &self.pid.to_string()])
                .status();
            std::thread::sleep(Duration::from_millis(200));
            let _ = child.start_kill();
            eprintln!("nginx logs:\n{}", self.logs());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The shipped site with the test's two addresses.
fn site(upstream: u16, listen: u16) -> String {
    let shipped = std::fs::read_to_string(SHIPPED).expect("deploy/nginx/ssekit.conf");
    for line in [UPSTREAM_LINE, LISTEN_LINE] {
        assert_eq!(
            shipped.matches(line).count(),
            1,
            "{SHIPPED} has `{line}` once"
        );
    }
    shipped
        .replace(
            UPSTREAM_LINE,
            &format!("server 127.0.0.1:{upstream} max_fails=0;  # test: upstream"),
        )
        .replace(
            LISTEN_LINE,
            &format!("listen 127.0.0.1:{listen};  # test: listen"),
        )
}

/// What Debian's /etc/nginx/nginx.conf provides around a site, every path
/// in `dir`. Started as root, nginx runs its workers as `nobody` unless
/// told otherwise: `user root` keeps them able to write the temporary
/// paths of `dir`, which root created; as anyone else there is no
/// `user` directive (nginx would only warn that it is ignored).
fn main_conf(dir: &Path) -> String {
    let dir = dir.display();
    let user = if effective_uid() == Some(0) {
        "user root;\n"
    } else {
        ""
    };
    format!(
        "{user}worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 512; }}
http {{
    default_type application/octet-stream;
    access_log {dir}/access.log;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    include {dir}/ssekit.conf;
}}
"
    )
}

fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uids = status.lines().find_map(|line| line.strip_prefix("Uid:"))?;
    uids.split_whitespace().nth(1)?.parse().ok()
}

/// Sends `message` from the page's form (a POST through nginx) and waits
/// until the page shows it.
async fn send_and_see(page: &Page, message: &str) {
    page.fill("#user", "alice").await;
    page.fill("#message", message).await;
    page.click("#submit").await;
    wait_until(&format!("the message {message:?}"), || async {
        let texts = page.texts("#messages .text").await;
        if texts.iter().any(|text| text == message) {
            Ok(())
        } else {
            Err(texts)
        }
    })
    .await;
}

/// The page was never stopped: its browser kept reconnecting throughout.
async fn never_stopped(page: &Page, nginx: &Nginx) {
    // What nginx answered each stream request, should the check fail.
    eprintln!("streams answered {:?}", nginx.stream_statuses());
    page.stream_status().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_behind_nginx_never_stops_the_page() {
    let port = free_port();
    let old = start_chat(port).await;
    let nginx = Nginx::start(port).await;
    let Some(browser) = Browser::start().await else {
        nginx.stop().await;
        return;
    };
    let page = browser.open(&format!("{}/room/lobby", nginx.url())).await;
    page.stream_opened(1).await;
    page.record_stream_states().await;
    send_and_see(&page, "before the restart").await;

    // The new chat listens on the same port before the old one stops.
    let new = start_chat(port).await;
    terminate(old).await;
    // The old chat ended the page's stream with a retry: of 1–2 s; the
    // browser came back through nginx to the new chat.
    page.stream_opened(2).await;
    send_and_see(&page, "after the restart").await;
    never_stopped(&page, &nginx).await;
    let statuses = nginx.stream_statuses();
    assert!(
        statuses.iter().all(|status| status == "200"),
        "every stream request through nginx answered 200: {statuses:?}"
    );

    page.close().await;
    nginx.stop().await;
    terminate(new).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_down_for_seconds_behind_nginx_never_stops_the_page() {
    let port = free_port();
    let old = start_chat(port).await;
    let nginx = Nginx::start(port).await;
    let Some(browser) = Browser::start().await else {
        nginx.stop().await;
        return;
    };
    let page = browser.open(&format!("{}/room/lobby", nginx.url())).await;
    page.stream_opened(1).await;
    page.record_stream_states().await;

    // Nothing listens on the chat's port for a while: nginx's fallback
    // answers the page's reconnections 200 with an `unavailable` notice.
    terminate(old).await;
    wait_until("the page to show nginx's unavailable notice", || async {
        let status = page.stream_status().await;
        if status
            .history
            .iter()
            .any(|state| state.starts_with("unavailable"))
        {
            Ok(())
        } else {
            Err(status)
        }
    })
    .await;
    tokio::time::sleep(DOWN).await;

    let new = start_chat(port).await;
    page.stream_opened(2).await;
    send_and_see(&page, "after the outage").await;
    never_stopped(&page, &nginx).await;

    page.close().await;
    nginx.stop().await;
    terminate(new).await;
}
