//! Sampling an index by integer weights: a cumulative table and a binary search, with no error
//! path (a table whose weights are all zero always gives index 0).

use rand::Rng;

/// Indices drawn in proportion to their weights.
#[derive(Debug, Clone)]
pub(crate) struct Weighted {
    cumulative: Vec<u32>,
}

impl Weighted {
    /// A table from the weights in index order.
    pub(crate) fn new(weights: impl IntoIterator<Item = u32>) -> Self {
        let mut total = 0u32;
        let cumulative = weights
            .into_iter()
            .map(|w| {
                total = total.saturating_add(w);
                total
            })
            .collect();
        Self { cumulative }
    }

    /// One index, with probability weight / total.
    pub(crate) fn sample(&self, rng: &mut impl Rng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0);
        if total == 0 {
            return 0;
        }
        let x = rng.gen_range(0..total);
        self.cumulative.partition_point(|&c| c <= x)
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn follows_the_weights_and_skips_zero() {
        let w = Weighted::new([1, 0, 3]);
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut counts = [0u32; 3];
        for _ in 0..40_000 {
            counts[w.sample(&mut rng)] += 1;
        }
        assert_eq!(counts[1], 0);
        assert!((9_000..11_000).contains(&counts[0]), "{counts:?}");
        assert!((29_000..31_000).contains(&counts[2]), "{counts:?}");
        assert_eq!(Weighted::new([]).sample(&mut rng), 0);
        assert_eq!(Weighted::new([0, 0]).sample(&mut rng), 0);
    }
}
