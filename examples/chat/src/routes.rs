//! The HTTP side: pages, posting, the event stream.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode, Version, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use ssekit_axum::{LastEventId, SseResponse};
use subtle::ConstantTimeEq;

use crate::chat::{Chat, Message, PostError, RoomView};

const ROOM_PAGE: &str = include_str!("../static/room.html");
const CHAT_JS: &str = include_str!("../static/chat.js");
const CHARTS_JS: &str = include_str!("../static/charts.js");
/// The status, notice and #reconnect that every example page shares.
const LIVE_STREAM_JS: &str = include_str!("../../shared/live-stream.js");

/// How soon a page reconnects after its stream drops (the opening
/// `retry:`); a shutdown or a refusal asks for its own, longer wait.
const RECONNECT: Duration = Duration::from_secs(1);

/// The routes; with an admin token, also `POST /admin/disconnect`, for
/// requests that carry it.
pub(crate) fn router(chat: Chat, admin_token: Option<String>) -> Router {
    let router = Router::new()
        .route("/", get(new_room))
        .route("/room/{room}", get(room_page).post(post_message))
        .route("/stream/{room}", get(stream))
        .route("/assets/chat.js", get(|| javascript(CHAT_JS)))
        .route("/assets/charts.js", get(|| javascript(CHARTS_JS)))
        .route("/assets/live-stream.js", get(|| javascript(LIVE_STREAM_JS)));
    let router = match admin_token {
        Some(token) => {
            let token: Arc<str> = token.into();
            router.route(
                "/admin/disconnect",
                post(move |chat: State<Chat>, headers: HeaderMap| {
                    disconnect_all(chat, headers, token)
                }),
            )
        }
        None => router,
    };
    router.with_state(chat)
}

/// `GET /`: a new room, named at random.
async fn new_room() -> Redirect {
    Redirect::to(&format!("/room/{:08x}", fastrand::u32(..)))
}

/// `GET /room/{room}`: the page, with the room's recent messages.
async fn room_page(
    State(chat): State<Chat>,
    Path(room): Path<String>,
) -> Result<Html<String>, Error> {
    let room = valid_room(room)?;
    Ok(Html(render(&room, &chat.view(&room).await)))
}

#[derive(Debug, Deserialize)]
struct PostForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    message: String,
}

/// `POST /room/{room}` with `user` and `message`: `202 Accepted` and the
/// message's event id, or `400` and why.
async fn post_message(
    State(chat): State<Chat>,
    Path(room): Path<String>,
    Form(form): Form<PostForm>,
) -> Result<(StatusCode, String), Error> {
    let room = valid_room(room)?;
    let message = Message::new(&form.user, &form.message).map_err(Error::BadRequest)?;
    // Per message: DEBUG, as a busy room would flood INFO. The nick is the
    // sender's text; logged escaped, it cannot forge a log line.
    let user =
        tracing::enabled!(tracing::Level::DEBUG).then(|| message.user.escape_debug().to_string());
    // Not `?` into `Error::Sse`: that answer is for event streams, and a
    // failed post is a plain `503` the page shows.
    let id = chat
        .post(&room, message)
        .await
        .map_err(|error| match error {
            PostError::TooManyRooms { max } => Error::TooManyRooms {
                max,
                retry_after: chat.sweep_interval(),
            },
            PostError::Broker(error) => Error::Post(error),
        })?;
    if let Some(user) = user {
        tracing::debug!(%room, %user, %id, "message posted");
    }
    Ok((StatusCode::ACCEPTED, id.to_string()))
}

