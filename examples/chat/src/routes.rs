//! The HTTP side: pages, posting, the event stream.

use std::fmt::Write as _;
use std::time::Duration;

use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use ssekit_axum::{LastEventId, SseResponse};

use crate::chat::{Chat, Message, RoomView};

const ROOM_PAGE: &str = include_str!("../static/room.html");
const CHAT_JS: &str = include_str!("../static/chat.js");
const CHARTS_JS: &str = include_str!("../static/charts.js");
/// The status, notice and #reconnect that every example page shares.
const LIVE_STREAM_JS: &str = include_str!("../../shared/live-stream.js");

/// How soon a page reconnects after its stream drops (the opening
/// `retry:`); a shutdown or a refusal asks for its own, longer wait.
const RECONNECT: Duration = Duration::from_secs(1);

/// The routes; with `admin`, also `POST /admin/disconnect`.
pub fn router(chat: Chat, admin: bool) -> Router {
    let router = Router::new()
        .route("/", get(new_room))
        .route("/room/{room}", get(room_page).post(post_message))
        .route("/stream/{room}", get(stream))
        .route("/assets/chat.js", get(|| javascript(CHAT_JS)))
        .route("/assets/charts.js", get(|| javascript(CHARTS_JS)))
        .route("/assets/live-stream.js", get(|| javascript(LIVE_STREAM_JS)));
    let router = if admin {
        router.route("/admin/disconnect", post(disconnect_all))
    } else {
        router
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
    let id = chat.post(&room, message).await.map_err(Error::Post)?;
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
    last_event_id: LastEventId,
) -> Result<impl IntoResponse, Error> {
    let room = valid_room(room)?;
    let topics = Chat::topics(&room);
    let response = SseResponse::subscribe(chat.broker(), &topics, &last_event_id).await?;
    tracing::info!(%room, resume = ?response.get_ref().resume(), "stream opened");
    Ok(response
        .retry(RECONNECT)
        .shutdown(chat.stream_shutdown())
        .on_disconnect(move || tracing::info!(%room, "stream closed")))
}

/// `POST /admin/disconnect`: ends every open stream, to watch the pages
/// resume.
async fn disconnect_all(State(chat): State<Chat>) -> StatusCode {
    tracing::info!("ending every open stream");
    chat.disconnect_all();
    StatusCode::NO_CONTENT
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
pub enum Error {
    BadRequest(String),
    NotFound(String),
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

    #[test]
    fn a_room_name_is_letters_digits_dash_and_underscore() {
        assert!(valid_room("lobby-2_b".to_owned()).is_ok());
        for name in ["", "a b", "a/b", "caf\u{e9}", &"x".repeat(65)] {
            assert!(valid_room(name.to_owned()).is_err(), "{name:?}");
        }
    }
}
