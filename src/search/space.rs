//! Space optimization (TinyNAS): for every (input resolution, width multiplier) of a grid, sample
//! subnets, keep those that fit the device, and rank the spaces by the computation (MACs) of the
//! fitting subnets — a space whose fitting subnets carry more computation tends to hold more
//! accurate models. Both cores: the spaces are split over threads.

use super::{Checker, Limits};
use crate::arch::SearchSpace;
use crate::error::Field;
use crate::error::{Error, Result};
use crate::seed::derive_seed;
use rand::{SeedableRng, rngs::StdRng};
use serde::Serialize;

/// How spaces are ranked: the mean MACs of the fitting subnets, or a percentile of them.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum Rank {
    Mean,
    Percentile(f64),
}

impl Rank {
    pub fn parse(s: &str) -> Result<Rank> {
        if s == "mean" {
            return Ok(Rank::Mean);
        }
        let p = s
            .strip_prefix('p')
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|p| (0.0..=100.0).contains(p));
        p.map(Rank::Percentile).ok_or_else(|| {
            Error::bad(
                Field::Rank,
                s,
                "give `mean` or a percentile such as p50, p80",
            )
        })
    }
}

#[derive(Clone, Debug)]
pub struct SpaceOptions {
    /// The space's other settings (kernels, expands, depths, stages, channels, classes).
    pub base: SearchSpace,
    pub resolutions: Vec<usize>,
    pub widths: Vec<f64>,
    pub samples: usize,
    pub seed: u64,
    pub limits: Limits,
    pub rank: Rank,
    /// Spaces where fewer than this share of the samples fit are marked and ranked last.
    pub min_fit: f64,
    pub threads: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct SpaceResult {
    pub resolution: usize,
    pub width: f64,
    pub sampled: usize,
    pub fitting: usize,
    /// Mean MACs of the fitting subnets (0 when none fit).
    pub mean_macs: f64,
    /// The ranking figure (mean or percentile of the fitting subnets' MACs).
    pub score: f64,
    pub too_few: bool,
    /// MACs of every fitting subnet (for the CDF).
    #[serde(skip)]
    pub macs: Vec<u64>,
    /// Mean latency of the fitting subnets on the device (ms, the latency model), where the
    /// device has a core and a clock.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_latency_ms: Option<f64>,
}

impl SpaceResult {
    pub fn space(&self, base: &SearchSpace) -> SearchSpace {
        SearchSpace {
            width_mult: self.width,
            resolutions: vec![self.resolution],
            ..base.clone()
        }
    }
}

/// The grid 0.2, 0.3, …, 1.0 (rounded to one decimal).
pub fn default_widths() -> Vec<f64> {
    (2..=10).map(|i| i as f64 / 10.0).collect()
}

/// 48, 64, …, 224 plus `extra` (e.g. the dataset's own resolution), sorted and unique.
pub fn default_resolutions(extra: &[usize]) -> Vec<usize> {
    let mut r: Vec<usize> = (48..=224)
        .step_by(16)
        .chain(extra.iter().copied())
        .collect();
    r.sort_unstable();
    r.dedup();
    r
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let pos = p / 100.0 * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    let t = pos - lo as f64;
    sorted[lo] as f64 * (1.0 - t) + sorted[hi] as f64 * t
}

fn evaluate_space(o: &SpaceOptions, ri: usize, wi: usize) -> Result<SpaceResult> {
    let (resolution, width) = (o.resolutions[ri], o.widths[wi]);
    let space = o.space(resolution, width);
    let mut rng = StdRng::seed_from_u64(derive_seed(o.seed, ri as u64, wi as u64));
    let mut checker = Checker::new(o.limits.clone());
    let mut macs = Vec::new();
    let mut ms: Option<f64> = Some(0.0);
    for _ in 0..o.samples {
        let s = space.sample(&mut rng, resolution);
        let f = checker.footprint(&space, &s)?;
        if checker.fits(&f) {
            macs.push(f.macs);
            ms = ms.zip(f.latency_ms).map(|(a, b)| a + b);
        }
    }
    let mean_latency_ms = ms
        .filter(|_| !macs.is_empty())
        .map(|t| t / macs.len() as f64);
    macs.sort_unstable();
    let mean = if macs.is_empty() {
        0.0
    } else {
        macs.iter().sum::<u64>() as f64 / macs.len() as f64
    };
    let score = match o.rank {
        Rank::Mean => mean,
        Rank::Percentile(p) => percentile(&macs, p),
    };
    Ok(SpaceResult {
        resolution,
        width,
        sampled: o.samples,
        fitting: macs.len(),
        mean_macs: mean,
        score,
        too_few: (macs.len() as f64) < (o.min_fit * o.samples as f64).max(1.0),
        macs,
        mean_latency_ms,
    })
}

impl SpaceOptions {
    /// Every option in range (an error names its field), and every (resolution, width) of the
    /// grid a valid space: checked before any work.
    pub fn validate(&self) -> Result<()> {
        use crate::bounds::{MAX_RESOLUTION, int, positive, real};
        for (field, empty) in [
            (Field::Resolutions, self.resolutions.is_empty()),
            (Field::Widths, self.widths.is_empty()),
        ] {
            if empty {
                return Err(Error::bad_setting(
                    field,
                    "space optimization needs at least one",
                ));
            }
        }
        for (i, &r) in self.resolutions.iter().enumerate() {
            int(Field::Resolutions, r, 16, MAX_RESOLUTION)?;
            if self.resolutions[..i].contains(&r) {
                return Err(Error::bad(Field::Resolutions, r, "listed twice"));
            }
        }
        for (i, &w) in self.widths.iter().enumerate() {
            positive(Field::Widths, w, 8.0)?;
            if self.widths[..i].contains(&w) {
                return Err(Error::bad(Field::Widths, w, "listed twice"));
            }
        }
        int(Field::Samples, self.samples, 1, 1_000_000)?;
        real(Field::MinFit, self.min_fit, 0.0, 1.0)?;
        int(Field::Threads, self.threads, 1, 1024)?;
        self.base.validate()?;
        for &r in &self.resolutions {
            for &w in &self.widths {
                self.space(r, w).validate().map_err(|e| {
                    Error::bad(
                        Field::Resolutions,
                        r,
                        format!("with {} {w}: {e}", Field::Widths),
                    )
                })?;
            }
        }
        Ok(())
    }

