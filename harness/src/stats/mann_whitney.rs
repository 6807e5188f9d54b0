//! The two-sided Mann–Whitney U test (Wilcoxon rank-sum): do two sets of runs come from the
//! same distribution? benchstat's choice for benchmark samples: it assumes no normality, only
//! that runs are independent, and a few outliers cannot fake a difference.
//!
//! Small samples (as benchmarks have: 5 runs a side) get the exact p-value: the distribution
//! of the rank sum over every way of splitting the pooled runs, counted by dynamic programming
//! over mid-ranks, so ties are handled exactly too. Larger ones use the normal approximation
//! with tie and continuity corrections (as scipy's `asymptotic` method does).
//!
//! With fewer than 4 runs a side no difference can reach p < 0.05 (with 3 and 3 the smallest
//! two-sided p-value is 2/20 = 0.1), which is why the report asks for at least 4.

use statrs::function::erf::erfc;

/// Total sample size up to which the exact distribution is counted.
const EXACT_UP_TO: usize = 60;

/// Fewest runs per side from which a difference can be significant at α = 0.05.
pub const MIN_RUNS: usize = 4;

/// The significance level used to call a difference real.
pub const ALPHA: f64 = 0.05;

/// The test's outcome.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    /// U of the first sample: pairs (a, b) with a > b, ties counting one half.
    pub u: f64,
    /// Two-sided p-value.
    pub p_value: f64,
}

impl Outcome {
    /// Whether the difference is significant at [`ALPHA`].
    pub fn significant(&self) -> bool {
        self.p_value < ALPHA
    }
}

/// Tests `a` against `b`; `None` if either is empty.
pub fn test(a: &[f64], b: &[f64]) -> Option<Outcome> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let ranked = Ranked::of(a, b);
    let p_value =
        if a.len() + b.len() <= EXACT_UP_TO { ranked.exact_p() } else { ranked.normal_p() }.clamp(0.0, 1.0);
    Some(Outcome { u: ranked.u(), p_value })
}

/// The smallest two-sided p-value `n1` and `n2` runs can give (fully separated, no ties):
/// 2 / C(n1 + n2, n1).
pub fn smallest_p(n1: usize, n2: usize) -> f64 {
    if n1 == 0 || n2 == 0 {
        return 1.0;
    }
    // C(n1 + n2, n1) as a product of ratios, which stays finite long after the count would not.
    let splits: f64 = (1..=n1).map(|k| (n2 + k) as f64 / k as f64).product();
    (2.0 / splits).min(1.0)
}

/// The pooled sample ranked, with what the test needs.
#[derive(Debug)]
struct Ranked {
    n1: usize,
    n2: usize,
    /// Twice each pooled value's mid-rank (whole numbers even with ties), in pooled order.
    doubled_ranks: Vec<u64>,
    /// Twice the rank sum of the first sample.
    doubled_r1: u64,
    /// Σ (t³ − t) over tie groups of size t.
    ties: f64,
}

impl Ranked {
    fn of(a: &[f64], b: &[f64]) -> Ranked {
        let mut pooled: Vec<(f64, bool)> =
            a.iter().map(|v| (*v, true)).chain(b.iter().map(|v| (*v, false))).collect();
        pooled.sort_by(|x, y| x.0.total_cmp(&y.0));
        let mut doubled_ranks = vec![0u64; pooled.len()];
        let mut ties = 0.0;
        let mut start = 0;
        while start < pooled.len() {
            let mut end = start + 1;
            while end < pooled.len() && pooled[end].0 == pooled[start].0 {
                end += 1;
            }
            // Ranks start+1..=end share their mean; doubled, that is start + 1 + end.
            let doubled = (start + 1 + end) as u64;
            doubled_ranks[start..end].iter_mut().for_each(|r| *r = doubled);
            let t = (end - start) as f64;
            ties += t * t * t - t;
            start = end;
        }
        let doubled_r1 =
            pooled.iter().zip(&doubled_ranks).filter(|((_, first), _)| *first).map(|(_, r)| *r).sum();
        Ranked { n1: a.len(), n2: b.len(), doubled_ranks, doubled_r1, ties }
    }

