//! A JSON event broker (poem), hardened as a publish API.
//!
//! - `GET /events` is the event stream: a JSON `{timestamp, message}` event
//!   every `--every` seconds (default 2; `0` for none), and every event
//!   published with `POST /publish`. Any origin may subscribe (CORS `*`);
//!   a client that reconnects with `Last-Event-ID` gets what it missed.
//! - `POST /publish` takes JSON `{"event"?: string, "data": string,
//!   "retry"?: milliseconds, "private"?: bool}` with `Authorization: Bearer`
//!   the `--publisher-token` and answers `202 Accepted` with `{"id": "…"}`,
//!   the id the event went out with. The event goes out with exactly that
//!   data, type and retry. Refusals: `401` without the token, `415` for a
//!   content type other than `application/json`, `413` for a body over
//!   `--max-body-bytes` (default 64 KiB; read no further), `408` for a body
//!   that has not all arrived `--body-timeout-ms` after the head (default
//!   10 s), `400` with the reason for invalid JSON, an invalid event or a
//!   `retry` outside 1 s to 60 s (refused, not clamped: a publisher sees
//!   its mistake). Without `--publisher-token` (or
//!   `JSON_BROKER_PUBLISHER_TOKEN`) the broker does not start, unless
//!   `--open-publish` lets anyone publish, private events included; it
//!   says so at startup, as a warning.
//! - Private events reach only subscribers who proved they hold the
//!   `--subscriber-token` (or `JSON_BROKER_SUBSCRIBER_TOKEN`), live and
//!   when they resume. The token never goes in a URL: `POST /session` with
//!   the form body `token=…` (URL-encoded, as a browser sends it) answers
//!   `200` with a cookie for `/events` (`HttpOnly`, `SameSite=Strict`,
//!   valid `--session-ttl-secs`, default 8 h) and a JSON `{"ticket",
//!   "expires_in"}`: a ticket that opens streams as `/events?ticket=…` for
//!   `--ticket-ttl-secs` (default 60 s), for clients that cannot use the
//!   cookie (another origin, a script). A wrong token is `401`; a stream
//!   with an unknown or expired cookie or ticket is `401`; without either,
//!   public events only; `/events?token=` is `400`. At most
//!   `--max-sessions` (default 10 000) cookies and tickets live at once;
//!   past that, expired ones go first, then `503`. Sessions live in memory:
//!   a restart signs everyone out.
//! - Tokens are compared in constant time (their length may show) and
//!   never logged: the request log shows method, path (no query), status
//!   and time.
//! - `GET /` is a page that shows the stream as a table, with a form that
//!   exchanges the subscriber token for the cookie.
//!
//! CORS: `/events` is open to every origin, without credentials. `POST
//! /publish` and `POST /session` answer only the page's own origin and the
//! `--allow-origin` ones (repeatable, e.g. `--allow-origin
//! https://example.com`): a preflight or a request from any other origin
//! is `403`. No response ever allows credentials: another origin's page
//! subscribes to private events with a ticket.
//!
//! With `--tls-cert` and `--tls-key` (PEM files), or `--self-signed` (a
//! certificate for `localhost` made at start, for trials), it serves
//! HTTPS, and HTTP/2 to the clients that ask for it: a browser then opens
//! more than six streams to it at once. The session cookie is `Secure`.
//!
//! The routes are served by `ssekit_poem::serve` (HTTP/1.1) in place of
//! `poem::Server`: an event stream leaves hyper once its head is written,
//! so an idle subscriber costs a few KB rather than hyper's buffers, with a
//! request-head timeout (`--header-read-timeout-ms`, default 10 s) and a
//! 30 s write deadline. Ctrl-C or SIGTERM ends every open stream (each
//! client is asked to come back after its own draw of the shutdown retry)
//! and the server's graceful shutdown completes; with `--reuse-port` a new
//! broker can listen on the same port first.
//!
//! Run: `JSON_BROKER_PUBLISHER_TOKEN=p1 JSON_BROKER_SUBSCRIBER_TOKEN=s3cret
//! cargo run -p json-broker -- --addr 127.0.0.1:3002 --every 2`, then
//! `curl -H 'authorization: Bearer p1' -H 'content-type: application/json'
//! -d '{"data": "hello"}' http://127.0.0.1:3002/publish`.

