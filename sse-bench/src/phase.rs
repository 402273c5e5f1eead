//! A publish phase: the server publishes at one rate for a while, the
//! clients count and time what arrives.

use std::time::{Duration, Instant};

use crate::BoxError;
use crate::client::{Clients, Tally};
use crate::process::ServerProcess;
use crate::procfs;

/// What one publish phase measured.
#[derive(Clone, Debug, Default)]
pub(crate) struct Phase {
    pub rate: f64,
    /// The rate events arrived at while the publisher ran: those that
    /// arrived between a tenth of the phase after the first publish (a
    /// warm-up longer than any unsaturated latency) and the last publish,
    /// per second of that interval. A server that works off a backlog after
    /// publishing ended is not credited with the events it delivers late,
    /// and one that merely delays every event by a constant is not charged
    /// for it.
    pub delivered_per_s: f64,
    /// `delivered_per_s` over the ideal, rate × subscribers.
    pub share: f64,
    /// Publishing plus drain: from the first publish to the last event
    /// that arrived by the counting deadline, in seconds.
    pub window_s: f64,
    /// Events received by the deadline over published × subscribers
    /// (whatever their delay).
    pub arrived: f64,
    /// Publish-to-receive latency of the events `arrived` counts (the
    /// histogram is read at the counting deadline, as the count is).
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    /// Server CPU seconds per million events received (publish + 1 s).
    pub server_cpu_per_m: f64,
    pub client_cpu_per_m: f64,
    /// The load client's CPU over the phase's wall time (publishing and
    /// the counting deadline), in cores: near the machine's core count, the
    /// client, not the server, may be the limit.
    pub client_cores: f64,
    /// What the clients counted from the start of the phase until it
    /// settled.
    pub tally: Tally,
}

impl Phase {
    /// Under 95 % of the ideal, or a p99 latency over 1 s.
    pub(crate) fn saturated(&self) -> bool {
        self.share < 0.95 || self.p99_us > 1_000_000
    }
}

/// Runs one phase: `server` publishes events of `size` bytes at `rate`
/// for `length` to `subscribers` of `clients`.
pub(crate) async fn run(
    server: &mut ServerProcess,
    clients: &Clients,
    subscribers: usize,
    rate: f64,
    size: usize,
    length: Duration,
) -> Result<Phase, BoxError> {
    use std::sync::atomic::Ordering::Relaxed;
    server.quiesce().await?;
    let c = &clients.counters;
    c.min_seq.store(server.next_seq(), Relaxed);
    c.events.store(0, Relaxed);
    c.last_event_micros.store(0, Relaxed);
    c.window_events.store(0, Relaxed);
    c.window_from_micros.store(u64::MAX, Relaxed);
    c.window_to_micros.store(0, Relaxed);
    clients.latency.reset();
    let before = c.tally();
    let server_cpu0 = server.cpu_seconds()?;
    let client_cpu0 = procfs::cpu_seconds("/proc/self/stat")?;
    let wall0 = Instant::now();
    let start_micros = server.start_publishing(rate, size, length).await?;
    let warm_up = length / 10;
    c.window_to_micros
        .store(start_micros + length.as_micros() as u64, Relaxed);
    c.window_from_micros
        .store(start_micros + warm_up.as_micros() as u64, Relaxed);
    let count = server.wait_published(length).await?;
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
    let server_cpu = server.cpu_seconds()? - server_cpu0;
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
