//! A JSON event broker (poem).
//!
//! - `GET /events` is the event stream: a JSON `{timestamp, message}` event
//!   every `--every` seconds (default 2; `0` for none), and every event
//!   published with `POST /publish`;
//! - `POST /publish` takes JSON `{"event"?: string, "data": string,
//!   "retry"?: milliseconds, "private"?: bool}` and answers `202 Accepted`
//!   with `{"id": "…"}`, the id the event went out with, or `400 Bad
//!   Request` with the reason. The event goes out with exactly that data,
//!   type and retry;
//! - private events reach only streams opened with `?token=` the
//!   `--subscriber-token` (a wrong token is `401`; no token, public events
//!   only), live and when a client resumes;
//! - `GET /` is a page that shows the stream as a table.
//!
//! CORS is enabled, so pages on other origins can connect and publish.
//! Events go through a [`Broker`], so a client that reconnects with
//! `Last-Event-ID` gets what it missed.
//!
//! The routes are served by `ssekit_poem::serve` (HTTP/1.1) in place of
//! `poem::Server`: an event stream leaves hyper once its head is written,
//! so an idle subscriber costs a few KB rather than hyper's buffers, with a
//! 10 s request-head timeout and a 30 s write deadline. Ctrl-C or SIGTERM
//! ends every open stream (each client is asked to come back after its own
//! draw of the shutdown retry) and the server's graceful shutdown
//! completes; with `--reuse-port` a new broker can listen on the same port
//! first.
//!
//! Run: `cargo run -p json-broker -- --addr 127.0.0.1:3002 --every 2 --subscriber-token s3cret`

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;
use poem::error::ResponseError;
use poem::http::StatusCode;
use poem::http::request::Parts;
use poem::middleware::{Cors, Tracing};
use poem::web::{Data, Html, Json};
use poem::{EndpointExt, IntoResponse, Request, Response, Route, get, handler, post};
use serde::{Deserialize, Serialize};
use ssekit_poem::broker::{Broker, Grant, Subscription, Visibility};
use ssekit_poem::{Authorize, Denied, Error, Event, LastEventId, SseResponse, Unavailable};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

const PAGE: &str = include_str!("../static/index.html");
/// The status, notice and #reconnect that every example page shares.
const LIVE_STREAM_JS: &str = include_str!("../../shared/live-stream.js");

/// The topic of every event.
const TOPIC: &str = "events";

/// A JSON event broker over server-sent events.
#[derive(Debug, Parser)]
struct Args {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:3002")]
    addr: SocketAddr,
    /// Seconds between two timed events; 0 for none.
    #[arg(long, default_value_t = 2)]
    every: u64,
    /// The token (`/events?token=…`) that receives private events; without
    /// it, nobody does.
    #[arg(long)]
    subscriber_token: Option<String>,
    /// Listen with `SO_REUSEPORT`, so that a new broker can start on the
    /// same address before this one stops.
    #[arg(long)]
    reuse_port: bool,
}

/// The data of a timed event.
#[derive(Debug, Serialize)]
struct Timed {
    /// Milliseconds since the Unix epoch.
    timestamp: u64,
    message: String,
}

/// The body of `POST /publish`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Publish {
    /// The event type; none for the default, `message`.
    event: Option<String>,
    /// The data, sent exactly.
    data: String,
    /// The client's reconnection delay, in milliseconds.
    retry: Option<u64>,
    /// Only for subscribers with the token.
    #[serde(default)]
    private: bool,
}

/// What the state holds: the broker, who reads private events, and the
/// token that ends every stream.
#[derive(Clone)]
struct App {
    broker: Broker,
    subscribers: SubscriberToken,
    shutdown: CancellationToken,
}

/// The [`Authorize`] hook: `?token=` the subscriber token reads every
/// private event; no token, public events only; another token, `401`.
#[derive(Clone)]
struct SubscriberToken(Option<Arc<str>>);

