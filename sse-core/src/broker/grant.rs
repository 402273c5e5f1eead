//! Private events: [`Visibility`] when publishing, [`Grant`] when
//! subscribing.
//!
//! A topic's public events reach every subscriber of the topic; its private
//! events reach only the subscribers whose grant names the topic. The
//! filter runs where the subscriber reads, on replayed history and on live
//! events alike, so a browser that resumes with a `Last-Event-ID` gets no
//! more than one that stayed connected. Who gets which grant is the
//! application's decision (in `ssekit-tower`, an `Authorize` hook run when a
//! request subscribes).

use std::sync::Arc;

use super::backend::Entry;

/// Who may receive a published event.
///
/// ```
/// use ssekit_core::broker::Visibility;
///
/// assert_eq!(Visibility::default(), Visibility::Public);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Visibility {
    /// Every subscriber of the event's topics.
    #[default]
    Public,
    /// Only subscribers granted one of the event's topics (see [`Grant`]).
    Private,
}

/// The topics whose private events a subscriber receives. Every subscriber
/// receives the public events of the topics it subscribed to.
///
/// ```
/// use ssekit_core::broker::Grant;
///
/// let grant = Grant::topics(["orders:42"]);
/// assert!(grant.reads_private("orders:42"));
/// assert!(!grant.reads_private("orders:43"));
/// assert!(!Grant::none().reads_private("orders:42"));
/// assert!(Grant::all().reads_private("anything"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grant(Scope);

#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum Scope {
    /// Public events only.
    #[default]
    None,
    /// Private events of every topic.
    All,
    /// Private events of these topics, sorted, without duplicates.
    Topics(Arc<[Arc<str>]>),
}

impl Grant {
    /// Public events only: what [`Broker::subscribe`](super::Broker::subscribe)
    /// gives.
    ///
    /// ```
    /// # use ssekit_core::broker::Grant;
    /// assert_eq!(Grant::none(), Grant::default());
    /// ```
    pub fn none() -> Self {
        Grant(Scope::None)
    }

    /// Private events of every topic subscribed to (a trusted client, such
    /// as another service).
    ///
    /// ```
    /// # use ssekit_core::broker::Grant;
    /// assert!(Grant::all().reads_private("x"));
    /// ```
    pub fn all() -> Self {
        Grant(Scope::All)
    }

    /// Private events of `topics`.
    ///
    /// ```
    /// # use ssekit_core::broker::Grant;
    /// let grant = Grant::topics(vec!["b".to_string(), "a".to_string()]);
    /// assert!(grant.reads_private("a") && grant.reads_private("b"));
    /// ```
    pub fn topics<I>(topics: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let mut names: Vec<Arc<str>> = topics
            .into_iter()
            .map(|topic| Arc::from(topic.as_ref()))
            .collect();
        names.sort_unstable();
        names.dedup();
        if names.is_empty() {
            return Grant::none();
        }
        Grant(Scope::Topics(names.into()))
    }

    /// Whether this grant receives the private events of `topic`.
    ///
    /// ```
    /// # use ssekit_core::broker::Grant;
    /// assert!(!Grant::topics(["a"]).reads_private("b"));
    /// ```
    pub fn reads_private(&self, topic: &str) -> bool {
        match &self.0 {
            Scope::None => false,
            Scope::All => true,
            Scope::Topics(names) => names.binary_search_by(|name| (**name).cmp(topic)).is_ok(),
        }
    }

    /// Whether a subscriber of `subscribed` with this grant receives
    /// `entry`, taken from the merged history of those topics.
    ///
    /// A private entry names its topics when the backend keeps them (the
    /// memory and Redis backends do); one that does not is received only
    /// when the grant covers every topic it could be in.
    pub(crate) fn admits(&self, entry: &Entry, subscribed: &[&str]) -> bool {
        match entry.visibility {
            Visibility::Public => true,
            Visibility::Private => match (&entry.topics, subscribed) {
                (Some(topics), _) => topics
                    .iter()
                    .any(|topic| subscribed.contains(&&**topic) && self.reads_private(topic)),
                (None, subscribed) => subscribed.iter().all(|topic| self.reads_private(topic)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Event;

    fn entry(visibility: Visibility, topics: Option<&[&str]>) -> Entry {
        Entry {
            seq: 1,
            event: Event::data("x"),
            topics: topics.map(|names| names.iter().map(|&name| Arc::from(name)).collect()),
            visibility,
        }
    }

    #[test]
    fn a_public_entry_is_admitted_without_any_grant() {
        assert!(Grant::none().admits(&entry(Visibility::Public, None), &["a"]));
    }

    #[test]
    fn a_private_entry_needs_one_of_its_topics_granted_and_subscribed() {
        let private = entry(Visibility::Private, Some(&["a", "b"]));
        assert!(Grant::topics(["b"]).admits(&private, &["a", "b"]));
        assert!(!Grant::topics(["a"]).admits(&private, &["b"]));
        assert!(!Grant::topics(["c"]).admits(&private, &["a", "b", "c"]));
        assert!(!Grant::none().admits(&private, &["a", "b"]));
    }

    #[test]
    fn a_private_entry_without_topics_needs_every_subscribed_topic_granted() {
        let private = entry(Visibility::Private, None);
        assert!(Grant::topics(["a", "b"]).admits(&private, &["a", "b"]));
        assert!(!Grant::topics(["a"]).admits(&private, &["a", "b"]));
        assert!(Grant::all().admits(&private, &["a", "b"]));
    }

    #[test]
    fn an_empty_list_of_topics_grants_nothing() {
        assert_eq!(Grant::topics(Vec::<String>::new()), Grant::none());
    }
}
