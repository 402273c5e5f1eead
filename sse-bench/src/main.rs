//! Load benchmark: thousands of SSE connections over loopback, our broker
//! served through `ssekit-axum` against axum 0.8's `Sse` fed by
//! `tokio::sync::broadcast`, side by side in one invocation.
//!
//! ```sh
//! cargo run --release -p sse-bench            # the full run (about 4 minutes per run)
//! cargo run --release -p sse-bench -- --quick # about 2 minutes
//! ```
//!
//! Each server runs in its own process (this binary, `serve` subcommand),
//! so its RSS and CPU time are read from `/proc/<pid>`; the load client runs
//! in this process and reports its own CPU time. Only loopback addresses
//! are used. See `docs/BENCHMARKS.md`, "Load: thousands of SSE connections".

mod client;
mod hist;
mod procfs;
mod server;
mod table;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::client::{Clients, Tally};
use crate::server::{Conn, Setup};
use crate::table::{Row, Target};

/// Which server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Kind {
    /// A broker topic served through `ssekit-axum`.
    Ours,
    /// axum's `Sse` over `BroadcastStream` of a `broadcast::channel(1024)`.
    Reference,
}

#[derive(Debug, Parser)]
#[command(about = "SSE load benchmark: ours (broker + ssekit-axum) against axum Sse + broadcast")]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    /// A short run: 1 000 and 2 000 subscribers, 1 s phases.
    #[arg(long)]
    quick: bool,
    /// Runs of the whole suite (odd, at least 3, for figures to quote): the
    /// last table gives, for each figure, the median of the per-run ratios
    /// and their range.
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// How the "ours" server is served (the accept loop and socket options
    /// are the same for every choice and both servers).
    #[arg(long, value_enum, default_value = "axum-serve")]
    ours_http: Conn,
    /// How the reference is served; by default exactly as ours.
    #[arg(long, value_enum)]
    reference_http: Option<Conn>,
    /// The write deadline around each socket "ours" accepts
    /// (`ssekit_tower::WriteDeadline`), in ms; 0: none. The reference has none,
    /// as axum's `Sse` users have none.
    #[arg(long, default_value_t = 10_000)]
    write_deadline_ms: u64,
    /// The history of the "ours" topic, in events (and 256 B per event).
    /// The default follows the broker's sizing rule (`TopicConfig`) for the
    /// fastest rate the suite publishes at, so that a subscriber cut off
    /// past saturation can resume: it is cut off once its socket buffers
    /// are full, and reads them (seconds at saturation) before it
    /// reconnects. 300 000 events are 15.6 s at 19 200 events/s. 0: the
    /// broker's default (1 000).
    #[arg(long, default_value_t = 300_000)]
    ours_history: usize,
    /// The smaller subscriber count (default 1 000).
    #[arg(long)]
    small: Option<usize>,
    /// The larger subscriber count, also the idle connections of the RSS
    /// figure (default 10 000, quick 2 000).
    #[arg(long)]
    big: Option<usize>,
    /// Publish phase length in milliseconds (default 2 000, quick 1 000).
    #[arg(long)]
    phase_ms: Option<u64>,
    /// An environment variable for the "ours" server process, `KEY=VALUE`
    /// (repeatable): e.g. `LD_PRELOAD=…/libjemalloc.so.2` to try another
    /// allocator.
    #[arg(long, value_name = "KEY=VALUE")]
    ours_env: Vec<String>,
    /// The same for the reference server process.
    #[arg(long, value_name = "KEY=VALUE")]
    reference_env: Vec<String>,
    /// A soak run instead of the suite: `--big` connections (default 5 000
    /// here) to "ours" only, 10 events/s of 100 B for this many seconds;
    /// prints delivered counts, losses and the server's RSS at start and end.
    #[arg(long, value_name = "SECONDS")]
    soak: Option<u64>,
    /// Only the latency phase (`--latency-rate` × 1 000 × 100 B) of each
    /// server, `--runs` times, and its table; each server's pid is printed on stderr first,
    /// for a profiler. With `--ours-http floor`, ours is the floor any
    /// server is bound by (see `Conn::Floor`).
    #[arg(long)]
    only_latency: bool,
    /// The publish rate of `--only-latency`'s phase, events/s.
    #[arg(long, default_value_t = 300.0)]
    latency_rate: f64,
}

impl Cli {
    fn env(&self, kind: Kind) -> &[String] {
        match kind {
            Kind::Ours => &self.ours_env,
            Kind::Reference => &self.reference_env,
        }
    }

