//! The printed tables: which figures the suite's table and
//! `--only-latency`'s show, in which rows (rendered by `table.rs`).

use std::collections::BTreeMap;

use crate::client::Tally;
use crate::server::Kind;
use crate::suite::{Figures, LATENCY_RATE, Plan};
use crate::table::{self, Row, Target};

/// The suite's table over `runs` (one run, or all of them).
pub(crate) fn suite_table(plan: &Plan, runs: &[&BTreeMap<Kind, Figures>]) -> String {
    let mut rows = Vec::new();
    let mut row = |name, unit, f: &dyn Fn(&Figures) -> f64, target| {
        rows.push(figure_row(runs, name, unit, f, target));
    };
    let events = |v: f64| format!("{:.0} k/s", v / 1e3);
    let rate = |v: f64| format!("{v:.0}/s");
    let percent = |v: f64| format!("{:.1} %", v * 100.0);
    let millis = |v: f64| format!("{:.2} ms", v / 1e3);
    let cpu = |v: f64| format!("{v:.2} s");
    let cores = |v: f64| format!("{v:.2}");
    let count = |v: f64| format!("{v:.0}");
    let bytes = |v: f64| format!("{:.1} KB", v / 1e3);
    // The searches the runs made (by subscribers, then size).
    let searched: Vec<(usize, usize)> = runs
        .first()
        .and_then(|run| run.get(&Kind::Ours))
        .map(|figures| figures.searches.keys().copied().collect())
        .unwrap_or_default();
    for &(n, size) in &searched {
        let key = (n, size);
        let label = format!("{n} subs × {size} B");
        let headline = n == plan.small && size == 100;
        row(
            format!("{label}: delivered events/s at saturation (peak)"),
            events,
            &|f| f.searches[&key].peak.delivered_per_s,
            if headline {
                Target::RatioAtLeast(2.0)
            } else {
                Target::None
            },
        );
        row(
            format!("{label}: share of ideal at the peak"),
            percent,
            &|f| f.searches[&key].peak.share,
            Target::None,
        );
        row(
            format!("{label}: p99 latency at the peak"),
            millis,
            &|f| f.searches[&key].peak.p99_us as f64,
            Target::None,
        );
        row(
            format!("{label}: highest publish rate not saturated"),
            rate,
            &|f| {
                let ok = f.searches[&key].ok_rate;
                if ok > 0.0 { ok } else { f64::NAN }
            },
            Target::None,
        );
        row(
            format!("{label}: first saturated publish rate"),
            rate,
            &|f| {
                let bad = f.searches[&key].bad_rate;
                if bad > 0.0 { bad } else { f64::NAN }
            },
            Target::None,
        );
        row(
            format!("{label}: server CPU-s per M delivered, at peak"),
            cpu,
            &|f| f.searches[&key].peak.server_cpu_per_m,
            if headline {
                Target::RatioAtMost(0.5)
            } else {
                Target::None
            },
        );
        row(
            format!("{label}: client CPU at the peak, cores busy"),
            cores,
            &|f| f.searches[&key].peak.client_cores,
            Target::None,
        );
    }
    latency_rows(&mut row, LATENCY_RATE, plan.small);
    let small = plan.small;
    row(
        format!("past saturation ({small} × 100 B, 2× the first saturated rate): publish rate"),
        rate,
        &|f| f.past_saturation.rate,
        Target::None,
    );
    row(
        "  delivered events/s".into(),
        events,
        &|f| f.past_saturation.phase.delivered_per_s,
        Target::None,
    );
    row(
        "  share of ideal".into(),
        percent,
        &|f| f.past_saturation.phase.share,
        Target::None,
    );
    row(
        "  client CPU, cores busy".into(),
        cores,
        &|f| f.past_saturation.phase.client_cores,
        Target::None,
    );
    let tally_row = |name: &str, f: fn(&Tally) -> u64, target| {
        let mut row = Row::new(format!("  {name}"), count);
        row.ours = runs
            .iter()
            .map(|run| f(&run[&Kind::Ours].past_saturation.tally) as f64)
            .collect();
        row.reference = runs
            .iter()
            .map(|run| f(&run[&Kind::Reference].past_saturation.tally) as f64)
            .collect();
        row.target = target;
        row
    };
    rows.extend([
        tally_row(
            "events lost silently (a gap with no notice before it)",
            |t| t.silent_lost,
            Target::OursAtMost(0.0),
        ),
        tally_row(
            "events missed after a `lagged` or `reset` notice",
            |t| t.signalled_lost,
            Target::None,
        ),
        tally_row(
            "connections ended by the server (or failed)",
            |t| t.disconnects,
            Target::None,
        ),
        tally_row(
            "reconnections that sent Last-Event-ID",
            |t| t.reconnects_with_id,
            Target::None,
        ),
        tally_row(
            "… answered by a replay (the first event continues the sequence)",
            |t| t.replays,
            Target::None,
        ),
        tally_row(
            "… answered by a `reset` notice",
            |t| t.reconnect_resets,
            Target::None,
        ),
        tally_row(
            "… resumed from a `reset` notice's id (the gap was told by it)",
            |t| t.reconnect_from_notice,
            Target::None,
        ),
        tally_row(
            "… answered otherwise (a silent gap, or a repeat)",
            |t| t.reconnect_others,
            Target::None,
        ),
        tally_row(
            "… not answered by an event yet when counted",
            |t| {
                t.reconnects_with_id
                    - t.replays
                    - t.reconnect_resets
                    - t.reconnect_from_notice
                    - t.reconnect_others
            },
            Target::None,
        ),
        tally_row("`lagged` notices", |t| t.lagged, Target::None),
        tally_row("`reset` notices (any)", |t| t.resets, Target::None),
        tally_row(
            "events received twice or out of order",
            |t| t.duplicates,
            Target::None,
        ),
        tally_row(
            "connections that gave up (reconnection bound reached)",
            |t| t.gave_up,
            Target::None,
        ),
    ]);
    let mut resumed = Row::new(
        "  cut-off subscribers that resumed from history (replays / reconnections with an id)",
        percent,
    );
    let share = |t: &Tally| {
        if t.reconnects_with_id == 0 {
            f64::NAN
        } else {
            t.replays as f64 / t.reconnects_with_id as f64
        }
    };
    resumed.ours = runs
        .iter()
        .map(|run| share(&run[&Kind::Ours].past_saturation.tally))
        .collect();
    resumed.reference = runs
        .iter()
        .map(|run| share(&run[&Kind::Reference].past_saturation.tally))
        .collect();
    resumed.target = Target::OursAtLeast(1.0);
    rows.push(resumed);
    let mut idle = Row::new(
        format!("idle connections open at the RSS reading (of {})", plan.big),
        count,
    );
    idle.ours = runs
        .iter()
        .map(|run| run[&Kind::Ours].idle_connections as f64)
        .collect();
    idle.reference = runs
        .iter()
        .map(|run| run[&Kind::Reference].idle_connections as f64)
        .collect();
    rows.push(idle);
    let mut rss = Row::new(
        format!("RSS per idle connection, 100 → {} idle", plan.big),
        bytes,
    );
    rss.target = Target::RatioAtMost(0.5);
    for (kind, values, note) in [
        (Kind::Ours, &mut rss.ours, &mut rss.ours_note),
        (Kind::Reference, &mut rss.reference, &mut rss.reference_note),
    ] {
        *values = runs
            .iter()
            .map(|run| run[&kind].rss_per_idle_bytes)
            .collect();
        let fewest = runs
            .iter()
            .map(|run| run[&kind].idle_connections)
            .min()
            .unwrap_or(0);
        if fewest < plan.big {
            *note = format!("⚠ only {fewest} of {} connected", plan.big);
        }
    }
    rows.push(rss);
    let mut out = table::render(&rows);
    out.push_str(
        "\n— in a rate row: no such rate among those tried. Ratios: ours / reference in each run; the ratio column is their median.\n",
    );
    out
}

