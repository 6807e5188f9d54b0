//! Scaling across cores: with workers as an axis, how close each variant comes to linear. Its
//! scaling efficiency at N workers is its requests per second there over N times its rate at
//! 1 worker — 1.00 is linear (N workers serve N times what one does), 0.50 at 2 workers is no
//! gain at all. One row per variant and load level, one column per workers value.

use std::borrow::Cow;

use super::Table;
use crate::results::{Cell, Results};

/// The efficiency at `workers` of a rate `rate` against `base_rate` at `base_workers` (1 when the
/// axis has it): rate ÷ (workers / base_workers × base_rate).
pub fn efficiency(rate: f64, workers: usize, base_rate: f64, base_workers: usize) -> Option<f64> {
    let ideal = workers as f64 / base_workers as f64 * base_rate;
    (ideal > 0.0 && rate.is_finite()).then(|| rate / ideal)
}

/// The workers values of `scenario`'s axis, ascending (empty: no axis).
pub fn workers_axis(results: &Results, scenario: &str) -> Vec<usize> {
    let mut values: Vec<usize> = results.scenario_cells(scenario).filter_map(Cell::workers_on_axis).collect();
    values.sort_unstable();
    values.dedup();
    values
}

/// Whether `cell`'s server CPUs included the load generator's, on one machine.
pub fn shared_cpus(results: &Results, cell: &Cell) -> bool {
    let meta = &results.meta;
    let one_machine = match &meta.server_host {
        None => meta.load_hosts.is_empty(),
        Some(host) => meta.load_hosts.contains(host),
    };
    let load =
        if cell.meta.load_cpus_in_force.is_empty() { &meta.load_cpus } else { &cell.meta.load_cpus_in_force };
    one_machine && cell.meta.server_cpus.iter().any(|cpu| load.contains(cpu))
}

/// The scaling efficiency table of `scenario`, or `None` without a workers axis of at least two
/// values. Each entry is the efficiency with the rate it comes from.
pub fn efficiency_table(results: &Results, scenario: &str) -> Option<Table> {
    let workers = workers_axis(results, scenario);
    let base = *workers.first()?;
    if workers.len() < 2 {
        return None;
    }
    let cells: Vec<&Cell> = results.scenario_cells(scenario).filter(|c| c.workers_axis).collect();
    let mut loads: Vec<&Cell> = Vec::new();
    for cell in &cells {
        if !loads.iter().any(|l| l.level() == cell.level()) {
            loads.push(cell);
        }
    }
    loads.sort_by(|a, b| a.level().total_cmp(&b.level()));
    let find = |variant: &str, load: &Cell, n: usize| {
        cells.iter().copied().find(|c| c.variant == variant && c.level() == load.level() && c.workers == n)
    };
    let (mut client_bound, mut shared) = (false, false);
    let mut rows = Vec::new();
    for variant in super::matrices::variants(results, &cells) {
        for load in &loads {
            let base_cell = find(variant, load, base);
            let base_rate = base_cell.and_then(|c| c.requests_per_second);
            let mut row = vec![variant.to_owned(), load.load_label()];
            for &n in &workers {
                let Some(cell) = find(variant, load, n) else {
                    row.push("—".to_owned());
                    continue;
                };
                let figure = cell
                    .requests_per_second
                    .zip(base_rate)
                    .and_then(|(rate, b)| Some((efficiency(rate, n, b, base)?, rate)));
                let Some((value, rate)) = figure else {
                    row.push("—".to_owned());
                    continue;
                };
                let mut marks = String::new();
                if cell.client_bound() || base_cell.is_some_and(Cell::client_bound) {
                    marks.push_str(" ‡");
                    client_bound = true;
                }
                if shared_cpus(results, cell) {
                    marks.push_str(" §");
                    shared = true;
                }
                row.push(format!("{value:.2} ({rate:.0}/s){marks}"));
            }
            rows.push(row);
        }
    }
    let headers: Vec<Cow<'static, str>> = [Cow::Borrowed("variant"), Cow::Borrowed("level")]
        .into_iter()
        .chain(workers.iter().map(|n| Cow::Owned(format!("w={n}"))))
        .collect();
    let mut legend = if base == 1 {
        "Scaling efficiency at N workers: requests per second there ÷ (N × requests per second at 1 worker), \
         each the median run's (in parentheses); 1.00 is linear, 1/N no gain at all."
            .to_owned()
    } else {
        format!(
            "Scaling efficiency at N workers: requests per second there ÷ (N/{base} × requests per second at \
             {base} workers, the axis's smallest), each the median run's (in parentheses); 1.00 is linear."
        )
    };
    if client_bound {
        legend.push_str(
            " `‡` client-bound (at N or at the base): the load generator's CPU was ≥ 90%, so the rate, and the \
             efficiency, measure the load generator, not the server.",
        );
    }
    if shared {
        legend.push_str(
            " `§` the server's CPUs included the load generator's: this placement could not give it N CPUs of \
             its own, so the efficiency is the pair's, not the server's.",
        );
    }
    Some(Table { kind: "scaling", headers, rows, legend: Some(legend) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::sample;

    #[test]
    fn linear_is_one_and_no_gain_is_one_over_n() {
        assert_eq!(efficiency(2000.0, 2, 1000.0, 1), Some(1.0));
        assert_eq!(efficiency(1000.0, 4, 1000.0, 1), Some(0.25));
        // Without 1 on the axis, against the smallest value: 4 workers against 2.
        assert_eq!(efficiency(3000.0, 4, 2000.0, 2), Some(0.75));
        assert_eq!(efficiency(1000.0, 2, 0.0, 1), None);
    }

    #[test]
    fn a_row_per_variant_and_load_a_column_per_workers_value() {
        let results = sample::scaling(&["tokio", "monoio"], &[1, 2, 4], &[8, 64], 4);
        let table = efficiency_table(&results, crate::plan::CLASSIC).expect("an axis");
        assert_eq!(table.headers, ["variant", "level", "w=1", "w=2", "w=4"]);
        assert_eq!(table.rows.len(), 4);
        assert_eq!(&table.rows[0][..3], ["tokio", "c=8", "1.00 (10000/s)"]);
        // The sample scales tokio by 0.9 and monoio by 1.0 per doubling.
        assert!(table.rows[0][3].starts_with("0.90 (18000/s)"), "{:?}", table.rows[0]);
        assert!(table.rows[2][4].starts_with("1.00 (40000/s)"), "{:?}", table.rows[2]);
        assert!(table.legend.expect("a legend").contains("÷ (N × requests per second at 1 worker)"));
        let none = sample::results(&["tokio"], &[1, 5], 1, 10);
        assert!(efficiency_table(&none, crate::plan::CLASSIC).is_none(), "no axis, no table");
    }
}
