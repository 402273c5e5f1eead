//! The `serve` subcommand: one server in its own process, driven over
//! stdin/stdout by the parent.
//!
//! Protocol (one line each way):
//! - the server prints `listening <port>` once it accepts connections;
//! - `publish <rate> <size> <millis>`: publishes at `rate` events/s for
//!   `millis` ms, events of `size` bytes of data; answers `start <seq>`
//!   (the first sequence number) at once and `done <count>` at the end;
//! - `quit` (or the end of stdin): exits.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use futures_util::StreamExt;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use sse_axum::{LastEventId, SseResponse};
use sse_core::broker::Broker;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

use crate::Kind;
use crate::payload;

/// The topic every "ours" client follows.
const TOPIC: &str = "bench";

/// How "ours" is served: the HTTP/1 connection builder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Conn {
    /// `axum::serve` (hyper-util's auto builder: HTTP/1 and HTTP/2 sniffing).
    AxumServe,
    /// hyper's `http1::Builder` directly (no HTTP/2 sniff buffer), write
    /// strategy left to hyper (`writev` where the socket supports it).
    Http1,
    /// The same with `writev(false)`: frames are copied into one flat
    /// write buffer.
    Http1Flat,
}

#[derive(Clone)]
enum Feed {
    Ours(Broker),
    Reference(broadcast::Sender<axum::response::sse::Event>),
}

/// Runs the server until `quit`.
pub async fn serve(kind: Kind, http: Conn) -> std::io::Result<()> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let port = listener.local_addr()?.port();
    let feed = match kind {
        Kind::Ours => Feed::Ours(Broker::new()),
        // Capacity 1024, as the issue specifies (and as the broker's lag limit).
        Kind::Reference => Feed::Reference(broadcast::channel(1024).0),
    };
    let server = match kind {
        Kind::Ours => {
            let app = Router::new()
                .route("/events", get(ours_events))
                .with_state(feed.clone());
            match http {
                Conn::AxumServe => tokio::spawn(async move {
                    if let Err(error) = axum::serve(listener, app).await {
                        tracing::error!(%error, "server failed");
                    }
                }),
                Conn::Http1 => tokio::spawn(serve_http1(listener, app, true)),
                Conn::Http1Flat => tokio::spawn(serve_http1(listener, app, false)),
            }
        }
        Kind::Reference => {
            let app = Router::new()
                .route("/events", get(reference_events))
                .with_state(feed.clone());
            tokio::spawn(async move {
                if let Err(error) = axum::serve(listener, app).await {
                    tracing::error!(%error, "server failed");
                }
            })
        }
    };

    let mut stdout = tokio::io::stdout();
    stdout
        .write_all(format!("listening {port}\n").as_bytes())
        .await?;
    stdout.flush().await?;

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut next_seq: u64 = 1;
    while let Some(line) = lines.next_line().await? {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["publish", rate, size, millis] => {
                let (Ok(rate), Ok(size), Ok(millis)) = (
                    rate.parse::<f64>(),
                    size.parse::<usize>(),
                    millis.parse::<u64>(),
                ) else {
                    tracing::warn!(%line, "bad command");
                    continue;
                };
                stdout
                    .write_all(format!("start {next_seq}\n").as_bytes())
                    .await?;
                stdout.flush().await?;
                let count = publish(&feed, rate, size, millis, next_seq).await;
                next_seq += count;
                stdout
                    .write_all(format!("done {count}\n").as_bytes())
                    .await?;
                stdout.flush().await?;
            }
            ["quit"] => break,
            _ => tracing::warn!(%line, "unknown command"),
        }
    }
    server.abort();
    Ok(())
}

/// Publishes at `rate` events/s for `millis` ms: every millisecond, the
/// events due by then, each with its sequence number and publish time.
async fn publish(feed: &Feed, rate: f64, size: usize, millis: u64, first: u64) -> u64 {
    let total = (rate * millis as f64 / 1000.0).round() as u64;
    let start = Instant::now();
    let deadline = Duration::from_millis(millis);
    let mut ticker = tokio::time::interval(Duration::from_millis(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut sent = 0u64;
    while sent < total {
        ticker.tick().await;
        let elapsed = start.elapsed();
        let due = if elapsed >= deadline {
            total
        } else {
            ((rate * elapsed.as_secs_f64()) as u64).min(total)
        };
        while sent < due {
            let data = payload(first + sent, size);
            match feed {
                Feed::Ours(broker) => {
                    if let Err(error) = broker
                        .publish(TOPIC, sse_core::Event::data(data.as_str()))
                        .await
                    {
                        tracing::error!(%error, "publish failed");
                    }
                }
                Feed::Reference(sender) => {
                    // No receiver is not an error for a broadcaster.
                    let _ = sender.send(axum::response::sse::Event::default().data(data));
                }
            }
            sent += 1;
        }
    }
    total
}

/// Ours: a broker topic through `sse-axum`, as the chat example serves a room.
async fn ours_events(
    State(feed): State<Feed>,
    last_event_id: LastEventId,
) -> axum::response::Response {
    let Feed::Ours(broker) = feed else {
        return axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    match SseResponse::subscribe(&broker, &[TOPIC], &last_event_id).await {
        Ok(response) => response.into_response(),
        Err(_) => axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// The reference: axum's `Sse` over `BroadcastStream`, lagged errors
/// dropped, as most axum broadcasters are written.
async fn reference_events(State(feed): State<Feed>) -> axum::response::Response {
    let Feed::Reference(sender) = feed else {
        return axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let stream = BroadcastStream::new(sender.subscribe())
        .filter_map(|item| std::future::ready(item.ok().map(Ok::<_, Infallible>)));
    axum::response::sse::Sse::new(stream)
        .keep_alive(axum::response::sse::KeepAlive::default())
        .into_response()
}

/// Serves `app` with hyper's HTTP/1 connection builder, one task per
/// connection; `writev: false` forces hyper's flat write buffer.
async fn serve_http1(listener: TcpListener, app: Router, writev: bool) {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new());
    if !writev {
        builder.writev(false);
    }
    loop {
        let (socket, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors, most likely: wait, do not spin.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = socket.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let connection = builder.serve_connection(TokioIo::new(socket), service);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended");
            }
        });
    }
}
