//! The command line: the suite's options, and the `serve` subcommand the
//! suite starts each server with.

use std::fmt::Write as _;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::external::External;
use crate::process::Launch;
use crate::server::{Conn, Kind, Setup};

#[derive(Debug, Parser)]
#[command(about = "SSE load benchmark: ours (broker + ssekit-axum) against axum Sse + broadcast")]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub command: Option<Cmd>,
    /// A short run: 1 000 and 2 000 subscribers, 1 s phases.
    #[arg(long)]
    pub quick: bool,
    /// Runs of the whole suite (odd, at least 3, for figures to quote): the
    /// last table gives, for each figure, the median of the per-run ratios
    /// and their range.
    #[arg(long, default_value_t = 1)]
    pub runs: usize,
    /// How the "ours" server is served (the accept loop and socket options
    /// are the same for every choice and both servers).
    #[arg(long, value_enum, default_value = "axum-serve")]
    pub ours_http: Conn,
    /// How the reference is served; by default exactly as ours.
    #[arg(long, value_enum)]
    pub reference_http: Option<Conn>,
    /// The write deadline around each socket "ours" accepts
    /// (`ssekit_tower::WriteDeadline`), in ms; 0: none. The reference has none,
    /// as axum's `Sse` users have none.
    #[arg(long, default_value_t = 10_000)]
    pub write_deadline_ms: u64,
    /// The history of the "ours" topic, in events (and 256 B per event).
    /// The default follows the broker's sizing rule (`TopicConfig`) for the
    /// fastest rate the suite publishes at, so that a subscriber cut off
    /// past saturation can resume: it is cut off once its socket buffers
    /// are full, and reads them (seconds at saturation) before it
    /// reconnects. 300 000 events are 15.6 s at 19 200 events/s. 0: the
    /// broker's default (1 000).
    #[arg(long, default_value_t = 300_000)]
    pub ours_history: usize,
    /// The smaller subscriber count (default 1 000).
    #[arg(long)]
    pub small: Option<usize>,
    /// The larger subscriber count, also the idle connections of the RSS
    /// figure (default 10 000, quick 2 000).
    #[arg(long)]
    pub big: Option<usize>,
    /// Publish phase length in milliseconds (default 2 000, quick 1 000).
    #[arg(long)]
    pub phase_ms: Option<u64>,
    /// An environment variable for the "ours" server process, `KEY=VALUE`
    /// (repeatable): e.g. `LD_PRELOAD=…/libjemalloc.so.2` to try another
    /// allocator.
    #[arg(long, value_name = "KEY=VALUE")]
    pub ours_env: Vec<String>,
    /// The same for the reference server process.
    #[arg(long, value_name = "KEY=VALUE")]
    pub reference_env: Vec<String>,
    /// A soak run instead of the suite: `--big` connections (default 5 000
    /// here) to "ours" only, `--soak-rate` events/s of 100 B for this many
    /// seconds; prints delivered counts, losses, latency, the server's RSS
    /// (and per connection) and its CPU.
    #[arg(long, value_name = "SECONDS")]
    pub soak: Option<u64>,
    /// The publish rate of `--soak`, events/s.
    #[arg(long, default_value_t = 10.0)]
    pub soak_rate: f64,
    /// Only the latency phase (`--latency-rate` × 1 000 × 100 B) of each
    /// server, `--runs` times, and its table; each server's pid is printed on stderr first,
    /// for a profiler. With `--ours-http floor`, ours is the floor any
    /// server is bound by (see `Conn::Floor`).
    #[arg(long)]
    pub only_latency: bool,
    /// The publish rate of `--only-latency`'s phase, events/s.
    #[arg(long, default_value_t = 300.0)]
    pub latency_rate: f64,
    /// The reconnection storm of a deploy instead of the suite: the chat
    /// (`<dir>/chat --addr {addr} --reuse-port --shutdown-jitter-ms
    /// {jitter_ms}`, or `--ours-cmd` with those placeholders) with
    /// `--storm-clients` streams is replaced by a second one on the same
    /// port and gets SIGTERM; each client reconnects exactly after the
    /// last `retry:` it received, with `Last-Event-ID`. Prints the
    /// histogram of reconnection times in 100 ms buckets, for
    /// `--storm-jitter-ms` and for 0, `--runs` times each.
    #[arg(long)]
    pub storm: bool,
    /// The clients of `--storm`.
    #[arg(long, default_value_t = 1_000)]
    pub storm_clients: usize,
    /// The shutdown jitter window of `--storm`, in ms (compared with 0).
    #[arg(long, default_value_t = 4_000)]
    pub storm_jitter_ms: u64,
    /// External mode: the command line that starts "ours", e.g.
    /// `'target/release/chat --addr {addr}'` (split on whitespace, no
    /// shell; `{addr}` becomes `127.0.0.1:PORT` for a free PORT, `{port}` the port).
    /// The bench waits until it accepts connections, subscribes with `GET
    /// --ours-stream-path` and publishes by posting url-encoded forms
    /// (`user`, `message`) to `--ours-post-path`. The `--ours-http`,
    /// `--*-history` and `--write-deadline-ms` options do not apply; event
    /// sizes are 100 B only.
    #[arg(long, alias = "server-cmd", value_name = "COMMAND")]
    pub ours_cmd: Option<String>,
    /// External mode: the command line that starts the reference; by
    /// default the `axum-broadcast` binary beside this one (axum's `Sse`
    /// over a `tokio::sync::broadcast` receiver, on `axum::serve`):
    /// `<dir>/axum-broadcast --addr {addr}`.
    #[arg(long, value_name = "COMMAND", requires = "ours_cmd")]
    pub reference_cmd: Option<String>,
    /// External mode: the event stream of "ours" (the chat's room `bench`).
    #[arg(long, default_value = "/stream/bench")]
    pub ours_stream_path: String,
    /// External mode: where events are posted to "ours" (the chat's form).
    #[arg(long, default_value = "/room/bench")]
    pub ours_post_path: String,
    /// External mode: the event stream of the reference.
    #[arg(long, default_value = "/events")]
    pub reference_stream_path: String,
    /// External mode: where events are posted to the reference.
    #[arg(long, default_value = "/publish")]
    pub reference_post_path: String,
}