    /// The base space at one (resolution, width) of the grid.
    pub fn space(&self, resolution: usize, width: f64) -> SearchSpace {
        SearchSpace {
            width_mult: width,
            resolutions: vec![resolution],
            ..self.base.clone()
        }
    }
}

/// Every space of the grid, best first (spaces with too few fitting subnets last).
pub fn rank_spaces(o: &SpaceOptions) -> Result<Vec<SpaceResult>> {
    o.validate()?;
    let cells: Vec<(usize, usize)> = (0..o.resolutions.len())
        .flat_map(|r| (0..o.widths.len()).map(move |w| (r, w)))
        .collect();
    let threads = o.threads.max(1).min(cells.len());
    let mut results: Vec<Option<Result<SpaceResult>>> = (0..cells.len()).map(|_| None).collect();
    std::thread::scope(|sc| {
        let chunks: Vec<_> = results
            .chunks_mut(cells.len().div_ceil(threads))
            .enumerate()
            .collect();
        let per = cells.len().div_ceil(threads);
        for (t, chunk) in chunks {
            let cells = &cells;
            sc.spawn(move || {
                for (j, slot) in chunk.iter_mut().enumerate() {
                    let (r, w) = cells[t * per + j];
                    *slot = Some(evaluate_space(o, r, w));
                }
            });
        }
    });
    let mut out = results
        .into_iter()
        .map(|r| r.expect("every cell evaluated"))
        .collect::<Result<Vec<_>>>()?;
    out.sort_by(|a, b| {
        a.too_few
            .cmp(&b.too_few)
            .then(b.score.total_cmp(&a.score))
            .then(a.resolution.cmp(&b.resolution))
            .then(a.width.total_cmp(&b.width))
    });
    Ok(out)
}

/// How much of a space the latency limit rejects on its own.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LatencyBinding {
    pub limit_ms: f64,
    /// Sampled subnets that fit the memory.
    pub fitting_memory: usize,
    /// The share of those over the limit.
    pub share_over: f64,
    /// The latency model's fastest and slowest of them (NaN when none fits).
    pub fastest_ms: f64,
    pub slowest_ms: f64,
}

/// Of `n` subnets of `space` at `resolution` (seeded) that fit the memory, the share over the
/// latency limit (None without a limit).
pub fn latency_binding(
    limits: &Limits,
    space: &SearchSpace,
    resolution: usize,
    n: usize,
    seed: u64,
) -> Result<Option<LatencyBinding>> {
    let Some(limit_ms) = limits.latency_ms else {
        return Ok(None);
    };
    let mut rng = StdRng::seed_from_u64(seed ^ 0x1a7e);
    let mut checker = Checker::new(limits.clone());
    let (mut memory, mut over) = (0usize, 0usize);
    let mut ms = Vec::new();
    for _ in 0..n {
        let f = checker.footprint(space, &space.sample(&mut rng, resolution))?;
        if limits.device.fits(f.sram_bytes, f.flash_bytes) {
            memory += 1;
            over += usize::from(!checker.within_latency(&f));
            ms.extend(f.latency_ms);
        }
    }
    ms.sort_by(f64::total_cmp);
    Ok(Some(LatencyBinding {
        limit_ms,
        fitting_memory: memory,
        share_over: over as f64 / memory.max(1) as f64,
        fastest_ms: ms.first().copied().unwrap_or(f64::NAN),
        slowest_ms: ms.last().copied().unwrap_or(f64::NAN),
    }))
}