#[path = "../../shared/tls.rs"]
mod tls;

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use futures_util::StreamExt;
use poem::error::ResponseError;
use poem::http::request::Parts;
use poem::http::{HeaderValue, Method, StatusCode, header};
use poem::web::{Data, Html, Json};
use poem::{
    Body, Endpoint, EndpointExt, IntoResponse, Request, Response, Route, get, handler, post,
};
use serde::{Deserialize, Serialize};
use ssekit_poem::broker::{Broker, Grant, Subscription, Visibility};
use ssekit_poem::{Authorize, Denied, Error, Event, LastEventId, SseResponse, Unavailable};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

const PAGE: &str = include_str!("../static/index.html");
/// The status, notice and #reconnect that every example page shares.
const LIVE_STREAM_JS: &str = include_str!("../../shared/live-stream.js");

/// The topic of every event.
const TOPIC: &str = "events";
/// The cookie `POST /session` sets.
const SESSION_COOKIE: &str = "json-broker-session";
/// The `retry` a publisher may set: under a second, clients hammer the
/// server; over a minute, they are gone for good in practice.
const RETRY: std::ops::RangeInclusive<u64> = 1_000..=60_000;
/// The largest `POST /session` body: a form with one token.
const MAX_SESSION_BODY: usize = 4 * 1024;

/// A JSON event broker over server-sent events.
#[derive(Parser)]
struct Args {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:3002")]
    addr: SocketAddr,
    /// Seconds between two timed events; 0 for none.
    #[arg(long, default_value_t = 2)]
    every: u64,
    /// The token `POST /publish` needs, as `Authorization: Bearer …`.
    #[arg(long, env = "JSON_BROKER_PUBLISHER_TOKEN", hide_env_values = true)]
    publisher_token: Option<Secret>,
    /// Let anyone who reaches the broker publish, private events included
    /// (instead of a publisher token).
    #[arg(long, conflicts_with = "publisher_token")]
    open_publish: bool,
    /// The token `POST /session` exchanges for a cookie and a ticket that
    /// receive private events; without it, nobody receives them.
    #[arg(long, env = "JSON_BROKER_SUBSCRIBER_TOKEN", hide_env_values = true)]
    subscriber_token: Option<Secret>,
    /// An origin (`scheme://host[:port]`) whose pages may publish and ask
    /// for a ticket, besides the broker's own; repeatable.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    allow_origins: Vec<String>,
    /// The largest request body accepted, in bytes (at most 16 MiB).
    #[arg(long, default_value_t = 64 * 1024, value_parser = clap::value_parser!(u32).range(1..=16 << 20))]
    max_body_bytes: u32,
    /// How long a request body may take to arrive, after the head (at most
    /// 10 minutes).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    body_timeout_ms: u64,
    /// How long a request head may take to arrive (at most 10 minutes).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    header_read_timeout_ms: u64,
    /// How long a session cookie stays valid, in seconds (at most 30 days).
    #[arg(long, default_value_t = 8 * 3600, value_parser = clap::value_parser!(u64).range(1..=30 * 86_400))]
    session_ttl_secs: u64,
    /// How long a ticket opens streams, in seconds (at most an hour).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    ticket_ttl_secs: u64,
    /// How many session cookies and tickets may be valid at once (at most
    /// a million).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_sessions: u32,
    /// Listen with `SO_REUSEPORT`, so that a new broker can start on the
    /// same address before this one stops.
    #[arg(long)]
    reuse_port: bool,
    #[command(flatten)]
    tls: tls::TlsArgs,
}

