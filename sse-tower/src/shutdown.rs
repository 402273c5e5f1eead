//! Graceful shutdown of open event streams.
//!
//! An event stream never ends by itself, so a server's graceful shutdown
//! would wait for it for ever. When a [`Shutdown`]'s token is cancelled,
//! every body that shares it sends its final event, if any, and ends, so
//! the server can stop. A body checks the token each time it is polled:
//! a stream that is always ready still ends at once. Cancel the token when
//! the server's own graceful shutdown starts; one token usually drives both.

use ssekit_core::Event;
use tokio_util::sync::CancellationToken;

/// The shutdown signal shared by event stream bodies, and the event each
/// sends last (default: none).
///
/// ```
/// use http_body_util::BodyExt;
/// use ssekit_core::Event;
/// use ssekit_tower::{Shutdown, SseBody, SseConfig};
/// use tokio_util::sync::CancellationToken;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), ssekit_core::EventError> {
/// let token = CancellationToken::new();
/// let bye = Event::builder().event("bye").data("restarting").build()?;
/// let config = SseConfig::new().shutdown(Shutdown::new(token.clone()).final_event(bye));
/// let body = SseBody::with_config(futures_util::stream::pending::<Event>(), &config);
///
/// token.cancel();
/// assert_eq!(body.collect().await.unwrap().to_bytes(), "event: bye\ndata: restarting\n\n");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Shutdown {
    token: CancellationToken,
    pub(crate) final_event: Option<Event>,
}

impl Shutdown {
    /// Ends every body when `token` is cancelled, without a final event.
    pub fn new(token: CancellationToken) -> Self {
        Shutdown {
            token,
            final_event: None,
        }
    }

    /// Sends `event` as the last frame of every body when the token is
    /// cancelled.
    pub fn final_event(mut self, event: Event) -> Self {
        self.final_event = Some(event);
        self
    }

    /// The token that ends the bodies.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }
}

impl From<CancellationToken> for Shutdown {
    fn from(token: CancellationToken) -> Self {
        Shutdown::new(token)
    }
}
