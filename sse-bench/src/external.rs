//! External servers: a server binary started from a command line (the chat
//! example, or the axum reference `axum-broadcast`) and driven through its
//! own routes. Subscribers `GET` its stream path; the publisher is this
//! process, posting each event as a url-encoded form (`user`, `message`)
//! to its post path, as the chat's page does.
//!
//! The posts go over one keep-alive connection, pipelined: hyper answers
//! the requests of one connection in order, so the events are published in
//! sequence order (the clients find gaps from the sequence numbers), and
//! the rate is not bound by a round trip per post.

use std::net::{SocketAddr, TcpListener};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;
use tokio::process::{Child, Command};

use crate::BoxError;
use crate::client::now_micros;
use crate::server::{Kind, Pace};

/// How an external server is started and driven.
#[derive(Clone, Debug)]
pub(crate) struct External {
    pub kind: Kind,
    /// The program and its arguments (split on whitespace, no shell); every
    /// `{addr}` is replaced by the address it must listen on,
    /// `127.0.0.1:<a free port>`, and `{port}` by the port.
    pub command: Vec<String>,
    /// The event stream the subscribers `GET` (e.g. `/stream/bench`).
    pub stream_path: String,
    /// Where the publisher posts each event (e.g. `/room/bench`).
    pub post_path: String,
}

/// The `user` field of every post.
pub(crate) const USER: &str = "bench";

/// The bytes of an event's JSON data besides the message text:
/// `{"user":"bench","message":""}`.
const JSON_OVERHEAD: usize = r#"{"user":"","message":""}"#.len() + USER.len();

/// The longest message text the chat takes, in characters.
const MAX_MESSAGE: usize = 500;

/// The largest event size an external server can be sent: the chat's
/// longest message in its JSON.
pub(crate) const MAX_SIZE: usize = MAX_MESSAGE + JSON_OVERHEAD;

/// How long an external server may take to accept a connection after it
/// was started.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A started external server.
pub(crate) struct Started {
    pub child: Child,
    pub pid: u32,
    pub addr: SocketAddr,
}

impl External {
    /// The command line as given, for the output.
    pub(crate) fn describe(&self) -> String {
        format!(
            "`{}` (GET {}, POST {})",
            self.command.join(" "),
            self.stream_path,
            self.post_path
        )
    }

    /// Starts the server on a free port of 127.0.0.1 with the `KEY=VALUE`
    /// pairs of `env`, and waits until it accepts connections.
    pub(crate) async fn start(&self, env: &[String]) -> Result<Started, BoxError> {
        let port = free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let args: Vec<String> = self
            .command
            .iter()
            .map(|arg| {
                arg.replace("{addr}", &addr.to_string())
                    .replace("{port}", &port.to_string())
            })
            .collect();
        let (program, args) = args.split_first().ok_or("an empty server command")?;
        let log = std::env::temp_dir().join(format!(
            "sse-bench-{}-{}-{port}.log",
            std::process::id(),
            self.kind.arg()
        ));
        let file = std::fs::File::create(&log)?;
        let mut command = Command::new(program);
        for pair in env {
            let (key, value) = pair.split_once('=').ok_or("--*-env takes KEY=VALUE")?;
            command.env(key, value);
        }
        let mut child = command
            .args(args)
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| format!("cannot start {program}: {error}"))?;
        let pid = child.id().ok_or("the server exited at once")?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait()? {
                return Err(format!(
                    "{program} exited ({status}) before it listened; see {}",
                    log.display()
                )
                .into());
            }
            if TcpStream::connect(addr).await.is_ok() {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{program} did not listen on {addr} within {START_TIMEOUT:?}; see {}",
                    log.display()
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        eprintln!(
            "  {} server: pid {pid}, {addr}, output in {}",
            self.kind.arg(),
            log.display()
        );
        Ok(Started { child, pid, addr })
    }
}

/// A port of 127.0.0.1 that nothing listens on now.
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

/// Posts `rate` events/s of `size` bytes of JSON data for `length` to
/// `path` of `server`, numbered from `first`: every millisecond the posts
/// due by then, stamped with their publish time, in one write. Returns once
/// every post is answered (or the connection ended, or 60 s after the last
/// write) with the number of posts sent, each of which took a sequence
/// number; posts answered other than 2xx are reported on stderr (their
/// events are gaps to the clients).
pub(crate) async fn publish(
    server: SocketAddr,
    path: &str,
    rate: f64,
    size: usize,
    length: Duration,
    first: u64,
) -> Result<u64, BoxError> {
    let total = (rate * length.as_millis() as f64 / 1000.0).round() as u64;
    let socket = TcpStream::connect(server).await?;
    socket.set_nodelay(true)?;
    let (read, mut write) = socket.into_split();
    let answers = tokio::spawn(read_answers(read, total));
    let mut pace = Pace::new(rate, length, total);
    let mut batch = Vec::new();
    let mut sent = 0u64;
    // Bounded by `total`; each pass waits for a tick.
    while sent < total {
        let due = pace.tick().await;
        batch.clear();
        while sent < due {
            push_post(&mut batch, path, first + sent, size);
            sent += 1;
        }
        if !batch.is_empty() {
            write.write_all(&batch).await?;
        }
    }
    let (accepted, refused, first_refusal) =
        match tokio::time::timeout(Duration::from_secs(60), answers).await {
            Ok(joined) => joined??,
            Err(_) => return Err("the server did not answer every post within 60 s".into()),
        };
    drop(write);
    if accepted < sent {
        eprintln!(
            "  warning: {accepted} of {sent} posts accepted, {refused} refused (the first with {}), the rest unanswered",
            first_refusal.as_deref().unwrap_or("—")
        );
    }
    Ok(sent)
}

