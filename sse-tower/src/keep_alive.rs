//! Keep-alive comments on idle streams.
//!
//! An [`SseBody`](crate::SseBody) sends a comment frame, which
//! `EventSource` ignores, when no frame has gone out for a whole interval,
//! so proxies do not close an idle connection. Events do not touch the
//! timer: the body arms one [`tokio::time::Sleep`] the first time its
//! stream has nothing ready, and moves it only when it fires early.
//!
//! The timer needs a Tokio runtime with its time driver, as every Tokio
//! timer does; a body polled outside any Tokio runtime sends no keep-alive.

use std::time::Duration;

use ssekit_core::Event;

/// The keep-alive policy of an event stream: how long it may stay idle and
/// which frame then goes out. The default sends [`Event::KEEP_ALIVE`]
/// (`:\n\n`) after [`DEFAULT_INTERVAL`](Self::DEFAULT_INTERVAL) of silence.
///
/// ```
/// use std::time::Duration;
/// use http_body_util::BodyExt;
/// use ssekit_core::Event;
/// use ssekit_tower::{KeepAlive, SseBody, SseConfig};
/// use tokio::time::Instant;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let keep_alive = KeepAlive::new().interval(Duration::from_secs(30)).text("ping");
/// let config = SseConfig::new().keep_alive(keep_alive);
/// let mut body = Box::pin(SseBody::with_config(futures_util::stream::pending::<Event>(), &config));
///
/// let start = Instant::now();
/// let opening = body.frame().await.unwrap().unwrap();
/// assert_eq!(opening.into_data().unwrap(), "retry: 3000\n\n");
/// let frame = body.frame().await.unwrap().unwrap();
/// assert_eq!(frame.into_data().unwrap(), ":ping\n\n");
/// assert_eq!(start.elapsed(), Duration::from_secs(30));
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct KeepAlive {
    pub(crate) interval: Option<Duration>,
    pub(crate) event: Event,
}

impl KeepAlive {
    /// The interval of [`KeepAlive::new`]: 15 s.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(15);

    /// The shortest interval; shorter ones are raised to it.
    pub const MIN_INTERVAL: Duration = Duration::from_millis(1);

    /// The longest interval (a year); longer ones are lowered to it.
    pub const MAX_INTERVAL: Duration = Duration::from_secs(365 * 24 * 60 * 60);

    /// A `:\n\n` comment after [`DEFAULT_INTERVAL`](Self::DEFAULT_INTERVAL)
    /// of silence.
    pub fn new() -> Self {
        KeepAlive {
            interval: Some(Self::DEFAULT_INTERVAL),
            event: Event::KEEP_ALIVE,
        }
    }

    /// No keep-alive at all.
    pub fn disabled() -> Self {
        KeepAlive {
            interval: None,
            event: Event::KEEP_ALIVE,
        }
    }

    /// Sends the keep-alive after `interval` without any frame, clamped to
    /// [`MIN_INTERVAL`](Self::MIN_INTERVAL)..=[`MAX_INTERVAL`](Self::MAX_INTERVAL);
    /// this also enables a [`disabled`](Self::disabled) policy.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = Some(interval.clamp(Self::MIN_INTERVAL, Self::MAX_INTERVAL));
        self
    }

    /// Sends the comment `:text` instead of an empty one.
    pub fn text(mut self, text: &str) -> Self {
        self.event = Event::comment(text);
        self
    }

    /// Sends `event` as the keep-alive, for clients that want a real event
    /// such as `event: ping`.
    pub fn event(mut self, event: Event) -> Self {
        self.event = event;
        self
    }
}

impl Default for KeepAlive {
    fn default() -> Self {
        KeepAlive::new()
    }
}