/// `GET /stream/{room}`: the room's `message` events and the `stats`
/// events, resuming after `Last-Event-ID` (or `?lastEventId=`).
async fn stream(
    State(chat): State<Chat>,
    Path(room): Path<String>,
    version: Version,
    last_event_id: LastEventId,
) -> Result<impl IntoResponse, Error> {
    let room = valid_room(room)?;
    let topics = Chat::topics(&room);
    let response = SseResponse::subscribe(chat.broker(), &topics, &last_event_id).await?;
    // With `?version`: whether the browser multiplexes its streams (HTTP/2).
    tracing::info!(%room, ?version, resume = ?response.get_ref().resume(), "stream opened");
    Ok(response
        .retry(RECONNECT)
        .shutdown(chat.stream_shutdown())
        .on_disconnect(move || tracing::info!(%room, "stream closed")))
}

/// `POST /admin/disconnect` with `Authorization: Bearer TOKEN`: ends
/// every open stream, to watch the pages resume. `403` for a request a
/// browser sends from another site, `401` without the token.
async fn disconnect_all(
    State(chat): State<Chat>,
    headers: HeaderMap,
    token: Arc<str>,
) -> Result<StatusCode, Error> {
    if is_cross_site(&headers) {
        return Err(Error::CrossSite);
    }
    if !has_bearer(&headers, &token) {
        return Err(Error::Unauthorized);
    }
    tracing::info!("ending every open stream");
    chat.disconnect_all();
    Ok(StatusCode::NO_CONTENT)
}

/// Whether a browser says the request comes from another site: by
/// `Sec-Fetch-Site` (anything but `same-origin`, or `none` for what the
/// user typed), or by an `Origin` whose host and port are not the `Host`
/// asked for (`Origin: null` included). A client that sends neither, as
/// `curl` does, is not a browser on another site.
fn is_cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        if site != "same-origin" && site != "none" {
            return true;
        }
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let origin = origin
        .to_str()
        .ok()
        .and_then(|origin| origin.split_once("://"))
        .map(|(_, authority)| authority);
    let host = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok());
    !matches!((origin, host), (Some(origin), Some(host)) if origin.eq_ignore_ascii_case(host))
}

/// Whether `Authorization` is `Bearer` and `token`, compared in constant
/// time (only its length can be told by timing).
fn has_bearer(headers: &HeaderMap, token: &str) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, given)| given.trim())
    else {
        return false;
    };
    given.as_bytes().ct_eq(token.as_bytes()).into()
}

async fn javascript(source: &'static str) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        source,
    )
}

/// A room name: 1 to 64 ASCII letters, digits, `-` or `_`.
fn valid_room(room: String) -> Result<String, Error> {
    let valid = (1..=64).contains(&room.len())
        && room
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(room)
    } else {
        Err(Error::NotFound(
            "a room name is 1 to 64 letters, digits, '-' or '_'".to_owned(),
        ))
    }
}

/// The room page: the template with the room's name, its messages, and the
/// stream URL that resumes after them.
fn render(room: &str, view: &RoomView) -> String {
    let mut messages = String::new();
    for posted in &view.messages {
        let _ = writeln!(
            messages,
            r#"<li data-id="{}"><b class="user">{}</b> <span class="text">{}</span></li>"#,
            posted.id,
            escape(&posted.message.user),
            escape(&posted.message.message),
        );
    }
    let mut stream = format!("/stream/{room}");
    if let Some(position) = view.position {
        let _ = write!(stream, "?lastEventId={position}");
    }
    ROOM_PAGE
        .replace("{{room}}", room)
        .replace("{{stream}}", &stream)
        .replace("{{messages}}", &messages)
}

/// `text` safe inside HTML text and attribute values.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// What a request can fail with: the chat's own refusals, or the broker's
/// (answered by `ssekit_axum::Error`).
#[derive(Debug)]
pub(crate) enum Error {
    BadRequest(String),
    NotFound(String),
    /// A post that would make a room beyond the maximum: `429` with
    /// `Retry-After` (when idle rooms are next looked for).
    TooManyRooms {
        max: usize,
        retry_after: Duration,
    },
    /// An admin request without the token: `401`.
    Unauthorized,
    /// An admin request from another site: `403`.
    CrossSite,
    /// A publish the broker refused (Redis unreachable): `503` with
    /// `Retry-After` and the reason as text.
    Post(ssekit_axum::broker::BrokerError),
    Sse(ssekit_axum::Error),
}

