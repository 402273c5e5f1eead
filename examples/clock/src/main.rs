//! Broadcasts the time to every connected browser (warp).
//!
//! Every `--every` seconds (default 5; `--every-ms` for shorter) the server
//! publishes `Message: N - the time is HH:MM:SS UTC` to one broker topic
//! (with `--pad-bytes N`, after an SSE comment of N bytes that browsers
//! ignore, for load and hostile tests that must fill buffers); every open
//! `GET /events` stream receives it, and the page at `GET /` lists the
//! messages as they arrive. The broker's hooks log `Added new client` and
//! `Removed client`; each broadcast logs how many clients it reached.
//!
//! The routes are served by `ssekit_warp::serve` (HTTP/1.1) in place of
//! `warp::serve`: an event stream leaves hyper once its head is written, so
//! an idle browser costs a few KB rather than hyper's buffers, with a 10 s
//! request-head timeout and a 30 s write deadline. Ctrl-C or SIGTERM ends
//! every open stream (each page is asked to come back after its own draw
//! of the shutdown retry) and the server's graceful shutdown completes;
//! with `--reuse-port` a new clock can listen on the same port first.
//!
//! Run: `cargo run -p clock -- --addr 127.0.0.1:3001 --every 5`

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;
use ssekit_warp::broker::{Broker, Subscription};
use ssekit_warp::{Error, Event, LastEventId, SseResponse};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;
use warp::Filter;

const PAGE: &str = include_str!("../static/index.html");
/// The status, notice and #reconnect that every example page shares.
const LIVE_STREAM_JS: &str = include_str!("../../shared/live-stream.js");

/// The topic every client follows.
const TOPIC: &str = "clock";

/// Broadcasts the time to every connected browser.
#[derive(Debug, Parser)]
struct Args {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:3001")]
    addr: SocketAddr,
    /// Seconds between two broadcasts.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    every: u64,
    /// Milliseconds between two broadcasts, in place of `--every` (at
    /// least 1, at most an hour).
    #[arg(long, value_name = "MS", conflicts_with = "every", value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    every_ms: Option<u64>,
    /// Sends each broadcast after an SSE comment of this many bytes, which
    /// browsers ignore: for load tests that must fill buffers (at most
    /// 1 MiB).
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=1 << 20))]
    pad_bytes: u32,
    /// A connection whose request head has not fully arrived this long
    /// after it opened (or after its last response) is closed (at most 10
    /// minutes).
    #[arg(long, value_name = "MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    header_read_timeout_ms: u64,
    /// A connection whose writes make no progress this long (a client that
    /// stopped reading) is closed (at most 10 minutes).
    #[arg(long, value_name = "MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    write_deadline_ms: u64,
    /// Listen with `SO_REUSEPORT`, so that a new clock can start on the
    /// same address before this one stops.
    #[arg(long)]
    reuse_port: bool,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let args = Args::parse();

    let broker = Broker::builder()
        .on_subscribe(|_| tracing::info!("Added new client"))
        .on_unsubscribe(|_| tracing::info!("Removed client"))
        .build();
    let every = args
        .every_ms
        .map_or(Duration::from_secs(args.every), Duration::from_millis);
    let padding = "x".repeat(args.pad_bytes as usize);
    tokio::spawn(broadcast(broker.clone(), every, padding));

    let shutdown = CancellationToken::new();
    let page = warp::path::end()
        .and(warp::get())
        .map(|| warp::reply::html(PAGE));
    let script = warp::path!("live-stream.js").and(warp::get()).map(|| {
        warp::reply::with_header(
            LIVE_STREAM_JS,
            "content-type",
            "text/javascript; charset=utf-8",
        )
    });
    let events = warp::path!("events")
        .and(warp::get())
        .and(ssekit_warp::last_event_id())
        .then({
            let shutdown = shutdown.clone();
            move |last_event_id| events(broker.clone(), last_event_id, shutdown.clone())
        });
    let routes = page.or(script).or(events).with(warp::log("clock"));

    let listener = if args.reuse_port {
        ssekit_warp::bind_reuse_port(args.addr)?
    } else {
        TcpListener::bind(args.addr).await?
    };
    println!("clock listening on http://{}/", listener.local_addr()?);

    let signal = shutdown.clone();
    tokio::spawn(async move {
        ssekit_warp::shutdown_signal().await;
        signal.cancel();
    });

    ssekit_warp::serve(listener, routes)
        .header_read_timeout(Duration::from_millis(args.header_read_timeout_ms))
        .write_deadline(Duration::from_millis(args.write_deadline_ms))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    Ok(())
}

/// `GET /events`: the broadcasts, resuming after `Last-Event-ID`.
async fn events(
    broker: Broker,
    last_event_id: LastEventId,
    shutdown: CancellationToken,
) -> Result<SseResponse<Subscription>, Error> {
    let response = SseResponse::subscribe(&broker, &[TOPIC], &last_event_id).await?;
    Ok(response.shutdown(shutdown))
}

/// Publishes `Message: N - the time is …` every `every`, after a comment
/// of `padding` unless it is empty.
async fn broadcast(broker: Broker, every: Duration, padding: String) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    for n in 1.. {
        ticks.tick().await;
        let message = format!(
            "Message: {n} - the time is {}",
            time_of_day(SystemTime::now())
        );
        let event = if padding.is_empty() {
            Event::data(&message)
        } else {
            Event::builder()
                .comment(padding.as_str())
                .data(message)
                .build()
                .expect("a comment of `x` and a line of text are valid")
        };
        if let Err(error) = broker.publish(TOPIC, event).await {
            tracing::warn!(%error, "cannot broadcast");
            return;
        }
        tracing::info!(
            "Broadcast message to {} clients",
            broker.stats().subscriptions
        );
    }
}

/// `HH:MM:SS UTC`.
fn time_of_day(now: SystemTime) -> String {
    let seconds = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) % 86_400;
    format!(
        "{:02}:{:02}:{:02} UTC",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}
