//! Authorization at subscribe time: [`Authorize`] decides which of the
//! requested topics a request may read, and whose private events it
//! receives, before anything is replayed.

use std::error::Error;
use std::fmt;
use std::future::Future;

use http::StatusCode;
use http::request::Parts;
use ssekit_core::broker::{BrokerError, Grant};

use crate::topics::InvalidTopics;

/// Decides, when a request subscribes to `topics`, what it may read: a
/// [`Grant`] (public events of every topic are always readable), or
/// [`Denied`]. Implemented for closures `Fn(&Parts, &[String]) -> impl
/// Future` whose future owns what it needs.
///
/// ```
/// use http::request::Parts;
/// use ssekit_core::broker::Grant;
/// use ssekit_tower::{Authorize, Denied};
///
/// /// Each user reads the private events of their own inbox only.
/// fn inbox_owner(request: &Parts, topics: &[String]) -> impl Future<Output = Result<Grant, Denied>> + use<> {
///     let user = request
///         .headers
///         .get("cookie")
///         .and_then(|cookie| cookie.to_str().ok())
///         .and_then(|cookie| cookie.strip_prefix("user="))
///         .map(str::to_owned);
///     let topics = topics.to_vec();
///     async move {
///         let user = user.ok_or(Denied::Unauthenticated)?;
///         let inbox = format!("inbox:{user}");
///         if let Some(other) = topics.iter().find(|topic| topic.starts_with("inbox:") && **topic != inbox) {
///             return Err(Denied::Forbidden { topic: other.clone() });
///         }
///         Ok(Grant::topics([inbox]))
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (request, ()) = http::Request::get("/events").header("cookie", "user=ana").body(()).unwrap().into_parts();
/// let grant = inbox_owner.authorize(&request, &["inbox:ana".into()]).await.unwrap();
/// assert!(grant.reads_private("inbox:ana"));
/// let refused = inbox_owner.authorize(&request, &["inbox:bob".into()]).await;
/// assert_eq!(refused, Err(Denied::Forbidden { topic: "inbox:bob".into() }));
/// # }
/// ```
pub trait Authorize: Send + Sync {
    /// The grant for `request` subscribing to `topics`, or why it may not.
    fn authorize<'a>(
        &'a self,
        request: &'a Parts,
        topics: &'a [String],
    ) -> impl Future<Output = Result<Grant, Denied>> + Send + 'a;
}

impl<F, Fut> Authorize for F
where
    F: Fn(&Parts, &[String]) -> Fut + Send + Sync,
    Fut: Future<Output = Result<Grant, Denied>> + Send + 'static,
{
    fn authorize<'a>(
        &'a self,
        request: &'a Parts,
        topics: &'a [String],
    ) -> impl Future<Output = Result<Grant, Denied>> + Send + 'a {
        self(request, topics)
    }
}

/// Why [`Authorize`] refused a request.
///
/// ```
/// use ssekit_tower::Denied;
///
/// assert_eq!(Denied::Unauthenticated.status(), 401);
/// assert_eq!(Denied::Forbidden { topic: "admin".into() }.status(), 403);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Denied {
    /// The request carries no valid credentials: `401 Unauthorized`, with
    /// `WWW-Authenticate: Bearer` (answer your own `401` for another
    /// scheme).
    Unauthenticated,
    /// The request may not read `topic`, even its public events: `403
    /// Forbidden`.
    Forbidden {
        /// The topic refused.
        topic: String,
    },
}

impl Denied {
    /// The status [`refusal`](crate::refusal) answers.
    ///
    /// ```
    /// # use ssekit_tower::Denied;
    /// assert_eq!(Denied::Unauthenticated.status(), http::StatusCode::UNAUTHORIZED);
    /// ```
    pub fn status(&self) -> StatusCode {
        match self {
            Denied::Unauthenticated => StatusCode::UNAUTHORIZED,
            Denied::Forbidden { .. } => StatusCode::FORBIDDEN,
        }
    }
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Denied::Unauthenticated => f.write_str("no valid credentials for this subscription"),
            Denied::Forbidden { topic } => write!(f, "not allowed to read topic {topic:?}"),
        }
    }
}

impl Error for Denied {}

/// Why a subscription was not opened: refused by the [`Authorize`] hook, by
/// the broker, or for the request's topics. [`refusal`](crate::refusal)
/// answers each.
///
/// ```
/// use ssekit_core::broker::BrokerError;
/// use ssekit_tower::{Denied, Refused};
///
/// assert_eq!(Refused::from(Denied::Unauthenticated).to_string(), "no valid credentials for this subscription");
/// assert!(matches!(Refused::from(BrokerError::Closed), Refused::Broker(_)));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Refused {
    /// The hook refused the request.
    Denied(Denied),
    /// The broker refused the subscription.
    Broker(BrokerError),
    /// The request's topics are missing or invalid.
    Topics(InvalidTopics),
}

impl From<Denied> for Refused {
    fn from(denied: Denied) -> Self {
        Refused::Denied(denied)
    }
}

impl From<BrokerError> for Refused {
    fn from(error: BrokerError) -> Self {
        Refused::Broker(error)
    }
}

impl From<InvalidTopics> for Refused {
    fn from(invalid: InvalidTopics) -> Self {
        Refused::Topics(invalid)
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::Denied(denied) => denied.fmt(f),
            Refused::Broker(error) => error.fmt(f),
            Refused::Topics(invalid) => invalid.fmt(f),
        }
    }
}

impl Error for Refused {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Refused::Denied(denied) => Some(denied),
            Refused::Broker(error) => Some(error),
            Refused::Topics(invalid) => Some(invalid),
        }
    }
}
