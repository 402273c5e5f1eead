//! A server in its own process: this binary's `serve` subcommand, driven
//! over its stdin and stdout (the protocol is in `server.rs`), or an
//! external server driven through its HTTP routes (`external.rs`); and the
//! file-descriptor limit both processes need.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::BoxError;
use crate::external::{self, External};
use crate::procfs;
use crate::server::{Kind, Setup};

/// Which server to start: one of this binary's (`serve`), or an external
/// one.
#[derive(Clone, Debug)]
pub(crate) enum Launch {
    Bench(Setup),
    External(External),
}

impl Launch {
    pub(crate) fn kind(&self) -> Kind {
        match self {
            Launch::Bench(setup) => setup.kind,
            Launch::External(external) => external.kind,
        }
    }
}

/// One server in its own process.
pub(crate) struct ServerProcess {
    child: Child,
    pub pid: u32,
    control: Control,
    pub addr: SocketAddr,
    /// The event stream's path.
    pub stream_path: String,
    /// The sequence number of the next event it publishes.
    next_seq: u64,
}

/// How events are published.
enum Control {
    /// By the server itself, told over its stdin.
    Commands {
        stdin: ChildStdin,
        lines: Lines<BufReader<ChildStdout>>,
    },
    /// By this process, posting to the server's `post_path`; the publishing
    /// under way, if any.
    Posts {
        post_path: String,
        publishing: Option<tokio::task::JoinHandle<Result<u64, String>>>,
    },
}

impl ServerProcess {
    /// Starts the server `launch` says, with the `KEY=VALUE` pairs of `env`
    /// in its environment, and waits until it listens.
    pub(crate) async fn launch(launch: &Launch, env: &[String]) -> Result<Self, BoxError> {
        match launch {
            Launch::Bench(setup) => Self::start(setup, env).await,
            Launch::External(spec) => {
                let started = spec.start(env).await?;
                Ok(ServerProcess {
                    child: started.child,
                    pid: started.pid,
                    control: Control::Posts {
                        post_path: spec.post_path.clone(),
                        publishing: None,
                    },
                    addr: started.addr,
                    stream_path: spec.stream_path.clone(),
                    next_seq: 1,
                })
            }
        }
    }

    /// Starts the server set up as `setup`, with the `KEY=VALUE` pairs of
    /// `env` in its environment, and waits until it listens.
    async fn start(setup: &Setup, env: &[String]) -> Result<Self, BoxError> {
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
            control: Control::Commands { stdin, lines },
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            stream_path: "/events".to_owned(),
            next_seq: 1,
        })
    }

    /// The sequence number of the next event it publishes.
    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Has it publish at `rate` events/s of `size` bytes for `length`;
    /// returns when publishing started, µs since the epoch.
    pub(crate) async fn start_publishing(
        &mut self,
        rate: f64,
        size: usize,
        length: Duration,
    ) -> Result<u64, BoxError> {
        let addr = self.addr;
        let first = self.next_seq;
        match &mut self.control {
            Control::Commands { stdin, .. } => {
                stdin
                    .write_all(format!("publish {rate} {size} {}\n", length.as_millis()).as_bytes())
                    .await?;
            }
            Control::Posts {
                post_path,
                publishing,
            } => {
                if size > external::MAX_SIZE {
                    return Err(format!(
                        "an external server takes events of at most {} B (the chat's longest message), not {size} B",
                        external::MAX_SIZE
                    )
                    .into());
                }
                let start_micros = crate::client::now_micros();
                let path = post_path.clone();
                *publishing = Some(tokio::spawn(async move {
                    external::publish(addr, &path, rate, size, length, first)
                        .await
                        .map_err(|error| error.to_string())
                }));
                return Ok(start_micros);
            }
        }
        let [first, start_micros] = self.expect("start", Duration::ZERO).await?;
        debug_assert_eq!(first, self.next_seq);
        Ok(start_micros)
    }

    /// Waits until the publishing `start_publishing` began (`length` long)
    /// is done; returns how many events it published.
    pub(crate) async fn wait_published(&mut self, length: Duration) -> Result<u64, BoxError> {
        let count = match &mut self.control {
            Control::Commands { .. } => {
                let [count] = self.expect("done", length).await?;
                count
            }
            Control::Posts { publishing, .. } => {
                let task = publishing.take().ok_or("not publishing")?;
                // The publisher bounds its own wait for answers (60 s).
                task.await??
            }
        };
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
        let Control::Commands { lines, .. } = &mut self.control else {
            return Err("an external server has no command channel".into());
        };
        let line = tokio::time::timeout(wait, lines.next_line())
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
    pub(crate) fn cpu_seconds(&self) -> std::io::Result<f64> {
        procfs::cpu_seconds(&format!("/proc/{}/stat", self.pid))
    }

    /// Its resident set size, in bytes.
    pub(crate) fn rss_bytes(&self) -> std::io::Result<u64> {
        procfs::rss_bytes(self.pid)
    }

    /// Waits (at most 10 s) until it is idle: under 5 % of a core over
    /// 200 ms, so that a phase never starts while it still works off the
    /// backlog of the last one or tears down closed connections.
    pub(crate) async fn quiesce(&self) -> std::io::Result<()> {
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

    /// Tells it to quit (an external server is killed) and waits (at most
    /// 5 s) until it has.
    pub(crate) async fn quit(mut self) {
        match &mut self.control {
            Control::Commands { stdin, .. } => {
                let _ = stdin.write_all(b"quit\n").await;
            }
            Control::Posts { .. } => {
                let _ = self.child.start_kill();
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

/// Raises the file-descriptor limit for `connections` (each process, the
/// client and the server, holds one descriptor per connection, plus some),
/// and warns, in the output, if it stays too low.
pub(crate) fn check_nofile_limit(connections: usize) {
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