    fn u(&self) -> f64 {
        self.doubled_r1 as f64 / 2.0 - (self.n1 * (self.n1 + 1)) as f64 / 2.0
    }

    fn mean_u(&self) -> f64 {
        (self.n1 * self.n2) as f64 / 2.0
    }

    /// The exact two-sided p-value: the share of all C(n1 + n2, n1) splits whose U is at
    /// least as far from its mean as the observed one.
    fn exact_p(&self) -> f64 {
        let n1 = self.n1;
        let max_sum = self.doubled_ranks.iter().sum::<u64>() as usize;
        // ways[k][s]: ways to pick k of the values seen so far with doubled rank sum s.
        let mut ways = vec![vec![0f64; max_sum + 1]; n1 + 1];
        ways[0][0] = 1.0;
        for &rank in &self.doubled_ranks {
            let rank = rank as usize;
            for k in (1..=n1).rev() {
                let (below, here) = ways.split_at_mut(k);
                for s in (rank..=max_sum).rev() {
                    here[0][s] += below[k - 1][s - rank];
                }
            }
        }
        let total: f64 = ways[n1].iter().sum();
        // Doubled-U distance from the mean, compared in doubled units to stay exact.
        let offset = (n1 * (n1 + 1)) as f64;
        let doubled_mean = 2.0 * self.mean_u();
        let observed = (self.doubled_r1 as f64 - offset - doubled_mean).abs();
        let extreme: f64 = ways[n1]
            .iter()
            .enumerate()
            .filter(|(s, count)| {
                **count > 0.0 && (*s as f64 - offset - doubled_mean).abs() >= observed - 1e-9
            })
            .map(|(_, count)| count)
            .sum();
        extreme / total
    }