/// A token, which neither `Debug` nor `Display` shows.
#[derive(Clone)]
struct Secret(Arc<[u8]>);

impl FromStr for Secret {
    type Err = &'static str;

    fn from_str(token: &str) -> Result<Self, Self::Err> {
        if token.is_empty() {
            return Err("a token must not be empty");
        }
        Ok(Secret(Arc::from(token.as_bytes())))
    }
}

impl Secret {
    /// Whether `given` is this token, in time that does not depend on
    /// where they differ.
    fn matches(&self, given: &[u8]) -> bool {
        bool::from(self.0.ct_eq(given))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// The data of a timed event.
#[derive(Debug, Serialize)]
struct Timed {
    /// Milliseconds since the Unix epoch.
    timestamp: u64,
    message: String,
}

/// The body of `POST /publish`, borrowing its strings from the body where
/// it can.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Publish<'a> {
    /// The event type; none for the default, `message`.
    #[serde(borrow)]
    event: Option<Cow<'a, str>>,
    /// The data, sent exactly.
    #[serde(borrow)]
    data: Cow<'a, str>,
    /// The client's reconnection delay, in milliseconds, within [`RETRY`].
    retry: Option<u64>,
    /// Only for subscribers with a session or a ticket.
    #[serde(default)]
    private: bool,
}

/// How much of a request body is read, and for how long.
#[derive(Clone, Copy)]
struct Limits {
    max_body_bytes: usize,
    body_timeout: Duration,
}

/// What the state holds.
#[derive(Clone)]
struct App {
    broker: Broker,
    /// `None`: `--open-publish`.
    publisher: Option<Secret>,
    subscriber: Option<Secret>,
    sessions: Arc<Sessions>,
    limits: Limits,
    shutdown: CancellationToken,
    /// `https` under TLS, else `http`: the broker's own origin's scheme.
    scheme: &'static str,
}

/// The session cookies and tickets that are valid, each until its expiry:
/// random 256-bit ids, at most `max` of them.
struct Sessions {
    ids: Mutex<HashMap<String, Instant>>,
    max: usize,
    session_ttl: Duration,
    ticket_ttl: Duration,
}

impl Sessions {
    /// A new id valid for `ttl`, or `None` when `max` are valid.
    fn issue(&self, ttl: Duration) -> Option<String> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the system's random source");
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let now = Instant::now();
        let mut ids = self.ids.lock().expect("not poisoned");
        if ids.len() >= self.max {
            ids.retain(|_, expiry| *expiry > now);
        }
        if ids.len() >= self.max {
            return None;
        }
        ids.insert(id.clone(), now + ttl);
        Some(id)
    }

    /// Whether `id` is valid now. An id is 256 random bits, looked up by
    /// its (keyed) hash: guessing one takes no timing hint.
    fn is_valid(&self, id: &str) -> bool {
        let mut ids = self.ids.lock().expect("not poisoned");
        match ids.get(id) {
            Some(expiry) if *expiry > Instant::now() => true,
            Some(_) => {
                ids.remove(id);
                false
            }
            None => false,
        }
    }
}

/// The [`Authorize`] hook: a valid session cookie or `?ticket=` reads
/// every private event; neither, public events only; an unknown or expired
/// one, `401`.
#[derive(Clone)]
struct Subscribers(Arc<Sessions>);

impl Authorize for Subscribers {
    async fn authorize(&self, request: &Parts, _topics: &[String]) -> Result<Grant, Denied> {
        let ticket = query_value(request.uri.query(), "ticket");
        let cookie = session_cookie(&request.headers);
        match ticket.or(cookie) {
            None => Ok(Grant::none()),
            Some(id) if self.0.is_valid(&id) => Ok(Grant::all()),
            Some(_) => Err(Denied::Unauthenticated),
        }
    }
}

