//! Hostile clients over real loopback sockets, for the examples' hostile
//! suites (`examples/*/tests/hostile.rs`): a server process's resident
//! memory, many half-sent request heads, a reader whose receive window is
//! zero, a huge chunked upload that watches for an early answer, and a
//! body sent one byte at a time.
//!
//! Every helper is bounded: each loop stops after a count, a byte total or
//! a deadline, and what could wait for ever waits at most [`WAIT`] (or a
//! deadline it is given). Connections come from 127.0.0.2–127.0.0.9
//! ([`source`]), so that thousands of them do not run short of ports; call
//! [`ensure_nofile_limit`](crate::process::ensure_nofile_limit) before
//! opening many.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};
use tokio::process::{Child, Command};

use crate::{WAIT, within};

/// The resident set size of process `pid`, in bytes: the second field of
/// `/proc/<pid>/statm` (resident pages) times the page size. For a server
/// run as a child process, whose memory a test bounds.
pub fn rss_of(pid: u32) -> u64 {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm"))
        .unwrap_or_else(|error| panic!("/proc/{pid}/statm: {error}"));
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|pages| pages.parse().ok())
        .unwrap_or_else(|| panic!("no resident pages in /proc/{pid}/statm: {statm:?}"));
    pages * rustix::param::page_size() as u64
}

/// The source address of the `i`-th connection of a test: 127.0.0.2 to
/// 127.0.0.9 in turn, so that many connections to one server use eight
/// source addresses' worth of ports.
pub fn source(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 2 + (i % 8) as u8)
}

/// Connects to `server` from [`source`]`(i)`, with a receive buffer
/// (`SO_RCVBUF`) of `recv_buffer` bytes if given, within [`WAIT`].
pub async fn connect_from(server: SocketAddr, i: usize, recv_buffer: Option<u32>) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("a socket");
    if let Some(size) = recv_buffer {
        socket.set_recv_buffer_size(size).expect("SO_RCVBUF");
    }
    socket.bind((source(i), 0).into()).expect("a source port");
    within("connect", socket.connect(server))
        .await
        .expect("the server accepts")
}

/// What arrived until the peer closed (or reset) `tcp`, read for at most
/// `deadline`; `None` when the connection was still open then.
pub async fn read_to_close(tcp: &mut TcpStream, deadline: Duration) -> Option<Vec<u8>> {
    let mut seen = Vec::new();
    let mut buffer = [0; 16 * 1024];
    let read = async {
        loop {
            match tcp.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buffer[..n]),
            }
        }
    };
    tokio::time::timeout(deadline, read).await.ok()?;
    Some(seen)
}

/// The status code of an HTTP/1.x response that starts `answer`, if it
/// does.
pub fn status_of(answer: &[u8]) -> Option<u16> {
    let line = answer.split(|&b| b == b'\r').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut words = line.split(' ');
    words
        .next()
        .filter(|version| version.starts_with("HTTP/1."))?;
    words.next()?.parse().ok()
}

/// Opens `n` connections to `server` and sends on each `partial`, the
/// start of a request head that never ends (e.g. `b"GET / HTTP/1.1\r\n"`);
/// the connections, still open, for [`closed_within`].
pub async fn partial_heads(server: SocketAddr, n: usize, partial: &[u8]) -> Vec<TcpStream> {
    let mut heads = Vec::with_capacity(n);
    for i in 0..n {
        let mut tcp = connect_from(server, i, None).await;
        within("a partial head", tcp.write_all(partial))
            .await
            .expect("the partial head is sent");
        heads.push(tcp);
    }
    heads
}

/// Waits until the server has closed every one of `connections` (end of
/// stream or reset; an answer such as a `408` before it is allowed), for
/// at most `deadline` in all; how long that took, or how many were still
/// open at the deadline.
pub async fn closed_within(
    connections: Vec<TcpStream>,
    deadline: Duration,
) -> Result<Duration, usize> {
    let started = Instant::now();
    let waits = connections.into_iter().map(|mut tcp| {
        tokio::spawn(async move {
            let left = deadline.saturating_sub(started.elapsed());
            read_to_close(&mut tcp, left).await.is_some()
        })
    });
    let mut open = 0;
    for wait in waits.collect::<Vec<_>>() {
        if !wait.await.expect("the wait does not panic") {
            open += 1;
        }
    }
    if open == 0 {
        Ok(started.elapsed())
    } else {
        Err(open)
    }
}

