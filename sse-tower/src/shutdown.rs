//! Graceful shutdown of open event streams.
//!
//! An event stream is meant never to end, so a server that waits for its
//! open responses before it stops (`axum::serve(..).with_graceful_shutdown`,
//! hyper-util's [`GracefulShutdown`]) waits forever while one client is
//! connected. A [`Shutdown`] is a [`CancellationToken`] shared by every body:
//! when it is cancelled, each body sends its optional final event and ends,
//! the connections finish their responses, and the server stops.
//!
//! Cancel the token *before* (or when) you start the server's own graceful
//! shutdown; the same token usually drives both:
//!
//! ```
//! use ssekit_core::Event;
//! use ssekit_tower::{Shutdown, SseConfig};
//! use tokio_util::sync::CancellationToken;
//!
//! let token = CancellationToken::new();
//! let config = SseConfig::new().shutdown(
//!     Shutdown::new(token.clone()).final_event(Event::builder().event("bye").data("").build()?),
//! );
//! // ... serve, with `token.cancelled()` as the server's shutdown signal ...
//! token.cancel();
//! # let _ = config;
//! # Ok::<(), ssekit_core::EventError>(())
//! ```
//!
//! A body checks the token every time it is polled, so a stream that is
//! always ready still ends at once, and the token costs no task and no
//! timer.
//!
//! [`GracefulShutdown`]: https://docs.rs/hyper-util/latest/hyper_util/server/graceful/struct.GracefulShutdown.html

use ssekit_core::Event;
use tokio_util::sync::CancellationToken;

/// The shutdown signal shared by event stream bodies, and the event each of
/// them sends last. See the [module docs](self).
///
/// ```
/// use ssekit_tower::Shutdown;
/// use tokio_util::sync::CancellationToken;
///
/// let token = CancellationToken::new();
/// let shutdown = Shutdown::from(token.clone());
/// assert!(shutdown.get_final_event().is_none());
/// ```
#[derive(Clone, Debug)]
pub struct Shutdown {
    token: CancellationToken,
    final_event: Option<Event>,
}

impl Shutdown {
    /// Ends every body when `token` is cancelled, without a final event.
    ///
    /// ```
    /// # use ssekit_tower::Shutdown;
    /// # use tokio_util::sync::CancellationToken;
    /// let shutdown = Shutdown::new(CancellationToken::new());
    /// assert!(!shutdown.token().is_cancelled());
    /// ```
    pub fn new(token: CancellationToken) -> Self {
        Shutdown {
            token,
            final_event: None,
        }
    }

    /// Sends `event` as the last frame of every body when the token is
    /// cancelled, so clients can tell a restart from a network failure (and,
    /// with a `retry:` field, when to come back).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use ssekit_core::Event;
    /// # use ssekit_tower::Shutdown;
    /// # use tokio_util::sync::CancellationToken;
    /// let bye = Event::builder().event("shutdown").data("").retry(Duration::from_secs(5)).build()?;
    /// let shutdown = Shutdown::new(CancellationToken::new()).final_event(bye.clone());
    /// assert_eq!(shutdown.get_final_event(), Some(&bye));
    /// # Ok::<(), ssekit_core::EventError>(())
    /// ```
    pub fn final_event(mut self, event: Event) -> Self {
        self.final_event = Some(event);
        self
    }

    /// The token that ends the bodies.
    ///
    /// ```
    /// # use ssekit_tower::Shutdown;
    /// # use tokio_util::sync::CancellationToken;
    /// let token = CancellationToken::new();
    /// let shutdown = Shutdown::new(token.clone());
    /// token.cancel();
    /// assert!(shutdown.token().is_cancelled());
    /// ```
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// The event sent last, if any.
    ///
    /// ```
    /// # use ssekit_tower::Shutdown;
    /// # use tokio_util::sync::CancellationToken;
    /// assert!(Shutdown::new(CancellationToken::new()).get_final_event().is_none());
    /// ```
    pub fn get_final_event(&self) -> Option<&Event> {
        self.final_event.as_ref()
    }
}

impl From<CancellationToken> for Shutdown {
    fn from(token: CancellationToken) -> Self {
        Shutdown::new(token)
    }
}
