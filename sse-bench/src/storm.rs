//! The reconnection storm of a deploy (`--storm`): does the shutdown's
//! jittered `retry:` spread the reconnections of N clients over a window?
//!
//! One run, for one jitter: the chat (or `--ours-cmd`) starts on a free
//! port of 127.0.0.1 with `--reuse-port`; `--storm-clients` connections
//! open its room stream; one message is posted so that each has an id; a
//! second chat starts on the same port; the first gets `SIGTERM` (its
//! graceful shutdown ends every stream with its own draw of the retry).
//! Each client then does what a browser's `EventSource` does, with no
//! jitter of its own: it waits exactly the last `retry:` it received,
//! counted from the moment its stream closed, and reconnects with
//! `Last-Event-ID`, the last id it received. The histogram counts the
//! reconnections (request sent) in 100 ms buckets from the `SIGTERM`.
//!
//! The broker is in memory, so the second chat does not know the first's
//! ids: it answers a reconnection that sent one with `event: reset`
//! (`other-epoch`). That notice is the server's proof that the id arrived,
//! which is what is checked; ids carrying over (`--redis`) would prove
//! nothing more about the storm and add a process to the timings.
//!
//! Every run is made twice, with the jitter off (`--shutdown-jitter-ms 0`:
//! every retry is exactly 1 s) and on, in alternating order.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::sync::Notify;

use crate::BoxError;
use crate::cli::Cli;
use crate::procfs;

/// The shutdown retry's base: the chat's (and the library's default), 1 s.
const BASE: Duration = Duration::from_secs(1);
/// The histogram's bucket.
const BUCKET: Duration = Duration::from_millis(100);
/// The jitter window the mean is taken over when the jitter is off, so the
/// two runs compare: the library's default window.
const DEFAULT_WINDOW: Duration = Duration::from_secs(4);
/// Bounds on each wait of a run.
const CONNECT_WAIT: Duration = Duration::from_secs(60);
const EVENT_WAIT: Duration = Duration::from_secs(30);
const START_WAIT: Duration = Duration::from_secs(30);
/// How long a reconnection's answer may take.
const ANSWER_WAIT: Duration = Duration::from_secs(10);

/// One storm run's figures.
#[derive(Clone, Debug)]
pub(crate) struct Storm {
    pub jitter: Duration,
    pub clients: usize,
    /// Reconnections per bucket from the `SIGTERM`.
    pub buckets: Vec<usize>,
    /// The window the reconnections should spread over: from the base to
    /// the base plus the jitter (the default window when the jitter is off).
    pub window: (Duration, Duration),
    /// Reconnections inside the window, and the mean per bucket there.
    pub in_window: usize,
    pub mean: f64,
    /// The largest bucket, where it starts, and its ratio to the mean.
    pub largest: usize,
    pub largest_at: Duration,
    /// The first and last reconnection, from the `SIGTERM`.
    pub first: Duration,
    pub last: Duration,
    /// Reconnections that sent `Last-Event-ID`, and of those, the ones the
    /// new server answered `200` with a `reset` notice first (it read the
    /// id, and did not know it).
    pub with_id: usize,
    pub reset_answers: usize,
    /// Reconnections answered `200 text/event-stream`.
    pub ok_answers: usize,
    /// Clients that never reconnected, with what went wrong first.
    pub failures: Vec<String>,
    /// The time from a reconnection's request to its answer's head, ms:
    /// p50, p99, max.
    pub answer_ms: [f64; 3],
    /// The old server's exit after the `SIGTERM`.
    pub old_exit: Duration,
}

impl Storm {
    pub(crate) fn ratio(&self) -> f64 {
        self.largest as f64 / self.mean
    }
}

