//! Chat rooms over server-sent events, with live charts (axum).
//!
//! - `GET /` redirects to a new room; `GET /room/{room}` is the room's page:
//!   its recent messages, a form, and three charts drawn from the `stats`
//!   events (plain canvas code served by this binary, nothing from other
//!   hosts);
//! - `POST /room/{room}` (form fields `user`, `message`) publishes a
//!   `message` event, JSON `{user, message}`, to the room;
//! - `GET /stream/{room}` is the page's event stream: the room's messages
//!   and, once a second, a `stats` event (users, rooms, broker topics,
//!   messages in and out per second, heap bytes in use, allocations and
//!   frees per second, counted by this binary's global allocator).
//!
//! Every event goes through a [`Broker`](ssekit_core::broker::Broker), which
//! gives it an id and keeps it for a while: a page whose connection drops
//! reconnects with `Last-Event-ID` and gets exactly what it missed.
//!
//! Nothing grows for ever. A room is made by its first post; it and its
//! recent messages are forgotten `--room-idle-ms` (10 minutes) after its
//! last post, and its topic in the in-memory broker once no page has
//! followed it for as long (with `--redis`, its stream expires in Redis
//! `--room-idle-ms` after its last post: give every process the same). At
//! most `--max-rooms` (1000) exist at once: a post that would make one
//! more is answered `429`, an event stream never is (a page may follow a
//! room that has no post yet). Viewing a room that does not exist makes
//! nothing. A nick or a message is at most 32 or 500 characters, a nick
//! is logged escaped, and a request head must arrive within
//! `--header-read-timeout-ms` (10 s).
//!
//! With `--admin` and `--admin-token TOKEN` (or `CHAT_ADMIN_TOKEN`), `POST
//! /admin/disconnect` with `Authorization: Bearer TOKEN` ends every open
//! event stream; without the token it is answered `401`, and from a page
//! of another site `403`.
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
//! With `--tls-cert` and `--tls-key` (PEM files), or `--self-signed` (a
//! certificate for `localhost` made at start, which a browser warns
//! about), the chat serves HTTPS, and HTTP/2 to the browsers: over
//! HTTP/1.1 a browser opens at most six connections to one origin, so
//! the seventh tab's stream would wait; over HTTP/2 they share one.
//!
//! Run: `cargo run -p chat -- --addr 127.0.0.1:3000 [--redis redis://127.0.0.1:6379 | --redis-cluster URL,…] [--self-signed]`

mod alloc;
mod chat;
mod routes;
mod stats;
#[path = "../../shared/tls.rs"]
mod tls;

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use ssekit_axum::{Retry, Shutdown};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

use crate::chat::{Chat, Rooms};

/// jemalloc (feature `jemalloc`, on by default), counted for the charts.
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
#[global_allocator]
static ALLOCATOR: alloc::Counting<tikv_jemallocator::Jemalloc> =
    alloc::Counting(tikv_jemallocator::Jemalloc);

/// jemalloc's options, read when it starts (`_RJEM_MALLOC_CONF` in the
/// environment overrides them). Its background thread gives freed pages
/// back to the system after the decay time (10 s) even while the chat is
/// quiet: without it, jemalloc purges an arena only when it is next used,
/// and the pages that 10 000 forgotten rooms held stayed resident (RSS
/// 10.7 of 21.5 MiB above its baseline 30 s after, the heap in use back
/// within 8 KiB; see `tests/hostile.rs`).
#[cfg(all(feature = "jemalloc", target_os = "linux"))]
// SAFETY: jemalloc reads this `const char *malloc_conf` (prefixed, as
// `tikv-jemallocator` builds it) once, at its start; it points to a
// NUL-terminated string that lives for ever and is never written.
#[allow(unsafe_code)]
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: &[u8; 23] = b"background_thread:true\0";

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
    /// stream: the pages reconnect and resume where they were. It needs
    /// `--admin-token`.
    #[arg(long, requires = "admin_token")]
    admin: bool,
    /// The token `POST /admin/disconnect` must carry, as `Authorization:
    /// Bearer TOKEN`; at least 16 characters. Requests from another site
    /// are refused whatever they carry.
    #[arg(
        long,
        env = "CHAT_ADMIN_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    admin_token: Option<String>,
    /// The most rooms at once; a post that would make one more is
    /// answered `429 Too Many Requests` until an idle room has gone.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    max_rooms: usize,
    /// A room and its recent messages are forgotten this long after its
    /// last post, and its topic in the in-memory broker once no page has
    /// followed it for as long; with `--redis`, its stream expires in
    /// Redis this long after its last post. A new post makes it again.
    #[arg(long, value_name = "MS", default_value_t = 600_000)]
    room_idle_ms: u64,
    /// A connection whose request head has not fully arrived this long
    /// after it opened (or after its last response) is closed.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    header_read_timeout_ms: u64,
    /// Share rooms, ids and history with other chat processes through this
    /// Redis server, e.g. `redis://127.0.0.1:6379`; without it the broker
    /// is in memory.
    #[arg(long, value_name = "URL", conflicts_with = "redis_cluster")]
    redis: Option<String>,
    /// The same through a Redis Cluster, given one or more of its nodes,
    /// comma-separated: `redis://127.0.0.1:7101,redis://127.0.0.1:7102`.
    /// A room's topics share its name as their hash tag, so each room is
    /// one slot; a page reads its room and `stats`, two slots.
    #[arg(long, value_name = "URLS", value_delimiter = ',')]
    redis_cluster: Option<Vec<String>>,
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
    #[command(flatten)]
    tls: tls::TlsArgs,
}

