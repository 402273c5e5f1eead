//! The types every framework adapter declares, written once.
//!
//! A framework's traits cannot be implemented in its adapter for this
//! crate's types (the orphan rule), so [`__adapter!`](crate::__adapter)
//! declares newtypes in the adapter itself, with all of their inherent
//! methods; the adapter adds only its framework's trait impls.

/// Declares `SseResponse`, `LastEventId`, `Topics` and `Error` in the
/// invoking adapter, with their inherent methods, and re-exports what a
/// handler needs.
///
/// `krate` is the adapter's name for doc examples; `request` the request
/// type [`subscribe_authorized`](crate::subscribe_authorized) is given and
/// `head` a function from `&request` to a `Borrow<http::request::Parts>`.
/// The adapter depends on `http` and `ssekit_core`.
#[doc(hidden)]
#[macro_export]
macro_rules! __adapter {
    (krate: $krate:ident, request: $request:ty, head: $head:expr $(,)?) => {
        pub use ::ssekit_core::{Event, broker};
        pub use $crate::{
            Authorize, Denied, InvalidLastEventId, InvalidTopics, KeepAlive, Refusal, Refused,
            Retry, Shutdown, SseConfig, Unavailable,
        };

        #[doc = concat!(
            "An event stream response over any stream of [`Event`]s or `Result<Event, E>` (no `Sync` \
            bound); its builder methods are those of [`SseConfig`].\n\n```\n",
            "use ", stringify!($krate), "::{Event, KeepAlive, SseResponse};\n\n",
            "let events = futures_util::stream::iter([Event::data(\"hi\")]);\n",
            "let response = SseResponse::new(events).keep_alive(KeepAlive::disabled()).into_tower();\n",
            "assert_eq!(response.into_response().headers()[\"content-type\"], \"text/event-stream\");\n```"
        )]
        #[derive(Debug)]
        #[must_use = "an SseResponse does nothing until it is returned from a handler"]
        pub struct SseResponse<S> {
            stream: S,
            config: $crate::SseConfig,
        }

        impl<S> SseResponse<S> {
            /// A response over `stream` with the default [`SseConfig`].
            pub fn new(stream: S) -> Self {
                SseResponse {
                    stream,
                    config: $crate::SseConfig::default(),
                }
            }

            $crate::__delegate_config_builders!();

            /// The stream.
            pub fn get_ref(&self) -> &S {
                &self.stream
            }

            /// The [`ssekit_tower::SseResponse`] this one is made of.
            pub fn into_tower(self) -> $crate::SseResponse<S> {
                $crate::SseResponse::new(self.stream).config(self.config)
            }
        }

        impl<S> From<$crate::SseResponse<S>> for SseResponse<S> {
            fn from(response: $crate::SseResponse<S>) -> Self {
                let (stream, config) = response.into_parts();
                SseResponse { stream, config }
            }
        }

        impl SseResponse<::ssekit_core::broker::Subscription> {
            #[doc = concat!(
                "Subscribes to `topics` after `last_event_id` ([`ssekit_tower::subscribe`]): what the \
                client missed, then live events; an id the broker cannot place, or an invalid one, \
                opens the stream with the broker's `event: reset` notice.\n\n```\n",
                "use ", stringify!($krate), "::{LastEventId, SseResponse, broker::Broker};\n\n",
                "# #[tokio::main(flavor = \"current_thread\")]\n",
                "# async fn main() -> Result<(), ", stringify!($krate), "::Error> {\n",
                "let broker = Broker::new();\n",
                "let _response = SseResponse::subscribe(&broker, &[\"chat\"], &LastEventId::default()).await?;\n",
                "assert_eq!(broker.stats().subscriptions, 1);\n",
                "# Ok(())\n# }\n```"
            )]
            pub async fn subscribe<T>(
                broker: &::ssekit_core::broker::Broker,
                topics: &[T],
                last_event_id: &$crate::LastEventId,
            ) -> Result<Self, ::ssekit_core::broker::BrokerError>
            where
                T: AsRef<str> + Sync,
            {
                Ok($crate::subscribe(broker, topics, last_event_id).await?.into())
            }

            /// Like [`subscribe`](Self::subscribe), after asking `authorize` what `request`
            /// may read of `topics` ([`ssekit_tower::subscribe_authorized`]): refused with
            /// [`Denied`], or subscribed with the grant it answers.
            pub async fn subscribe_authorized<A>(
                broker: &::ssekit_core::broker::Broker,
                authorize: &A,
                request: &$request,
                topics: &[String],
                last_event_id: &$crate::LastEventId,
            ) -> Result<Self, $crate::Refused>
            where
                A: $crate::Authorize + ?Sized,
            {
                let head = ($head)(request);
                let head = <_ as ::std::borrow::Borrow<::http::request::Parts>>::borrow(&head);
                let response =
                    $crate::subscribe_authorized(broker, authorize, head, topics, last_event_id)
                        .await?;
                Ok(response.into())
            }
        }

        #[doc = concat!(
            "The id a reconnecting client last received: the `Last-Event-ID` header, or else the \
            `lastEventId` query parameter. Extracting it never fails: an invalid id is \
            [`ssekit_tower::LastEventId::Invalid`], and [`SseResponse::subscribe`] answers it \
            with a reset.\n\n```\n",
            "use ", stringify!($krate), "::{InvalidLastEventId, LastEventId};\n\n",
            "let id = LastEventId::from_headers_or_query(&http::HeaderMap::new(), Some(\"lastEventId=%FF\"));\n",
            "assert_eq!(id.invalid_reason(), Some(InvalidLastEventId::NotUtf8));\n```"
        )]
        #[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
        pub struct LastEventId(pub $crate::LastEventId);

        impl LastEventId {
            /// Reads the header, or else the query parameter, up to
            /// [`ssekit_tower::LastEventId::DEFAULT_MAX_LEN`] bytes.
            pub fn from_headers_or_query(headers: &::http::HeaderMap, query: Option<&str>) -> Self {
                LastEventId($crate::LastEventId::from_headers_or_query(
                    headers,
                    query,
                    $crate::LastEventId::DEFAULT_MAX_LEN,
                ))
            }
        }

        impl ::std::ops::Deref for LastEventId {
            type Target = $crate::LastEventId;

            fn deref(&self) -> &Self::Target {
                &self.0
            }
        }

        #[doc = concat!(
            "The topics of the request's `topic` query parameters, within \
            [`ssekit_tower::Topics`]' default limits; none, or an invalid one, refuses the \
            request with `400` and the reason as plain text.\n\n```\n",
            "use ", stringify!($krate), "::{InvalidTopics, Topics};\n\n",
            "assert_eq!(Topics::from_query(Some(\"topic=a&topic=b\"))?.as_slice(), [\"a\", \"b\"]);\n",
            "assert_eq!(Topics::from_query(Some(\"topic=\")).unwrap_err().status(), 400);\n",
            "# Ok::<(), ", stringify!($krate), "::Error>(())\n```"
        )]
        #[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
        pub struct Topics(pub $crate::Topics);

        impl Topics {
            /// Reads the `topic` parameters of `query`.
            pub fn from_query(query: Option<&str>) -> Result<Self, Error> {
                Ok(Topics($crate::Topics::from_query(query)?))
            }
        }

        impl ::std::ops::Deref for Topics {
            type Target = $crate::Topics;

            fn deref(&self) -> &Self::Target {
                &self.0
            }
        }

        #[doc = concat!(
            "Why a handler opened no stream: the broker's refusal, the [`Authorize`] hook's \
            denial or invalid topics, answered as [`Unavailable`] says (by default as \
            [`refusal`](crate::refusal) does: a refusal that passes keeps a browser \
            reconnecting). A handler returns it with `?`.\n\n```\n",
            "use ", stringify!($krate), "::{Error, broker::BrokerError};\n\n",
            "let error = Error::from(BrokerError::Closed);\n",
            "assert_eq!(error.status(), 200);\n",
            "assert_eq!(error.refused().to_string(), \"the broker has been shut down\");\n```"
        )]
        #[derive(Debug)]
        pub struct Error {
            refused: $crate::Refused,
            unavailable: Option<$crate::Unavailable>,
        }

        impl Error {
            /// Why no stream was opened.
            pub fn refused(&self) -> &$crate::Refused {
                &self.refused
            }

            /// The status of [`answer`](Self::answer): `200` for a refusal that passes
            /// answered as an event stream, else the refusal's own.
            pub fn status(&self) -> ::http::StatusCode {
                self.unavailable
                    .as_ref()
                    .unwrap_or_else(|| $crate::Unavailable::shared_default())
                    .status(&self.refused)
            }

            /// Answers a refusal that passes as `unavailable` says (default
            /// [`Unavailable::new`]).
            pub fn unavailable(mut self, unavailable: $crate::Unavailable) -> Self {
                self.unavailable = Some(unavailable);
                self
            }

            /// The answer, as an `http` response.
            pub fn answer(&self) -> ::http::Response<String> {
                self.unavailable
                    .as_ref()
                    .unwrap_or_else(|| $crate::Unavailable::shared_default())
                    .answer(&self.refused)
            }
        }

        impl<E: Into<$crate::Refused>> From<E> for Error {
            fn from(error: E) -> Self {
                Error {
                    refused: error.into(),
                    unavailable: None,
                }
            }
        }

        impl ::std::fmt::Display for Error {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Display::fmt(&self.refused, f)
            }
        }

        impl ::std::error::Error for Error {
            fn source(&self) -> Option<&(dyn ::std::error::Error + 'static)> {
                ::std::error::Error::source(&self.refused)
            }
        }
    };
}

