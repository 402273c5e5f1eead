//! The configuration shared by [`SseLayer`](crate::SseLayer),
//! [`SseResponse`](crate::SseResponse) and [`SseBody`](crate::SseBody).

use std::error::Error;
use std::fmt;
use std::sync::Arc;

use ssekit_core::Event;

use crate::keep_alive::KeepAlive;
use crate::last_event_id::LastEventId;
use crate::shutdown::Shutdown;

type ErrorEventFn = dyn Fn(&(dyn Error + Send + Sync + 'static)) -> Option<Event> + Send + Sync;
type DisconnectFn = dyn Fn() + Send + Sync;

/// How event stream responses behave: keep-alive, first frame, shutdown,
/// error and disconnect handling, and the `Last-Event-ID` limit.
///
/// One type configures the [layer](crate::SseLayer), the
/// [response builder](crate::SseResponse) and a bare [body](crate::SseBody),
/// so the three behave the same. Cloning it is a reference-count bump; every
/// response of a layer shares one.
///
/// ```
/// use std::time::Duration;
/// use ssekit_core::Event;
/// use ssekit_tower::{KeepAlive, Shutdown, SseConfig};
/// use tokio_util::sync::CancellationToken;
///
/// let token = CancellationToken::new();
/// let config = SseConfig::new()
///     .keep_alive(KeepAlive::new().interval(Duration::from_secs(20)))
///     .first_event(Event::retry(Duration::from_secs(3)))
///     .shutdown(Shutdown::new(token.clone()))
///     .error_event(|error| Event::builder().event("error").data(error.to_string()).build().ok())
///     .on_disconnect(|| tracing::debug!("client went away"));
/// # let _ = config;
/// ```
#[derive(Clone, Default)]
pub struct SseConfig {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    keep_alive: KeepAlive,
    first_event: Option<Event>,
    shutdown: Option<Shutdown>,
    error_event: Option<Arc<ErrorEventFn>>,
    on_disconnect: Option<Arc<DisconnectFn>>,
    max_last_event_id_len: usize,
    coalesce: usize,
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            keep_alive: KeepAlive::new(),
            first_event: None,
            shutdown: None,
            error_event: None,
            on_disconnect: None,
            max_last_event_id_len: LastEventId::DEFAULT_MAX_LEN,
            coalesce: SseConfig::DEFAULT_COALESCE,
        }
    }
}

impl SseConfig {
    /// The default bound of a coalesced frame: 16 KiB, the size of hyper's
    /// write buffer, so one frame is about one write.
    pub const DEFAULT_COALESCE: usize = 16 * 1024;

    /// The defaults: a `:` comment after 15 s of silence, no first frame, no
    /// shutdown signal, errors end the stream without a final event, and
    /// `Last-Event-ID` values up to [`LastEventId::DEFAULT_MAX_LEN`] bytes.
    ///
    /// ```
    /// # use ssekit_tower::{KeepAlive, SseConfig};
    /// let config = SseConfig::new();
    /// assert_eq!(config.get_keep_alive().get_interval(), Some(KeepAlive::DEFAULT_INTERVAL));
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    fn inner_mut(&mut self) -> &mut Inner {
        Arc::make_mut(&mut self.inner)
    }

    /// Sets the keep-alive policy; [`KeepAlive::disabled`] switches it off.
    ///
    /// ```
    /// # use ssekit_tower::{KeepAlive, SseConfig};
    /// let config = SseConfig::new().keep_alive(KeepAlive::disabled());
    /// assert_eq!(config.get_keep_alive().get_interval(), None);
    /// ```
    pub fn keep_alive(mut self, keep_alive: KeepAlive) -> Self {
        self.inner_mut().keep_alive = keep_alive;
        self
    }

    /// Sends `event` at once, before anything from the stream.
    ///
    /// Some proxies hold the response headers until the first body bytes
    /// arrive, so a stream that starts quiet looks stuck to the client. A
    /// first frame gets the headers through; a comment, a `retry:` hint, or
    /// both in one frame are the usual choices.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use ssekit_core::Event;
    /// # use ssekit_tower::SseConfig;
    /// let hello = Event::builder().comment("welcome").retry(Duration::from_secs(2)).build()?;
    /// let config = SseConfig::new().first_event(hello.clone());
    /// assert_eq!(config.get_first_event(), Some(&hello));
    /// # Ok::<(), ssekit_core::EventError>(())
    /// ```
    pub fn first_event(mut self, event: Event) -> Self {
        self.inner_mut().first_event = Some(event);
        self
    }

