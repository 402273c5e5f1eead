//! The configuration shared by [`SseLayer`](crate::SseLayer),
//! [`SseResponse`](crate::SseResponse) and [`SseBody`](crate::SseBody).

use std::error::Error;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ssekit_core::Event;

use crate::keep_alive::KeepAlive;
use crate::last_event_id::LastEventId;
use crate::shutdown::Shutdown;

type ErrorEventFn = dyn Fn(&(dyn Error + Send + Sync + 'static)) -> Option<Event> + Send + Sync;
type DisconnectFn = dyn Fn() + Send + Sync;

/// How event stream responses behave: keep-alive, first event, shutdown,
/// stream errors, disconnects, coalescing and the `Last-Event-ID` limit.
/// The [layer](crate::SseLayer), the [response builder](crate::SseResponse)
/// and a bare [body](crate::SseBody) take the same `SseConfig`; cloning it
/// is a reference-count increment.
///
/// ```
/// use std::time::Duration;
/// use http_body_util::BodyExt;
/// use ssekit_core::Event;
/// use ssekit_tower::{KeepAlive, Retry, Shutdown, SseBody, SseConfig};
/// use tokio_util::sync::CancellationToken;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let token = CancellationToken::new();
/// let config = SseConfig::new()
///     .keep_alive(KeepAlive::new().interval(Duration::from_secs(20)))
///     .first_event(Event::comment("hello"))
///     .shutdown(
///         Shutdown::new(token.clone())
///             .retry(Retry::new(Duration::from_secs(2)))
///             .final_event(Event::data("bye")),
///     );
/// let body = SseBody::with_config(futures_util::stream::pending::<Event>(), &config);
///
/// token.cancel();
/// let bytes = body.collect().await.unwrap().to_bytes();
/// assert_eq!(bytes, "retry: 3000\n\n:hello\n\nretry: 2000\n\ndata: bye\n\n");
/// # }
/// ```
#[derive(Clone)]
pub struct SseConfig {
    /// What responses usually share. What a response often sets for itself
    /// (its first event, shutdown and disconnect hook) lives beside it, so
    /// setting those copies none of it.
    pub(crate) inner: Arc<Inner>,
    pub(crate) first_event: Option<Event>,
    pub(crate) shutdown: Option<Shutdown>,
    on_disconnect: Option<Arc<DisconnectFn>>,
}

#[derive(Clone)]
pub(crate) struct Inner {
    pub(crate) keep_alive: KeepAlive,
    /// The `retry:` every stream opens with, encoded once.
    pub(crate) retry: Option<Event>,
    error_event: Option<Arc<ErrorEventFn>>,
    pub(crate) max_last_event_id_len: usize,
    pub(crate) coalesce: usize,
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            keep_alive: KeepAlive::new(),
            retry: Some(Event::retry(SseConfig::DEFAULT_RETRY)),
            error_event: None,
            max_last_event_id_len: LastEventId::DEFAULT_MAX_LEN,
            coalesce: SseConfig::DEFAULT_COALESCE,
        }
    }
}

impl Default for SseConfig {
    fn default() -> Self {
        // One shared copy of the defaults: a response that keeps them
        // allocates nothing for its configuration.
        static DEFAULTS: OnceLock<Arc<Inner>> = OnceLock::new();
        SseConfig {
            inner: Arc::clone(DEFAULTS.get_or_init(|| Arc::new(Inner::default()))),
            first_event: None,
            shutdown: None,
            on_disconnect: None,
        }
    }
}

impl SseConfig {
    /// The default bound of a coalesced frame: 16 KiB, hyper's write buffer.
    pub const DEFAULT_COALESCE: usize = 16 * 1024;

    /// The reconnection time every stream announces first by default: 3 s,
    /// the usual browser default.
    pub const DEFAULT_RETRY: Duration = Duration::from_secs(3);

