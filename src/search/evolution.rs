//! Evolutionary search (as OFA's evolution finder): a population of subnets that fit the device,
//! the best share kept as parents each generation, children from mutation (each gene resampled
//! with a probability) and crossover (each gene from either of two parents); every child is
//! checked by the MCU evaluator before it is scored.

use super::Checker;
use super::encoding::canonical;
use crate::arch::{SearchSpace, SubnetConfig};
use crate::error::Field;
use crate::error::{Error, Result};
use crate::mcu::fast::Summary;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::Serialize;
use std::collections::HashMap;

#[derive(Clone, Debug)]
pub struct EvoOptions {
    pub population: usize,
    /// Share of the population kept as parents.
    pub parent_ratio: f64,
    /// Probability that a gene mutates.
    pub mutation_prob: f64,
    /// Share of the children made by mutation (the rest by crossover).
    pub mutation_ratio: f64,
    pub generations: usize,
    pub seed: u64,
    /// Attempts to find a fitting child before giving up on it.
    pub max_tries: usize,
    /// Stop after the generation in which this many distinct subnets have been scored (a
    /// measurement budget; None: run every generation).
    pub max_scored: Option<usize>,
}

impl EvoOptions {
    /// These options for an evolution of `population` that runs until `budget` distinct
    /// subnets are scored (the generation count does not bind).
    pub fn with_budget(&self, population: usize, budget: usize) -> EvoOptions {
        EvoOptions {
            population,
            generations: 1_000_000,
            max_scored: Some(budget),
            ..self.clone()
        }
    }

    /// Every option in range, named by its field; checked before any work.
    pub fn validate(&self) -> Result<()> {
        self.validate_as(Field::Population)
    }

    /// `validate`, the population named by `population` (`Field::MeasurePopulation` for the
    /// measured evolution).
    pub fn validate_as(&self, population: Field) -> Result<()> {
        use crate::bounds::{int, real};
        int(population, self.population, 2, 100_000)?;
        int(Field::Generations, self.generations, 1, 1_000_000)?;
        real(Field::ParentRatio, self.parent_ratio, 0.0, 1.0)?;
        real(Field::MutationProb, self.mutation_prob, 0.0, 1.0)?;
        real(Field::MutationRatio, self.mutation_ratio, 0.0, 1.0)?;
        int(Field::MaxTries, self.max_tries, 1, 1_000_000)?;
        if let Some(b) = self.max_scored
            && b < self.population
        {
            return Err(Error::bad(
                Field::Budget,
                b,
                format!(
                    "the first population alone is {} subnets ({population}); give a budget of at least that",
                    self.population
                ),
            ));
        }
        Ok(())
    }
}

