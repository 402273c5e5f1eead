//! A lock-free log-linear latency histogram in microseconds (about 1.6 %
//! precision above 128 µs, exact below), shared by every client task.

use std::sync::atomic::{AtomicU64, Ordering};

/// Sub-buckets per power of two: 2^6.
const SUB_BITS: u32 = 6;
/// Values below this are counted exactly.
const LINEAR: u64 = 128;
/// Powers of two covered above `LINEAR` (up to 2^40 µs, about 12 days).
const OCTAVES: usize = 34;
const BUCKETS: usize = LINEAR as usize + OCTAVES * (1 << SUB_BITS);

/// Counts of latencies, recorded from any thread.
pub(crate) struct Histogram {
    buckets: Box<[AtomicU64]>,
    max: AtomicU64,
}

impl Histogram {
    pub(crate) fn new() -> Self {
        Histogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            max: AtomicU64::new(0),
        }
    }

    /// Counts one latency of `micros`.
    pub(crate) fn record(&self, micros: u64) {
        self.buckets[index(micros)].fetch_add(1, Ordering::Relaxed);
        self.max.fetch_max(micros, Ordering::Relaxed);
    }

    /// Forgets every count.
    pub(crate) fn reset(&self) {
        for bucket in self.buckets.iter() {
            bucket.store(0, Ordering::Relaxed);
        }
        self.max.store(0, Ordering::Relaxed);
    }

    /// The latency at quantile `q` (0..=1), in µs: the upper bound of its
    /// bucket; `None` when nothing was recorded.
    pub(crate) fn quantile(&self, q: f64) -> Option<u64> {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (i, count) in counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(upper(i).min(self.max()));
            }
        }
        Some(self.max())
    }

    /// The largest latency recorded, in µs.
    pub(crate) fn max(&self) -> u64 {
        self.max.load(Ordering::Relaxed)
    }
}

fn index(micros: u64) -> usize {
    if micros < LINEAR {
        return micros as usize;
    }
    let v = micros.min((1u64 << (LINEAR.trailing_zeros() + OCTAVES as u32)) - 1);
    let exp = 63 - v.leading_zeros();
    let mantissa = (v >> (exp - SUB_BITS)) & ((1 << SUB_BITS) - 1);
    LINEAR as usize + (exp - LINEAR.trailing_zeros()) as usize * (1 << SUB_BITS) + mantissa as usize
}

/// The largest value that falls in bucket `i`.
fn upper(i: usize) -> u64 {
    if i < LINEAR as usize {
        return i as u64;
    }
    let j = i - LINEAR as usize;
    let exp = (j >> SUB_BITS) as u32 + LINEAR.trailing_zeros();
    let mantissa = (j & ((1 << SUB_BITS) - 1)) as u64;
    let step = 1u64 << (exp - SUB_BITS);
    (1u64 << exp) + mantissa * step + step - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_bound_their_values() {
        for v in [0, 1, 127, 128, 129, 1000, 65_535, 1_000_000, 123_456_789] {
            let i = index(v);
            assert!(upper(i) >= v, "{v}");
            assert!(upper(i) - v <= v / 50 + 1, "{v} -> {}", upper(i));
            if i > 0 {
                assert!(upper(i - 1) < v, "{v}");
            }
        }
    }

    #[test]
    fn quantiles() {
        let h = Histogram::new();
        for v in 1..=1000 {
            h.record(v);
        }
        assert_eq!(h.quantile(0.5), Some(500).map(|v| upper(index(v))));
        assert_eq!(h.quantile(1.0), Some(1000));
        assert_eq!(h.max(), 1000);
        h.reset();
        assert_eq!(h.quantile(0.5), None);
    }
}