/// A reader whose receive window goes to zero: connects with an
/// `SO_RCVBUF` of `recv_buffer` bytes (the kernel's minimum is about
/// 2 KiB), sends `request` (a whole request, e.g. an event stream's `GET`)
/// and never reads. Whatever the server writes to it soon fills every
/// buffer on the way, and its writes stop making progress: what a write
/// deadline is for.
pub async fn zero_window_reader(
    server: SocketAddr,
    i: usize,
    recv_buffer: u32,
    request: &[u8],
) -> TcpStream {
    let mut tcp = connect_from(server, i, Some(recv_buffer)).await;
    within("a request", tcp.write_all(request))
        .await
        .expect("the request is sent");
    tcp
}

/// Appends to `answer` what `reader` receives until the peer closes it,
/// for at most [`WAIT`].
async fn read_rest(
    reader: &mut (impl AsyncReadExt + Unpin),
    buffer: &mut [u8],
    answer: &mut Vec<u8>,
) {
    let _ = tokio::time::timeout(WAIT, async {
        loop {
            match reader.read(buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
}

/// What [`chunked_upload`] saw.
#[derive(Debug)]
pub struct Upload {
    /// Body bytes written (chunk payloads, not the chunked framing).
    pub sent: u64,
    /// What the server answered, until it closed or [`WAIT`] passed.
    /// Empty when nothing came.
    pub answer: Vec<u8>,
    /// Whether the whole body was written before any answer came.
    pub finished: bool,
    /// How long from the first body byte to the first answer byte (or to
    /// the end of the upload, when none came).
    pub took: Duration,
}

/// Sends `head` (a request head ending in `\r\n\r\n` that declares
/// `Transfer-Encoding: chunked`), then a chunked body of `total` bytes of
/// `fill`, in chunks of `chunk` bytes, reading at the same time: it stops
/// writing at the first byte of an answer, then reads the rest of that
/// answer. A server that refuses a body midway often answers and closes
/// while the client still writes, and the close then resets the
/// connection; reading while writing keeps that answer from being lost.
/// A write error (the reset) also ends the upload. Writing stops once
/// `total` is sent, whatever happens, so the loop is bounded.
pub async fn chunked_upload(
    server: SocketAddr,
    head: &[u8],
    total: u64,
    chunk: usize,
    fill: u8,
) -> Upload {
    assert!(chunk > 0, "a chunk holds at least one byte");
    let tcp = connect_from(server, 0, None).await;
    let (mut reader, mut writer) = tcp.into_split();
    within("the head", writer.write_all(head))
        .await
        .expect("the head is sent");
    let started = Instant::now();
    let mut framed = format!("{chunk:x}\r\n").into_bytes();
    framed.extend(std::iter::repeat_n(fill, chunk));
    framed.extend_from_slice(b"\r\n");

    let mut answer = Vec::new();
    let mut buffer = [0; 4096];
    let mut sent = 0;
    let mut finished = false;
    let mut write_failed = false;
    // Writes until `total` is sent, the server answers, or a write fails.
    while sent < total {
        let this = chunk.min((total - sent) as usize);
        let bytes: std::borrow::Cow<'_, [u8]> = if this == chunk {
            (&framed[..]).into()
        } else {
            let mut last = format!("{this:x}\r\n").into_bytes();
            last.extend(std::iter::repeat_n(fill, this));
            last.extend_from_slice(b"\r\n");
            last.into()
        };
        tokio::select! {
            biased;
            read = reader.read(&mut buffer) => {
                if let Ok(n) = read {
                    answer.extend_from_slice(&buffer[..n]);
                }
                break;
            }
            written = tokio::time::timeout(WAIT, writer.write_all(&bytes)) => {
                match written {
                    Ok(Ok(())) => sent += this as u64,
                    // A reset, or a server that stopped reading without
                    // answering for WAIT: the upload is over.
                    _ => {
                        write_failed = true;
                        break;
                    }
                }
            }
        }
    }
    if sent >= total && !write_failed {
        finished = writer.write_all(b"0\r\n\r\n").await.is_ok();
    }
    let took = started.elapsed();
    // The rest of the answer (or all of it, when the writes ended first),
    // until the server closes, for at most WAIT.
    read_rest(&mut reader, &mut buffer, &mut answer).await;
    Upload {
        sent,
        answer,
        finished,
        took,
    }
}

/// What [`slow_body`] saw.
#[derive(Debug)]
pub struct SlowBody {
    /// Body bytes written before the server answered or closed.
    pub sent: usize,
    /// What the server answered before it closed (empty: it just closed).
    pub answer: Vec<u8>,
    /// From the end of the head to the close (or the answer).
    pub took: Duration,
    /// Whether the server closed or answered before the body was all sent.
    pub cut_off: bool,
}

/// Sends `head` (a request head ending in `\r\n\r\n`, with a
/// `Content-Length` of `body.len()`), then `body` one byte every `every`,
/// reading at the same time, until the server answers or closes, or the
/// whole body is sent (then it reads the answer for at most [`WAIT`]).
/// Bounded by the body's length.
pub async fn slow_body(server: SocketAddr, head: &[u8], body: &[u8], every: Duration) -> SlowBody {
    let tcp = connect_from(server, 0, None).await;
    let (mut reader, mut writer) = tcp.into_split();
    within("the head", writer.write_all(head))
        .await
        .expect("the head is sent");
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut buffer = [0; 4096];
    let mut sent = 0;
    let mut cut_off = false;
    while sent < body.len() {
        tokio::select! {
            read = reader.read(&mut buffer) => {
                if let Ok(n) = read {
                    answer.extend_from_slice(&buffer[..n]);
                }
                cut_off = true;
                break;
            }
            () = tokio::time::sleep(every) => {
                if writer.write_all(&body[sent..=sent]).await.is_err() {
                    cut_off = true;
                    break;
                }
                sent += 1;
            }
        }
    }
    read_rest(&mut reader, &mut buffer, &mut answer).await;
    SlowBody {
        sent,
        answer,
        took: started.elapsed(),
        cut_off,
    }
}

/// How long [`Server::start`] waits for the server's address.
const START: Duration = Duration::from_secs(10);

/// A server binary run as a child process, killed on drop: its address
/// (read from the line it prints when it listens), its pid, and every
/// line it writes on stdout and stderr.
pub struct Server {
    child: Child,
    pid: u32,
    addr: SocketAddr,
    output: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Runs `binary` with `args` and `envs` (`None` removes a variable),
    /// `NO_COLOR=1`, and waits (at most 10 s) for a line that starts with
    /// `listening` followed by its address (`http://` included in
    /// `listening`, e.g. `"clock listening on http://"`). Panics with its
    /// output if it exits or prints no address.
    pub async fn start(
        binary: &str,
        args: &[&str],
        envs: &[(&str, Option<&str>)],
        listening: &str,
    ) -> Server {
        Server::try_start(binary, args, envs, listening)
            .await
            .unwrap_or_else(|output| panic!("{binary} exited: {output:#?}"))
    }

    /// [`Server::start`], but `Err` with its output if it exits instead.
    pub async fn try_start(
        binary: &str,
        args: &[&str],
        envs: &[(&str, Option<&str>)],
        listening: &str,
    ) -> Result<Server, Vec<String>> {
        let mut command = Command::new(binary);
        command.args(args);
        for (name, value) in envs {
            match value {
                Some(value) => command.env(name, value),
                None => command.env_remove(name),
            };
        }
        let mut child = command
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {binary}: {error}"));
        let pid = child.id().expect("the server is running");
        let output = Arc::new(Mutex::new(Vec::new()));
        for pipe in [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            child.stderr.take().map(|p| Box::new(p) as _),
        ]
        .into_iter()
        .flatten()
        {
            let output = Arc::clone(&output);
            tokio::spawn(async move {
                let mut lines = BufReader::new(pipe).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    output.lock().unwrap().push(line);
                }
            });
        }
        let started = Instant::now();
        let addr = loop {
            let found = output.lock().unwrap().iter().find_map(|line| {
                let url = line.strip_prefix(listening)?;
                url.trim_end_matches('/').parse().ok()
            });
            if let Some(addr) = found {
                break addr;
            }
            if let Ok(Some(_)) = child.try_wait() {
                // Its last lines.
                tokio::time::sleep(Duration::from_millis(100)).await;
                return Err(output.lock().unwrap().clone());
            }
            assert!(
                started.elapsed() < START,
                "{binary} printed no address: {:?}",
                output.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        Ok(Server {
            child,
            pid,
            addr,
            output,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Its resident set size in bytes ([`rss_of`]).
    pub fn rss(&self) -> u64 {
        rss_of(self.pid)
    }

    /// Samples its RSS every `every` until it is at most `limit` or
    /// `deadline` has passed: the last sample (the caller asserts on it).
    pub async fn rss_settled(&self, limit: u64, deadline: Duration, every: Duration) -> u64 {
        let waiting = Instant::now();
        let mut rss = self.rss();
        while rss > limit && waiting.elapsed() < deadline {
            tokio::time::sleep(every).await;
            rss = self.rss();
        }
        rss
    }

    /// Every line it wrote so far.
    pub fn output(&self) -> Vec<String> {
        self.output.lock().unwrap().clone()
    }

    /// How many lines of its log contain `text`.
    pub fn count(&self, text: &str) -> usize {
        self.output
            .lock()
            .unwrap()
            .iter()
            .filter(|line| line.contains(text))
            .count()
    }

    /// Waits (at most `deadline`) until `count(text)` reaches `n`; how
    /// long that took.
    pub async fn wait_for(&self, text: &str, n: usize, deadline: Duration) -> Duration {
        let started = Instant::now();
        loop {
            let seen = self.count(text);
            if seen >= n {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < deadline,
                "{seen} of {n} {text:?} after {deadline:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends it `signal` (`"TERM"`, `"INT"`) with `kill`.
    pub async fn signal(&self, signal: &str) {
        let status = within(
            &format!("kill -{signal} {}", self.pid),
            Command::new("kill")
                .args([format!("-{signal}"), self.pid.to_string()])
                .status(),
        )
        .await
        .expect("`kill` runs");
        assert!(status.success(), "kill -{signal} {}: {status}", self.pid);
    }

    /// Waits (at most `deadline`) for its exit.
    pub async fn exit(&mut self, deadline: Duration) -> ExitStatus {
        tokio::time::timeout(deadline, self.child.wait())
            .await
            .expect("the server exits")
            .expect("waiting for the server")
    }

    /// Sends `SIGTERM` and waits (at most `deadline`) for the exit: how
    /// long it took, and how it ended.
    pub async fn terminate_and_time(&mut self, deadline: Duration) -> (Duration, ExitStatus) {
        self.signal("TERM").await;
        let sent = Instant::now();
        let exit = self.exit(deadline).await;
        (sent.elapsed(), exit)
    }
}

/// `GET path` with `host` on a new connection that it closes: the status
/// and body.
pub async fn get(server: SocketAddr, host: &str, path: &str) -> (u16, String) {
    let mut tcp = connect_from(server, 0, None).await;
    let request = format!("GET {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n");
    within("a request", tcp.write_all(request.as_bytes()))
        .await
        .unwrap();
    let answer = read_to_close(&mut tcp, 2 * WAIT)
        .await
        .expect("the server answers and closes");
    let status = status_of(&answer).unwrap_or_else(|| panic!("not HTTP: {answer:?}"));
    let text = String::from_utf8_lossy(&answer).into_owned();
    let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    (status, body.to_owned())
}

/// An event stream that reads all it is sent, in a task of its own: what
/// it saw first, whether `marker` came, how many bytes, and whether the
/// server ended it.
pub struct Reader {
    start: Arc<Mutex<Vec<u8>>>,
    marked: Arc<AtomicBool>,
    bytes: Arc<AtomicU64>,
    ended: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Reader {
    /// Connects from [`source`]`(i)`, sends `request` and reads, watching
    /// for `marker` (e.g. how each broadcast starts).
    pub async fn open(server: SocketAddr, i: usize, request: &[u8], marker: &[u8]) -> Reader {
        let mut tcp = connect_from(server, i, None).await;
        within("a request", tcp.write_all(request)).await.unwrap();
        let marker = marker.to_vec();
        let start = Arc::new(Mutex::new(Vec::new()));
        let marked = Arc::new(AtomicBool::new(false));
        let bytes = Arc::new(AtomicU64::new(0));
        let ended = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn({
            let (start, bytes, ended) = (start.clone(), bytes.clone(), ended.clone());
            let found = marked.clone();
            async move {
                let mut buffer = vec![0; 64 << 10];
                // The last bytes of the previous read, for a marker cut
                // in two.
                let mut tail = Vec::new();
                // Bounded by the server's end, or the test's abort.
                loop {
                    match tcp.read(&mut buffer).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            let mut start = start.lock().unwrap();
                            if start.len() < 4096 {
                                start.extend_from_slice(&buffer[..n.min(4096)]);
                            }
                            if !found.load(Ordering::Relaxed) {
                                tail.extend_from_slice(&buffer[..n]);
                                if tail.windows(marker.len()).any(|w| w == marker) {
                                    found.store(true, Ordering::Relaxed);
                                }
                                tail.drain(..tail.len().saturating_sub(marker.len()));
                            }
                            bytes.fetch_add(n as u64, Ordering::Relaxed);
                        }
                    }
                }
                ended.store(true, Ordering::Relaxed);
            }
        });
        Reader {
            start,
            marked,
            bytes,
            ended,
            task,
        }
    }

    /// The bytes read so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Whether the server ended it (so far).
    pub fn ended(&self) -> bool {
        self.ended.load(Ordering::Relaxed)
    }

    /// Asserts it is an event stream (`200`, `text/event-stream`) on
    /// which the marker came; `what` names the marker in the message.
    pub fn assert_answered(&self, what: &str) {
        let start = self.start.lock().unwrap();
        let text = String::from_utf8_lossy(&start);
        assert_eq!(status_of(&start), Some(200), "{text}");
        assert!(text.contains("text/event-stream"), "{text}");
        assert!(self.marked.load(Ordering::Relaxed), "no {what}: {text}");
    }

    /// Whether the server ended the stream within `deadline`.
    pub async fn ended_within(self, deadline: Duration) -> bool {
        let ended = tokio::time::timeout(deadline, self.task).await.is_ok();
        ended && self.ended.load(Ordering::Relaxed)
    }
}

/// Samples `pid`'s RSS every `every` until dropped (at most 10 000
/// times): the peak seen.
pub struct PeakRss {
    peak: Arc<AtomicU64>,
    sampler: tokio::task::JoinHandle<()>,
}

impl PeakRss {
    /// Starts sampling.
    pub fn watch(pid: u32, every: Duration) -> PeakRss {
        let peak = Arc::new(AtomicU64::new(rss_of(pid)));
        let sampler = tokio::spawn({
            let peak = peak.clone();
            async move {
                for _ in 0..10_000 {
                    peak.fetch_max(rss_of(pid), Ordering::Relaxed);
                    tokio::time::sleep(every).await;
                }
            }
        });
        PeakRss { peak, sampler }
    }

    /// The peak so far.
    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }
}

impl Drop for PeakRss {
    fn drop(&mut self) {
        self.sampler.abort();
    }
}

/// Opens an event stream on `server` from [`source`]`(i)` with `request`,
/// reads until `marker` came (asserting the answer is a `200`), and drops
/// it.
pub async fn stream_cycle(server: SocketAddr, i: usize, request: &[u8], marker: &[u8]) {
    let mut tcp = connect_from(server, i, None).await;
    within("a request", tcp.write_all(request)).await.unwrap();
    let mut seen = Vec::new();
    let mut buffer = [0; 4096];
    within("a head and the marker", async {
        while !seen.windows(marker.len()).any(|w| w == marker) {
            let n = tcp.read(&mut buffer).await.unwrap();
            assert!(n > 0, "closed: {:?}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&buffer[..n]);
        }
    })
    .await;
    assert_eq!(status_of(&seen), Some(200));
}

/// A [`stream_cycle`] for each `i` of `range`, eight at a time; then waits
/// (at most `deadline`) until `server` has logged `dropped` (the line it
/// writes for each stream it notices dropped) `n` times in all.
pub async fn stream_cycles(
    server: &Server,
    range: std::ops::Range<usize>,
    (request, marker): (&'static [u8], &'static [u8]),
    (dropped, n): (&str, usize),
    deadline: Duration,
) {
    let mut tasks = tokio::task::JoinSet::new();
    for lane in 0..8 {
        let addr = server.addr();
        let range = range.clone();
        tasks.spawn(async move {
            for i in range.skip(lane).step_by(8) {
                stream_cycle(addr, i, request, marker).await;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    server.wait_for(dropped, n, deadline).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_of_this_process_matches_its_own_vm_rss() {
        let statm = rss_of(std::process::id());
        let status = crate::process::rss_bytes();
        let difference = statm.abs_diff(status);
        assert!(difference < 4 << 20, "statm {statm}, status {status}");
    }

    #[test]
    fn status_of_reads_the_status_line_only() {
        assert_eq!(status_of(b"HTTP/1.1 413 Payload Too Large\r\n"), Some(413));
        assert_eq!(status_of(b"HTTP/1.0 200 OK\r\n\r\n"), Some(200));
        assert_eq!(status_of(b""), None);
        assert_eq!(status_of(b"SSH-2.0 413"), None);
    }
}
