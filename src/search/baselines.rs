//! The obvious choices a search must beat, found under the same limits as the search: the
//! fitting subnet with the most MACs, uniform shrinking (one kernel, expand ratio and depth for
//! every block, the largest that fits) and random fitting subnets. Only footprints are computed
//! here; the pipeline measures them the way it measures the search's own choice.

use super::Checker;
use super::encoding::canonical;
use super::evolution::{Candidate, EvoOptions, evolve};
use crate::arch::{SearchSpace, SubnetConfig};
use crate::error::Result;
use rand::seq::IndexedRandom;
use rand::{SeedableRng, rngs::StdRng};
use std::collections::HashSet;

/// The fitting subnet with the most MACs, found by the same evolution scored by MACs (cheap:
/// no accuracy is measured); seeded with the uniform subnets so it never does worse than them.
pub fn most_macs(space: &SearchSpace, checker: &mut Checker, seed: u64) -> Result<Candidate> {
    let mut macs = Checker::new(checker.limits.clone());
    let mut score = |subs: &[SubnetConfig]| -> Result<Vec<f64>> {
        subs.iter()
            .map(|s| Ok(macs.footprint(space, s)?.macs as f64))
            .collect()
    };
    let o = EvoOptions {
        population: 100,
        generations: 60,
        seed,
        ..EvoOptions::default()
    };
    let mut best = evolve(space, checker, &mut score, &o, |_, _| {})?.best;
    if let Some(u) = uniform(space, checker)?
        && u.footprint.macs > best.footprint.macs
    {
        best = u;
    }
    best.score = best.footprint.macs as f64;
    Ok(best)
}

/// Uniform shrinking: of the subnets with one kernel size, expand ratio and depth everywhere,
/// at any of the space's resolutions, the fitting one with the most MACs (None when none fits).
pub fn uniform(space: &SearchSpace, checker: &mut Checker) -> Result<Option<Candidate>> {
    let mut best: Option<Candidate> = None;
    for &r in &space.resolutions {
        for &k in &space.kernel_choices {
            for &x in &space.expand_choices {
                for &d in &space.depth_choices {
                    let s = space.uniform(r, k, x, d);
                    let f = checker.footprint(space, &s)?;
                    if checker.fits(&f) && best.as_ref().is_none_or(|b| f.macs > b.footprint.macs) {
                        best = Some(Candidate {
                            subnet: s,
                            score: f.macs as f64,
                            footprint: f,
                        });
                    }
                }
            }
        }
    }
    Ok(best)
}

/// Up to `n` distinct fitting subnets drawn at random (resolution uniform over the space's,
/// then every gene uniform), in the order drawn; fewer when `max_tries · n` draws find no more.
pub fn random_fitting(
    space: &SearchSpace,
    checker: &mut Checker,
    n: usize,
    seed: u64,
    max_tries: usize,
) -> Result<Vec<Candidate>> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0xba5e);
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(n);
    let mut tries = 0usize;
    while out.len() < n && tries < max_tries.saturating_mul(n.max(1)) {
        tries += 1;
        let r = *space.resolutions.choose(&mut rng).unwrap();
        let s = space.sample(&mut rng, r);
        // Genes of the blocks a depth skips make no difference: one measurement per network.
        if !seen.insert(canonical(space, &s)) {
            continue;
        }
        let f = checker.footprint(space, &s)?;
        if checker.fits(&f) {
            out.push(Candidate {
                subnet: s,
                score: 0.0,
                footprint: f,
            });
        }
    }
    Ok(out)
}
