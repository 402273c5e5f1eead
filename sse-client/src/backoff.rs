use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::ops::RangeInclusive;
use std::time::Duration;

/// Below this, the reconnection time is too short to grow from (a server
/// may set `retry: 0`).
const GROWTH_FLOOR: Duration = Duration::from_millis(10);

/// How the wait before a reconnection grows when attempts keep failing.
///
/// The first reconnection after a connection ends (attempt 1) waits exactly
/// the reconnection time, as the standard says: the server's latest `retry:`,
/// or [`Builder::retry`](crate::Builder::retry). Each further attempt
/// without an [`Item::Open`](crate::Item::Open) in between waits longer:
/// attempt `n` draws its delay uniformly from
///
/// ```text
/// [max(t, d·(1 − jitter)), d]   where   d = min(t'·factor^(n−1), max(max_delay, t))
/// ```
///
/// with `t` the reconnection time and `t'` the same but at least 10 ms. An
/// `Open` starts over at attempt 1. The default is factor 2, at most 30
/// seconds, jitter 0.5.
///
/// ```
/// use std::time::Duration;
/// use ssekit_client::Backoff;
///
/// let backoff = Backoff::new().factor(2.0).max_delay(Duration::from_secs(5)).jitter(0.0);
/// let delays: Vec<_> = (1..=5)
///     .map(|attempt| *backoff.bounds(Duration::from_secs(1), attempt).end())
///     .collect();
/// let secs = |s| Duration::from_secs(s);
/// assert_eq!(delays, [secs(1), secs(2), secs(4), secs(5), secs(5)]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    factor: f64,
    max_delay: Duration,
    jitter: f64,
}

impl Default for Backoff {
    /// Factor 2, at most 30 seconds, jitter 0.5.
    fn default() -> Self {
        Backoff {
            factor: 2.0,
            max_delay: Duration::from_secs(30),
            jitter: 0.5,
        }
    }
}

impl Backoff {
    /// The default backoff.
    pub fn new() -> Self {
        Self::default()
    }

    /// How much the delay grows per failed attempt; below 1 (or NaN) counts
    /// as 1, which keeps the delay at the reconnection time.
    pub fn factor(mut self, factor: f64) -> Self {
        self.factor = if factor >= 1.0 { factor } else { 1.0 };
        self
    }

    /// The cap on the delay. A server's `retry:` above it is still honoured.
    pub fn max_delay(mut self, max_delay: Duration) -> Self {
        self.max_delay = max_delay;
        self
    }

    /// The share of the delay that is left to chance, from 0 (none: every
    /// delay is exact) to 1; values outside are clamped, NaN counts as 0.
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = if jitter.is_nan() {
            0.0
        } else {
            jitter.clamp(0.0, 1.0)
        };
        self
    }

    /// The range the delay of reconnection `attempt` (1-based, as in
    /// [`Item::Reconnecting`](crate::Item::Reconnecting)) is drawn from, for
    /// the reconnection time `reconnection_time`.
    pub fn bounds(&self, reconnection_time: Duration, attempt: u32) -> RangeInclusive<Duration> {
        let t = reconnection_time;
        if attempt <= 1 {
            return t..=t;
        }
        let cap = self.max_delay.max(t);
        let grown = t.max(GROWTH_FLOOR).as_secs_f64() * self.factor.powf(f64::from(attempt - 1));
        let high = if grown < cap.as_secs_f64() {
            millis(grown).max(t)
        } else {
            cap
        };
        // Rounding to milliseconds may lift `low` over a cap that is not a
        // whole number of them.
        let low = millis(high.as_secs_f64() * (1.0 - self.jitter))
            .max(t)
            .min(high);
        low..=high
    }

    /// Draws the delay of reconnection `attempt`.
    pub(crate) fn delay(
        &self,
        reconnection_time: Duration,
        attempt: u32,
        rng: &mut Rng,
    ) -> Duration {
        let range = self.bounds(reconnection_time, attempt);
        let (low, high) = (*range.start(), *range.end());
        let spread = (high - low).as_millis() as f64;
        low + Duration::from_millis((spread * rng.next_f64()) as u64)
    }
}

/// Seconds as a duration rounded to whole milliseconds, the granularity of
/// the timer: powers of the factor come out exact, and the delay announced
/// is the delay waited. `secs` is finite, at least 0 and below the cap.
fn millis(secs: f64) -> Duration {
    Duration::from_millis((secs * 1e3).round() as u64)
}

