//! Networks and folders the firmware tests share.

use super::rng;
use rand::Rng;
use tinynas::arch::SearchSpace;
use tinynas::arch::net::Network;
use tinynas::arch::subnet::from_subnet;

/// A fresh folder under the system's temporary one, `tag`-`name`-pid.
pub fn fresh_tmp(tag: &str, name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("tinynas-{tag}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Subnets of a small MCUNet-style space (width 0.35) at resolutions `lo` and `hi`: the largest
/// (at `hi`), the smallest (at `lo`) and `n_random` random ones, covering every kernel (3/5/7),
/// stride-2 layers of even and odd sizes (PAD fused, SAME) and residual adds.
pub fn mcunet_subnets(seed: u64, n_random: usize, lo: usize, hi: usize) -> Vec<Network> {
    let space = SearchSpace {
        in_channels: 3,
        resolutions: vec![lo, hi],
        width_mult: 0.35,
        ..SearchSpace::default()
    };
    let mut r = rng(seed);
    let mut subs = vec![space.largest(hi), space.smallest(lo)];
    for _ in 0..n_random {
        let res = space.resolutions[r.random_range(0..2)];
        subs.push(space.sample(&mut r, res));
    }
    subs.iter()
        .map(|s| from_subnet(&space, s).unwrap())
        .collect()
}
