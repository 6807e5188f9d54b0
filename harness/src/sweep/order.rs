//! The order of measured runs: which (scenario, workers, level, variant) runs when.
//!
//! Interleaved (the default): each repeat round measures every cell of a scenario once, level
//! by level, the variants rotating from round to round, so slow drift on a shared machine (a
//! noisy neighbour, thermal throttling, a cron job) lands on every variant alike instead of
//! on whichever ran at that moment. Grouped: one variant at a time, all its cells and repeats,
//! as the classic exercise did (and as variants sharing a port need).
//!
//! Workers as an axis: a server runs with one `--workers` (and CPU pin) at a time, and changing
//! it means a restart, so the runs are grouped by workers — every scenario at the variants' own
//! workers first, then each workers value of the axes, ascending — and the variants interleave
//! within a workers value. Each variant then restarts once per workers value.

use crate::plan::Order;

/// One measured run to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub scenario: usize,
    /// The workers value of the scenario's axis; `None`: each variant's own workers.
    pub workers: Option<usize>,
    pub level: usize,
    pub variant: usize,
    /// 0-based repeat round.
    pub round: usize,
}

/// How big one scenario is: how many levels, how many repeat rounds, and its workers axis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extent {
    pub levels: usize,
    pub repeat: usize,
    /// The workers axis, ascending; empty: none.
    pub workers: Vec<usize>,
}

/// The (scenario, workers) groups in the order they run: every scenario without a workers axis
/// (at each variant's own workers), then each axis value ascending with the scenarios that have
/// it, each in the matrix's order. A server's setup changes only between groups.
fn groups(scenarios: &[Extent]) -> Vec<(usize, Option<usize>)> {
    let mut groups: Vec<(usize, Option<usize>)> =
        (0..scenarios.len()).filter(|s| scenarios[*s].workers.is_empty()).map(|s| (s, None)).collect();
    let mut values: Vec<usize> = scenarios.iter().flat_map(|s| s.workers.iter().copied()).collect();
    values.sort_unstable();
    values.dedup();
    for value in values {
        groups.extend(
            (0..scenarios.len()).filter(|s| scenarios[*s].workers.contains(&value)).map(|s| (s, Some(value))),
        );
    }
    groups
}

/// Every run of the sweep, in order.
pub fn schedule(order: Order, scenarios: &[Extent], variants: usize) -> Vec<Slot> {
    let mut slots = Vec::new();
    let groups = groups(scenarios);
    match order {
        Order::Interleaved => {
            for &(scenario, workers) in &groups {
                let shape = &scenarios[scenario];
                for round in 0..shape.repeat {
                    for level in 0..shape.levels {
                        for k in 0..variants {
                            let variant = (k + round) % variants;
                            slots.push(Slot { scenario, workers, level, variant, round });
                        }
                    }
                }
            }
        }
        Order::Grouped => {
            for variant in 0..variants {
                for &(scenario, workers) in &groups {
                    let shape = &scenarios[scenario];
                    for level in 0..shape.levels {
                        for round in 0..shape.repeat {
                            slots.push(Slot { scenario, workers, level, variant, round });
                        }
                    }
                }
            }
        }
    }
    slots
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(slots: &[Slot]) -> Vec<String> {
        slots
            .iter()
            .map(|s| {
                let workers = s.workers.map_or_else(String::new, |w| format!("w{w}"));
                format!("s{}{workers}c{}v{}r{}", s.scenario, s.level, s.variant, s.round)
            })
            .collect()
    }

    fn extent(levels: usize, repeat: usize) -> Extent {
        Extent { levels, repeat, workers: Vec::new() }
    }

    #[test]
    fn interleaved_rotates_variants_each_round() {
        let slots = schedule(Order::Interleaved, &[extent(2, 3)], 3);
        assert_eq!(slots.len(), 2 * 3 * 3);
        let first_of_each_round: Vec<usize> = slots.chunks(6).map(|round| round[0].variant).collect();
        assert_eq!(first_of_each_round, [0, 1, 2], "the first variant rotates");
        assert_eq!(
            names(&slots[..6]),
            ["s0c0v0r0", "s0c0v1r0", "s0c0v2r0", "s0c1v0r0", "s0c1v1r0", "s0c1v2r0"],
            "a round measures every cell once, level by level"
        );
        assert_eq!(names(&slots[6..9]), ["s0c0v1r1", "s0c0v2r1", "s0c0v0r1"]);
        // Every cell gets every round exactly once.
        for level in 0..2 {
            for variant in 0..3 {
                let rounds: Vec<usize> = slots
                    .iter()
                    .filter(|s| s.level == level && s.variant == variant)
                    .map(|s| s.round)
                    .collect();
                assert_eq!(rounds, [0, 1, 2]);
            }
        }
    }

    #[test]
    fn grouped_runs_one_variant_at_a_time() {
        let slots = schedule(Order::Grouped, &[extent(2, 2), extent(1, 1)], 2);
        assert_eq!(
            names(&slots),
            [
                "s0c0v0r0", "s0c0v0r1", "s0c1v0r0", "s0c1v0r1", "s1c0v0r0", "s0c0v1r0", "s0c0v1r1",
                "s0c1v1r0", "s0c1v1r1", "s1c0v1r0"
            ]
        );
    }

    #[test]
    fn scenarios_run_in_order_when_interleaved() {
        let slots = schedule(Order::Interleaved, &[extent(1, 2), extent(1, 1)], 2);
        assert_eq!(names(&slots), ["s0c0v0r0", "s0c0v1r0", "s0c0v1r1", "s0c0v0r1", "s1c0v0r0", "s1c0v1r0"]);
    }

    /// A server restarts when its workers change: runs are grouped by workers (own first, then
    /// the axis ascending, across scenarios), the variants interleaved within each.
    #[test]
    fn workers_group_the_runs_so_servers_restart_once_per_value() {
        let scaling = Extent { levels: 1, repeat: 2, workers: vec![1, 2] };
        let other = Extent { levels: 1, repeat: 1, workers: vec![2] };
        let slots = schedule(Order::Interleaved, &[scaling, extent(1, 1), other], 2);
        assert_eq!(
            names(&slots),
            [
                "s1c0v0r0",
                "s1c0v1r0", // no axis: the variants' own workers
                "s0w1c0v0r0",
                "s0w1c0v1r0",
                "s0w1c0v1r1",
                "s0w1c0v0r1", // workers 1
                "s0w2c0v0r0",
                "s0w2c0v1r0",
                "s0w2c0v1r1",
                "s0w2c0v0r1",
                "s2w2c0v0r0",
                "s2w2c0v1r0", // 2
            ]
        );
        let changes = |variant: usize| {
            let mut setups: Vec<Option<usize>> =
                slots.iter().filter(|s| s.variant == variant).map(|s| s.workers).collect();
            setups.dedup();
            setups.len()
        };
        assert_eq!((changes(0), changes(1)), (3, 3), "own, 1, 2: two restarts each");
        let grouped = schedule(Order::Grouped, &[Extent { levels: 2, repeat: 1, workers: vec![1, 2] }], 2);
        assert_eq!(
            names(&grouped),
            [
                "s0w1c0v0r0",
                "s0w1c1v0r0",
                "s0w2c0v0r0",
                "s0w2c1v0r0",
                "s0w1c0v1r0",
                "s0w1c1v1r0",
                "s0w2c0v1r0",
                "s0w2c1v1r0"
            ]
        );
    }
}
