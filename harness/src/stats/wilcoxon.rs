//! The two-sided Wilcoxon signed-rank test: are paired differences centred on zero? The paired
//! counterpart of [`super::mann_whitney`]: when a variant and the baseline are measured in the
//! same interleaved round, whatever slowed the machine during that round slowed both, and the
//! test looks only at how each round's pair differs.
//!
//! Differences of exactly zero are dropped before ranking (Wilcoxon's own rule, scipy's default
//! `zero_method="wilcox"`). Ties among the rest get mid-ranks, and small samples get the exact
//! p-value of that ranking: the distribution of the positive ranks' sum over all 2ⁿ equally
//! likely sign assignments, counted by dynamic programming over doubled mid-ranks (as
//! `mann_whitney` counts splits). Without ties this is the classic exact test (R's
//! `wilcox.test`, scipy's `method="exact"`); with ties it is the exact conditional test
//! (R's `exactRankTests::wilcox.exact`), where scipy would fall back to the normal
//! approximation. Larger samples use the normal approximation with the tie-corrected variance
//! and a continuity correction of ½ (R's default).
//!
//! With 5 pairs the smallest two-sided p-value is 2/32 = 0.0625: nothing can be significant at
//! α = 0.05 below [`MIN_PAIRS`] = 6 (2/64 = 0.031).

use statrs::function::erf::erfc;

/// Pairs (non-zero differences) up to which the exact distribution is counted.
const EXACT_UP_TO: usize = 60;

/// Fewest pairs from which a difference can be significant at α = 0.05.
pub const MIN_PAIRS: usize = 6;

/// The test's outcome.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    /// T⁺: the sum of the ranks of the positive differences (mid-ranks under ties).
    pub positive_rank_sum: f64,
    /// The differences that were not zero, which the ranks are over.
    pub pairs: usize,
    /// Two-sided p-value.
    pub p_value: f64,
}

impl Outcome {
    /// scipy's two-sided statistic: min(T⁺, T⁻).
    pub fn statistic(&self) -> f64 {
        let total = (self.pairs * (self.pairs + 1)) as f64 / 2.0;
        self.positive_rank_sum.min(total - self.positive_rank_sum)
    }

    /// Whether the difference is significant at [`super::mann_whitney::ALPHA`].
    pub fn significant(&self) -> bool {
        self.p_value < super::mann_whitney::ALPHA
    }
}

/// Tests whether `differences` are centred on zero; `None` if there are none. All zero: p = 1.
pub fn test(differences: &[f64]) -> Option<Outcome> {
    if differences.is_empty() {
        return None;
    }
    let ranked = Ranked::of(differences);
    if ranked.doubled_ranks.is_empty() {
        return Some(Outcome { positive_rank_sum: 0.0, pairs: 0, p_value: 1.0 });
    }
    let p_value =
        if ranked.doubled_ranks.len() <= EXACT_UP_TO { ranked.exact_p() } else { ranked.normal_p() }
            .clamp(0.0, 1.0);
    Some(Outcome {
        positive_rank_sum: ranked.doubled_positive as f64 / 2.0,
        pairs: ranked.doubled_ranks.len(),
        p_value,
    })
}

/// The smallest two-sided p-value `pairs` non-zero differences can give (all of one sign, no
/// ties): 2/2ⁿ.
pub fn smallest_p(pairs: usize) -> f64 {
    if pairs == 0 {
        return 1.0;
    }
    (2.0 * 0.5f64.powi(i32::try_from(pairs).unwrap_or(i32::MAX))).min(1.0)
}

/// The non-zero differences ranked by size, with what the test needs.
#[derive(Debug)]
struct Ranked {
    /// Twice each difference's mid-rank by absolute value (whole numbers even with ties).
    doubled_ranks: Vec<u64>,
    /// Twice T⁺.
    doubled_positive: u64,
}