/// The URL-decoded value of `name` in `query`, if present.
fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// The value of the [`SESSION_COOKIE`] among the request's cookies.
fn session_cookie(headers: &poem::http::HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .find_map(|cookie| {
            let (name, value) = cookie.trim().split_once('=')?;
            (name == SESSION_COOKIE).then(|| value.to_owned())
        })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let args = Args::parse();
    let tls = match args.tls.pem()? {
        Some((cert, key)) => Some(ssekit_poem::tls_config(&cert, &key)?),
        None => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    if args.publisher_token.is_none() && !args.open_publish {
        return Err(
            "POST /publish needs a publisher token: set --publisher-token or \
                    JSON_BROKER_PUBLISHER_TOKEN, or pass --open-publish to let anyone publish"
                .into(),
        );
    }

    let app = App {
        broker: Broker::new(),
        publisher: args.publisher_token,
        subscriber: args.subscriber_token,
        sessions: Arc::new(Sessions {
            ids: Mutex::new(HashMap::new()),
            max: args.max_sessions as usize,
            session_ttl: Duration::from_secs(args.session_ttl_secs),
            ticket_ttl: Duration::from_secs(args.ticket_ttl_secs),
        }),
        limits: Limits {
            max_body_bytes: args.max_body_bytes as usize,
            body_timeout: Duration::from_millis(args.body_timeout_ms),
        },
        shutdown: CancellationToken::new(),
        scheme,
    };
    if args.every > 0 {
        tokio::spawn(publish_timed(
            app.broker.clone(),
            Duration::from_secs(args.every),
        ));
    }

    let origins: Arc<[String]> = args.allow_origins.into();
    let routes = Route::new()
        .at("/", get(page))
        .at("/live-stream.js", get(live_stream_js))
        .at("/events", get(events))
        .at("/publish", post(publish))
        .at("/session", post(session))
        .data(app.clone())
        .around(move |endpoint, request| {
            let origins = Arc::clone(&origins);
            async move { Ok(cors_and_log(&*endpoint, request, &origins, scheme).await) }
        });

    let listener = if args.reuse_port {
        ssekit_poem::bind_reuse_port(args.addr)?
    } else {
        TcpListener::bind(args.addr).await?
    };
    let addr = listener.local_addr()?;
    if args.open_publish {
        tracing::warn!(
            "--open-publish: anyone who reaches {scheme}://{addr}/ may publish, private events included"
        );
    }
    println!("json-broker listening on {scheme}://{addr}/");

    let signal = app.shutdown.clone();
    tokio::spawn(async move {
        ssekit_poem::shutdown_signal().await;
        signal.cancel();
    });

    let mut server = ssekit_poem::serve(listener, routes)
        .header_read_timeout(Duration::from_millis(args.header_read_timeout_ms));
    if let Some(config) = tls {
        server = server.tls(config);
    }
    server
        .with_graceful_shutdown(app.shutdown.cancelled_owned())
        .await?;
    Ok(())
}

/// CORS and the request log, around every route. `/events` is open to
/// every origin (no credentials); everything else answers only requests
/// without an `Origin`, from the broker's own origin (`scheme://` and its
/// `Host`, or the HTTP/2 request's authority) or from `origins`,
/// and `403` to the others, preflights included. The log line has the
/// method, the path (never the query, which may hold a ticket), the
/// status and the time to the response head.
async fn cors_and_log(
    endpoint: &impl Endpoint,
    request: Request,
    origins: &[String],
    scheme: &str,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = cors(endpoint, request, origins, scheme).await;
    tracing::info!(
        %method,
        %path,
        status = response.status().as_u16(),
        took = ?started.elapsed(),
        "request"
    );
    response
}

async fn cors(
    endpoint: &impl Endpoint,
    request: Request,
    origins: &[String],
    scheme: &str,
) -> Response {
    let Some(origin) = request.headers().get(header::ORIGIN).cloned() else {
        return endpoint.get_response(request).await;
    };
    let preflight = request.method() == Method::OPTIONS;
    if request.uri().path() == "/events" {
        let mut response = if preflight {
            Response::builder()
                .status(StatusCode::NO_CONTENT)
                .header(header::ACCESS_CONTROL_ALLOW_METHODS, "GET")
                .header(header::ACCESS_CONTROL_ALLOW_HEADERS, "last-event-id")
                .header(header::ACCESS_CONTROL_MAX_AGE, "600")
                .finish()
        } else {
            endpoint.get_response(request).await
        };
        let any = HeaderValue::from_static("*");
        response
            .headers_mut()
            .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, any);
        return response;
    }
    // HTTP/2 carries the host as the request's authority, not `Host`.
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .or_else(|| {
            request
                .uri()
                .authority()
                .map(|authority| authority.as_str())
        });
    let own = host.is_some_and(|host| origin.as_bytes() == format!("{scheme}://{host}").as_bytes());
    let listed = origins
        .iter()
        .any(|allowed| allowed.as_bytes() == origin.as_bytes());
    if !own && !listed {
        return (StatusCode::FORBIDDEN, "this origin may not call this route").into_response();
    }
    let mut response = if preflight {
        Response::builder()
            .status(StatusCode::NO_CONTENT)
            .header(header::ACCESS_CONTROL_ALLOW_METHODS, "POST")
            .header(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                "authorization, content-type",
            )
            .header(header::ACCESS_CONTROL_MAX_AGE, "600")
            .finish()
    } else {
        endpoint.get_response(request).await
    };
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(header::VARY, HeaderValue::from_static("origin"));
    response
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
) -> Result<SseResponse<Subscription>, poem::Error> {
    if query_value(request.uri().query(), "token").is_some() {
        let reason = "the subscriber token goes to POST /session, never into a URL";
        return Err(poem::Error::from_string(reason, StatusCode::BAD_REQUEST));
    }
    let topics = [TOPIC.to_owned()];
    let authorize = Subscribers(Arc::clone(&app.sessions));
    let response = SseResponse::subscribe_authorized(
        &app.broker,
        &authorize,
        request,
        &topics,
        &last_event_id,
    )
    .await
    .map_err(|error| poem::Error::from(Error::from(error)))?;
    Ok(response.shutdown(app.shutdown.clone()))
}