/// `--storm`: `--runs` runs with the jitter off and on, a table per run,
/// then the medians.
pub(crate) async fn run(cli: &Cli) -> Result<(), BoxError> {
    let clients = cli.storm_clients.max(1);
    crate::process::check_nofile_limit(clients);
    let jitter = Duration::from_millis(cli.storm_jitter_ms);
    let command = storm_command(cli);
    println!(
        "storm: {clients} clients of `{}`, restart on the same port (SO_REUSEPORT), SIGTERM to the old process; each client waits exactly its last retry: from its stream's close, then reconnects with Last-Event-ID",
        command.join(" ")
    );
    let mut results: Vec<Storm> = Vec::new();
    for run in 0..cli.runs.max(1) {
        let order = if run % 2 == 0 {
            [Duration::ZERO, jitter]
        } else {
            [jitter, Duration::ZERO]
        };
        for jitter in order {
            eprintln!("run {}: jitter {} ms", run + 1, jitter.as_millis());
            let storm = once(
                &command,
                &cli.ours_stream_path,
                &cli.ours_post_path,
                clients,
                jitter,
            )
            .await?;
            println!("\n## Run {}, jitter {} ms\n", run + 1, jitter.as_millis());
            println!("{}", describe(&storm));
            results.push(storm);
        }
    }
    println!("\n## Summary\n");
    println!("{}", summary(&results));
    println!("load average {}", procfs::loadavg());
    Ok(())
}

/// The server's command line, with `{jitter_ms}` still in it.
fn storm_command(cli: &Cli) -> Vec<String> {
    match &cli.ours_cmd {
        Some(command) => command.split_whitespace().map(str::to_owned).collect(),
        None => {
            let chat = std::env::current_exe()
                .ok()
                .and_then(|exe| Some(exe.parent()?.join("chat")))
                .map_or_else(
                    || "chat".to_owned(),
                    |path| path.to_string_lossy().into_owned(),
                );
            [
                chat.as_str(),
                "--addr",
                "{addr}",
                "--reuse-port",
                "--shutdown-jitter-ms",
                "{jitter_ms}",
            ]
            .map(str::to_owned)
            .to_vec()
        }
    }
}

/// What each client saw, and when.
#[derive(Default)]
struct Client {
    /// The last `retry:` and `id:` of its first stream.
    retry: Option<u64>,
    id: Option<String>,
    /// When its reconnection was sent and answered, from the `SIGTERM`.
    sent: Option<Duration>,
    answered: Option<Duration>,
    sent_id: bool,
    ok: bool,
    reset: bool,
    failure: Option<String>,
}

/// Shared by the clients of a run: when the `SIGTERM` went out, and how
/// many have their id.
struct Shared {
    started: Notify,
    sigterm: std::sync::OnceLock<Instant>,
    with_id: std::sync::atomic::AtomicUsize,
    connected: std::sync::atomic::AtomicUsize,
    progress: Notify,
}