/// The shortest `--admin-token`.
const MIN_ADMIN_TOKEN: usize = 16;

/// The base of the shutdown retry when `--shutdown-jitter-ms` is given:
/// the library's default base.
const SHUTDOWN_RETRY_BASE: Duration = Duration::from_secs(1);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let args = Args::parse();
    if let Some(token) = &args.admin_token {
        if token.chars().count() < MIN_ADMIN_TOKEN {
            return Err(format!("--admin-token: at least {MIN_ADMIN_TOKEN} characters").into());
        }
    }
    let rooms = Rooms {
        max: args.max_rooms,
        idle: Duration::from_millis(args.room_idle_ms),
    };

    let shutdown = CancellationToken::new();
    let mut builder = Chat::broker_builder(&rooms);
    if let Some(max) = args.max_subscriptions {
        builder = builder.max_subscriptions(max);
    }
    let redis = match (&args.redis, &args.redis_cluster) {
        (Some(url), _) => Some((
            ssekit_redis::RedisBackend::builder(url),
            without_credentials(url),
        )),
        (None, Some(nodes)) => Some((
            ssekit_redis::RedisBackend::cluster_builder(nodes),
            (nodes.iter().map(|node| without_credentials(node)))
                .collect::<Vec<_>>()
                .join(","),
        )),
        (None, None) => None,
    };
    let broker = match redis {
        Some((backend, redis)) => {
            // A room's stream expires in Redis as the room does here.
            let backend = backend.topic_ttl(Some(rooms.idle)).connect().await?;
            tracing::info!(%redis, "rooms are shared through Redis");
            builder.build_with(backend)
        }
        None => Chat::in_memory(builder, &rooms),
    };
    let retry = match args.shutdown_jitter_ms {
        Some(ms) => Retry::new(SHUTDOWN_RETRY_BASE).jitter(Duration::from_millis(ms)),
        None => Shutdown::DEFAULT_RETRY,
    };
    let chat = Chat::new(broker, rooms, shutdown.clone(), retry);
    tokio::spawn(stats::publish_every_second(chat.clone()));
    tokio::spawn(chat.clone().forget_idle_rooms());

    let tls = match args.tls.pem()? {
        Some((cert, key)) => Some(ssekit_axum::tls_config(&cert, &key)?),
        None => None,
    };
    let listener = if args.reuse_port {
        ssekit_axum::bind_reuse_port(args.addr)?
    } else {
        TcpListener::bind(args.addr).await?
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("chat listening on {scheme}://{}/", listener.local_addr()?);

    let signal = shutdown.clone();
    tokio::spawn(async move {
        ssekit_axum::shutdown_signal().await;
        signal.cancel();
    });

    let admin_token = args.admin.then_some(args.admin_token).flatten();
    let mut server = ssekit_axum::serve(listener, routes::router(chat, admin_token))
        .header_read_timeout(Duration::from_millis(args.header_read_timeout_ms));
    if let Some(config) = tls {
        server = server.tls(config);
    }
    server
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    Ok(())
}

/// `url` without its user name and password, for the logs (a Redis URL can
/// carry both: `redis://user:password@host`).
fn without_credentials(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        Err(_) => "(an invalid URL)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::without_credentials;

    #[test]
    fn a_redis_url_is_logged_without_its_password() {
        assert_eq!(
            without_credentials("redis://ann:s3cret@127.0.0.1:6379/0"),
            "redis://127.0.0.1:6379/0"
        );
        assert_eq!(
            without_credentials("redis://127.0.0.1"),
            "redis://127.0.0.1"
        );
    }
}
