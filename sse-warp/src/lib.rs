//! Server-sent events for warp 0.4, over [`ssekit_tower`]: [`SseResponse`]
//! and [`Error`] are `Reply`s, [`last_event_id()`], [`topics()`] and
//! [`request_parts()`] are filters, and [`recover`] answers their
//! rejections. Keep event stream routes outside
//! `warp::filters::compression`, which compresses every reply it wraps.
//! Serve with [`serve()`] (feature `serve`, default): it has a request-head
//! timeout and a write deadline, and its graceful shutdown ends every
//! stream itself. `warp::serve` has neither deadline and takes no other
//! listener than tokio's, so a client that stops reading or sends half a
//! request head holds its connection there; for its graceful shutdown,
//! give the responses a [`Shutdown`] made from the token that drives
//! `graceful`.
//!
//! ```
//! use ssekit_warp::broker::Broker;
//! use ssekit_warp::{Error, LastEventId, SseResponse, Topics};
//! use warp::Filter;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let broker = Broker::new();
//! let route = warp::path("events")
//!     .and(ssekit_warp::topics())
//!     .and(ssekit_warp::last_event_id())
//!     .then(move |topics: Topics, last_event_id: LastEventId| {
//!         let broker = broker.clone();
//!         async move { Ok::<_, Error>(SseResponse::subscribe(&broker, &topics, &last_event_id).await?) }
//!     })
//!     .recover(ssekit_warp::recover);
//! let response = warp::test::request().path("/events?topic=").reply(&route).await;
//! assert_eq!(response.status(), 400);
//! # }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

mod filter;
mod reply;
#[cfg(feature = "serve")]
mod serve;

pub use filter::{last_event_id, recover, request_parts, topics};
pub use reply::refusal;
#[cfg(feature = "serve")]
pub use serve::{FilterService, Rejects, serve};
#[cfg(feature = "tls")]
pub use ssekit_tower::serve::tls_config;
#[cfg(feature = "serve")]
pub use ssekit_tower::serve::{bind_reuse_port, shutdown_signal};

ssekit_tower::__adapter!(
    krate: ssekit_warp,
    request: http::request::Parts,
    head: std::convert::identity,
);
