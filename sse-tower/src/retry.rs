//! [`Retry`]: the reconnection time a stream tells its client as it ends,
//! a base plus a random share of a jitter window.

use std::time::Duration;

use ssekit_core::Event;

/// When a client is asked to reconnect: after `base` plus a random share
/// of the jitter window (default: none), drawn for each stream, so that
/// clients told to come back at the same moment spread over the window.
///
/// ```
/// use std::time::Duration;
/// use ssekit_tower::Retry;
///
/// let retry = Retry::new(Duration::from_secs(1)).jitter(Duration::from_secs(4));
/// let wait = retry.sample();
/// assert!(Duration::from_secs(1) <= wait && wait <= Duration::from_secs(5));
/// assert_eq!(Retry::new(Duration::from_secs(2)).event().as_bytes(), b"retry: 2000\n\n");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Retry {
    base: Duration,
    jitter: Duration,
}

impl Retry {
    /// Reconnection after `base`, without jitter.
    pub const fn new(base: Duration) -> Self {
        Retry {
            base,
            jitter: Duration::ZERO,
        }
    }

    /// Adds a random share of `window` to the base, drawn for each stream
    /// (default: none).
    pub const fn jitter(mut self, window: Duration) -> Self {
        self.jitter = window;
        self
    }

    /// One draw: the base plus a uniform share of the window, to the
    /// millisecond (the unit of `retry:`).
    pub fn sample(&self) -> Duration {
        let window = u64::try_from(self.jitter.as_millis()).unwrap_or(u64::MAX);
        self.base
            .saturating_add(Duration::from_millis(fastrand::u64(0..=window)))
    }

    /// One draw as a `retry:` event.
    pub fn event(&self) -> Event {
        Event::retry(self.sample())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jittered_draws_stay_in_the_window_and_spread_over_it() {
        let retry = Retry::new(Duration::from_millis(100)).jitter(Duration::from_millis(1000));
        let draws: Vec<u128> = (0..2000).map(|_| retry.sample().as_millis()).collect();
        assert!(draws.iter().all(|ms| (100..=1100).contains(ms)));
        // Each tenth of the window gets some draws (2000 draws, 200 expected
        // per tenth: none empty unless the draws do not spread).
        for tenth in 0..10 {
            let low = 100 + tenth * 100;
            assert!(
                draws.iter().any(|ms| (low..low + 100).contains(ms)),
                "{low}"
            );
        }
    }

    #[test]
    fn without_jitter_every_draw_is_the_base() {
        let retry = Retry::new(Duration::from_millis(250));
        assert!((0..100).all(|_| retry.sample() == Duration::from_millis(250)));
    }
}
