//! The reference of `sse-bench`'s external mode: the server an axum user
//! writes for a chat room without this workspace. `GET /events` is axum's
//! `Sse` over a `tokio::sync::broadcast` receiver (lagged errors dropped,
//! default keep-alive); `POST /publish` with the form fields `user` and
//! `message` sends a `message` event, JSON `{user, message}` as the chat
//! example's, into the channel (capacity 1 024). No history, no ids, no
//! resume. Served by `axum::serve` on a default `#[tokio::main]` runtime,
//! as the chat example is.
//!
//! ```sh
//! target/release/axum-broadcast --addr 127.0.0.1:3001 [--nodelay]
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use clap::Parser;
use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

/// axum's `Sse` fed by `tokio::sync::broadcast`: the reference of
/// `sse-bench`'s external mode.
#[derive(Debug, Parser)]
struct Args {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:3001")]
    addr: SocketAddr,
    /// Set `TCP_NODELAY` on every accepted socket (`axum::serve`'s
    /// `tcp_nodelay`); off by default, as in a plain `axum::serve`.
    #[arg(long)]
    nodelay: bool,
}

/// A chat message, the form posted and the event's JSON data.
#[derive(Debug, Deserialize, Serialize)]
struct Message {
    user: String,
    message: String,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let (sender, _) = broadcast::channel::<Event>(1024);
    let app = Router::new()
        .route("/events", get(events))
        .route("/publish", post(publish))
        .with_state(sender);
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    println!(
        "axum-broadcast listening on http://{}/",
        listener.local_addr()?
    );
    if args.nodelay {
        axum::serve(
            listener.tap_io(|socket| {
                let _ = socket.set_nodelay(true);
            }),
            app,
        )
        .await
    } else {
        axum::serve(listener, app).await
    }
}

/// `GET /events`: every event sent from now on; those a slow client
/// lagged behind on are skipped without a word.
async fn events(
    State(sender): State<broadcast::Sender<Event>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stream = BroadcastStream::new(sender.subscribe())
        .filter_map(|item| std::future::ready(item.ok().map(Ok)));
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// `POST /publish` with `user` and `message`: `202 Accepted`, or `400` when
/// either is empty.
async fn publish(
    State(sender): State<broadcast::Sender<Event>>,
    Form(message): Form<Message>,
) -> Result<StatusCode, (StatusCode, String)> {
    if message.user.trim().is_empty() || message.message.trim().is_empty() {
        return Err((
            StatusCode::BAD_REQUEST,
            "user and message are required".to_owned(),
        ));
    }
    let event = Event::default()
        .event("message")
        .json_data(&message)
        .map_err(|error| (StatusCode::BAD_REQUEST, error.to_string()))?;
    // No subscriber is not an error for a broadcaster.
    let _ = sender.send(event);
    Ok(StatusCode::ACCEPTED)
}