    /// The defaults: a keep-alive comment after 15 s of silence, a first
    /// `retry:` of [`DEFAULT_RETRY`](Self::DEFAULT_RETRY), no first
    /// event, no shutdown signal, no error event, no disconnect hook,
    /// [`DEFAULT_COALESCE`](Self::DEFAULT_COALESCE) and
    /// [`LastEventId::DEFAULT_MAX_LEN`].
    pub fn new() -> Self {
        Self::default()
    }

    fn inner_mut(&mut self) -> &mut Inner {
        Arc::make_mut(&mut self.inner)
    }

    /// Sets the keep-alive policy (default [`KeepAlive::new`]);
    /// [`KeepAlive::disabled`] switches it off.
    pub fn keep_alive(mut self, keep_alive: KeepAlive) -> Self {
        self.inner_mut().keep_alive = keep_alive;
        self
    }

    /// Opens every stream with `retry:` set to `retry` (default
    /// [`DEFAULT_RETRY`](Self::DEFAULT_RETRY)); `None` sends none. It
    /// restores the usual reconnection time after a refusal or a shutdown
    /// asked the client to wait longer.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use http_body_util::BodyExt;
    /// # use ssekit_core::Event;
    /// # use ssekit_tower::{SseBody, SseConfig};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let events = || futures_util::stream::iter([Event::data("hi")]);
    /// let body = SseBody::new(events());
    /// assert_eq!(body.collect().await.unwrap().to_bytes(), "retry: 3000\n\ndata: hi\n\n");
    ///
    /// let config = SseConfig::new().retry(None);
    /// let body = SseBody::with_config(events(), &config);
    /// assert_eq!(body.collect().await.unwrap().to_bytes(), "data: hi\n\n");
    /// # }
    /// ```
    pub fn retry(mut self, retry: impl Into<Option<Duration>>) -> Self {
        self.inner_mut().retry = retry.into().map(Event::retry);
        self
    }

    /// Sends `event` at once, after the first `retry:` and before anything
    /// from the stream (default: none).
    pub fn first_event(mut self, event: Event) -> Self {
        self.first_event = Some(event);
        self
    }

    /// Ends every body, after the [`Shutdown`]'s final event if it has one,
    /// when its token is cancelled (default: never).
    pub fn shutdown(mut self, shutdown: impl Into<Shutdown>) -> Self {
        self.shutdown = Some(shutdown.into());
        self
    }

