//! The printed table: a value per run for each server, the ours/reference
//! ratio computed per run, their median and range, the target and whether
//! it is met.

use std::fmt::Write as _;

/// What a row's figure must reach, if anything.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Target {
    None,
    /// The median of the per-run ratios is at least this.
    RatioAtLeast(f64),
    /// The median of the per-run ratios is at most this.
    RatioAtMost(f64),
    /// Ours is at most this in every run (an absolute figure, e.g. 0 events
    /// lost silently).
    OursAtMost(f64),
    /// Ours is at least this in every run.
    OursAtLeast(f64),
}

/// One figure: a value per run for each server.
pub(crate) struct Row {
    pub name: String,
    pub unit: fn(f64) -> String,
    pub ours: Vec<f64>,
    pub reference: Vec<f64>,
    pub target: Target,
    /// Appended to the ours / reference cell (e.g. a warning).
    pub ours_note: String,
    pub reference_note: String,
}

impl Row {
    pub(crate) fn new(name: impl Into<String>, unit: fn(f64) -> String) -> Self {
        Row {
            name: name.into(),
            unit,
            ours: Vec::new(),
            reference: Vec::new(),
            target: Target::None,
            ours_note: String::new(),
            reference_note: String::new(),
        }
    }

    /// The ratio ours / reference of each run (`None` where the reference
    /// is 0 or a value is not a number).
    pub(crate) fn ratios(&self) -> Vec<Option<f64>> {
        self.ours
            .iter()
            .zip(&self.reference)
            .map(|(&o, &x)| (x != 0.0 && o.is_finite() && x.is_finite()).then(|| o / x))
            .collect()
    }

    /// The median of the per-run ratios.
    pub(crate) fn median_ratio(&self) -> Option<f64> {
        let known: Vec<f64> = self.ratios().into_iter().flatten().collect();
        median(&known)
    }

    /// Whether the target is met: `None` when there is none, or nothing to
    /// judge it by.
    pub(crate) fn met(&self) -> Option<bool> {
        let finite_ours = || self.ours.iter().copied().filter(|v| v.is_finite());
        match self.target {
            Target::None => None,
            Target::RatioAtLeast(bound) => self.median_ratio().map(|r| r >= bound),
            Target::RatioAtMost(bound) => self.median_ratio().map(|r| r <= bound),
            Target::OursAtMost(bound) => finite_ours().reduce(f64::max).map(|v| v <= bound),
            Target::OursAtLeast(bound) => finite_ours().reduce(f64::min).map(|v| v >= bound),
        }
    }
}

/// The median of `values` (the mean of the middle two for an even count);
/// `None` for none.
pub(crate) fn median(values: &[f64]) -> Option<f64> {
    let mut values = values.to_vec();
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    match values.len() {
        0 => None,
        n if n % 2 == 1 => Some(values[mid]),
        _ => Some((values[mid - 1] + values[mid]) / 2.0),
    }
}

fn ratio(r: f64) -> String {
    format!("{r:.2}×")
}

/// Renders `rows` as a Markdown table. Value cells give the median over
/// the runs; the ratio cell the median of the per-run ratios, then every
/// per-run ratio and their range.
pub(crate) fn render(rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| figure | ours | reference | ours / reference (median of runs) | per-run ratios [range] | target | met |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|:---:|");
    for row in rows {
        let cell = |values: &[f64], note: &str| {
            let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
            let mut cell = median(&finite).map_or_else(|| "—".to_string(), row.unit);
            if !note.is_empty() {
                cell.push(' ');
                cell.push_str(note);
            }
            cell
        };
        let ratios = row.ratios();
        let known: Vec<f64> = ratios.iter().flatten().copied().collect();
        let median_ratio = row.median_ratio().map_or_else(|| "—".to_string(), ratio);
        let per_run = if known.is_empty() {
            "—".to_string()
        } else {
            let list: Vec<String> = ratios
                .iter()
                .map(|r| r.map_or_else(|| "—".to_string(), ratio))
                .collect();
            let min = known.iter().copied().fold(f64::INFINITY, f64::min);
            let max = known.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            format!("{} [{}–{}]", list.join(", "), ratio(min), ratio(max))
        };
        let target = match row.target {
            Target::None => String::new(),
            Target::RatioAtLeast(bound) => format!("≥ {bound}×"),
            Target::RatioAtMost(bound) => format!("≤ {bound}×"),
            Target::OursAtMost(bound) => format!("ours ≤ {} every run", (row.unit)(bound)),
            Target::OursAtLeast(bound) => format!("ours ≥ {} every run", (row.unit)(bound)),
        };
        let met = match (row.target, row.met()) {
            (Target::None, _) => "",
            (_, Some(true)) => "yes",
            (_, Some(false)) => "**no**",
            (_, None) => "— (nothing to judge)",
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {median_ratio} | {per_run} | {target} | {met} |",
            row.name,
            cell(&row.ours, &row.ours_note),
            cell(&row.reference, &row.reference_note),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(v: f64) -> String {
        format!("{v:.0}")
    }

    #[test]
    fn the_ratio_is_the_median_of_per_run_ratios_not_the_ratio_of_medians() {
        let mut row = Row::new("x", count);
        row.ours = vec![1.0, 10.0, 4.0];
        row.reference = vec![2.0, 5.0, 8.0];
        // Per run 0.5, 2, 0.5: median 0.5 (the medians' ratio is 4 / 5).
        assert_eq!(row.median_ratio(), Some(0.5));
    }

    #[test]
    fn a_run_whose_reference_is_zero_has_no_ratio() {
        let mut row = Row::new("x", count);
        row.ours = vec![3.0, 3.0];
        row.reference = vec![0.0, 6.0];
        assert_eq!(row.ratios(), vec![None, Some(0.5)]);
    }

    #[test]
    fn an_absolute_target_must_hold_in_every_run() {
        let mut row = Row::new("x", count);
        row.ours = vec![0.0, 2.0, 0.0];
        row.reference = vec![5.0, 5.0, 5.0];
        row.target = Target::OursAtMost(0.0);
        assert_eq!(row.met(), Some(false));
    }

    #[test]
    fn the_rendered_row_lists_each_run_ratio_and_the_range() {
        let mut row = Row::new("events", count);
        row.ours = vec![2.0, 9.0, 4.0];
        row.reference = vec![1.0, 3.0, 4.0];
        row.target = Target::RatioAtLeast(2.0);
        let table = render(&[row]);
        assert_eq!(
            table.lines().nth(2),
            Some("| events | 4 | 3 | 2.00× | 2.00×, 3.00×, 1.00× [1.00×–3.00×] | ≥ 2× | yes |")
        );
    }
}
