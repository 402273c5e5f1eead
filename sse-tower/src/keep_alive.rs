//! Keep-alive comments on idle streams.
//!
//! Proxies and load balancers close connections that carry nothing for a
//! while (often 30 to 120 s), and a client cannot tell a silent server from a
//! dead one. An [`SseBody`](crate::SseBody) therefore sends a comment frame
//! when no frame has gone out for a whole interval. Comments are ignored by
//! `EventSource`, so the application never sees them.
//!
//! # How the timer is kept cheap
//!
//! The body keeps no task and no channel: it records the time of the last
//! frame it handed to the server, and arms one [`tokio::time::Sleep`] the
//! first time its stream has nothing ready. Events do not touch the timer.
//! When the timer fires and a frame went out after it was armed, it is moved
//! to `last frame + interval` and nothing is sent; only a full idle interval
//! sends a keep-alive. The keep-alive is therefore exact (an interval after
//! the last frame, whatever it was) at the cost of one clock read per frame.
//!
//! The timer needs a Tokio runtime with time enabled, as `axum::serve` and
//! hyper-util's Tokio executor have; in a runtime without its time driver,
//! arming it panics, as every Tokio timer does. A body polled outside any
//! Tokio runtime sends no keep-alive instead.

use std::time::Duration;

use ssekit_core::Event;

/// The keep-alive policy of an event stream: how long a stream may stay idle
/// and which frame then goes out.
///
/// The default sends the 3-byte comment [`Event::KEEP_ALIVE`] (`:\n\n`) after
/// 15 s of silence. See the [module docs](self) for how the timer works.
///
/// ```
/// use std::time::Duration;
/// use ssekit_tower::{KeepAlive, SseConfig};
///
/// let config = SseConfig::new()
///     .keep_alive(KeepAlive::new().interval(Duration::from_secs(30)).text("ping"));
/// # let _ = config;
/// ```
#[derive(Clone, Debug)]
pub struct KeepAlive {
    interval: Option<Duration>,
    event: Event,
}

impl KeepAlive {
    /// The interval of [`KeepAlive::new`]: short enough for the usual proxy
    /// idle timeouts (30 s and more), long enough to cost nothing.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(15);

    /// The shortest interval accepted; shorter ones are raised to it, so a
    /// zero interval cannot turn into a busy loop of comments.
    pub const MIN_INTERVAL: Duration = Duration::from_millis(1);

    /// The longest interval accepted; longer ones are lowered to it, so that
    /// the deadline arithmetic can never overflow.
    pub const MAX_INTERVAL: Duration = Duration::from_secs(365 * 24 * 60 * 60);

    /// A `:\n\n` comment after [`DEFAULT_INTERVAL`](Self::DEFAULT_INTERVAL)
    /// of silence.
    ///
    /// ```
    /// # use ssekit_tower::KeepAlive;
    /// assert_eq!(KeepAlive::new().get_interval(), Some(KeepAlive::DEFAULT_INTERVAL));
    /// ```
    pub fn new() -> Self {
        KeepAlive {
            interval: Some(Self::DEFAULT_INTERVAL),
            event: Event::KEEP_ALIVE,
        }
    }

    /// No keep-alive at all: for streams that are never idle, or servers
    /// whose clients and proxies are known not to time out.
    ///
    /// ```
    /// # use ssekit_tower::KeepAlive;
    /// assert_eq!(KeepAlive::disabled().get_interval(), None);
    /// ```
    pub fn disabled() -> Self {
        KeepAlive {
            interval: None,
            event: Event::KEEP_ALIVE,
        }
    }

    /// Sends the keep-alive after `interval` without any frame, clamped to
    /// [`MIN_INTERVAL`](Self::MIN_INTERVAL)..=[`MAX_INTERVAL`](Self::MAX_INTERVAL).
    /// This also enables a policy made by [`disabled`](Self::disabled).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use ssekit_tower::KeepAlive;
    /// let keep_alive = KeepAlive::new().interval(Duration::from_secs(5));
    /// assert_eq!(keep_alive.get_interval(), Some(Duration::from_secs(5)));
    /// assert_eq!(
    ///     KeepAlive::new().interval(Duration::ZERO).get_interval(),
    ///     Some(KeepAlive::MIN_INTERVAL)
    /// );
    /// ```
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = Some(interval.clamp(Self::MIN_INTERVAL, Self::MAX_INTERVAL));
        self
    }

    /// Sends the comment `:text` instead of an empty one, for instance to
    /// make keep-alives easy to spot in a capture.
    ///
    /// ```
    /// # use ssekit_tower::KeepAlive;
    /// let keep_alive = KeepAlive::new().text("ping");
    /// assert_eq!(keep_alive.get_event().as_bytes(), b":ping\n\n".as_slice());
    /// ```
    pub fn text(mut self, text: &str) -> Self {
        self.event = Event::comment(text);
        self
    }

    /// Sends any pre-encoded frame as the keep-alive, for clients that want
    /// to see a real event (e.g. `event: ping`).
    ///
    /// ```
    /// # use ssekit_core::Event;
    /// # use ssekit_tower::KeepAlive;
    /// let ping = Event::builder().event("ping").data("").build()?;
    /// let keep_alive = KeepAlive::new().event(ping.clone());
    /// assert_eq!(keep_alive.get_event(), &ping);
    /// # Ok::<(), ssekit_core::EventError>(())
    /// ```
    pub fn event(mut self, event: Event) -> Self {
        self.event = event;
        self
    }

    /// The idle interval, or `None` when keep-alive is disabled.
    ///
    /// ```
    /// # use ssekit_tower::KeepAlive;
    /// assert!(KeepAlive::default().get_interval().is_some());
    /// ```
    pub fn get_interval(&self) -> Option<Duration> {
        self.interval
    }

    /// The frame sent when the stream is idle.
    ///
    /// ```
    /// # use ssekit_core::Event;
    /// # use ssekit_tower::KeepAlive;
    /// assert_eq!(KeepAlive::new().get_event(), &Event::KEEP_ALIVE);
    /// ```
    pub fn get_event(&self) -> &Event {
        &self.event
    }
}

impl Default for KeepAlive {
    fn default() -> Self {
        KeepAlive::new()
    }
}
