//! The soak run (`--soak`): many connections to "ours" through one long,
//! slow phase.

use std::time::Duration;

use crate::BoxError;
use crate::cli::Cli;
use crate::client::Clients;
use crate::phase;
use crate::process::ServerProcess;
use crate::procfs;
use crate::server::Kind;

/// Runs `connections` clients of "ours" through one phase of `length` at
/// `--soak-rate` events/s × 100 B, and prints what arrived, the latency,
/// the server's RSS (before the clients, with them, at the end) and CPU.
pub(crate) async fn run(cli: &Cli, connections: usize, length: Duration) -> Result<(), BoxError> {
    const SIZE: usize = 100;
    let rate = cli.soak_rate;
    let mut server = ServerProcess::launch(&cli.launch(Kind::Ours), cli.env(Kind::Ours)).await?;
    let rss_idle = server.rss_bytes()?;
    let mut clients = Clients::new(server.addr, Kind::Ours, &server.stream_path);
    let live = clients.grow_to(connections, Duration::from_secs(120)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_start = server.rss_bytes()?;
    let result = phase::run(&mut server, &clients, live, rate, SIZE, length).await?;
    let rss_end = server.rss_bytes()?;
    let published = (rate * length.as_secs_f64()).round();
    let arrived = result.arrived * published * live as f64;
    println!(
        "soak: {live} of {connections} connections, {rate}/s × {SIZE} B for {} s ({published} events published)",
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
    // The phase measured it, per million events received.
    let cpu = result.server_cpu_per_m * arrived / 1e6;
    println!(
        "  server RSS {:.1} MB before the clients, {:.1} MB with them ({:.1} KB per connection), {:.1} MB at the end; server CPU {cpu:.1} s ({:.3} s per second)",
        rss_idle as f64 / 1e6,
        rss_start as f64 / 1e6,
        rss_start.saturating_sub(rss_idle) as f64 / 1e3 / live.max(1) as f64,
        rss_end as f64 / 1e6,
        cpu / length.as_secs_f64()
    );
    println!("  {:?}", result.tally);
    println!("load average {}", procfs::loadavg());
    clients.close();
    server.quit().await;
    Ok(())
}