    /// The normal approximation, with the tie correction of the variance and a continuity
    /// correction of ½.
    fn normal_p(&self) -> f64 {
        let (n1, n2) = (self.n1 as f64, self.n2 as f64);
        let n = n1 + n2;
        let variance = n1 * n2 / 12.0 * ((n + 1.0) - self.ties / (n * (n - 1.0)));
        if variance <= 0.0 {
            return 1.0;
        }
        let z = ((self.u() - self.mean_u()).abs() - 0.5).max(0.0) / variance.sqrt();
        erfc(z / std::f64::consts::SQRT_2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(a: &[f64], b: &[f64]) -> f64 {
        test(a, b).unwrap().p_value
    }

    fn close(got: f64, want: f64) -> bool {
        (got - want).abs() <= 1e-9 * want.max(1e-300) + 1e-12
    }

    /// R's `wilcox.test(1:5, 6:10)` and scipy's exact method: p = 2/252.
    #[test]
    fn completely_separated_samples() {
        let got = p(&[1.0, 2.0, 3.0, 4.0, 5.0], &[6.0, 7.0, 8.0, 9.0, 10.0]);
        assert!(close(got, 2.0 / 252.0), "{got}");
        assert_eq!(test(&[1.0, 2.0], &[3.0]).unwrap().u, 0.0);
    }

    /// scipy's documentation example: U = 17, exact two-sided p = 0.1111.
    #[test]
    fn scipy_example() {
        let outcome = test(&[19.0, 22.0, 16.0, 29.0, 24.0], &[20.0, 11.0, 17.0, 12.0]).unwrap();
        assert_eq!(outcome.u, 17.0);
        assert!(close(outcome.p_value, 1.0 / 9.0), "{}", outcome.p_value);
    }

    /// Published critical values for α = 0.05, two-sided: n1 = n2 = 5 rejects at U ≤ 2 and
    /// not at U = 3; n1 = n2 = 4 rejects only at U = 0.
    #[test]
    fn published_critical_values() {
        // 5 vs 5: U = 2 gives 2 × 4/252, U = 3 gives 2 × 7/252.
        let u2 = test(&[1.0, 2.0, 3.0, 4.0, 7.0], &[5.0, 6.0, 8.0, 9.0, 10.0]).unwrap();
        assert_eq!(u2.u, 2.0);
        assert!(close(u2.p_value, 8.0 / 252.0), "{}", u2.p_value);
        assert!(u2.significant());
        let u3 = test(&[1.0, 2.0, 3.0, 4.0, 8.0], &[5.0, 6.0, 7.0, 9.0, 10.0]).unwrap();
        assert_eq!(u3.u, 3.0);
        assert!(close(u3.p_value, 14.0 / 252.0), "{}", u3.p_value);
        assert!(!u3.significant());
        // 4 vs 4: U = 0 gives 2/70, U = 1 gives 4/70.
        assert!(close(p(&[1.0, 2.0, 3.0, 4.0], &[5.0, 6.0, 7.0, 8.0]), 2.0 / 70.0));
        assert!(close(p(&[1.0, 2.0, 3.0, 5.0], &[4.0, 6.0, 7.0, 8.0]), 4.0 / 70.0));
    }

    /// With 3 runs a side nothing is ever significant.
    #[test]
    fn three_runs_cannot_be_significant() {
        assert!(close(p(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]), 0.1));
        assert!(close(smallest_p(3, 3), 0.1));
        assert!(close(smallest_p(5, 5), 2.0 / 252.0));
        assert!(close(smallest_p(4, 4), 2.0 / 70.0));
        assert_eq!(smallest_p(0, 5), 1.0);
    }

    #[test]
    fn identical_samples_are_not_different() {
        let runs = [5.0, 5.0, 5.0, 5.0, 5.0];
        assert_eq!(p(&runs, &runs), 1.0);
        let runs = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(p(&runs, &runs), 1.0);
    }

    /// The exact counting with ties agrees with brute force over every split.
    #[test]
    fn exact_with_ties_matches_brute_force() {
        let a = [1.0, 2.0, 2.0, 3.0, 3.0, 3.0];
        let b = [2.0, 3.0, 4.0, 4.0, 5.0];
        let pooled: Vec<f64> = a.iter().chain(&b).copied().collect();
        let observed = test(&a, &b).unwrap();
        let (mut extreme, mut total) = (0u32, 0u32);
        let mean = (a.len() * b.len()) as f64 / 2.0;
        for mask in 0u32..(1 << pooled.len()) {
            if mask.count_ones() as usize != a.len() {
                continue;
            }
            let (x, y): (Vec<f64>, Vec<f64>) = {
                let mut x = Vec::new();
                let mut y = Vec::new();
                for (i, v) in pooled.iter().enumerate() {
                    if mask & (1 << i) != 0 {
                        x.push(*v)
                    } else {
                        y.push(*v)
                    }
                }
                (x, y)
            };
            let u: f64 = x
                .iter()
                .map(|xi| {
                    y.iter()
                        .map(|yi| {
                            if xi > yi {
                                1.0
                            } else if xi == yi {
                                0.5
                            } else {
                                0.0
                            }
                        })
                        .sum::<f64>()
                })
                .sum();
            total += 1;
            if (u - mean).abs() >= (observed.u - mean).abs() - 1e-9 {
                extreme += 1;
            }
        }
        assert!(
            close(observed.p_value, f64::from(extreme) / f64::from(total)),
            "{observed:?} vs {extreme}/{total}"
        );
    }

    /// The normal approximation against scipy's `asymptotic` method (tie and continuity
    /// corrections).
    #[test]
    fn normal_approximation_matches_scipy() {
        let a: Vec<f64> = (0..30).map(f64::from).collect();
        let b: Vec<f64> = (15..45).map(f64::from).collect();
        let got = Ranked::of(&a, &b).normal_p();
        assert!((got - 6.247984928789186e-07).abs() < 1e-12, "{got}");
        let got = Ranked::of(&[1.0, 2.0, 2.0, 3.0, 3.0, 3.0], &[2.0, 3.0, 4.0, 4.0, 5.0]).normal_p();
        assert!((got - 0.08871369199677616).abs() < 1e-9, "{got}");
        let a: Vec<f64> = (0..40).map(|i| 100.0 + f64::from(i) * 0.5).collect();
        let b: Vec<f64> = (0..35).map(|i| 110.0 + f64::from((i * 7) % 13)).collect();
        let outcome = test(&a, &b).unwrap();
        assert_eq!(outcome.u, 298.0);
        assert!((outcome.p_value - 1.9835247914961237e-05).abs() < 1e-10, "{}", outcome.p_value);
    }
}