async fn once(
    command: &[String],
    stream_path: &str,
    post_path: &str,
    clients: usize,
    jitter: Duration,
) -> Result<Storm, BoxError> {
    let port = std::net::TcpListener::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut old = start(command, addr, jitter, "old").await?;
    let shared = Arc::new(Shared {
        started: Notify::new(),
        sigterm: std::sync::OnceLock::new(),
        with_id: 0.into(),
        connected: 0.into(),
        progress: Notify::new(),
    });
    let mut tasks = Vec::with_capacity(clients);
    for _ in 0..clients {
        let shared = Arc::clone(&shared);
        let path = stream_path.to_owned();
        tasks.push(tokio::spawn(
            async move { client(addr, &path, &shared).await },
        ));
        // A gentle pace: the accept queue is never the limit here.
        if tasks.len() % 100 == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    wait_for(
        &shared,
        &shared.connected,
        clients,
        CONNECT_WAIT,
        "connections",
    )
    .await?;
    post(addr, post_path).await?;
    wait_for(
        &shared,
        &shared.with_id,
        clients,
        EVENT_WAIT,
        "the message on every stream",
    )
    .await?;
    let mut new = start(command, addr, jitter, "new").await?;
    let sigterm = Instant::now();
    let _ = shared.sigterm.set(sigterm);
    shared.started.notify_waiters();
    terminate(&old.child)?;
    let old_exit = match tokio::time::timeout(Duration::from_secs(10), old.child.wait()).await {
        Ok(_) => sigterm.elapsed(),
        Err(_) => return Err("the old server did not exit within 10 s of SIGTERM".into()),
    };
    let mut seen = Vec::with_capacity(clients);
    for task in tasks {
        seen.push(task.await?);
    }
    terminate(&new.child)?;
    let _ = tokio::time::timeout(Duration::from_secs(10), new.child.wait()).await;
    Ok(figures(&seen, jitter, old_exit))
}

/// Waits until `counter` reaches `wanted`, at most `bound`.
async fn wait_for(
    shared: &Shared,
    counter: &std::sync::atomic::AtomicUsize,
    wanted: usize,
    bound: Duration,
    what: &str,
) -> Result<(), BoxError> {
    let deadline = Instant::now() + bound;
    loop {
        let progress = shared.progress.notified();
        let count = counter.load(std::sync::atomic::Ordering::SeqCst);
        if count >= wanted {
            return Ok(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("{count} of {wanted} {what} within {bound:?}").into());
        }
        let _ = tokio::time::timeout(left.min(Duration::from_millis(100)), progress).await;
    }
}

/// A server process.
struct Server {
    child: Child,
}

/// Starts `command` on `addr` with `jitter`, and waits until its own
/// process listens there (another may already).
async fn start(
    command: &[String],
    addr: SocketAddr,
    jitter: Duration,
    name: &str,
) -> Result<Server, BoxError> {
    let args: Vec<String> = command
        .iter()
        .map(|arg| {
            arg.replace("{addr}", &addr.to_string())
                .replace("{port}", &addr.port().to_string())
                .replace("{jitter_ms}", &jitter.as_millis().to_string())
        })
        .collect();
    let (program, args) = args.split_first().ok_or("an empty server command")?;
    let log = std::env::temp_dir().join(format!(
        "sse-bench-{}-storm-{name}-{}.log",
        std::process::id(),
        addr.port()
    ));
    let file = std::fs::File::create(&log)?;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| {
            format!("cannot start {program}: {error} (cargo build --release -p chat)")
        })?;
    let pid = child.id().ok_or("the server exited at once")?;
    let deadline = Instant::now() + START_WAIT;
    loop {
        if let Some(status) = child.try_wait()? {
            return Err(format!("{program} exited ({status}); see {}", log.display()).into());
        }
        if procfs::listens(pid, addr.port()) {
            break;
        }
        if Instant::now() > deadline {
            return Err(
                format!("{program} did not listen on {addr}; see {}", log.display()).into(),
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "  {name} server: pid {pid}, {addr}, output in {}",
        log.display()
    );
    Ok(Server { child })
}

fn terminate(child: &Child) -> Result<(), BoxError> {
    let pid = child.id().ok_or("the server already exited")?;
    let pid = rustix::process::Pid::from_raw(i32::try_from(pid)?).ok_or("pid 0")?;
    rustix::process::kill_process(pid, rustix::process::Signal::TERM)?;
    Ok(())
}

/// Posts one message to the room, so that every stream gets an id.
async fn post(addr: SocketAddr, path: &str) -> Result<(), BoxError> {
    let body = "user=storm&message=before+the+deploy";
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut socket = TcpStream::connect(addr).await?;
    socket.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut answer)).await??;
    let answer = String::from_utf8_lossy(&answer);
    if !answer.starts_with("HTTP/1.1 2") {
        return Err(format!("the post was answered {answer:?}").into());
    }
    Ok(())
}

/// What one stream's lines told, so far.
#[derive(Default)]
struct Parsed {
    retry: Option<u64>,
    id: Option<String>,
    /// The `event:` names seen, in order (the default `message` unnamed).
    events: Vec<String>,
    /// The status of the response head, once it is complete.
    status: Option<u16>,
    event_stream: bool,
    head_done: bool,
    buf: Vec<u8>,
    /// The event being read: its name.
    name: Option<String>,
    /// Whether the event being read has data (or an id), so it dispatches.
    pending: bool,
}

