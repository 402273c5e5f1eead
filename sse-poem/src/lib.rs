//! Server-sent events for poem 3, over [`ssekit_tower`]: [`SseResponse`]
//! is an `IntoResponse`, [`LastEventId`] and [`Topics`] are extractors,
//! [`Error`] is a `ResponseError`, and [`WriteDeadlineListener`] gives a
//! listener's connections a write deadline. Keep event stream routes
//! outside poem's `Compression`, which compresses every response it wraps.
//! Serve with [`serve()`] (feature `serve`, default): it has a request-head
//! timeout and a write deadline, notices a client that closed at once, and
//! its graceful shutdown ends every stream itself. `poem::Server` times no
//! request head (`WriteDeadlineListener` times the first one of each
//! connection) and notices a client that left only when it next
//! writes (keep the keep-alive on there); for its graceful shutdown, give
//! the responses a [`Shutdown`] made from the token that drives
//! `run_with_graceful_shutdown`, and a timeout (see
//! [`WriteDeadlineListener`]).
//!
//! ```
//! use poem::web::Data;
//! use poem::{Endpoint, EndpointExt, Request, Route, get, handler};
//! use ssekit_poem::broker::{Broker, Subscription};
//! use ssekit_poem::{Error, LastEventId, SseResponse, Topics};
//!
//! #[handler]
//! async fn events(
//!     Data(broker): Data<&Broker>,
//!     topics: Topics,
//!     last_event_id: LastEventId,
//! ) -> Result<SseResponse<Subscription>, Error> {
//!     Ok(SseResponse::subscribe(broker, &topics, &last_event_id).await?)
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let app = Route::new().at("/events", get(events)).data(Broker::new());
//! let response = app.get_response(Request::builder().uri_str("/events").finish()).await;
//! assert_eq!(response.status(), 400);
//! # }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

mod extract;
mod listener;
mod response;
#[cfg(feature = "serve")]
mod serve;

pub use listener::{WriteDeadlineAcceptor, WriteDeadlineListener};
pub use response::refusal;
#[cfg(feature = "serve")]
pub use serve::{EndpointService, serve};
#[cfg(feature = "tls")]
pub use ssekit_tower::serve::tls_config;
#[cfg(feature = "serve")]
pub use ssekit_tower::serve::{bind_reuse_port, shutdown_signal};

ssekit_tower::__adapter!(
    krate: ssekit_poem,
    request: poem::Request,
    head: extract::head,
);