/// `POST /session`: the form `token=…`, the subscriber token, for a
/// session cookie and a ticket (`{"ticket", "expires_in"}`).
#[handler]
async fn session(request: &Request, body: Body, Data(app): Data<&App>) -> Response {
    if !has_content_type(request, "application/x-www-form-urlencoded") {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the form token=… as application/x-www-form-urlencoded",
        );
    }
    let limits = Limits {
        max_body_bytes: MAX_SESSION_BODY,
        ..app.limits
    };
    let body = match read_body(request, body, limits).await {
        Ok(body) => body,
        Err(refusal) => return refusal,
    };
    let token = form_urlencoded::parse(&body)
        .find(|(key, _)| key == "token")
        .map(|(_, value)| value);
    let signed_in = match (&app.subscriber, token) {
        (Some(expected), Some(token)) => expected.matches(token.as_bytes()),
        _ => false,
    };
    if !signed_in {
        return refuse(StatusCode::UNAUTHORIZED, "not the subscriber token");
    }
    let sessions = &app.sessions;
    let (Some(cookie), Some(ticket)) = (
        sessions.issue(sessions.session_ttl),
        sessions.issue(sessions.ticket_ttl),
    ) else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many sessions: try again later",
        );
    };
    // Over HTTPS, never sent over plain HTTP.
    let secure = if app.scheme == "https" {
        "; Secure"
    } else {
        ""
    };
    let set_cookie = format!(
        "{SESSION_COOKIE}={cookie}; Path=/events; Max-Age={}; HttpOnly; SameSite=Strict{secure}",
        sessions.session_ttl.as_secs()
    );
    let answer = serde_json::json!({
        "ticket": ticket,
        "expires_in": sessions.ticket_ttl.as_secs(),
    });
    let mut response = Json(answer).into_response();
    let set_cookie = HeaderValue::from_str(&set_cookie).expect("hex and ASCII");
    response
        .headers_mut()
        .insert(header::SET_COOKIE, set_cookie);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `POST /publish`: `202` and `{"id"}`, or the refusal and its reason.