impl<E: Into<ssekit_axum::Error>> From<E> for Error {
    fn from(error: E) -> Self {
        Error::Sse(error.into())
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match self {
            Error::BadRequest(reason) => (StatusCode::BAD_REQUEST, reason).into_response(),
            Error::NotFound(reason) => (StatusCode::NOT_FOUND, reason).into_response(),
            Error::TooManyRooms { max, retry_after } => {
                tracing::debug!(max, "new room refused");
                let seconds = retry_after.as_secs_f64().ceil().max(1.0) as u64;
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::RETRY_AFTER, seconds.to_string())],
                    format!(
                        "this chat has its maximum of {max} rooms: post in one of them, \
                         or try again once an idle room has gone"
                    ),
                )
                    .into_response()
            }
            Error::Unauthorized => {
                tracing::warn!("admin request without the token refused");
                (
                    StatusCode::UNAUTHORIZED,
                    [(header::WWW_AUTHENTICATE, "Bearer")],
                    "this needs Authorization: Bearer and the admin token",
                )
                    .into_response()
            }
            Error::CrossSite => {
                tracing::warn!("cross-site admin request refused");
                (StatusCode::FORBIDDEN, "cross-site request refused").into_response()
            }
            Error::Post(error) => {
                tracing::warn!(%error, "post refused");
                let answer = ssekit_axum::Unavailable::new().status_answer();
                answer.answer(&error).into_response()
            }
            Error::Sse(error) => {
                tracing::warn!(%error, "broker");
                error.into_response()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_a_message_is_shown_as_text() {
        assert_eq!(
            escape(r#"<script>alert("x") & 'y'</script>"#),
            "&lt;script&gt;alert(&quot;x&quot;) &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    header::HeaderName::from_static(name),
                    value.parse().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn an_admin_request_from_another_site_is_told_apart() {
        let host = ("host", "127.0.0.1:3000");
        for same in [
            headers(&[host]),
            headers(&[host, ("origin", "http://127.0.0.1:3000")]),
            headers(&[host, ("sec-fetch-site", "same-origin")]),
            headers(&[host, ("sec-fetch-site", "none")]),
        ] {
            assert!(!is_cross_site(&same), "{same:?}");
        }
        for cross in [
            headers(&[host, ("origin", "http://evil.example")]),
            headers(&[host, ("origin", "http://127.0.0.1:3001")]),
            headers(&[host, ("origin", "null")]),
            headers(&[("origin", "http://127.0.0.1:3000")]),
            headers(&[host, ("sec-fetch-site", "cross-site")]),
            headers(&[host, ("sec-fetch-site", "same-site")]),
        ] {
            assert!(is_cross_site(&cross), "{cross:?}");
        }
    }

    #[test]
    fn the_admin_token_is_a_bearer_token() {
        let token = "0123456789abcdef";
        assert!(has_bearer(
            &headers(&[("authorization", "Bearer 0123456789abcdef")]),
            token
        ));
        assert!(has_bearer(
            &headers(&[("authorization", "bearer 0123456789abcdef")]),
            token
        ));
        for wrong in [
            headers(&[]),
            headers(&[("authorization", "Bearer 0123456789abcdeF")]),
            headers(&[("authorization", "Bearer 0123456789abcde")]),
            headers(&[("authorization", "Basic 0123456789abcdef")]),
            headers(&[("authorization", "0123456789abcdef")]),
        ] {
            assert!(!has_bearer(&wrong, token), "{wrong:?}");
        }
    }

    #[test]
    fn a_room_name_is_letters_digits_dash_and_underscore() {
        assert!(valid_room("lobby-2_b".to_owned()).is_ok());
        for name in ["", "a b", "a/b", "caf\u{e9}", &"x".repeat(65)] {
            assert!(valid_room(name.to_owned()).is_err(), "{name:?}");
        }
    }
}
