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
//! Run: `cargo run -p chat -- --addr 127.0.0.1:3000 [--redis redis://127.0.0.1:6379]`

mod alloc;
mod chat;
mod routes;
mod stats;

use std::net::SocketAddr;

use clap::Parser;
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
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let args = Args::parse();

    let shutdown = CancellationToken::new();
    let broker = match &args.redis {
        Some(url) => {
            let backend = ssekit_redis::RedisBackend::connect(url).await?;
            tracing::info!(%url, "rooms are shared through Redis");
            Chat::broker_builder().build_with(backend)
        }
        None => Chat::broker_builder().build(),
    };
    let chat = Chat::new(broker, shutdown.clone());
    tokio::spawn(stats::publish_every_second(chat.clone()));

    let listener = TcpListener::bind(args.addr).await?;
    println!("chat listening on http://{}/", listener.local_addr()?);

    let signal = shutdown.clone();
    tokio::spawn(async move {
        match tokio::signal::ctrl_c().await {
            Ok(()) => {
                tracing::info!("Ctrl-C: shutting down");
                signal.cancel();
            }
            Err(error) => tracing::warn!(%error, "cannot listen for Ctrl-C"),
        }
    });

    ssekit_axum::serve(listener, routes::router(chat, args.admin))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    Ok(())
}
