//! [`Grant`]: the topics whose private events a subscriber receives, on
//! replayed and live events alike.

use std::sync::Arc;

use super::entry::{Entry, Visibility};

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
    pub fn none() -> Self {
        Grant(Scope::None)
    }

    /// Private events of every topic subscribed to (a trusted client, such
    /// as another service).
    pub fn all() -> Self {
        Grant(Scope::All)
    }

    /// Private events of `topics`.
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
    pub fn reads_private(&self, topic: &str) -> bool {
        match &self.0 {
            Scope::None => false,
            Scope::All => true,
            Scope::Topics(names) => names.binary_search_by(|name| (**name).cmp(topic)).is_ok(),
        }
    }

    /// Whether a subscriber of `subscribed` with this grant receives
    /// `entry`: a private entry without its topics only when the grant
    /// covers every topic subscribed.
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
        let entry = Entry::new(1, Event::data("x"), visibility);
        match topics {
            Some(names) => entry.with_topics(
                names
                    .iter()
                    .map(|&name| Arc::from(name))
                    .collect::<Vec<_>>(),
            ),
            None => entry,
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
    fn none_is_the_default_and_topics_are_sorted() {
        assert_eq!(Grant::none(), Grant::default());
        let grant = Grant::topics(vec!["b".to_string(), "a".to_string()]);
        assert!(grant.reads_private("a") && grant.reads_private("b"));
        assert!(!Grant::topics(["a"]).reads_private("b"));
        assert!(Grant::all().reads_private("x"));
    }

    #[test]
    fn an_empty_list_of_topics_grants_nothing() {
        assert_eq!(Grant::topics(Vec::<String>::new()), Grant::none());
    }
}