/// Declares `WriteDeadlineListener<L>` in the invoking adapter: a listener
/// whose connections are [`WriteDeadline`](crate::WriteDeadline)s. The
/// adapter implements its framework's listener trait; the attributes given
/// (an example) go on the type.
#[doc(hidden)]
#[macro_export]
macro_rules! __write_deadline_listener {
    ($(#[$attr:meta])*) => {
        /// Wraps a listener so that every connection it accepts is a
        /// [`WriteDeadline`](ssekit_tower::WriteDeadline): a client that stops reading is
        /// disconnected once a write has made no progress for `deadline`, and its stream
        /// dropped; a client whose first request head has not arrived 10 s after it
        /// connected is disconnected too ([`first_head_deadline`](Self::first_head_deadline)).
        $(#[$attr])*
        #[derive(Debug)]
        pub struct WriteDeadlineListener<L> {
            inner: L,
            deadlines: $crate::write_deadline::Deadlines,
        }

        impl<L> WriteDeadlineListener<L> {
            /// Wraps `inner`; its connections' writes time out after `deadline` without
            /// progress, and their first request head after 10 s.
            pub fn new(inner: L, deadline: ::std::time::Duration) -> Self {
                WriteDeadlineListener {
                    inner,
                    deadlines: $crate::write_deadline::Deadlines::new(deadline),
                }
            }

            /// How long a connection's first request head may take to arrive (default
            /// 10 s); `None` does not time it. Later heads on a kept-alive connection are
            /// not timed.
            pub fn first_head_deadline(
                mut self,
                deadline: impl Into<Option<::std::time::Duration>>,
            ) -> Self {
                self.deadlines.first_head = deadline.into();
                self
            }

            /// The write deadline given to each connection.
            pub fn deadline(&self) -> ::std::time::Duration {
                self.deadlines.write
            }

            /// The wrapped listener.
            pub fn get_ref(&self) -> &L {
                &self.inner
            }
        }
    };
}