impl Parsed {
    /// Takes `bytes` in: the head first, then the fields of the events.
    fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        if !self.head_done {
            let Some(end) = memchr::memmem::find(&self.buf, b"\r\n\r\n") else {
                return;
            };
            let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
            self.status = head.split(' ').nth(1).and_then(|code| code.parse().ok());
            self.event_stream = head.lines().any(|line| {
                let line = line.to_ascii_lowercase();
                line.starts_with("content-type:") && line.contains("text/event-stream")
            });
            self.head_done = true;
            self.buf.drain(..end + 4);
        }
        let mut start = 0;
        while let Some(newline) = memchr::memchr(b'\n', &self.buf[start..]) {
            let line = &self.buf[start..start + newline];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let line = String::from_utf8_lossy(line).into_owned();
            start += newline + 1;
            self.line(&line);
        }
        self.buf.drain(..start);
    }

    fn line(&mut self, line: &str) {
        if line.is_empty() {
            if self.pending {
                self.events
                    .push(self.name.take().unwrap_or_else(|| "message".to_owned()));
            }
            self.name = None;
            self.pending = false;
            return;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "retry" => {
                if let Ok(ms) = value.parse() {
                    self.retry = Some(ms);
                }
            }
            "id" => {
                self.id = Some(value.to_owned());
                self.pending = true;
            }
            "event" => self.name = Some(value.to_owned()),
            "data" => self.pending = true,
            _ => {}
        }
    }
}

/// One client: its first stream until the server closes it, then one
/// reconnection, exactly its last `retry:` after the close.
async fn client(addr: SocketAddr, path: &str, shared: &Shared) -> Client {
    use std::sync::atomic::Ordering::SeqCst;
    let mut seen = Client::default();
    let first = async {
        let mut socket = TcpStream::connect(addr).await?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n");
        socket.write_all(request.as_bytes()).await?;
        let mut parsed = Parsed::default();
        let mut chunk = vec![0u8; 8 * 1024];
        let mut counted = false;
        let mut had_id = false;
        loop {
            let n = socket.read(&mut chunk).await?;
            if n == 0 {
                return Ok::<_, std::io::Error>((parsed, Instant::now()));
            }
            parsed.feed(&chunk[..n]);
            if parsed.head_done && !counted {
                counted = true;
                shared.connected.fetch_add(1, SeqCst);
                shared.progress.notify_waiters();
            }
            if !had_id && parsed.events.iter().any(|name| name == "message") && parsed.id.is_some()
            {
                had_id = true;
                shared.with_id.fetch_add(1, SeqCst);
                shared.progress.notify_waiters();
            }
        }
    };
    let (parsed, closed) = match first.await {
        Ok(first) => first,
        Err(error) => {
            seen.failure = Some(format!("first stream: {error}"));
            return seen;
        }
    };
    let Some(&sigterm) = shared.sigterm.get() else {
        seen.failure = Some("the first stream closed before the SIGTERM".to_owned());
        return seen;
    };
    seen.retry = parsed.retry;
    seen.id = parsed.id.clone();
    // As a browser: the reconnection time is the last retry: received
    // (3 s, the spec's default, if none), counted from the close.
    let retry = Duration::from_millis(parsed.retry.unwrap_or(3000));
    tokio::time::sleep_until((closed + retry).into()).await;
    let mut request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n");
    if let Some(id) = &parsed.id {
        let _ = write!(request, "Last-Event-ID: {id}\r\n");
        seen.sent_id = true;
    }
    request.push_str("\r\n");
    let again = async {
        let mut socket = TcpStream::connect(addr).await?;
        socket.write_all(request.as_bytes()).await?;
        let sent = sigterm.elapsed();
        let mut parsed = Parsed::default();
        let mut chunk = vec![0u8; 8 * 1024];
        let mut answered = None;
        // Until the first event, the head alone if it is not a stream.
        loop {
            let n = socket.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            parsed.feed(&chunk[..n]);
            if parsed.head_done && answered.is_none() {
                answered = Some(sigterm.elapsed());
                if !(parsed.status == Some(200) && parsed.event_stream) {
                    break;
                }
            }
            if !parsed.events.is_empty() {
                break;
            }
        }
        Ok::<_, std::io::Error>((sent, answered, parsed))
    };
    match tokio::time::timeout(ANSWER_WAIT, again).await {
        Ok(Ok((sent, answered, parsed))) => {
            seen.sent = Some(sent);
            seen.answered = answered;
            seen.ok = parsed.status == Some(200) && parsed.event_stream;
            seen.reset = parsed.events.first().is_some_and(|name| name == "reset");
            if !seen.ok {
                seen.failure = Some(format!("reconnection answered {:?}", parsed.status));
            }
        }
        Ok(Err(error)) => seen.failure = Some(format!("reconnection: {error}")),
        Err(_) => seen.failure = Some(format!("reconnection not answered within {ANSWER_WAIT:?}")),
    }
    seen
}