/// One post: `user=bench&message={seq}+{µs}+xxx…`, the message padded so
/// that the event's JSON data is `size` bytes (the stamp alone if it does
/// not fit).
fn push_post(out: &mut Vec<u8>, path: &str, seq: u64, size: usize) {
    use std::io::Write as _;
    let message_len = size.saturating_sub(JSON_OVERHEAD).min(MAX_MESSAGE);
    // `+` is a space in a url-encoded form: the message is `{seq} {µs} x…`.
    let mut body = format!("user={USER}&message={seq}+{}+", now_micros());
    let stamp = body.len() - "user=&message=".len() - USER.len();
    if stamp < message_len {
        body.extend(std::iter::repeat_n('x', message_len - stamp));
    }
    let _ = write!(
        out,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
}

/// Reads the answers to `expected` posts: counts the 2xx ones and the
/// others (keeping the first of those). Ends after `expected` answers or
/// when the connection ends.
async fn read_answers(
    mut read: OwnedReadHalf,
    expected: u64,
) -> Result<(u64, u64, Option<String>), String> {
    let (mut accepted, mut refused) = (0u64, 0u64);
    let mut first_refusal = None;
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    // Bounded by `expected` answers and by the connection's end.
    while accepted + refused < expected {
        let n = read
            .read(&mut chunk)
            .await
            .map_err(|error| error.to_string())?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut start = 0;
        while let Some(answer) = parse_answer(&buf[start..]).map_err(|error| error.to_string())? {
            start += answer.len;
            if (200..300).contains(&answer.status) {
                accepted += 1;
            } else {
                refused += 1;
                first_refusal.get_or_insert_with(|| {
                    let body = String::from_utf8_lossy(answer.body);
                    format!("{} {}", answer.status, body.trim())
                });
            }
        }
        buf.drain(..start);
    }
    Ok((accepted, refused, first_refusal))
}

/// One response to a post.
#[derive(Debug)]
struct Answer<'a> {
    status: u16,
    body: &'a [u8],
    /// The bytes it took, head and body.
    len: usize,
}

/// The first complete response in `bytes`; `None` if it is not complete
/// yet. Only the framings a post's answer has: `Content-Length`, or no body
/// (1xx, 204, 304).
fn parse_answer(bytes: &[u8]) -> Result<Option<Answer<'_>>, BoxError> {
    let Some(end) = memchr::memmem::find(bytes, b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&bytes[..end])?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("not an HTTP response: {head:?}"))?;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.trim().parse::<usize>()?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(format!("a post's answer in {}: not supported", value.trim()).into());
        }
    }
    let length = match length {
        Some(length) => length,
        None if status < 200 || status == 204 || status == 304 => 0,
        None => return Err(format!("a post's answer without Content-Length: {head:?}").into()),
    };
    let body_start = end + 4;
    if bytes.len() < body_start + length {
        return Ok(None);
    }
    Ok(Some(Answer {
        status,
        body: &bytes[body_start..body_start + length],
        len: body_start + length,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_post_carries_the_stamp_and_makes_json_data_of_the_size_asked() {
        let mut out = Vec::new();
        push_post(&mut out, "/room/bench", 42, 100);
        let text = String::from_utf8(out).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("POST /room/bench HTTP/1.1\r\n"), "{head}");
        assert!(head.ends_with(&format!("Content-Length: {}", body.len())));
        let message = body.strip_prefix("user=bench&message=").unwrap();
        let (micros, padding) = message
            .strip_prefix("42+")
            .unwrap()
            .split_once('+')
            .unwrap();
        assert!(micros.parse::<u64>().unwrap() > 0);
        assert!(padding.bytes().all(|b| b == b'x'));
        // The chat serializes {"user":"bench","message":"42 <µs> xx…"}.
        let json = format!(
            r#"{{"user":"bench","message":"{}"}}"#,
            message.replace('+', " ")
        );
        assert_eq!(json.len(), 100);
    }

    #[test]
    fn answers_are_read_by_content_length() {
        let bytes = b"HTTP/1.1 202 Accepted\r\ncontent-length: 4\r\n\r\na-17HTTP/1.1 400 Bad Request\r\nContent-Length: 16\r\n\r\nmessage is empty";
        let first = parse_answer(bytes).unwrap().unwrap();
        assert_eq!((first.status, first.body), (202, b"a-17".as_slice()));
        let second = parse_answer(&bytes[first.len..]).unwrap().unwrap();
        assert_eq!(
            (second.status, second.body),
            (400, b"message is empty".as_slice())
        );
        assert_eq!(first.len + second.len, bytes.len());
        assert!(parse_answer(&bytes[..first.len - 1]).unwrap().is_none());
        let empty = b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(parse_answer(empty).unwrap().unwrap().status, 202);
    }
}
