//! Chat rooms over server-sent events, with live charts (axum).
//!
//! - `GET /` redirects to a new room; `GET /room/{room}` is the room's page:
//!   its recent messages, a form, and three charts drawn from the `stats`
//!   events (plain canvas code served by this binary, nothing from other
//!   hosts);
//! - `POST /room/{room}` (form fields `user`, `message`) publishes a
//!   `message` event, JSON `{user, message}`, to the room;
//! - `GET /stream/{room}` is the page's event stream: the room's messages
//!   and, once a second, a `stats` event (users, messages in and out per
//!   second, heap bytes in use, allocations and frees per second, counted
//!   by this binary's global allocator).
//!
//! Every event goes through a [`Broker`](ssekit_core::broker::Broker), which
//! gives it an id and keeps it for a while: a page whose connection drops
//! reconnects with `Last-Event-ID` and gets exactly what it missed.
//!
//! With `--redis URL`, several chat processes share rooms, ids and history
//! through Redis: a page can reconnect to any of them and resume.
//!
//! Ctrl-C or SIGTERM shuts the chat down gracefully: every stream asks its
//! page to come back after 1 s plus a random share of
//! `--shutdown-jitter-ms`, so that a restart's reconnections spread out;
//! with `--reuse-port` the new process can listen on the same port before
//! the old one stops, and refuses no page.
//!
//! Run: `cargo run -p chat -- --addr 127.0.0.1:3000 [--redis redis://127.0.0.1:6379]`

mod alloc;
mod chat;
mod routes;
mod stats;

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use ssekit_axum::{Retry, Shutdown};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

use crate::chat::Chat;

/// jemalloc (feature `jemalloc`, on by default), counted for the charts.
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
#[global_allocator]
static ALLOCATOR: alloc::Counting<tikv_jemallocator::Jemalloc> =
    alloc::Counting(tikv_jemallocator::Jemalloc);

/// The system allocator, counted for the charts (without `jemalloc`, and
/// with MSVC, where jemalloc does not build).
#[cfg(not(all(feature = "jemalloc", not(target_env = "msvc"))))]
#[global_allocator]
static ALLOCATOR: alloc::Counting<std::alloc::System> = alloc::Counting(std::alloc::System);

/// Chat rooms over server-sent events, with live charts.
#[derive(Debug, Parser)]
struct Args {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    addr: SocketAddr,
    /// Also serve `POST /admin/disconnect`, which ends every open event
    /// stream: the pages reconnect and resume where they were.
    #[arg(long)]
    admin: bool,
    /// Share rooms, ids and history with other chat processes through this
    /// Redis server, e.g. `redis://127.0.0.1:6379`; without it the broker
    /// is in memory.
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
    /// Listen with `SO_REUSEPORT`, so that a new chat can start on the same
    /// address before this one stops.
    #[arg(long)]
    reuse_port: bool,
    /// On shutdown, each stream asks its page to come back after 1 s plus a
    /// random share of this window; 0 for exactly 1 s. Default: the
    /// library's (`Shutdown::DEFAULT_RETRY`, 4000).
    #[arg(long, value_name = "MS")]
    shutdown_jitter_ms: Option<u64>,
    /// Admit at most this many event streams at once; beyond it a page is
    /// told the chat is unavailable and comes back later.
    #[arg(long, value_name = "N")]
    max_subscriptions: Option<usize>,
}

/// The base of the shutdown retry when `--shutdown-jitter-ms` is given:
/// the library's default base.
const SHUTDOWN_RETRY_BASE: Duration = Duration::from_secs(1);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let args = Args::parse();

    let shutdown = CancellationToken::new();
    let mut builder = Chat::broker_builder();
    if let Some(max) = args.max_subscriptions {
        builder = builder.max_subscriptions(max);
    }
    let broker = match &args.redis {
        Some(url) => {
            let backend = ssekit_redis::RedisBackend::connect(url).await?;
            tracing::info!(%url, "rooms are shared through Redis");
            builder.build_with(backend)
        }
        None => builder.build(),
    };
    let retry = match args.shutdown_jitter_ms {
        Some(ms) => Retry::new(SHUTDOWN_RETRY_BASE).jitter(Duration::from_millis(ms)),
        None => Shutdown::DEFAULT_RETRY,
    };
    let chat = Chat::new(broker, shutdown.clone(), retry);
    tokio::spawn(stats::publish_every_second(chat.clone()));

    let listener = if args.reuse_port {
        ssekit_axum::bind_reuse_port(args.addr)?
    } else {
        TcpListener::bind(args.addr).await?
    };
    println!("chat listening on http://{}/", listener.local_addr()?);

    let signal = shutdown.clone();
    tokio::spawn(async move {
        ssekit_axum::shutdown_signal().await;
        signal.cancel();
    });

    ssekit_axum::serve(listener, routes::router(chat, args.admin))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    Ok(())
}