fn figures(seen: &[Client], jitter: Duration, old_exit: Duration) -> Storm {
    let sent: Vec<Duration> = seen.iter().filter_map(|client| client.sent).collect();
    let last = sent.iter().max().copied().unwrap_or_default();
    let first = sent.iter().min().copied().unwrap_or_default();
    let bucket_count = (last.as_millis() / BUCKET.as_millis()) as usize + 1;
    let mut buckets = vec![0usize; bucket_count];
    for at in &sent {
        buckets[(at.as_millis() / BUCKET.as_millis()) as usize] += 1;
    }
    let width = if jitter.is_zero() {
        DEFAULT_WINDOW
    } else {
        jitter
    };
    let window = (BASE, BASE + width);
    // The buckets from the window's start to its end; a draw of exactly
    // the end, plus the few ms to see the close, falls in the next one.
    let from = (window.0.as_millis() / BUCKET.as_millis()) as usize;
    let to = (window.1.as_millis() / BUCKET.as_millis()) as usize;
    let in_window: usize = buckets.iter().skip(from).take(to - from).sum();
    let mean = in_window as f64 / (to - from) as f64;
    let (largest_index, largest) = buckets
        .iter()
        .copied()
        .enumerate()
        .max_by_key(|&(index, count)| (count, std::cmp::Reverse(index)))
        .unwrap_or((0, 0));
    let mut answer_ms: Vec<f64> = seen
        .iter()
        .filter_map(|client| Some((client.answered? - client.sent?).as_secs_f64() * 1e3))
        .collect();
    answer_ms.sort_by(f64::total_cmp);
    let quantile = |q: f64| {
        if answer_ms.is_empty() {
            f64::NAN
        } else {
            answer_ms[((answer_ms.len() - 1) as f64 * q).round() as usize]
        }
    };
    Storm {
        jitter,
        clients: seen.len(),
        buckets,
        window,
        in_window,
        mean,
        largest,
        largest_at: BUCKET * largest_index as u32,
        first,
        last,
        with_id: seen
            .iter()
            .filter(|client| client.sent.is_some() && client.sent_id)
            .count(),
        reset_answers: seen
            .iter()
            .filter(|client| client.sent_id && client.reset)
            .count(),
        ok_answers: seen.iter().filter(|client| client.ok).count(),
        failures: seen
            .iter()
            .filter_map(|client| client.failure.clone())
            .collect(),
        answer_ms: [
            quantile(0.5),
            quantile(0.99),
            answer_ms.last().copied().unwrap_or(f64::NAN),
        ],
        old_exit,
    }
}

/// One run: its figures and its histogram.
fn describe(storm: &Storm) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "- {} clients; the old server exited {} ms after SIGTERM",
        storm.clients,
        storm.old_exit.as_millis()
    );
    let _ = writeln!(
        out,
        "- reconnections from {} ms to {} ms after SIGTERM; window {}–{} ms{}: {} reconnections, mean {:.1} per 100 ms bucket",
        storm.first.as_millis(),
        storm.last.as_millis(),
        storm.window.0.as_millis(),
        storm.window.1.as_millis(),
        if storm.jitter.is_zero() {
            " (the default jitter's, for comparison)"
        } else {
            ""
        },
        storm.in_window,
        storm.mean
    );
    let _ = writeln!(
        out,
        "- largest bucket {} at {}–{} ms: **{:.2}× the mean**",
        storm.largest,
        storm.largest_at.as_millis(),
        (storm.largest_at + BUCKET).as_millis(),
        storm.ratio()
    );
    let _ = writeln!(
        out,
        "- {} of {} reconnected with Last-Event-ID; {} answered 200 text/event-stream, {} of those with `reset` first (the new server read the id, from another process's epoch); answer head p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        storm.with_id,
        storm.clients,
        storm.ok_answers,
        storm.reset_answers,
        storm.answer_ms[0],
        storm.answer_ms[1],
        storm.answer_ms[2]
    );
    if !storm.failures.is_empty() {
        let _ = writeln!(
            out,
            "- **{} clients failed**, the first: {}",
            storm.failures.len(),
            storm.failures[0]
        );
    }
    let _ = writeln!(out, "\n```\nms after SIGTERM   reconnections");
    let peak = storm.largest.max(1);
    let skip = storm
        .buckets
        .iter()
        .position(|&count| count > 0)
        .unwrap_or(0);
    for (index, &count) in storm.buckets.iter().enumerate().skip(skip) {
        let bar = "#".repeat((count * 50).div_ceil(peak));
        let _ = writeln!(
            out,
            "{:>5}–{:<5}  {count:>5} {bar}",
            index * 100,
            (index + 1) * 100
        );
    }
    out.push_str("```");
    out
}