#[handler]
async fn publish(request: &Request, body: Body, Data(app): Data<&App>) -> Response {
    if let Some(expected) = &app.publisher {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| bearer(value.as_bytes()));
        if !given.is_some_and(|given| expected.matches(given)) {
            let mut response = refuse(StatusCode::UNAUTHORIZED, "publishing needs the token");
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        }
    }
    if !has_content_type(request, "application/json") {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be application/json",
        );
    }
    let body = match read_body(request, body, app.limits).await {
        Ok(body) => body,
        Err(refusal) => return refusal,
    };
    let request: Publish<'_> = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => return bad_request(format!("invalid request: {error}")),
    };
    let mut event = Event::builder().data(request.data);
    if let Some(event_type) = request.event {
        event = event.event(event_type);
    }
    if let Some(retry) = request.retry {
        if !RETRY.contains(&retry) {
            return bad_request(format!(
                "invalid request: retry must be from {} to {} ms",
                RETRY.start(),
                RETRY.end()
            ));
        }
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

/// The credentials of an `Authorization: Bearer …` value (the scheme's
/// case aside).
fn bearer(authorization: &[u8]) -> Option<&[u8]> {
    let (scheme, credentials) = authorization.split_at_checked(7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then_some(credentials)
}

/// Whether the request's content type is `essence` (parameters such as
/// `charset` aside).
fn has_content_type(request: &Request, essence: &str) -> bool {
    request
        .header(header::CONTENT_TYPE)
        .and_then(|value| value.split(';').next())
        .is_some_and(|value| value.trim().eq_ignore_ascii_case(essence))
}

/// The whole body, if it is at most `limits.max_body_bytes` long and
/// arrives within `limits.body_timeout`; otherwise the refusal (`413`,
/// `408`), after which the connection closes (the rest of the body is not
/// read).
async fn read_body(
    request: &Request,
    body: Body,
    limits: Limits,
) -> Result<bytes::Bytes, Response> {
    let too_large = || {
        let reason = format!("the body is over {} bytes", limits.max_body_bytes);
        refuse(StatusCode::PAYLOAD_TOO_LARGE, &reason)
    };
    let declared = request
        .header(header::CONTENT_LENGTH)
        .and_then(|length| length.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limits.max_body_bytes as u64) {
        return Err(too_large());
    }
    // Each chunk hyper read is copied once, into the one buffer; a chunk
    // that would pass the limit is not.
    let read = async {
        let mut chunks = std::pin::pin!(body.into_bytes_stream());
        let mut whole = bytes::BytesMut::new();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|error| {
                let reason = format!("cannot read the body: {error}");
                refuse(StatusCode::BAD_REQUEST, &reason)
            })?;
            if whole.len() + chunk.len() > limits.max_body_bytes {
                return Err(too_large());
            }
            whole.extend_from_slice(&chunk);
        }
        Ok(whole.freeze())
    };
    match tokio::time::timeout(limits.body_timeout, read).await {
        Ok(read) => read,
        Err(_) => Err(refuse(
            StatusCode::REQUEST_TIMEOUT,
            "the body did not arrive in time",
        )),
    }
}

fn bad_request(reason: String) -> Response {
    (StatusCode::BAD_REQUEST, reason).into_response()
}

/// A refusal with its reason, after which the connection closes: the body
/// may not have been read.
fn refuse(status: StatusCode, reason: &str) -> Response {
    let mut response = (status, reason.to_owned()).into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
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