    /// How the server of `kind` is set up (`send_buffer`: the stall
    /// scenario's `SO_SNDBUF`, if any).
    fn setup(&self, kind: Kind, send_buffer: Option<u32>) -> Setup {
        match kind {
            Kind::Ours => Setup {
                kind,
                http: self.ours_http,
                write_deadline: (self.write_deadline_ms > 0)
                    .then(|| Duration::from_millis(self.write_deadline_ms)),
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
    fn serving(&self, send_buffer: Option<u32>) -> String {
        let mut out = String::new();
        for kind in [Kind::Ours, Kind::Reference] {
            let _ = writeln!(
                out,
                "- {}",
                describe(&self.setup(kind, send_buffer), self.env(kind))
            );
        }
        out
    }
}

/// How a server was served, for the output.
fn describe(setup: &Setup, env: &[String]) -> String {
    let mut out = format!(
        "{}: {}, one accept loop, TCP_NODELAY",
        kind_name(setup.kind),
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

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Ours => "ours",
        Kind::Reference => "reference",
    }
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Runs one server (used by the benchmark itself).
    Serve {
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
    },
}

/// The data of a bench event: `{seq} {publish time, µs since the epoch} `
/// padded with `x` to `size` bytes.
pub fn payload(seq: u64, size: usize) -> String {
    let mut data = format!("{seq} {} ", client::now_micros());
    if data.len() < size {
        data.extend(std::iter::repeat_n('x', size - data.len()));
    }
    data
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    if let Some(Cmd::Serve {
        kind,
        http,
        write_deadline_ms,
        send_buffer,
        history,
    }) = cli.command
    {
        let setup = Setup {
            kind,
            http,
            write_deadline: (write_deadline_ms > 0)
                .then(|| Duration::from_millis(write_deadline_ms)),
            send_buffer: (send_buffer > 0).then_some(send_buffer),
            history: (history > 0).then_some(history),
        };
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "warn".into()),
            )
            .init();
        // The parent raised the limit it passes on; raise the soft one anyway.
        procfs::raise_nofile_limit(0);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        runtime.block_on(server::serve(setup))?;
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(bench(cli))
}

/// Which server goes first in run `run`: they alternate, against drift in
/// the machine's load.
fn run_order(run: usize) -> [Kind; 2] {
    if run % 2 == 0 {
        [Kind::Ours, Kind::Reference]
    } else {
        [Kind::Reference, Kind::Ours]
    }
}

/// The sizes of one run.
struct Plan {
    big: usize,
    small: usize,
    phase: Duration,
    /// Doublings of the rate, at most, before saturation.
    doublings: u32,
    /// Bisection steps after it.
    bisections: u32,
}

async fn bench(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    let mut plan = if cli.quick {
        Plan {
            big: 2_000,
            small: 1_000,
            phase: Duration::from_millis(cli.phase_ms.unwrap_or(1_000)),
            doublings: 7,
            bisections: 1,
        }
    } else {
        Plan {
            big: 10_000,
            small: 1_000,
            phase: Duration::from_millis(cli.phase_ms.unwrap_or(2_000)),
            doublings: 8,
            bisections: 2,
        }
    };
    plan.small = cli.small.unwrap_or(plan.small).max(1);
    plan.big = cli.big.unwrap_or(plan.big).max(plan.small);
    let started = Instant::now();
    if cli.runs % 2 == 0 {
        let warning = format!(
            "warning: --runs {} is even: a median of an even count is the mean of the middle two; use an odd number ≥ 3",
            cli.runs
        );
        eprintln!("{warning}");
        println!("{warning}");
    }
    println!(
        "sse-bench: {} run(s), {} and {} subscribers, {} ms phases; load average {}\n{}",
        cli.runs,
        plan.small,
        plan.big,
        plan.phase.as_millis(),
        procfs::loadavg(),
        cli.serving(None),
    );
    if let Some(seconds) = cli.soak {
        let connections = cli.big.unwrap_or(5_000).max(1);
        check_nofile_limit(connections);
        return soak(&cli, connections, Duration::from_secs(seconds)).await;
    }
    check_nofile_limit(plan.big);
    if cli.only_latency {
        let mut runs: Vec<BTreeMap<Kind, Figures>> = Vec::new();
        for run in 0..cli.runs.max(1) {
            let mut figures = BTreeMap::new();
            for kind in run_order(run) {
                let mut server =
                    ServerProcess::start(&cli.setup(kind, None), cli.env(kind)).await?;
                let mut clients = Clients::new(server.addr, kind);
                clients.grow_to(plan.small, Duration::from_secs(60)).await;
                eprintln!("run {}: {kind:?}, pid {}", run + 1, server.pid);
                tokio::time::sleep(Duration::from_secs(1)).await;
                // The latency phase's figures, at whatever rate.
                let at_300 = phase(
                    &mut server,
                    &clients,
                    plan.small,
                    cli.latency_rate,
                    100,
                    plan.phase,
                )
                .await?;
                clients.close();
                server.quit().await;
                figures.insert(
                    kind,
                    Figures {
                        at_300,
                        ..Figures::default()
                    },
                );
            }
            runs.push(figures);
        }
        let all: Vec<&BTreeMap<Kind, Figures>> = runs.iter().collect();
        println!("{}", latency_table(cli.latency_rate, plan.small, &all));
        return Ok(());
    }
    let mut runs: Vec<BTreeMap<Kind, Figures>> = Vec::new();
    for run in 0..cli.runs.max(1) {
        let mut figures = BTreeMap::new();
        for kind in run_order(run) {
            eprintln!("run {}: {kind:?}", run + 1);
            figures.insert(
                kind,
                measure(&cli.setup(kind, None), cli.env(kind), &plan).await?,
            );
        }
        println!(
            "\n## Run {} ({:.0} s so far)\n",
            run + 1,
            started.elapsed().as_secs_f64()
        );
        println!("{}", cli.serving(None));
        println!("{}", table(&plan, &[&figures]));
        runs.push(figures);
    }
    if runs.len() > 1 {
        let all: Vec<&BTreeMap<Kind, Figures>> = runs.iter().collect();
        println!(
            "\n## All {} runs: medians, ratios per run and their median\n",
            runs.len()
        );
        println!("{}", cli.serving(None));
        println!("{}", table(&plan, &all));
    }
    println!(
        "total {:.0} s; load average {}",
        started.elapsed().as_secs_f64(),
        procfs::loadavg()
    );
    Ok(())
}

/// The soak run: `connections` clients of "ours" through one long phase at
/// 10 events/s × 100 B, with the server's RSS before and after.
async fn soak(
    cli: &Cli,
    connections: usize,
    length: Duration,
) -> Result<(), Box<dyn std::error::Error>> {
    const RATE: f64 = 10.0;
    const SIZE: usize = 100;
    let mut server =
        ServerProcess::start(&cli.setup(Kind::Ours, None), cli.env(Kind::Ours)).await?;
    let mut clients = Clients::new(server.addr, Kind::Ours);
    let live = clients.grow_to(connections, Duration::from_secs(120)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_start = procfs::rss_bytes(server.pid)?;
    let result = phase(&mut server, &clients, live, RATE, SIZE, length).await?;
    let rss_end = procfs::rss_bytes(server.pid)?;
    let published = (RATE * length.as_secs_f64()).round();
    let arrived = result.arrived * published * live as f64;
    println!(
        "soak: {live} of {connections} connections, {RATE}/s × {SIZE} B for {} s ({published} events published)",
        length.as_secs()
    );
    println!(
        "  arrived {:.3} % of published × connections ({:.0} events); delivered {:.0}/s, {:.1} % of ideal",
        result.arrived * 100.0,
        arrived,
        result.delivered_per_s,
        result.share * 100.0
    );
    println!(
        "  latency p50 {} µs, p99 {} µs, max {} µs",
        result.p50_us, result.p99_us, result.max_us
    );
    println!(
        "  server RSS {:.1} MB at the start, {:.1} MB at the end; server CPU {:.1} s",
        rss_start as f64 / 1e6,
        rss_end as f64 / 1e6,
        // The phase measured it, per million events received.
        result.server_cpu_per_m * arrived / 1e6
    );
    println!("  {:?}", result.tally);
    println!("load average {}", procfs::loadavg());
    clients.close();
    server.quit().await;
    Ok(())
}

/// Raises the file-descriptor limit for `connections` (each process, the
/// client and the server, holds one descriptor per connection, plus some),
/// and warns, in the output, if it stays too low.
fn check_nofile_limit(connections: usize) {
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

/// One server in its own process.
struct ServerProcess {
    child: Child,
    pid: u32,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    addr: SocketAddr,
    next_seq: u64,
}

impl ServerProcess {
    async fn start(setup: &Setup, env: &[String]) -> Result<Self, Box<dyn std::error::Error>> {
        let mut command = Command::new(std::env::current_exe()?);
        for pair in env {
            let (key, value) = pair.split_once('=').ok_or("--*-env takes KEY=VALUE")?;
            command.env(key, value);
        }
        let mut child = command
            .args([
                "serve",
                "--kind",
                kind_name(setup.kind),
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

    /// Reads the server's next line, `{word} <N numbers>`, at most 120 s.
    async fn expect<const N: usize>(
        &mut self,
        word: &str,
    ) -> Result<[u64; N], Box<dyn std::error::Error>> {
        self.expect_within(word, Duration::ZERO).await
    }

    /// The same, waiting at most 120 s more than `extra` (a phase's length).
    async fn expect_within<const N: usize>(
        &mut self,
        word: &str,
        extra: Duration,
    ) -> Result<[u64; N], Box<dyn std::error::Error>> {
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

    async fn quit(mut self) {
        let _ = self.stdin.write_all(b"quit\n").await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

/// What one publish phase measured.
#[derive(Clone, Debug, Default)]
struct Phase {
    rate: f64,
    /// The rate events arrived at while the publisher ran: those that
    /// arrived between a tenth of the phase after the first publish (a
    /// warm-up longer than any unsaturated latency) and the last publish,
    /// per second of that interval. A server that works off a backlog after
    /// publishing ended is not credited with the events it delivers late,
    /// and one that merely delays every event by a constant is not charged
    /// for it.
    delivered_per_s: f64,
    /// `delivered_per_s` over the ideal, rate × subscribers.
    share: f64,
    /// Publishing plus drain: from the first publish to the last event
    /// that arrived by the counting deadline, in seconds.
    window_s: f64,
    /// Events received by the deadline over published × subscribers
    /// (whatever their delay).
    arrived: f64,
    /// Publish-to-receive latency of the events `arrived` counts (the
    /// histogram is read at the counting deadline, as the count is).
    p50_us: u64,
    p99_us: u64,
    max_us: u64,
    /// Server CPU seconds per million events received (publish + 1 s).
    server_cpu_per_m: f64,
    client_cpu_per_m: f64,
    /// The load client's CPU over the phase's wall time (publishing and
    /// the counting deadline), in cores: near the machine's core count, the
    /// client, not the server, may be the limit.
    client_cores: f64,
    /// What the clients counted from the start of the phase until it
    /// settled.
    tally: Tally,
}

impl Phase {
    fn saturated(&self) -> bool {
        self.share < 0.95 || self.p99_us > 1_000_000
    }
}

async fn phase(
    server: &mut ServerProcess,
    clients: &Clients,
    subscribers: usize,
    rate: f64,
    size: usize,
    length: Duration,
) -> Result<Phase, Box<dyn std::error::Error>> {
    use std::sync::atomic::Ordering::Relaxed;
    quiesce(server.pid).await?;
    let c = &clients.counters;
    c.min_seq.store(server.next_seq, Relaxed);
    c.events.store(0, Relaxed);
    c.last_event_micros.store(0, Relaxed);
    c.window_events.store(0, Relaxed);
    c.window_from_micros.store(u64::MAX, Relaxed);
    c.window_to_micros.store(0, Relaxed);
    clients.latency.reset();
    let before = c.tally();
    let server_cpu0 = procfs::cpu_seconds(&format!("/proc/{}/stat", server.pid))?;
    let client_cpu0 = procfs::cpu_seconds("/proc/self/stat")?;
    let wall0 = Instant::now();
    server
        .stdin
        .write_all(format!("publish {rate} {size} {}\n", length.as_millis()).as_bytes())
        .await?;
    let [first, start_micros] = server.expect("start").await?;
    debug_assert_eq!(first, server.next_seq);
    let warm_up = length / 10;
    c.window_to_micros
        .store(start_micros + length.as_micros() as u64, Relaxed);
    c.window_from_micros
        .store(start_micros + warm_up.as_micros() as u64, Relaxed);
    let [count] = server.expect_within("done", length).await?;
    server.next_seq += count;
    // What arrives within 1 s after the last publish counts (an event later
    // than that is a saturated server's backlog).
    let ideal = count * subscribers as u64;
    let count_deadline = Instant::now() + Duration::from_secs(1);
    while c.events.load(Relaxed) < ideal && Instant::now() < count_deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let delivered = c.events.load(Relaxed);
    // The latencies of those same events: read now, not after the settle
    // below, which would add the late ones the count leaves out.
    let (p50_us, p99_us, max_us) = (
        clients.latency.quantile(0.5).unwrap_or(0),
        clients.latency.quantile(0.99).unwrap_or(0),
        clients.latency.max(),
    );
    let window_events = c.window_events.load(Relaxed);
    let last_event_micros = c.last_event_micros.load(Relaxed);
    let window_s =
        (last_event_micros.saturating_sub(start_micros) as f64 / 1e6).max(length.as_secs_f64());
    let total = delivered.max(1);
    let server_cpu = procfs::cpu_seconds(&format!("/proc/{}/stat", server.pid))? - server_cpu0;
    let client_cpu = procfs::cpu_seconds("/proc/self/stat")? - client_cpu0;
    let wall = wall0.elapsed().as_secs_f64();
    // Settle before the next phase: until nothing came for 300 ms, or 5 s.
    let settle_deadline = Instant::now() + Duration::from_secs(5);
    let mut last = c.events.load(Relaxed) + c.stale.load(Relaxed);
    let mut still_since = Instant::now();
    while Instant::now() < settle_deadline && still_since.elapsed() < Duration::from_millis(300) {
        tokio::time::sleep(Duration::from_millis(25)).await;
        let now = c.events.load(Relaxed) + c.stale.load(Relaxed);
        if now != last {
            last = now;
            still_since = Instant::now();
        }
    }

    let result = Phase {
        rate,
        delivered_per_s: window_events as f64 / (length - warm_up).as_secs_f64(),
        share: window_events as f64
            / (length - warm_up).as_secs_f64()
            / (rate * subscribers as f64).max(1.0),
        window_s,
        arrived: delivered as f64 / ideal.max(1) as f64,
        p50_us,
        p99_us,
        max_us,
        server_cpu_per_m: server_cpu / total as f64 * 1e6,
        client_cpu_per_m: client_cpu / total as f64 * 1e6,
        client_cores: client_cpu / wall,
        tally: c.tally().since(before),
    };
    eprintln!(
        "  {subscribers} × {size} B at {rate:.0}/s: {:.0} ev/s while publishing ({:.1} % of ideal; {:.1} % arrived by the deadline, the last {:.2} s after the first publish), p50 {} µs p99 {} µs max {} µs, server {:.2} / client {:.2} CPU-s per M (client {:.2} cores), {:?}",
        result.delivered_per_s,
        result.share * 100.0,
        result.arrived * 100.0,
        result.window_s,
        result.p50_us,
        result.p99_us,
        result.max_us,
        result.server_cpu_per_m,
        result.client_cpu_per_m,
        result.client_cores,
        result.tally,
    );
    Ok(result)
}

/// Waits (at most 10 s) until the server is idle: under 5 % of a core over
/// 200 ms, so that a phase never starts while the server still works off
/// the backlog of the last one or tears down closed connections.
async fn quiesce(pid: u32) -> std::io::Result<()> {
    let stat = format!("/proc/{pid}/stat");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut before = procfs::cpu_seconds(&stat)?;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = procfs::cpu_seconds(&stat)?;
        if now - before <= 0.01 {
            break;
        }
        before = now;
    }
    Ok(())
}

/// The result of a bounded search for the saturation rate.
#[derive(Clone, Debug, Default)]
struct Search {
    /// The highest rate tried that was not saturated (0 if none).
    ok_rate: f64,
    /// The lowest rate tried that was saturated (0 if none).
    bad_rate: f64,
    /// The phase with the most delivered events/s.
    peak: Phase,
    /// The first saturated phase, if any.
    past: Option<Phase>,
}

async fn search(
    server: &mut ServerProcess,
    clients: &Clients,
    subscribers: usize,
    size: usize,
    plan: &Plan,
) -> Result<Search, Box<dyn std::error::Error>> {
    let mut result = Search::default();
    let consider = |result: &mut Search, p: Phase| {
        if p.delivered_per_s > result.peak.delivered_per_s {
            result.peak = p.clone();
        }
        if p.saturated() {
            if result.bad_rate == 0.0 || p.rate < result.bad_rate {
                result.bad_rate = p.rate;
                result.past = Some(p);
            }
        } else if p.rate > result.ok_rate {
            result.ok_rate = p.rate;
        }
    };
    // Start at 100 000 ideal events/s and double.
    let mut rate = (100_000.0 / subscribers as f64).max(1.0);
    for _ in 0..plan.doublings {
        let p = phase(server, clients, subscribers, rate, size, plan.phase).await?;
        let saturated = p.saturated();
        consider(&mut result, p);
        if saturated {
            break;
        }
        rate *= 2.0;
    }
    if result.ok_rate > 0.0 && result.bad_rate > 0.0 {
        for _ in 0..plan.bisections {
            let rate = ((result.ok_rate + result.bad_rate) / 2.0).round();
            if rate <= result.ok_rate || rate >= result.bad_rate {
                break;
            }
            let p = phase(server, clients, subscribers, rate, size, plan.phase).await?;
            consider(&mut result, p);
        }
    }
    Ok(result)
}

/// Everything measured for one server in one run.
#[derive(Clone, Debug, Default)]
struct Figures {
    rss_per_idle_bytes: f64,
    idle_connections: usize,
    searches: BTreeMap<(usize, usize), Search>,
    at_300: Phase,
    past: Phase,
    /// What the clients counted from the start of the past-saturation
    /// phase until they had reconnected (or 30 s) and 1 s more.
    past_tally: Tally,
    past_rate: f64,
}

async fn measure(
    setup: &Setup,
    env: &[String],
    plan: &Plan,
) -> Result<Figures, Box<dyn std::error::Error>> {
    let mut server = ServerProcess::start(setup, env).await?;
    let mut clients = Clients::new(server.addr, setup.kind);
    let mut figures = Figures::default();
    let connect_timeout = Duration::from_secs(60);

    // RSS per idle connection: from 100 connections to `big`.
    clients.grow_to(100, connect_timeout).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss0 = procfs::rss_bytes(server.pid)?;
    let live = clients.grow_to(plan.big, connect_timeout).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss1 = procfs::rss_bytes(server.pid)?;
    figures.idle_connections = live;
    figures.rss_per_idle_bytes =
        (rss1 as f64 - rss0 as f64) / (live.saturating_sub(100)).max(1) as f64;
    eprintln!(
        "  idle: {live} connections, RSS {:.1} → {:.1} MB, {:.0} B per connection",
        rss0 as f64 / 1e6,
        rss1 as f64 / 1e6,
        figures.rss_per_idle_bytes
    );
    if live < plan.big {
        eprintln!(
            "  warning: only {live} of {} idle connections connected: the RSS figure is per connection that did",
            plan.big
        );
    }

    for (subscribers, grow) in [(plan.big, false), (plan.small, true)] {
        if grow {
            clients.shrink_to(subscribers, connect_timeout).await;
        }
        // Reconnections after a saturated phase: wait for every client.
        clients
            .wait_live(subscribers, Duration::from_secs(10))
            .await;
        if subscribers == plan.small {
            figures.at_300 =
                phase(&mut server, &clients, subscribers, 300.0, 100, plan.phase).await?;
        }
        for size in [100, 4096] {
            clients
                .wait_live(clients.len(), Duration::from_secs(10))
                .await;
            let result = search(&mut server, &clients, subscribers, size, plan).await?;
            figures.searches.insert((subscribers, size), result);
        }
    }
    // Past saturation: 1 000 subscribers, 100 B, twice the first saturated
    // rate (or the highest rate tried), for three times a phase.
    clients.wait_live(plan.small, Duration::from_secs(10)).await;
    let s = &figures.searches[&(plan.small, 100)];
    figures.past_rate = if s.bad_rate > 0.0 {
        s.bad_rate * 2.0
    } else {
        s.ok_rate * 2.0
    };
    let before = clients.counters.tally();
    figures.past = phase(
        &mut server,
        &clients,
        plan.small,
        figures.past_rate,
        100,
        plan.phase * 3,
    )
    .await?;
    // Let the clients that were cut off come back and see what answers
    // their reconnection, before the counters are read: until every one
    // is live again and 1 s has passed, at most 30 s (one cut off at
    // saturation first reads what its socket buffers hold, which takes
    // seconds when the server is still writing to the others).
    let live = clients.wait_live(plan.small, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    figures.past_tally = clients.counters.tally().since(before);
    eprintln!(
        "  past saturation, after reconnecting ({live} live): {:?}",
        figures.past_tally
    );
    clients.close();
    server.quit().await;
    Ok(figures)
}

fn table(plan: &Plan, runs: &[&BTreeMap<Kind, Figures>]) -> String {
    let mut rows = Vec::new();
    let mut row = |name, unit, f: &dyn Fn(&Figures) -> f64, target| {
        rows.push(figure_row(runs, name, unit, f, target));
    };
    let events = |v: f64| format!("{:.0} k/s", v / 1e3);
    let rate = |v: f64| format!("{v:.0}/s");
    let percent = |v: f64| format!("{:.1} %", v * 100.0);
    let millis = |v: f64| format!("{:.2} ms", v / 1e3);
    let cpu = |v: f64| format!("{v:.2} s");
    let cores = |v: f64| format!("{v:.2}");
    let count = |v: f64| format!("{v:.0}");
    let bytes = |v: f64| format!("{:.1} KB", v / 1e3);
    for &n in &[plan.small, plan.big] {
        for &size in &[100usize, 4096] {
            let key = (n, size);
            let label = format!("{n} subs × {size} B");
            let headline = n == plan.small && size == 100;
            row(
                format!("{label}: delivered events/s at saturation (peak)"),
                events,
                &|f| f.searches[&key].peak.delivered_per_s,
                if headline {
                    Target::RatioAtLeast(2.0)
                } else {
                    Target::None
                },
            );
            row(
                format!("{label}: share of ideal at the peak"),
                percent,
                &|f| f.searches[&key].peak.share,
                Target::None,
            );
            row(
                format!("{label}: p99 latency at the peak"),
                millis,
                &|f| f.searches[&key].peak.p99_us as f64,
                Target::None,
            );
            row(
                format!("{label}: highest publish rate not saturated"),
                rate,
                &|f| {
                    let ok = f.searches[&key].ok_rate;
                    if ok > 0.0 { ok } else { f64::NAN }
                },
                Target::None,
            );
            row(
                format!("{label}: first saturated publish rate"),
                rate,
                &|f| {
                    let bad = f.searches[&key].bad_rate;
                    if bad > 0.0 { bad } else { f64::NAN }
                },
                Target::None,
            );
            row(
                format!("{label}: server CPU-s per M delivered, at peak"),
                cpu,
                &|f| f.searches[&key].peak.server_cpu_per_m,
                if headline {
                    Target::RatioAtMost(0.5)
                } else {
                    Target::None
                },
            );
            row(
                format!("{label}: client CPU at the peak, cores busy"),
                cores,
                &|f| f.searches[&key].peak.client_cores,
                Target::None,
            );
        }
    }
    latency_rows(&mut row, 300.0, plan.small);
    let small = plan.small;
    row(
        format!("past saturation ({small} × 100 B, 2× the first saturated rate): publish rate"),
        rate,
        &|f| f.past_rate,
        Target::None,
    );
    row(
        "  delivered events/s".into(),
        events,
        &|f| f.past.delivered_per_s,
        Target::None,
    );
    row(
        "  share of ideal".into(),
        percent,
        &|f| f.past.share,
        Target::None,
    );
    row(
        "  client CPU, cores busy".into(),
        cores,
        &|f| f.past.client_cores,
        Target::None,
    );
    let tally_row = |name: &str, f: fn(&Tally) -> u64, target| {
        let mut row = Row::new(format!("  {name}"), count);
        row.ours = runs
            .iter()
            .map(|run| f(&run[&Kind::Ours].past_tally) as f64)
            .collect();
        row.reference = runs
            .iter()
            .map(|run| f(&run[&Kind::Reference].past_tally) as f64)
            .collect();
        row.target = target;
        row
    };
    rows.extend([
        tally_row(
            "events lost silently (a gap with no notice before it)",
            |t| t.silent_lost,
            Target::OursAtMost(0.0),
        ),
        tally_row(
            "events missed after a `lagged` or `reset` notice",
            |t| t.signalled_lost,
            Target::None,
        ),
        tally_row(
            "connections ended by the server (or failed)",
            |t| t.disconnects,
            Target::None,
        ),
        tally_row(
            "reconnections that sent Last-Event-ID",
            |t| t.reconnects_with_id,
            Target::None,
        ),
        tally_row(
            "… answered by a replay (the first event continues the sequence)",
            |t| t.replays,
            Target::None,
        ),
        tally_row(
            "… answered by a `reset` notice",
            |t| t.reconnect_resets,
            Target::None,
        ),
        tally_row(
            "… resumed from a `reset` notice's id (the gap was told by it)",
            |t| t.reconnect_from_notice,
            Target::None,
        ),
        tally_row(
            "… answered otherwise (a silent gap, or a repeat)",
            |t| t.reconnect_others,
            Target::None,
        ),
        tally_row(
            "… not answered by an event yet when counted",
            |t| {
                t.reconnects_with_id
                    - t.replays
                    - t.reconnect_resets
                    - t.reconnect_from_notice
                    - t.reconnect_others
            },
            Target::None,
        ),
        tally_row("`lagged` notices", |t| t.lagged, Target::None),
        tally_row("`reset` notices (any)", |t| t.resets, Target::None),
        tally_row(
            "events received twice or out of order",
            |t| t.duplicates,
            Target::None,
        ),
        tally_row(
            "connections that gave up (reconnection bound reached)",
            |t| t.gave_up,
            Target::None,
        ),
    ]);
    let mut resumed = Row::new(
        "  cut-off subscribers that resumed from history (replays / reconnections with an id)",
        percent,
    );
    let share = |t: &Tally| {
        if t.reconnects_with_id == 0 {
            f64::NAN
        } else {
            t.replays as f64 / t.reconnects_with_id as f64
        }
    };
    resumed.ours = runs
        .iter()
        .map(|run| share(&run[&Kind::Ours].past_tally))
        .collect();
    resumed.reference = runs
        .iter()
        .map(|run| share(&run[&Kind::Reference].past_tally))
        .collect();
    resumed.target = Target::OursAtLeast(1.0);
    rows.push(resumed);
    let mut idle = Row::new(
        format!("idle connections open at the RSS reading (of {})", plan.big),
        count,
    );
    idle.ours = runs
        .iter()
        .map(|run| run[&Kind::Ours].idle_connections as f64)
        .collect();
    idle.reference = runs
        .iter()
        .map(|run| run[&Kind::Reference].idle_connections as f64)
        .collect();
    rows.push(idle);
    let mut rss = Row::new(
        format!("RSS per idle connection, 100 → {} idle", plan.big),
        bytes,
    );
    rss.target = Target::RatioAtMost(0.5);
    for (kind, values, note) in [
        (Kind::Ours, &mut rss.ours, &mut rss.ours_note),
        (Kind::Reference, &mut rss.reference, &mut rss.reference_note),
    ] {
        *values = runs
            .iter()
            .map(|run| run[&kind].rss_per_idle_bytes)
            .collect();
        let fewest = runs
            .iter()
            .map(|run| run[&kind].idle_connections)
            .min()
            .unwrap_or(0);
        if fewest < plan.big {
            *note = format!("⚠ only {fewest} of {} connected", plan.big);
        }
    }
    rows.push(rss);
    let mut out = table::render(&rows);
    out.push_str(
        "\n— in a rate row: no such rate among those tried. Ratios: ours / reference in each run; the ratio column is their median.\n",
    );
    out
}

/// The row of figure `f` over `runs`.
fn figure_row(
    runs: &[&BTreeMap<Kind, Figures>],
    name: String,
    unit: fn(f64) -> String,
    f: &dyn Fn(&Figures) -> f64,
    target: Target,
) -> Row {
    let mut row = Row::new(name, unit);
    row.ours = runs.iter().map(|run| f(&run[&Kind::Ours])).collect();
    row.reference = runs.iter().map(|run| f(&run[&Kind::Reference])).collect();
    row.target = target;
    row
}

/// Adds a figure's row: its name, how a value is printed, the figure, the
/// target.
type AddRow<'a> = dyn FnMut(String, fn(f64) -> String, &dyn Fn(&Figures) -> f64, Target) + 'a;

/// The rows of the latency phase (`rate` × `small` × 100 B; 300/s in the
/// full table), there and in `--only-latency`'s table.
fn latency_rows(row: &mut AddRow<'_>, rate: f64, small: usize) {
    let percent = |v: f64| format!("{:.1} %", v * 100.0);
    let millis = |v: f64| format!("{:.2} ms", v / 1e3);
    let cpu = |v: f64| format!("{v:.2} s");
    let cores = |v: f64| format!("{v:.2}");
    let label = format!("{rate}/s × {small} × 100 B");
    row(
        format!("{label}: p50 latency"),
        millis,
        &|f| f.at_300.p50_us as f64,
        Target::None,
    );
    row(
        format!("{label}: p99 latency"),
        millis,
        &|f| f.at_300.p99_us as f64,
        Target::RatioAtMost(0.5),
    );
    row(
        format!("{label}: max latency"),
        millis,
        &|f| f.at_300.max_us as f64,
        Target::None,
    );
    row(
        format!("{label}: share of ideal"),
        percent,
        &|f| f.at_300.share,
        Target::None,
    );
    row(
        format!("{label}: server CPU-s per M delivered"),
        cpu,
        &|f| f.at_300.server_cpu_per_m,
        Target::None,
    );
    row(
        format!("{label}: client CPU-s per M received"),
        cpu,
        &|f| f.at_300.client_cpu_per_m,
        Target::None,
    );
    row(
        format!("{label}: client CPU, cores busy"),
        cores,
        &|f| f.at_300.client_cores,
        Target::None,
    );
}

/// `--only-latency`'s table: the latency rows alone.
fn latency_table(rate: f64, small: usize, runs: &[&BTreeMap<Kind, Figures>]) -> String {
    let mut rows = Vec::new();
    let mut row = |name, unit, f: &dyn Fn(&Figures) -> f64, target| {
        rows.push(figure_row(runs, name, unit, f, target));
    };
    latency_rows(&mut row, rate, small);
    table::render(&rows)
}