impl Authorize for SubscriberToken {
    async fn authorize(&self, request: &Parts, _topics: &[String]) -> Result<Grant, Denied> {
        let given = request
            .uri
            .query()
            .into_iter()
            .flat_map(|query| query.split('&'))
            .find_map(|pair| pair.strip_prefix("token="));
        match (given, &self.0) {
            (None, _) => Ok(Grant::none()),
            (Some(given), Some(token)) if given == &**token => Ok(Grant::all()),
            (Some(_), _) => Err(Denied::Unauthenticated),
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let args = Args::parse();

    let app = App {
        broker: Broker::new(),
        subscribers: SubscriberToken(args.subscriber_token.map(Arc::from)),
        shutdown: CancellationToken::new(),
    };
    if args.every > 0 {
        tokio::spawn(publish_timed(
            app.broker.clone(),
            Duration::from_secs(args.every),
        ));
    }

    let routes = Route::new()
        .at("/", get(page))
        .at("/live-stream.js", get(live_stream_js))
        .at("/events", get(events))
        .at("/publish", post(publish))
        .data(app.clone())
        .with(Cors::new())
        .with(Tracing);

    let listener = if args.reuse_port {
        ssekit_poem::bind_reuse_port(args.addr)?
    } else {
        TcpListener::bind(args.addr).await?
    };
    println!(
        "json-broker listening on http://{}/",
        listener.local_addr()?
    );

    let signal = app.shutdown.clone();
    tokio::spawn(async move {
        ssekit_poem::shutdown_signal().await;
        signal.cancel();
    });

    ssekit_poem::serve(listener, routes)
        .with_graceful_shutdown(app.shutdown.cancelled_owned())
        .await?;
    Ok(())
}

#[handler]
fn page() -> Html<&'static str> {
    Html(PAGE)
}

/// `GET /live-stream.js`: the script the page keeps its stream with.
#[handler]
fn live_stream_js() -> impl IntoResponse {
    LIVE_STREAM_JS.with_content_type("text/javascript; charset=utf-8")
}

/// `GET /events`: every event the request may read, resuming after
/// `Last-Event-ID`.
#[handler]
async fn events(
    request: &Request,
    Data(app): Data<&App>,
    last_event_id: LastEventId,
) -> Result<SseResponse<Subscription>, Error> {
    let topics = [TOPIC.to_owned()];
    let authorize = &app.subscribers;
    let response =
        SseResponse::subscribe_authorized(&app.broker, authorize, request, &topics, &last_event_id)
            .await?;
    Ok(response.shutdown(app.shutdown.clone()))
}

/// `POST /publish`: `202` and `{"id"}`, or `400` and the reason.
#[handler]
async fn publish(Data(app): Data<&App>, body: Vec<u8>) -> Response {
    let request: Publish = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => return bad_request(format!("invalid request: {error}")),
    };
    let mut event = Event::builder().data(request.data);
    if let Some(event_type) = request.event {
        event = event.event(event_type);
    }
    if let Some(retry) = request.retry {
        event = event.retry(Duration::from_millis(retry));
    }
    let event = match event.build() {
        Ok(event) => event,
        Err(error) => return bad_request(format!("invalid event: {error}")),
    };
    let visibility = if request.private {
        Visibility::Private
    } else {
        Visibility::Public
    };
    match app.broker.publish_with(&[TOPIC], event, visibility).await {
        Ok(id) => {
            tracing::info!(%id, "published");
            let id = serde_json::json!({ "id": id.to_string() });
            (StatusCode::ACCEPTED, Json(id)).into_response()
        }
        // A publish is no event stream: its refusal is a plain `503` (with
        // `Retry-After`) for the publisher, not the answer that keeps a
        // browser's `EventSource` reconnecting.
        Err(error) => Error::from(error)
            .unavailable(Unavailable::new().status_answer())
            .as_response(),
    }
}

fn bad_request(reason: String) -> Response {
    (StatusCode::BAD_REQUEST, reason).into_response()
}

/// Publishes a `{timestamp, message}` event every `every`.
async fn publish_timed(broker: Broker, every: Duration) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    for n in 1.. {
        ticks.tick().await;
        let timed = Timed {
            timestamp: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            message: format!("tick {n}"),
        };
        let event = Event::json(&timed).expect("serializes to JSON");
        if let Err(error) = broker.publish(TOPIC, event).await {
            tracing::warn!(%error, "cannot publish");
            return;
        }
    }
}
