//! Load benchmark: thousands of SSE connections over loopback, our broker
//! served through `ssekit-axum` against axum 0.8's `Sse` fed by
//! `tokio::sync::broadcast`, side by side in one invocation.
//!
//! ```sh
//! cargo run --release -p sse-bench            # the full run (about 4 minutes per run)
//! cargo run --release -p sse-bench -- --quick # about 2 minutes
//! # External mode: the chat example against axum's Sse + broadcast
//! # (`axum-broadcast`, a binary of this package), through their routes.
//! cargo build --release -p sse-bench -p chat
//! target/release/sse-bench --runs 3 --ours-cmd 'target/release/chat --addr {addr}'
//! # A deploy's reconnection storm, the shutdown's jitter off and on
//! target/release/sse-bench --storm --runs 3
//! ```
//!
//! Each server runs in its own process (this binary, `serve` subcommand, or
//! the external command), so its RSS and CPU time are read from
//! `/proc/<pid>`; the load client runs in this process and reports its own
//! CPU time. Only loopback addresses are used. See `docs/BENCHMARKS.md`,
//! "Load: thousands of SSE connections".

mod cli;
mod client;
mod external;
mod hist;
mod phase;
mod process;
mod procfs;
mod report;
mod search;
mod server;
mod soak;
mod storm;
mod suite;
mod table;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use clap::Parser;

use crate::cli::{Cli, Cmd};
use crate::process::check_nofile_limit;
use crate::server::Kind;
use crate::suite::{Figures, Plan, run_order};

/// The error every fallible step of the benchmark returns.
type BoxError = Box<dyn std::error::Error>;

fn main() -> Result<(), BoxError> {
    let cli = Cli::parse();
    if let Some(Cmd::Serve(serve)) = &cli.command {
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
        runtime.block_on(server::serve(serve.setup()))?;
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(bench(cli))
}

/// The parent: the header, then the soak run, `--only-latency` or the suite.
async fn bench(cli: Cli) -> Result<(), BoxError> {
    if cli.storm {
        return storm::run(&cli).await;
    }
    let plan = Plan::new(&cli);
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
        return soak::run(&cli, connections, Duration::from_secs(seconds)).await;
    }
    check_nofile_limit(plan.big);
    if cli.only_latency {
        return only_latency(&cli, &plan).await;
    }
    let mut runs: Vec<BTreeMap<Kind, Figures>> = Vec::new();
    for run in 0..cli.runs.max(1) {
        let mut figures = BTreeMap::new();
        for kind in run_order(run) {
            eprintln!("run {}: {kind:?}", run + 1);
            figures.insert(
                kind,
                suite::measure(&cli.launch(kind), cli.env(kind), &plan).await?,
            );
        }
        println!(
            "\n## Run {} ({:.0} s so far)\n",
            run + 1,
            started.elapsed().as_secs_f64()
        );
        println!("{}", cli.serving(None));
        println!("{}", report::suite_table(&plan, &[&figures]));
        runs.push(figures);
    }
    if runs.len() > 1 {
        let all: Vec<&BTreeMap<Kind, Figures>> = runs.iter().collect();
        println!(
            "\n## All {} runs: medians, ratios per run and their median\n",
            runs.len()
        );
        println!("{}", cli.serving(None));
        println!("{}", report::suite_table(&plan, &all));
    }
    println!(
        "total {:.0} s; load average {}",
        started.elapsed().as_secs_f64(),
        procfs::loadavg()
    );
    Ok(())
}

/// `--only-latency`: the latency phase of each server, `--runs` times, then
/// its table.
async fn only_latency(cli: &Cli, plan: &Plan) -> Result<(), BoxError> {
    let mut runs: Vec<BTreeMap<Kind, Figures>> = Vec::new();
    for run in 0..cli.runs.max(1) {
        let mut figures = BTreeMap::new();
        for kind in run_order(run) {
            let measured = suite::measure_latency(
                &cli.launch(kind),
                cli.env(kind),
                run,
                plan.small,
                cli.latency_rate,
                plan.phase,
            )
            .await?;
            figures.insert(kind, measured);
        }
        runs.push(figures);
    }
    let all: Vec<&BTreeMap<Kind, Figures>> = runs.iter().collect();
    println!(
        "{}",
        report::latency_table(cli.latency_rate, plan.small, &all)
    );
    Ok(())
}