    /// When the stream yields an `Err`, sends the event `f` builds from it,
    /// if any, before the body ends (default: none). The error is logged
    /// with `tracing` either way; mind what the event tells the client.
    pub fn error_event<F>(mut self, f: F) -> Self
    where
        F: Fn(&(dyn Error + Send + Sync + 'static)) -> Option<Event> + Send + Sync + 'static,
    {
        self.inner_mut().error_event = Some(Arc::new(f));
        self
    }

    /// Calls `f` when a body is dropped before it ended, that is when the
    /// client went away (default: nothing). It runs after the stream is
    /// dropped, and never after an end, an error or a shutdown.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use std::sync::atomic::{AtomicUsize, Ordering};
    /// # use ssekit_core::Event;
    /// # use ssekit_tower::{SseBody, SseConfig};
    /// let disconnects = Arc::new(AtomicUsize::new(0));
    /// let counter = disconnects.clone();
    /// let config = SseConfig::new().on_disconnect(move || {
    ///     counter.fetch_add(1, Ordering::Relaxed);
    /// });
    /// let body = SseBody::with_config(futures_util::stream::pending::<Event>(), &config);
    /// drop(body); // what the server does when the client goes away
    /// assert_eq!(disconnects.load(Ordering::Relaxed), 1);
    /// ```
    pub fn on_disconnect<F>(mut self, f: F) -> Self
    where
        F: Fn() + Send + Sync + 'static,
    {
        self.on_disconnect = Some(Arc::new(f));
        self
    }

    /// The longest `Last-Event-ID` value the [layer](crate::SseLayer) parses
    /// (default [`LastEventId::DEFAULT_MAX_LEN`]); a longer one becomes
    /// [`LastEventId::Invalid`] without being copied.
    pub fn max_last_event_id_len(mut self, max_len: usize) -> Self {
        self.inner_mut().max_last_event_id_len = max_len;
        self
    }

    /// Gathers events that are ready together into one body frame of at
    /// most `max_bytes` (default [`DEFAULT_COALESCE`](Self::DEFAULT_COALESCE));
    /// `0` sends every event as its own frame. An event ready alone, or
    /// larger than `max_bytes`, is never copied.
    ///
    /// ```
    /// # use http_body_util::BodyExt;
    /// # use ssekit_core::Event;
    /// # use ssekit_tower::{SseBody, SseConfig};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let events = || futures_util::stream::iter([Event::data("a"), Event::data("b")]);
    /// let config = SseConfig::new().retry(None);
    /// let mut gathered = Box::pin(SseBody::with_config(events(), &config));
    /// let frame = gathered.frame().await.unwrap().unwrap();
    /// assert_eq!(frame.into_data().unwrap(), "data: a\n\ndata: b\n\n");
    ///
    /// let config = config.coalesce(0);
    /// let mut one_by_one = Box::pin(SseBody::with_config(events(), &config));
    /// let frame = one_by_one.frame().await.unwrap().unwrap();
    /// assert_eq!(frame.into_data().unwrap(), "data: a\n\n");
    /// # }
    /// ```
    pub fn coalesce(mut self, max_bytes: usize) -> Self {
        self.inner_mut().coalesce = max_bytes;
        self
    }

    pub(crate) fn error_event_for(
        &self,
        error: &(dyn Error + Send + Sync + 'static),
    ) -> Option<Event> {
        self.inner.error_event.as_ref().and_then(|f| f(error))
    }

    pub(crate) fn disconnect_hook(&self) -> Option<Arc<DisconnectFn>> {
        self.on_disconnect.clone()
    }
}

impl fmt::Debug for SseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("SseConfig")
            .field("keep_alive", &inner.keep_alive)
            .field("retry", &inner.retry)
            .field("first_event", &self.first_event)
            .field("shutdown", &self.shutdown)
            .field("error_event", &inner.error_event.is_some())
            .field("on_disconnect", &self.on_disconnect.is_some())
            .field("max_last_event_id_len", &inner.max_last_event_id_len)
            .field("coalesce", &inner.coalesce)
            .finish()
    }
}

/// Gives a builder with an `SseConfig` field named `config` the builder
/// methods of [`SseConfig`]. The expanding crate depends on `ssekit_core`
/// and re-exports `SseConfig` at its root.
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

        /// Sets the opening `retry:`; see [`SseConfig::retry`](crate::SseConfig::retry).
        pub fn retry(mut self, retry: impl Into<Option<::std::time::Duration>>) -> Self {
            self.config = self.config.retry(retry);
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
            F: Fn(
                    &(dyn ::std::error::Error + Send + Sync + 'static),
                ) -> Option<::ssekit_core::Event>
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
    };
}

pub(crate) use crate::__delegate_config_builders as delegate_config_builders;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_left_at_the_defaults_share_one_copy() {
        assert!(Arc::ptr_eq(
            &SseConfig::new().inner,
            &SseConfig::new().inner
        ));
    }

    #[test]
    fn a_first_event_shutdown_or_disconnect_hook_of_its_own_copies_nothing_shared() {
        let shared = SseConfig::new().coalesce(0);
        let token = tokio_util::sync::CancellationToken::new();
        let own = shared
            .clone()
            .first_event(Event::data("hi"))
            .shutdown(token)
            .on_disconnect(|| {});
        assert!(Arc::ptr_eq(&shared.inner, &own.inner));
        assert!(own.disconnect_hook().is_some() && shared.disconnect_hook().is_none());
        assert!(own.first_event.is_some() && shared.first_event.is_none());
    }
}