impl Cli {
    /// External mode: the servers are started from `--ours-cmd` and
    /// `--reference-cmd`.
    pub(crate) fn external(&self) -> bool {
        self.ours_cmd.is_some()
    }

    /// How the server of `kind` is started.
    pub(crate) fn launch(&self, kind: Kind) -> Launch {
        let Some(ours_cmd) = &self.ours_cmd else {
            return Launch::Bench(self.setup(kind, None));
        };
        let split = |command: &str| command.split_whitespace().map(str::to_owned).collect();
        Launch::External(match kind {
            Kind::Ours => External {
                kind,
                command: split(ours_cmd),
                stream_path: self.ours_stream_path.clone(),
                post_path: self.ours_post_path.clone(),
            },
            Kind::Reference => External {
                kind,
                command: match &self.reference_cmd {
                    Some(command) => split(command),
                    None => vec![
                        default_reference_program(),
                        "--addr".to_owned(),
                        "{addr}".to_owned(),
                    ],
                },
                stream_path: self.reference_stream_path.clone(),
                post_path: self.reference_post_path.clone(),
            },
        })
    }

    /// The `--ours-env` or `--reference-env` pairs.
    pub(crate) fn env(&self, kind: Kind) -> &[String] {
        match kind {
            Kind::Ours => &self.ours_env,
            Kind::Reference => &self.reference_env,
        }
    }

    /// How the server of `kind` is set up (`send_buffer`: the stall
    /// scenario's `SO_SNDBUF`, if any).
    pub(crate) fn setup(&self, kind: Kind, send_buffer: Option<u32>) -> Setup {
        match kind {
            Kind::Ours => Setup {
                kind,
                http: self.ours_http,
                write_deadline: millis(self.write_deadline_ms),
                send_buffer,
                history: (self.ours_history > 0).then_some(self.ours_history),
            },
            Kind::Reference => Setup {
                kind,
                http: self.reference_http.unwrap_or(self.ours_http),
                write_deadline: None,
                send_buffer,
                history: None,
            },
        }
    }

    /// One line per server: how it is served.
    pub(crate) fn serving(&self, send_buffer: Option<u32>) -> String {
        let mut out = String::new();
        for kind in [Kind::Ours, Kind::Reference] {
            let line = match self.launch(kind) {
                Launch::Bench(_) => describe(&self.setup(kind, send_buffer), self.env(kind)),
                Launch::External(external) => {
                    let mut line = format!(
                        "{}: external, {}, published by this process's posts",
                        kind.arg(),
                        external.describe()
                    );
                    if !self.env(kind).is_empty() {
                        let _ = write!(line, ", env {}", self.env(kind).join(" "));
                    }
                    line
                }
            };
            let _ = writeln!(out, "- {line}");
        }
        out
    }
}

/// The `axum-broadcast` binary beside this one (cargo builds both).
fn default_reference_program() -> String {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("axum-broadcast")));
    match beside {
        Some(path) => path.to_string_lossy().into_owned(),
        None => "axum-broadcast".to_owned(),
    }
}

/// How a server was served, for the output.
fn describe(setup: &Setup, env: &[String]) -> String {
    let mut out = format!(
        "{}: {}, one accept loop, TCP_NODELAY",
        setup.kind.arg(),
        setup.http.arg()
    );
    match setup.write_deadline {
        Some(deadline) => {
            let _ = write!(out, ", write deadline {} ms", deadline.as_millis());
        }
        None => out.push_str(", no write deadline"),
    }
    if let Some(size) = setup.send_buffer {
        let _ = write!(out, ", SO_SNDBUF {size} B on the listening socket");
    }
    if let Some(events) = setup.history {
        let _ = write!(out, ", history {events} events");
    }
    if !env.is_empty() {
        let _ = write!(out, ", env {}", env.join(" "));
    }
    out
}

#[derive(Debug, Subcommand)]
pub(crate) enum Cmd {
    /// Runs one server (used by the benchmark itself).
    Serve(Serve),
}

/// The `serve` subcommand's options: a [`Setup`] spelled out, 0 for none.
/// [`ServerProcess::start`](crate::process::ServerProcess::start) writes
/// them.
#[derive(Debug, Args)]
pub(crate) struct Serve {
    #[arg(long, value_enum)]
    kind: Kind,
    #[arg(long, value_enum, default_value = "axum-serve")]
    http: Conn,
    /// 0: no write deadline.
    #[arg(long, default_value_t = 0)]
    write_deadline_ms: u64,
    /// 0: the kernel's default send buffer.
    #[arg(long, default_value_t = 0)]
    send_buffer: u32,
    /// The topic's history in events (ours); 0: the broker's default.
    #[arg(long, default_value_t = 0)]
    history: usize,
}

impl Serve {
    pub(crate) fn setup(&self) -> Setup {
        Setup {
            kind: self.kind,
            http: self.http,
            write_deadline: millis(self.write_deadline_ms),
            send_buffer: (self.send_buffer > 0).then_some(self.send_buffer),
            history: (self.history > 0).then_some(self.history),
        }
    }
}

/// `ms` milliseconds; `None` for 0.
fn millis(ms: u64) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(ms))
}