/// The table of every run and the medians per jitter.
fn summary(results: &[Storm]) -> String {
    let mut out = String::from(
        "| jitter | run | first–last reconnection | largest 100 ms bucket | mean in window | largest / mean | with Last-Event-ID | answered 200 (reset first) | answer p99 |\n|---|---:|---|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut jitters: Vec<Duration> = results.iter().map(|storm| storm.jitter).collect();
    jitters.sort();
    jitters.dedup();
    for &jitter in &jitters {
        let runs: Vec<&Storm> = results
            .iter()
            .filter(|storm| storm.jitter == jitter)
            .collect();
        for (index, storm) in runs.iter().enumerate() {
            let _ = writeln!(
                out,
                "| {} ms | {} | {}–{} ms | {} | {:.1} | {:.2}× | {}/{} | {} ({}) | {:.1} ms |",
                jitter.as_millis(),
                index + 1,
                storm.first.as_millis(),
                storm.last.as_millis(),
                storm.largest,
                storm.mean,
                storm.ratio(),
                storm.with_id,
                storm.clients,
                storm.ok_answers,
                storm.reset_answers,
                storm.answer_ms[1]
            );
        }
        let mut ratios: Vec<f64> = runs.iter().map(|storm| storm.ratio()).collect();
        ratios.sort_by(f64::total_cmp);
        let median = if ratios.len() % 2 == 1 {
            ratios[ratios.len() / 2]
        } else {
            (ratios[ratios.len() / 2 - 1] + ratios[ratios.len() / 2]) / 2.0
        };
        let _ = writeln!(
            out,
            "| {} ms | **median** | | | | **{median:.2}×** (range {:.2}–{:.2}) | | | |",
            jitter.as_millis(),
            ratios[0],
            ratios[ratios.len() - 1]
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_is_parsed_across_chunks_as_a_browser_would() {
        let mut parsed = Parsed::default();
        parsed.feed(b"HTTP/1.0 200 OK\r\ncontent-type: text/event-stream\r\n\r\nretry: 3000\n\n");
        parsed.feed(b"event: message\nid: 7-");
        parsed.feed(b"2\ndata: {}\n\nretry: 2");
        parsed.feed(b"345\n\n");
        assert_eq!(parsed.status, Some(200));
        assert!(parsed.event_stream);
        assert_eq!(parsed.retry, Some(2345));
        assert_eq!(parsed.id.as_deref(), Some("7-2"));
        assert_eq!(parsed.events, ["message"]);
    }

    #[test]
    fn the_largest_bucket_is_compared_with_the_mean_over_the_window() {
        let at = |ms: u64| Client {
            sent: Some(Duration::from_millis(ms)),
            sent_id: true,
            ok: true,
            ..Client::default()
        };
        // 41 buckets from 1 000 to 5 099 ms, 2 reconnections a bucket, one
        // bucket with 4 more: 84 in the 40 buckets of the window.
        let mut seen: Vec<Client> = (0..41)
            .flat_map(|b| [at(1000 + b * 100), at(1050 + b * 100)])
            .collect();
        seen.extend((0..4).map(|_| at(2010)));
        let storm = figures(&seen, Duration::from_secs(4), Duration::ZERO);
        assert_eq!(storm.in_window, 84);
        assert_eq!(
            (storm.largest, storm.largest_at),
            (6, Duration::from_millis(2000))
        );
        assert!((storm.ratio() - 6.0 / (84.0 / 40.0)).abs() < 1e-9);
    }
}