impl Default for EvoOptions {
    fn default() -> Self {
        EvoOptions {
            population: 100,
            parent_ratio: 0.25,
            mutation_prob: 0.1,
            mutation_ratio: 0.5,
            generations: 500,
            seed: 0,
            max_tries: 1000,
            max_scored: None,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Candidate {
    pub subnet: SubnetConfig,
    pub score: f64,
    pub footprint: Summary,
}

#[derive(Clone, Debug, Serialize)]
pub struct EvoResult {
    pub best: Candidate,
    /// The final population, best first.
    pub population: Vec<Candidate>,
    /// Best score after each generation (as many as ran: a budget may stop it early).
    pub history: Vec<f64>,
    /// Candidates scored (distinct subnets) and candidates rejected by the limits.
    pub scored: usize,
    pub rejected: usize,
}

/// The smallest footprint of the space (its smallest subnet at its lowest resolution).
pub fn smallest_footprint(space: &SearchSpace, checker: &mut Checker) -> Result<Summary> {
    let r = *space.resolutions.iter().min().unwrap();
    checker.footprint(space, &space.smallest(r))
}

/// Where not even the smallest subnet fits the checker's limits, nothing does: refused before
/// sampling, naming the smallest footprint.
pub fn check_any_fits(space: &SearchSpace, checker: &mut Checker) -> Result<()> {
    let smallest = smallest_footprint(space, checker)?;
    if !checker.fits(&smallest) {
        return Err(no_fit(space, checker));
    }
    Ok(())
}

/// The limits' device (or its latency limit) that no subnet of `space` meets.
fn no_fit(space: &SearchSpace, checker: &mut Checker) -> Error {
    let limits = super::describe_limits(&checker.limits);
    match smallest_footprint(space, checker) {
        Ok(s) if checker.limits.device.fits(s.sram_bytes, s.flash_bytes) => Error::bad(
            Field::LatencyMs,
            checker.limits.latency_ms.unwrap_or(f64::NAN),
            format!(
                "no subnet is that fast on {limits}: the smallest subnet of the space at its lowest resolution takes {:.2} ms by the latency model; give a longer limit, a faster clock ({}) or a faster device",
                s.latency_ms.unwrap_or(f64::NAN),
                Field::ClockMhz
            ),
        ),
        Ok(s) => Error::NothingFits {
            limits,
            smallest_sram_bytes: s.peak_sram_bytes,
            smallest_flash_bytes: s.flash_bytes,
        },
        Err(e) => e,
    }
}

fn mutate(space: &SearchSpace, s: &SubnetConfig, p: f64, rng: &mut impl Rng) -> SubnetConfig {
    let mut c = s.clone();
    for k in c.kernel_size.iter_mut() {
        if rng.random_bool(p) {
            *k = *space.kernel_choices.choose(rng).unwrap();
        }
    }
    for e in c.expand_ratio.iter_mut() {
        if rng.random_bool(p) {
            *e = *space.expand_choices.choose(rng).unwrap();
        }
    }
    for d in c.depth.iter_mut() {
        if rng.random_bool(p) {
            *d = *space.depth_choices.choose(rng).unwrap();
        }
    }
    if rng.random_bool(p) {
        c.resolution = *space.resolutions.choose(rng).unwrap();
    }
    c
}

fn crossover(a: &SubnetConfig, b: &SubnetConfig, rng: &mut impl Rng) -> SubnetConfig {
    let mut pick = |x: usize, y: usize| if rng.random_bool(0.5) { x } else { y };
    SubnetConfig {
        resolution: pick(a.resolution, b.resolution),
        kernel_size: a
            .kernel_size
            .iter()
            .zip(&b.kernel_size)
            .map(|(&x, &y)| pick(x, y))
            .collect(),
        expand_ratio: a
            .expand_ratio
            .iter()
            .zip(&b.expand_ratio)
            .map(|(&x, &y)| pick(x, y))
            .collect(),
        depth: a
            .depth
            .iter()
            .zip(&b.depth)
            .map(|(&x, &y)| pick(x, y))
            .collect(),
    }
}

/// Search `space` for the subnet with the highest `score` among those that fit. `score` gets a
/// batch of subnets and returns one number each (higher is better).
pub fn evolve(
    space: &SearchSpace,
    checker: &mut Checker,
    score: &mut dyn FnMut(&[SubnetConfig]) -> Result<Vec<f64>>,
    o: &EvoOptions,
    mut progress: impl FnMut(usize, f64),
) -> Result<EvoResult> {
    o.validate()?;
    check_any_fits(space, checker)?;
    let mut rng = StdRng::seed_from_u64(o.seed);
    let mut cache: HashMap<SubnetConfig, (f64, Summary)> = HashMap::new();
    let (mut scored, mut rejected) = (0usize, 0usize);
    // Fitting subnets for `n` slots, made by `make`.
    let fill = |n: usize,
                make: &mut dyn FnMut(&mut StdRng) -> SubnetConfig,
                rng: &mut StdRng,
                checker: &mut Checker,
                rejected: &mut usize|
     -> Result<Vec<(SubnetConfig, Summary)>> {
        let mut out = Vec::with_capacity(n);
        let mut tries = 0;
        while out.len() < n {
            tries += 1;
            if tries > o.max_tries * n.max(1) {
                break;
            }
            let s = make(rng);
            let f = checker.footprint(space, &s)?;
            if checker.fits(&f) {
                out.push((s, f));
            } else {
                *rejected += 1;
            }
        }
        Ok(out)
    };
    let mut score_all = |cands: Vec<(SubnetConfig, Summary)>,
                         cache: &mut HashMap<SubnetConfig, (f64, Summary)>,
                         scored: &mut usize|
     -> Result<Vec<Candidate>> {
        // Keyed by the canonical form: genes of the blocks a depth skips change nothing, so
        // such twins are scored once.
        let key = |s: &SubnetConfig| canonical(space, s);
        let new: Vec<SubnetConfig> = {
            let mut seen = std::collections::HashSet::new();
            cands
                .iter()
                .filter(|(s, _)| !cache.contains_key(&key(s)) && seen.insert(key(s)))
                .map(|(s, _)| s.clone())
                .collect()
        };
        if !new.is_empty() {
            let v = score(&new)?;
            if v.len() != new.len() {
                return Err(Error::Invalid(format!(
                    "the scorer returned {} scores for {} subnets",
                    v.len(),
                    new.len()
                )));
            }
            *scored += new.len();
            for (s, sc) in new.into_iter().zip(v) {
                let fp = cands.iter().find(|c| c.0 == s).unwrap().1;
                cache.insert(key(&s), (sc, fp));
            }
        }
        Ok(cands
            .into_iter()
            .map(|(s, f)| Candidate {
                score: cache[&key(&s)].0,
                subnet: s,
                footprint: f,
            })
            .collect())
    };

    let first = fill(
        o.population,
        &mut |r| {
            let res = *space.resolutions.choose(r).unwrap();
            space.sample(r, res)
        },
        &mut rng,
        checker,
        &mut rejected,
    )?;
    if first.is_empty() {
        return Err(no_fit(space, checker));
    }
    let mut pop = score_all(first, &mut cache, &mut scored)?;
    let by_score = |a: &Candidate, b: &Candidate| b.score.total_cmp(&a.score);
    pop.sort_by(by_score);
    let n_parents = ((o.population as f64 * o.parent_ratio).round() as usize).clamp(1, pop.len());
    let n_mut = ((o.population - n_parents) as f64 * o.mutation_ratio).round() as usize;
    let mut history = Vec::with_capacity(o.generations);
    for g in 0..o.generations {
        let parents: Vec<Candidate> = pop[..n_parents.min(pop.len())].to_vec();
        let mutated = fill(
            n_mut,
            &mut |r| {
                let p = parents.choose(r).unwrap();
                mutate(space, &p.subnet, o.mutation_prob, r)
            },
            &mut rng,
            checker,
            &mut rejected,
        )?;
        let crossed = fill(
            o.population - n_parents - n_mut,
            &mut |r| {
                let a = parents.choose(r).unwrap();
                let b = parents.choose(r).unwrap();
                crossover(&a.subnet, &b.subnet, r)
            },
            &mut rng,
            checker,
            &mut rejected,
        )?;
        let mut children = score_all(
            mutated.into_iter().chain(crossed).collect(),
            &mut cache,
            &mut scored,
        )?;
        pop = parents;
        pop.append(&mut children);
        pop.sort_by(by_score);
        history.push(pop[0].score);
        progress(g, pop[0].score);
        if o.max_scored.is_some_and(|b| scored >= b) {
            break;
        }
    }
    Ok(EvoResult {
        best: pop[0].clone(),
        population: pop,
        history,
        scored,
        rejected,
    })
}