impl Ranked {
    fn of(differences: &[f64]) -> Ranked {
        let mut by_size: Vec<f64> = differences.iter().copied().filter(|d| *d != 0.0).collect();
        by_size.sort_by(|a, b| a.abs().total_cmp(&b.abs()));
        let mut doubled_ranks = vec![0u64; by_size.len()];
        let mut start = 0;
        while start < by_size.len() {
            let mut end = start + 1;
            while end < by_size.len() && by_size[end].abs() == by_size[start].abs() {
                end += 1;
            }
            // Ranks start+1..=end share their mean; doubled, that is start + 1 + end.
            doubled_ranks[start..end].iter_mut().for_each(|r| *r = (start + 1 + end) as u64);
            start = end;
        }
        let doubled_positive =
            by_size.iter().zip(&doubled_ranks).filter(|(d, _)| **d > 0.0).map(|(_, r)| *r).sum();
        Ranked { doubled_ranks, doubled_positive }
    }

    /// The exact two-sided p-value: the probability, over the 2ⁿ equally likely sign
    /// assignments, of a positive rank sum at least as far from its mean as the observed one.
    fn exact_p(&self) -> f64 {
        let total = self.doubled_ranks.iter().sum::<u64>() as usize;
        // chance[s]: probability that the ranks seen so far given a plus sign sum to s (doubled).
        // Probabilities, not counts, so 2ⁿ never overflows.
        let mut chance = vec![0f64; total + 1];
        chance[0] = 1.0;
        for &rank in &self.doubled_ranks {
            let rank = rank as usize;
            for s in (0..=total).rev() {
                let with = if s >= rank { chance[s - rank] } else { 0.0 };
                chance[s] = 0.5 * chance[s] + 0.5 * with;
            }
        }
        // Distances from the mean (total / 2), compared in doubled units to stay exact.
        let observed = (2 * self.doubled_positive).abs_diff(total as u64);
        chance
            .iter()
            .enumerate()
            .filter(|(s, p)| **p > 0.0 && (2 * *s as u64).abs_diff(total as u64) >= observed)
            .map(|(_, p)| p)
            .sum()
    }