/// The row of figure `f` over `runs`.
fn figure_row(
    runs: &[&BTreeMap<Kind, Figures>],
    name: String,
    unit: fn(f64) -> String,
    f: &dyn Fn(&Figures) -> f64,
    target: Target,
) -> Row {
    let mut row = Row::new(name, unit);
    row.ours = runs.iter().map(|run| f(&run[&Kind::Ours])).collect();
    row.reference = runs.iter().map(|run| f(&run[&Kind::Reference])).collect();
    row.target = target;
    row
}

/// Adds a figure's row: its name, how a value is printed, the figure, the
/// target.
type AddRow<'a> = dyn FnMut(String, fn(f64) -> String, &dyn Fn(&Figures) -> f64, Target) + 'a;

/// The rows of the latency phase (`rate` × `small` × 100 B; [`LATENCY_RATE`]
/// in the suite's table), there and in `--only-latency`'s table.
fn latency_rows(row: &mut AddRow<'_>, rate: f64, small: usize) {
    let percent = |v: f64| format!("{:.1} %", v * 100.0);
    let millis = |v: f64| format!("{:.2} ms", v / 1e3);
    let cpu = |v: f64| format!("{v:.2} s");
    let cores = |v: f64| format!("{v:.2}");
    let label = format!("{rate}/s × {small} × 100 B");
    row(
        format!("{label}: p50 latency"),
        millis,
        &|f| f.latency.p50_us as f64,
        Target::None,
    );
    row(
        format!("{label}: p99 latency"),
        millis,
        &|f| f.latency.p99_us as f64,
        Target::RatioAtMost(0.5),
    );
    row(
        format!("{label}: max latency"),
        millis,
        &|f| f.latency.max_us as f64,
        Target::None,
    );
    row(
        format!("{label}: share of ideal"),
        percent,
        &|f| f.latency.share,
        Target::None,
    );
    row(
        format!("{label}: server CPU-s per M delivered"),
        cpu,
        &|f| f.latency.server_cpu_per_m,
        Target::None,
    );
    row(
        format!("{label}: client CPU-s per M received"),
        cpu,
        &|f| f.latency.client_cpu_per_m,
        Target::None,
    );
    row(
        format!("{label}: client CPU, cores busy"),
        cores,
        &|f| f.latency.client_cores,
        Target::None,
    );
}

/// `--only-latency`'s table: the latency rows alone.
pub(crate) fn latency_table(rate: f64, small: usize, runs: &[&BTreeMap<Kind, Figures>]) -> String {
    let mut rows = Vec::new();
    let mut row = |name, unit, f: &dyn Fn(&Figures) -> f64, target| {
        rows.push(figure_row(runs, name, unit, f, target));
    };
    latency_rows(&mut row, rate, small);
    table::render(&rows)
}
