//! A server in its own process (this binary's `serve` subcommand), driven
//! over its stdin and stdout (the protocol is in `server.rs`), and the
//! file-descriptor limit both processes need.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::BoxError;
use crate::procfs;
use crate::server::Setup;

/// One server in its own process.
pub struct ServerProcess {
    child: Child,
    pub pid: u32,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    pub addr: SocketAddr,
    /// The sequence number of the next event it publishes.
    next_seq: u64,
}

impl ServerProcess {
    /// Starts the server set up as `setup`, with the `KEY=VALUE` pairs of
    /// `env` in its environment, and waits until it listens.
    pub async fn start(setup: &Setup, env: &[String]) -> Result<Self, BoxError> {
        let mut command = Command::new(std::env::current_exe()?);
        for pair in env {
            let (key, value) = pair.split_once('=').ok_or("--*-env takes KEY=VALUE")?;
            command.env(key, value);
        }
        let mut child = command
            .args([
                "serve",
                "--kind",
                setup.kind.arg(),
                "--http",
                setup.http.arg(),
            ])
            .arg(format!(
                "--write-deadline-ms={}",
                setup.write_deadline.map_or(0, |d| d.as_millis())
            ))
            .arg(format!("--send-buffer={}", setup.send_buffer.unwrap_or(0)))
            .arg(format!("--history={}", setup.history.unwrap_or(0)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id().ok_or("the server exited at once")?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await??
            .ok_or("the server exited")?;
        let port: u16 = line
            .strip_prefix("listening ")
            .ok_or("unexpected first line")?
            .parse()?;
        Ok(ServerProcess {
            child,
            pid,
            stdin,
            lines,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            next_seq: 1,
        })
    }

    /// The sequence number of the next event it publishes.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Has it publish at `rate` events/s of `size` bytes for `length`;
    /// returns when publishing started, µs since the epoch.
    pub async fn start_publishing(
        &mut self,
        rate: f64,
        size: usize,
        length: Duration,
    ) -> Result<u64, BoxError> {
        self.stdin
            .write_all(format!("publish {rate} {size} {}\n", length.as_millis()).as_bytes())
            .await?;
        let [first, start_micros] = self.expect("start", Duration::ZERO).await?;
        debug_assert_eq!(first, self.next_seq);
        Ok(start_micros)
    }

    /// Waits until the publishing `start_publishing` began (`length` long)
    /// is done; returns how many events it published.
    pub async fn wait_published(&mut self, length: Duration) -> Result<u64, BoxError> {
        let [count] = self.expect("done", length).await?;
        self.next_seq += count;
        Ok(count)
    }

    /// Reads the server's next line, `{word} <N numbers>`, waiting at most
    /// 120 s more than `extra` (a phase's length).
    async fn expect<const N: usize>(
        &mut self,
        word: &str,
        extra: Duration,
    ) -> Result<[u64; N], BoxError> {
        let wait = Duration::from_secs(120) + extra;
        let line = tokio::time::timeout(wait, self.lines.next_line())
            .await??
            .ok_or("the server exited")?;
        let mut values = [0; N];
        let mut words = line
            .strip_prefix(word)
            .ok_or_else(|| format!("expected {word}, got {line}"))?
            .split_whitespace();
        for value in &mut values {
            *value = words
                .next()
                .ok_or_else(|| format!("too few numbers after {word}: {line}"))?
                .parse()?;
        }
        Ok(values)
    }

    /// Its user + system CPU seconds so far.
    pub fn cpu_seconds(&self) -> std::io::Result<f64> {
        procfs::cpu_seconds(&format!("/proc/{}/stat", self.pid))
    }

    /// Its resident set size, in bytes.
    pub fn rss_bytes(&self) -> std::io::Result<u64> {
        procfs::rss_bytes(self.pid)
    }

    /// Waits (at most 10 s) until it is idle: under 5 % of a core over
    /// 200 ms, so that a phase never starts while it still works off the
    /// backlog of the last one or tears down closed connections.
    pub async fn quiesce(&self) -> std::io::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut before = self.cpu_seconds()?;
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let now = self.cpu_seconds()?;
            if now - before <= 0.01 {
                break;
            }
            before = now;
        }
        Ok(())
    }

    /// Tells it to quit and waits (at most 5 s) until it has.
    pub async fn quit(mut self) {
        let _ = self.stdin.write_all(b"quit\n").await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

/// Raises the file-descriptor limit for `connections` (each process, the
/// client and the server, holds one descriptor per connection, plus some),
/// and warns, in the output, if it stays too low.
pub fn check_nofile_limit(connections: usize) {
    let wanted = connections as u64 + 1024;
    match procfs::raise_nofile_limit(wanted) {
        Some(limit) if limit < wanted => {
            let warning = format!(
                "warning: the file-descriptor limit is {limit}, under the {wanted} that {connections} connections need: fewer will connect (raise `ulimit -Hn`)"
            );
            eprintln!("{warning}");
            println!("{warning}");
        }
        _ => {}
    }
}
