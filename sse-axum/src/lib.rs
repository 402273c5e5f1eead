//! Server-sent events for axum 0.8, over [`ssekit_tower`]: [`SseResponse`]
//! is an `IntoResponse`, [`LastEventId`] and [`Topics`] are extractors,
//! [`Error`] answers a refused subscription, and [`WriteDeadlineListener`]
//! gives `axum::serve`'s connections a write deadline and a deadline for
//! their first request head (`axum::serve` times no head itself). Serve
//! with [`serve()`] (feature `serve`, default) for every head timed and a
//! graceful shutdown that ends
//! every stream itself; on `axum::serve`, give the responses a
//! [`Shutdown`] made from the token that drives `with_graceful_shutdown`.
//!
//! ```
//! use axum::{Router, body::Body, extract::State, routing::get};
//! use ssekit_axum::{Error, LastEventId, SseResponse, Topics, broker::{Broker, Subscription}};
//! use tower::ServiceExt;
//!
//! async fn events(State(broker): State<Broker>, topics: Topics, id: LastEventId)
//!     -> Result<SseResponse<Subscription>, Error> {
//!     Ok(SseResponse::subscribe(&broker, &topics, &id).await?)
//! }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let app = Router::new().route("/events", get(events)).with_state(Broker::new());
//! let response = app.oneshot(http::Request::get("/events").body(Body::empty()).unwrap()).await.unwrap();
//! assert_eq!(response.status(), 400); // no `?topic=`
//! # }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

mod extract;
mod listener;
mod response;
#[cfg(feature = "serve")]
mod serve;

pub use listener::WriteDeadlineListener;
pub use response::refusal;
#[cfg(feature = "serve")]
pub use serve::{AxumListener, serve};
#[cfg(feature = "tls")]
pub use ssekit_tower::serve::tls_config;
#[cfg(feature = "serve")]
pub use ssekit_tower::serve::{bind_reuse_port, shutdown_signal};

ssekit_tower::__adapter!(
    krate: ssekit_axum,
    request: http::request::Parts,
    head: std::convert::identity,
);
