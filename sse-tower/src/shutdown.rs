//! Graceful shutdown of open event streams.
//!
//! An event stream never ends by itself, so a server's graceful shutdown
//! would wait for it for ever. When a [`Shutdown`]'s token is cancelled,
//! every body that shares it sends a `retry:` drawn for it, its final
//! event, if any, and ends, so the server can stop and its clients come
//! back spread over the retry's jitter window rather than all at once. A body checks the token each time it is polled:
//! a stream that is always ready still ends at once. Cancel the token when
//! the server's own graceful shutdown starts; one token usually drives both.

use std::time::Duration;

use bytes::Bytes;
use ssekit_core::Event;
use tokio_util::sync::CancellationToken;

use crate::body::joined;
use crate::retry::Retry;

/// The shutdown signal shared by event stream bodies, the `retry:` each
/// draws (default [`Shutdown::DEFAULT_RETRY`]) and the event each sends
/// last (default: none).
///
/// ```
/// use http_body_util::BodyExt;
/// use ssekit_core::Event;
/// use std::time::Duration;
/// use ssekit_tower::{Retry, Shutdown, SseBody, SseConfig};
/// use tokio_util::sync::CancellationToken;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), ssekit_core::EventError> {
/// let token = CancellationToken::new();
/// let bye = Event::builder().event("bye").data("restarting").build()?;
/// let shutdown = Shutdown::new(token.clone()).retry(Retry::new(Duration::from_secs(2)));
/// let config = SseConfig::new().shutdown(shutdown.final_event(bye));
/// let body = SseBody::with_config(futures_util::stream::pending::<Event>(), &config);
///
/// token.cancel();
/// assert_eq!(
///     body.collect().await.unwrap().to_bytes(),
///     "retry: 3000\n\nretry: 2000\n\nevent: bye\ndata: restarting\n\n"
/// );
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Shutdown {
    token: CancellationToken,
    retry: Option<Retry>,
    final_event: Option<Event>,
}

impl Shutdown {
    /// The default retry: 1 s plus up to 4 s of jitter, so that a deploy's
    /// reconnections spread over 4 s around a browser's usual 3 s.
    pub const DEFAULT_RETRY: Retry =
        Retry::new(Duration::from_secs(1)).jitter(Duration::from_secs(4));

    /// Ends every body when `token` is cancelled, after a `retry:` drawn
    /// from [`DEFAULT_RETRY`](Self::DEFAULT_RETRY), without a final event.
    pub fn new(token: CancellationToken) -> Self {
        Shutdown {
            token,
            retry: Some(Self::DEFAULT_RETRY),
            final_event: None,
        }
    }

    /// Draws each body's last `retry:` from `retry`; `None` sends none.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use http_body_util::BodyExt;
    /// # use ssekit_core::Event;
    /// # use ssekit_tower::{Retry, Shutdown, SseBody, SseConfig};
    /// # use tokio_util::sync::CancellationToken;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let token = CancellationToken::new();
    /// let shutdown = Shutdown::new(token.clone()).retry(Retry::new(Duration::from_secs(2)));
    /// let config = SseConfig::new().retry(None).shutdown(shutdown);
    /// let body = SseBody::with_config(futures_util::stream::pending::<Event>(), &config);
    /// token.cancel();
    /// assert_eq!(body.collect().await.unwrap().to_bytes(), "retry: 2000\n\n");
    /// # }
    /// ```
    pub fn retry(mut self, retry: impl Into<Option<Retry>>) -> Self {
        self.retry = retry.into();
        self
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

    /// What one body sends as it shuts down: its own draw of the retry,
    /// then the final event.
    pub(crate) fn last_frame(&self) -> Option<Bytes> {
        let retry = self.retry.as_ref().map(|retry| retry.event().into_bytes());
        joined(retry, self.final_event.as_ref().map(Event::to_bytes))
    }
}

impl From<CancellationToken> for Shutdown {
    fn from(token: CancellationToken) -> Self {
        Shutdown::new(token)
    }
}
