//! The suite for one server in one run: idle RSS, the saturation searches,
//! the latency phase and the phase past saturation; and `--only-latency`'s
//! latency phase alone.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::BoxError;
use crate::cli::Cli;
use crate::client::{Clients, Tally};
use crate::phase::{self, Phase};
use crate::process::{Launch, ServerProcess};
use crate::search::{self, Search};
use crate::server::Kind;

/// The publish rate of the suite's latency phase, events/s (`--only-latency`
/// takes `--latency-rate`).
pub(crate) const LATENCY_RATE: f64 = 300.0;

/// The sizes of one run.
pub(crate) struct Plan {
    pub big: usize,
    pub small: usize,
    pub phase: Duration,
    /// Doublings of the rate, at most, before saturation.
    pub doublings: u32,
    /// Bisection steps after it.
    pub bisections: u32,
    /// The event sizes of the saturation searches, in bytes: 100 and 4 096,
    /// or 100 alone for external servers (the chat takes messages of 500
    /// characters at most).
    pub sizes: Vec<usize>,
}

impl Plan {
    /// `--quick`'s sizes or the full run's, with `--small`, `--big` and
    /// `--phase-ms` applied.
    pub(crate) fn new(cli: &Cli) -> Self {
        let mut plan = if cli.quick {
            Plan {
                big: 2_000,
                small: 1_000,
                phase: Duration::from_millis(cli.phase_ms.unwrap_or(1_000)),
                doublings: 7,
                bisections: 1,
                sizes: vec![100, 4096],
            }
        } else {
            Plan {
                big: 10_000,
                small: 1_000,
                phase: Duration::from_millis(cli.phase_ms.unwrap_or(2_000)),
                doublings: 8,
                bisections: 2,
                sizes: vec![100, 4096],
            }
        };
        plan.small = cli.small.unwrap_or(plan.small).max(1);
        plan.big = cli.big.unwrap_or(plan.big).max(plan.small);
        if cli.external() {
            plan.sizes = vec![100];
        }
        plan
    }
}

/// Which server goes first in run `run`: they alternate, against drift in
/// the machine's load.
pub(crate) fn run_order(run: usize) -> [Kind; 2] {
    if run % 2 == 0 {
        [Kind::Ours, Kind::Reference]
    } else {
        [Kind::Reference, Kind::Ours]
    }
}

/// Everything measured for one server in one run.
#[derive(Clone, Debug, Default)]
pub(crate) struct Figures {
    pub rss_per_idle_bytes: f64,
    pub idle_connections: usize,
    /// By (subscribers, event size in bytes).
    pub searches: BTreeMap<(usize, usize), Search>,
    /// The latency phase: `small` subscribers, 100 B, at [`LATENCY_RATE`]
    /// (or `--latency-rate`).
    pub latency: Phase,
    pub past_saturation: PastSaturation,
}

/// The phase past saturation: `small` subscribers, 100 B, twice the first
/// saturated rate, three phases long.
#[derive(Clone, Debug, Default)]
pub(crate) struct PastSaturation {
    /// Its publish rate.
    pub rate: f64,
    pub phase: Phase,
    /// What the clients counted from its start until they had reconnected
    /// (or 30 s) and 1 s more.
    pub tally: Tally,
}

/// Runs the suite against one server, started as `launch` says with `env`.
pub(crate) async fn measure(
    launch: &Launch,
    env: &[String],
    plan: &Plan,
) -> Result<Figures, BoxError> {
    let mut server = ServerProcess::launch(launch, env).await?;
    let mut clients = Clients::new(server.addr, launch.kind(), &server.stream_path);
    let mut figures = Figures::default();
    let connect_timeout = Duration::from_secs(60);

    // RSS per idle connection: from 100 connections to `big`.
    clients.grow_to(100, connect_timeout).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss0 = server.rss_bytes()?;
    let live = clients.grow_to(plan.big, connect_timeout).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss1 = server.rss_bytes()?;
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

    for (subscribers, shrink) in [(plan.big, false), (plan.small, true)] {
        if shrink {
            clients.shrink_to(subscribers, connect_timeout).await;
        } else {
            clients.grow_to(subscribers, connect_timeout).await;
        }
        // Reconnections after a saturated phase: wait for every client.
        clients
            .wait_live(subscribers, Duration::from_secs(10))
            .await;
        if subscribers == plan.small {
            figures.latency = phase::run(
                &mut server,
                &clients,
                subscribers,
                LATENCY_RATE,
                100,
                plan.phase,
            )
            .await?;
        }
        for &size in &plan.sizes {
            clients
                .wait_live(clients.len(), Duration::from_secs(10))
                .await;
            let result = search::run(&mut server, &clients, subscribers, size, plan).await?;
            figures.searches.insert((subscribers, size), result);
        }
    }
    // Past saturation: `small` subscribers, 100 B, twice the first saturated
    // rate (or the highest rate tried), for three times a phase.
    clients.wait_live(plan.small, Duration::from_secs(10)).await;
    let s = &figures.searches[&(plan.small, 100)];
    let past = &mut figures.past_saturation;
    past.rate = if s.bad_rate > 0.0 {
        s.bad_rate * 2.0
    } else {
        s.ok_rate * 2.0
    };
    let before = clients.counters.tally();
    past.phase = phase::run(
        &mut server,
        &clients,
        plan.small,
        past.rate,
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
    past.tally = clients.counters.tally().since(before);
    eprintln!(
        "  past saturation, after reconnecting ({live} live): {:?}",
        past.tally
    );
    clients.close();
    server.quit().await;
    Ok(figures)
}

/// `--only-latency`'s measurement of one server, started as `launch` says
/// with `env`: the latency phase alone, `subscribers` × 100 B at `rate`.
/// Prints the server's pid (with `run`, counted from 0) once the clients are
/// connected.
pub(crate) async fn measure_latency(
    launch: &Launch,
    env: &[String],
    run: usize,
    subscribers: usize,
    rate: f64,
    length: Duration,
) -> Result<Figures, BoxError> {
    let mut server = ServerProcess::launch(launch, env).await?;
    let mut clients = Clients::new(server.addr, launch.kind(), &server.stream_path);
    clients.grow_to(subscribers, Duration::from_secs(60)).await;
    eprintln!("run {}: {:?}, pid {}", run + 1, launch.kind(), server.pid);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let latency = phase::run(&mut server, &clients, subscribers, rate, 100, length).await?;
    clients.close();
    server.quit().await;
    Ok(Figures {
        latency,
        ..Figures::default()
    })
}
