//! The order of measured runs: which (scenario, level, variant) runs when.
//!
//! Interleaved (the default): each repeat round measures every cell of a scenario once, level
//! by level, the variants rotating from round to round, so slow drift on a shared machine (a
//! noisy neighbour, thermal throttling, a cron job) lands on every variant alike instead of
//! on whichever ran at that moment. Grouped: one variant at a time, all its cells and repeats,
//! as the classic exercise did (and as variants sharing a port need).

use crate::plan::Order;

/// One measured run to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub scenario: usize,
    pub level: usize,
    pub variant: usize,
    /// 0-based repeat round.
    pub round: usize,
}

/// How big one scenario is: how many levels, and how many repeat rounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    pub levels: usize,
    pub repeat: usize,
}

/// Every run of the sweep, in order.
pub fn schedule(order: Order, scenarios: &[Extent], variants: usize) -> Vec<Slot> {
    let mut slots = Vec::new();
    match order {
        Order::Interleaved => {
            for (scenario, shape) in scenarios.iter().enumerate() {
                for round in 0..shape.repeat {
                    for level in 0..shape.levels {
                        for k in 0..variants {
                            let variant = (k + round) % variants;
                            slots.push(Slot { scenario, level, variant, round });
                        }
                    }
                }
            }
        }
        Order::Grouped => {
            for variant in 0..variants {
                for (scenario, shape) in scenarios.iter().enumerate() {
                    for level in 0..shape.levels {
                        for round in 0..shape.repeat {
                            slots.push(Slot { scenario, level, variant, round });
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
        slots.iter().map(|s| format!("s{}c{}v{}r{}", s.scenario, s.level, s.variant, s.round)).collect()
    }

    #[test]
    fn interleaved_rotates_variants_each_round() {
        let slots = schedule(Order::Interleaved, &[Extent { levels: 2, repeat: 3 }], 3);
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
        let slots =
            schedule(Order::Grouped, &[Extent { levels: 2, repeat: 2 }, Extent { levels: 1, repeat: 1 }], 2);
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
        let slots = schedule(
            Order::Interleaved,
            &[Extent { levels: 1, repeat: 2 }, Extent { levels: 1, repeat: 1 }],
            2,
        );
        assert_eq!(names(&slots), ["s0c0v0r0", "s0c0v1r0", "s0c0v1r1", "s0c0v0r1", "s1c0v0r0", "s1c0v1r0"]);
    }
}
