//! Seeds derived from a run's seed, so that every random choice (training batches, sampled
//! subnets, space optimization) is a function of (seed, purpose, index) and can be replayed.

/// A seed for (run seed, purpose, index), so that every random choice is a function of the step.
pub fn derive_seed(seed: u64, purpose: u64, index: u64) -> u64 {
    // SplitMix64 finaliser over the combined words.
    let mut z = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(purpose.wrapping_mul(0xBF58_476D_1CE4_E5B9))
        .wrapping_add(index.wrapping_mul(0x94D0_49BB_1331_11EB));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