    /// Ends every body, after an optional final event, when the shutdown
    /// token is cancelled; see [`Shutdown`].
    ///
    /// ```
    /// # use ssekit_tower::SseConfig;
    /// # use tokio_util::sync::CancellationToken;
    /// let token = CancellationToken::new();
    /// let config = SseConfig::new().shutdown(token.clone());
    /// assert!(config.get_shutdown().is_some());
    /// ```
    pub fn shutdown(mut self, shutdown: impl Into<Shutdown>) -> Self {
        self.inner_mut().shutdown = Some(shutdown.into());
        self
    }

    /// When the stream yields an `Err`, sends the event `f` builds from it
    /// (if any) before the body ends.
    ///
    /// The error is logged through `tracing` in every case. Without this
    /// hook the body simply ends; clients then reconnect. Mind what the event
    /// reveals: error messages often carry internal details.
    ///
    /// ```
    /// # use ssekit_core::Event;
    /// # use ssekit_tower::SseConfig;
    /// let config = SseConfig::new().error_event(|_error| {
    ///     Event::builder().event("error").data("the feed failed").build().ok()
    /// });
    /// # let _ = config;
    /// ```
    pub fn error_event<F>(mut self, f: F) -> Self
    where
        F: Fn(&(dyn Error + Send + Sync + 'static)) -> Option<Event> + Send + Sync + 'static,
    {
        self.inner_mut().error_event = Some(Arc::new(f));
        self
    }

    /// Calls `f` when a body is dropped before it ended: the client went
    /// away (or the server dropped the connection). It is called after the
    /// inner stream has been dropped, and never after a normal end, an error
    /// or a shutdown.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use std::sync::atomic::{AtomicUsize, Ordering};
    /// # use ssekit_tower::SseConfig;
    /// let disconnects = Arc::new(AtomicUsize::new(0));
    /// let counter = disconnects.clone();
    /// let config = SseConfig::new().on_disconnect(move || {
    ///     counter.fetch_add(1, Ordering::Relaxed);
    /// });
    /// # let _ = config;
    /// ```
    pub fn on_disconnect<F>(mut self, f: F) -> Self
    where
        F: Fn() + Send + Sync + 'static,
    {
        self.inner_mut().on_disconnect = Some(Arc::new(f));
        self
    }

    /// The longest `Last-Event-ID` value the [layer](crate::SseLayer) parses;
    /// a longer one becomes [`LastEventId::Invalid`] without being copied.
    ///
    /// ```
    /// # use ssekit_tower::{LastEventId, SseConfig};
    /// let config = SseConfig::new().max_last_event_id_len(64);
    /// assert_eq!(config.get_max_last_event_id_len(), 64);
    /// assert_eq!(SseConfig::new().get_max_last_event_id_len(), LastEventId::DEFAULT_MAX_LEN);
    /// ```
    pub fn max_last_event_id_len(mut self, max_len: usize) -> Self {
        self.inner_mut().max_last_event_id_len = max_len;
        self
    }

    /// Gathers events that are ready at the same time into one body frame
    /// of at most `max_bytes`; `0` turns this off, so every event is its own
    /// frame.
    ///
    /// An event that is ready alone always goes out as its own bytes, not
    /// copied; only a burst is copied into one buffer. hyper writes each
    /// frame as a separate chunk and flushes after a handful of them, so a
    /// burst of small events costs many writes without this: coalescing
    /// measured six times the events per second through hyper over
    /// HTTP/1.1 (`docs/BENCHMARKS.md`). An event larger than `max_bytes` is
    /// never copied.
    ///
    /// ```
    /// # use ssekit_tower::SseConfig;
    /// assert_eq!(SseConfig::new().get_coalesce(), 16 * 1024);
    /// assert_eq!(SseConfig::new().coalesce(0).get_coalesce(), 0);
    /// ```
    pub fn coalesce(mut self, max_bytes: usize) -> Self {
        self.inner_mut().coalesce = max_bytes;
        self
    }

    /// The bound of a coalesced frame in bytes; `0` when coalescing is off.
    ///
    /// ```
    /// # use ssekit_tower::SseConfig;
    /// assert_eq!(SseConfig::new().get_coalesce(), SseConfig::DEFAULT_COALESCE);
    /// ```
    pub fn get_coalesce(&self) -> usize {
        self.inner.coalesce
    }

    /// The keep-alive policy.
    ///
    /// ```
    /// # use ssekit_tower::SseConfig;
    /// assert!(SseConfig::new().get_keep_alive().get_interval().is_some());
    /// ```
    pub fn get_keep_alive(&self) -> &KeepAlive {
        &self.inner.keep_alive
    }

    /// The frame sent first, if any.
    ///
    /// ```
    /// # use ssekit_tower::SseConfig;
    /// assert!(SseConfig::new().get_first_event().is_none());
    /// ```
    pub fn get_first_event(&self) -> Option<&Event> {
        self.inner.first_event.as_ref()
    }

    /// The shutdown signal, if any.
    ///
    /// ```
    /// # use ssekit_tower::SseConfig;
    /// assert!(SseConfig::new().get_shutdown().is_none());
    /// ```
    pub fn get_shutdown(&self) -> Option<&Shutdown> {
        self.inner.shutdown.as_ref()
    }

    /// The `Last-Event-ID` length limit, in bytes.
    ///
    /// ```
    /// # use ssekit_tower::SseConfig;
    /// assert_eq!(SseConfig::new().get_max_last_event_id_len(), 1024);
    /// ```
    pub fn get_max_last_event_id_len(&self) -> usize {
        self.inner.max_last_event_id_len
    }

    pub(crate) fn error_event_for(
        &self,
        error: &(dyn Error + Send + Sync + 'static),
    ) -> Option<Event> {
        self.inner.error_event.as_ref().and_then(|f| f(error))
    }

    pub(crate) fn disconnect_hook(&self) -> Option<Arc<DisconnectFn>> {
        self.inner.on_disconnect.clone()
    }
}

impl fmt::Debug for SseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("SseConfig")
            .field("keep_alive", &inner.keep_alive)
            .field("first_event", &inner.first_event)
            .field("shutdown", &inner.shutdown)
            .field("error_event", &inner.error_event.is_some())
            .field("on_disconnect", &inner.on_disconnect.is_some())
            .field("max_last_event_id_len", &inner.max_last_event_id_len)
            .field("coalesce", &inner.coalesce)
            .finish()
    }
}

/// Gives a builder that holds an `SseConfig` in a field named `config` the
/// same builder methods, delegating to [`SseConfig`].
///
/// Exported (hidden) so that the framework adapters' response types have
/// exactly these methods without re-declaring them; the expanding crate
/// must depend on `ssekit_core` and re-export `SseConfig` at its root.
#[doc(hidden)]
#[macro_export]
macro_rules! __delegate_config_builders {
    () => {
        /// Replaces the whole configuration; see [`SseConfig`](crate::SseConfig).
        pub fn config(mut self, config: $crate::SseConfig) -> Self {
            self.config = config;
            self
        }

        /// Sets the keep-alive policy; see [`SseConfig::keep_alive`](crate::SseConfig::keep_alive).
        pub fn keep_alive(mut self, keep_alive: $crate::KeepAlive) -> Self {
            self.config = self.config.keep_alive(keep_alive);
            self
        }

        /// Sends `event` first; see [`SseConfig::first_event`](crate::SseConfig::first_event).
        pub fn first_event(mut self, event: ::ssekit_core::Event) -> Self {
            self.config = self.config.first_event(event);
            self
        }

        /// Ends the stream on shutdown; see [`SseConfig::shutdown`](crate::SseConfig::shutdown).
        pub fn shutdown(mut self, shutdown: impl Into<$crate::Shutdown>) -> Self {
            self.config = self.config.shutdown(shutdown);
            self
        }

        /// Sends a final event on a stream error; see
        /// [`SseConfig::error_event`](crate::SseConfig::error_event).
        pub fn error_event<F>(mut self, f: F) -> Self
        where
            F: Fn(&(dyn ::std::error::Error + Send + Sync + 'static)) -> Option<::ssekit_core::Event>
                + Send
                + Sync
                + 'static,
        {
            self.config = self.config.error_event(f);
            self
        }

        /// Bounds coalesced frames; see [`SseConfig::coalesce`](crate::SseConfig::coalesce).
        pub fn coalesce(mut self, max_bytes: usize) -> Self {
            self.config = self.config.coalesce(max_bytes);
            self
        }

        /// Observes client disconnects; see
        /// [`SseConfig::on_disconnect`](crate::SseConfig::on_disconnect).
        pub fn on_disconnect<F>(mut self, f: F) -> Self
        where
            F: Fn() + Send + Sync + 'static,
        {
            self.config = self.config.on_disconnect(f);
            self
        }

        /// The configuration in use.
        pub fn get_config(&self) -> &$crate::SseConfig {
            &self.config
        }
    };
}

pub(crate) use crate::__delegate_config_builders as delegate_config_builders;