    /// The normal approximation: T⁺ has mean Σr/2 and, under ties too, variance Σr²/4.
    fn normal_p(&self) -> f64 {
        let ranks = self.doubled_ranks.iter().map(|r| *r as f64 / 2.0);
        let mean = ranks.clone().sum::<f64>() / 2.0;
        let variance = ranks.map(|r| r * r).sum::<f64>() / 4.0;
        if variance <= 0.0 {
            return 1.0;
        }
        let positive = self.doubled_positive as f64 / 2.0;
        let z = ((positive - mean).abs() - 0.5).max(0.0) / variance.sqrt();
        erfc(z / std::f64::consts::SQRT_2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(differences: &[f64]) -> f64 {
        test(differences).unwrap().p_value
    }

    /// Differences 1..=n whose negative ones have ranks summing to `t` (the largest first).
    fn with_negative_rank_sum(n: usize, t: usize) -> Vec<f64> {
        let mut left = t;
        let mut differences: Vec<f64> = (1..=n).map(|k| k as f64).collect();
        for k in (1..=n).rev() {
            if k <= left {
                differences[k - 1] = -(k as f64);
                left -= k;
            }
        }
        assert_eq!(left, 0, "{t} is reachable with ranks 1..={n}");
        differences
    }

    /// The published table of two-sided critical values at α = 0.05 (e.g. Siegel's, or any
    /// statistics handbook): T ≤ the value rejects, T = value + 1 does not.
    #[test]
    fn published_critical_values() {
        let table =
            [(6, 0), (7, 2), (8, 3), (9, 5), (10, 8), (11, 10), (12, 13), (13, 17), (14, 21), (15, 25)];
        for (n, critical) in table {
            let at = test(&with_negative_rank_sum(n, critical)).unwrap();
            assert_eq!(at.statistic(), critical as f64);
            assert!(at.significant(), "n={n}, T={critical}: {at:?}");
            let above = test(&with_negative_rank_sum(n, critical + 1)).unwrap();
            assert!(!above.significant(), "n={n}, T={}: {above:?}", critical + 1);
        }
    }

    /// Five pairs can never be significant; six all of one sign can.
    #[test]
    fn fewest_pairs() {
        assert_eq!(p(&[1.0, 2.0, 3.0, 4.0, 5.0]), 2.0 / 32.0);
        assert_eq!(p(&[-1.0, -2.0, -3.0, -4.0, -5.0, -6.0]), 2.0 / 64.0);
        assert_eq!(smallest_p(5), 0.0625);
        assert_eq!(smallest_p(MIN_PAIRS), 0.03125);
        assert!(smallest_p(MIN_PAIRS - 1) >= super::super::mann_whitney::ALPHA);
    }

    /// scipy's documentation example (Wilcoxon's own data, as in `scipy.stats.wilcoxon`):
    /// statistic 24, exact two-sided p = 0.041259765625.
    #[test]
    fn scipy_example() {
        let d = [6.0, 8.0, 14.0, 16.0, 23.0, 24.0, 28.0, 29.0, 41.0, -48.0, 49.0, 56.0, 60.0, -67.0, 75.0];
        let outcome = test(&d).unwrap();
        assert_eq!(outcome.statistic(), 24.0);
        assert_eq!(outcome.positive_rank_sum, 96.0);
        assert!((outcome.p_value - 0.041259765625).abs() < 1e-12, "{outcome:?}");
    }

    /// Zeros are dropped; all zeros say nothing.
    #[test]
    fn zeros_are_dropped() {
        let with_zeros = test(&[0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        assert_eq!(with_zeros.pairs, 6);
        assert_eq!(with_zeros.p_value, 2.0 / 64.0);
        assert_eq!(test(&[0.0, 0.0, 0.0]).unwrap().p_value, 1.0);
        assert_eq!(test(&[]), None);
    }

    /// Ties: the exact conditional distribution agrees with brute force over every sign
    /// assignment of the mid-ranks.
    #[test]
    fn exact_with_ties_matches_brute_force() {
        let d = [1.0, -1.0, 2.0, 2.0, -3.0, 3.0, 3.0, 4.0, 5.0, -5.0];
        let outcome = test(&d).unwrap();
        let ranked = Ranked::of(&d);
        let ranks: Vec<f64> = ranked.doubled_ranks.iter().map(|r| *r as f64 / 2.0).collect();
        let mean = ranks.iter().sum::<f64>() / 2.0;
        let distance = (outcome.positive_rank_sum - mean).abs();
        let mut extreme = 0u32;
        for signs in 0u32..(1 << ranks.len()) {
            let sum: f64 =
                ranks.iter().enumerate().filter(|(i, _)| signs & (1 << i) != 0).map(|(_, r)| r).sum();
            if (sum - mean).abs() >= distance - 1e-9 {
                extreme += 1;
            }
        }
        let want = f64::from(extreme) / f64::from(1u32 << ranks.len());
        assert!((outcome.p_value - want).abs() < 1e-12, "{outcome:?} vs {want}");
        assert!(outcome.p_value > 0.05 && outcome.p_value < 1.0, "{outcome:?}");
    }

    /// The normal approximation, by the formula: 70 differences 1..=70, the 20 smallest
    /// negative: T⁺ = 2275, mean 1242.5, variance 29198.75 → z = (1032.5 − 0.5)/170.877.
    #[test]
    fn normal_approximation() {
        let d: Vec<f64> = (1..=70).map(|k| if k <= 20 { -f64::from(k) } else { f64::from(k) }).collect();
        let outcome = test(&d).unwrap();
        assert_eq!(outcome.positive_rank_sum, 2275.0);
        let z = (2275.0 - 1242.5 - 0.5) / (70.0 * 71.0 * 141.0 / 24.0f64).sqrt();
        let want = erfc(z / std::f64::consts::SQRT_2);
        assert!((outcome.p_value - want).abs() < 1e-15, "{outcome:?} vs {want}");
        assert!(outcome.p_value > 1e-9 && outcome.p_value < 2e-9, "{outcome:?}");
    }
}