/// A small pseudo-random generator (SplitMix64) for the jitter: it needs
/// no cryptographic quality, only different seeds in different clients.
#[derive(Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new() -> Self {
        Rng(RandomState::new().hash_one(0x5EED_u64))
    }

    /// A number in `[0, 1)`.
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn first_attempt_waits_exactly_the_reconnection_time() {
        assert_eq!(Backoff::new().bounds(ms(3000), 1), ms(3000)..=ms(3000));
    }

    #[test]
    fn delay_doubles_then_stops_at_the_cap() {
        let backoff = Backoff::new().max_delay(ms(700)).jitter(0.0);
        let highs: Vec<_> = (1..=6).map(|n| *backoff.bounds(ms(100), n).end()).collect();
        assert_eq!(
            highs,
            [ms(100), ms(200), ms(400), ms(700), ms(700), ms(700)]
        );
    }

    #[test]
    fn jitter_never_goes_below_the_reconnection_time() {
        let backoff = Backoff::new().jitter(1.0);
        assert_eq!(backoff.bounds(ms(100), 2), ms(100)..=ms(200));
        assert_eq!(backoff.bounds(ms(100), 4), ms(100)..=ms(800));
    }

    #[test]
    fn half_jitter_keeps_the_upper_half() {
        let backoff = Backoff::new().jitter(0.5);
        assert_eq!(backoff.bounds(ms(100), 4), ms(400)..=ms(800));
    }

    #[test]
    fn server_retry_above_the_cap_is_honoured() {
        let backoff = Backoff::new().max_delay(ms(50));
        assert_eq!(backoff.bounds(ms(200), 5), ms(200)..=ms(200));
    }

    #[test]
    fn a_cap_between_milliseconds_is_a_valid_range() {
        let cap = Duration::from_micros(1500);
        let backoff = Backoff::new().max_delay(cap).jitter(0.0);
        assert_eq!(backoff.bounds(ms(1), 5), cap..=cap);
        assert_eq!(backoff.delay(ms(1), 5, &mut Rng::new()), cap);
    }

    #[test]
    fn zero_retry_grows_from_ten_milliseconds() {
        let backoff = Backoff::new().jitter(0.0);
        assert_eq!(
            backoff.bounds(Duration::ZERO, 1),
            Duration::ZERO..=Duration::ZERO
        );
        assert_eq!(backoff.bounds(Duration::ZERO, 3), ms(40)..=ms(40));
    }

    #[test]
    fn huge_attempt_counts_stay_at_the_cap() {
        let backoff = Backoff::new().jitter(0.0);
        assert_eq!(
            *backoff.bounds(ms(3000), u32::MAX).end(),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn huge_server_retry_does_not_overflow() {
        let huge = Duration::from_millis(u64::MAX);
        let mut rng = Rng::new();
        for attempt in [1, 2, 40] {
            assert_eq!(Backoff::new().delay(huge, attempt, &mut rng), huge);
        }
    }

    #[test]
    fn factor_below_one_keeps_the_reconnection_time() {
        let backoff = Backoff::new().factor(0.5).jitter(0.0);
        assert_eq!(backoff.bounds(ms(100), 5), ms(100)..=ms(100));
    }

    #[test]
    fn drawn_delays_stay_within_bounds_and_vary() {
        let backoff = Backoff::new();
        let mut rng = Rng::new();
        let range = backoff.bounds(ms(1000), 3);
        let delays: Vec<_> = (0..1000)
            .map(|_| backoff.delay(ms(1000), 3, &mut rng))
            .collect();
        assert!(delays.iter().all(|d| range.contains(d)), "{delays:?}");
        // Uniform over 2 to 4 seconds: many distinct values, both ends
        // reached, the mean near the middle.
        let distinct: std::collections::BTreeSet<_> = delays.iter().collect();
        assert!(
            distinct.len() > 500,
            "only {} distinct delays",
            distinct.len()
        );
        assert!(delays.iter().any(|d| *d < ms(2100)));
        assert!(delays.iter().any(|d| *d > ms(3900)));
        let mean = delays.iter().sum::<Duration>() / 1000;
        assert!((ms(2800)..=ms(3200)).contains(&mean), "mean {mean:?}");
    }
}
