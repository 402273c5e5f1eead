//! The saturation search: the publish rate doubled until a phase saturates,
//! then bisected.

use crate::BoxError;
use crate::client::Clients;
use crate::phase::{self, Phase};
use crate::process::ServerProcess;
use crate::suite::Plan;

/// The result of a bounded search for the saturation rate.
#[derive(Clone, Debug, Default)]
pub(crate) struct Search {
    /// The highest rate tried that was not saturated (0 if none).
    pub ok_rate: f64,
    /// The lowest rate tried that was saturated (0 if none).
    pub bad_rate: f64,
    /// The phase with the most delivered events/s.
    pub peak: Phase,
}

impl Search {
    /// Counts phase `p` in.
    fn consider(&mut self, p: Phase) {
        if p.saturated() {
            if self.bad_rate == 0.0 || p.rate < self.bad_rate {
                self.bad_rate = p.rate;
            }
        } else if p.rate > self.ok_rate {
            self.ok_rate = p.rate;
        }
        if p.delivered_per_s > self.peak.delivered_per_s {
            self.peak = p;
        }
    }
}

/// Searches the rate at which `subscribers` of `clients` saturate with
/// events of `size` bytes, within `plan`'s doublings and bisections.
pub(crate) async fn run(
    server: &mut ServerProcess,
    clients: &Clients,
    subscribers: usize,
    size: usize,
    plan: &Plan,
) -> Result<Search, BoxError> {
    let mut result = Search::default();
    // Start at 100 000 ideal events/s and double.
    let mut rate = (100_000.0 / subscribers as f64).max(1.0);
    for _ in 0..plan.doublings {
        let p = phase::run(server, clients, subscribers, rate, size, plan.phase).await?;
        let saturated = p.saturated();
        result.consider(p);
        if saturated {
            break;
        }
        rate *= 2.0;
    }
    if result.ok_rate > 0.0 && result.bad_rate > 0.0 {
        for _ in 0..plan.bisections {
            let rate = ((result.ok_rate + result.bad_rate) / 2.0).round();
            if rate <= result.ok_rate || rate >= result.bad_rate {
                break;
            }
            let p = phase::run(server, clients, subscribers, rate, size, plan.phase).await?;
            result.consider(p);
        }
    }
    Ok(result)
}
