//! The MCUNet-style search space (workload 1 of BENCHMARKS.md by default) and a subnet configuration: per-block
//! kernel and expand ratio, per-stage depth, input resolution. Both are small JSON values.

use crate::arch::net::make_divisible;
use crate::error::{Document, Error, Place, Result};
use rand::Rng;
use rand::seq::IndexedRandom;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchSpace {
    /// Stem, first block, the elastic stages, last block (before the width multiplier).
    pub base_widths: Vec<usize>,
    pub width_mult: f64,
    pub stage_strides: Vec<usize>,
    pub kernel_choices: Vec<usize>,
    pub expand_choices: Vec<usize>,
    pub depth_choices: Vec<usize>,
    pub resolutions: Vec<usize>,
    pub in_channels: usize,
    pub classes: usize,
    /// The fixed last block.
    pub last_expand: usize,
    pub last_kernel: usize,
    /// OFA's learned kernel transformations (7→5, 5→3) instead of plain centre crops.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub kernel_transform: bool,
}

impl Default for SearchSpace {
    fn default() -> Self {
        SearchSpace {
            base_widths: vec![32, 16, 24, 40, 80, 96, 192, 320],
            width_mult: 0.5,
            stage_strides: vec![2, 2, 2, 1, 2],
            kernel_choices: vec![3, 5, 7],
            expand_choices: vec![3, 4, 6],
            depth_choices: vec![2, 3, 4],
            resolutions: vec![64],
            in_channels: 1,
            classes: 10,
            last_expand: 6,
            last_kernel: 3,
            kernel_transform: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubnetConfig {
    pub resolution: usize,
    /// Kernel size of every block slot, stage by stage (stages × max depth; unused slots kept).
    pub kernel_size: Vec<usize>,
    pub expand_ratio: Vec<usize>,
    pub depth: Vec<usize>,
}

impl SearchSpace {
    pub fn stages(&self) -> usize {
        self.stage_strides.len()
    }
    pub fn max_depth(&self) -> usize {
        self.depth_choices.iter().copied().max().unwrap_or(0)
    }

    /// Channel widths after the multiplier: (stem, first block, stages…, last block).
    pub fn widths(&self) -> Vec<usize> {
        self.base_widths
            .iter()
            .map(|&b| make_divisible(b as f64 * self.width_mult))
            .collect()
    }

    /// Every field within `crate::bounds`, the choice lists non-empty and free of repeats,
    /// kernels odd, and every resolution giving a network that survives the strides: what this
    /// accepts, training, evaluation, search and the MCU evaluator all accept.
    pub fn validate(&self) -> Result<()> {
        self.validate_fields()?;
        for &r in &self.resolutions {
            self.check_resolution(
                r,
                &Place::Entry(Document::SearchSpace, "resolutions".into()),
            )?;
        }
        Ok(())
    }

    /// `validate` without building the network of each resolution (cheap: for every subnet).
    fn validate_fields(&self) -> Result<()> {
        use crate::bounds::{
            MAX_BLOCKS, MAX_CHANNELS, MAX_CLASSES, MAX_EXPAND, MAX_KERNEL, MAX_RESOLUTION,
            MAX_STRIDE,
        };
        let space = Document::SearchSpace;
        let bad = |f: &str, why: String| Err(Error::bad_entry(space, f, why));
        let bad_value =
            |f: &str, v: usize, why: &str| Err(Error::entry(space, f, v, why.to_string()));
        let int = |f: String, v: usize, lo: usize, hi: usize| {
            crate::bounds::entry_int(space, &f, v, lo, hi)
        };
        if self.stages() == 0 || self.stages() > 32 {
            return bad(
                "stage_strides",
                format!("{} stages; give 1 to 32", self.stages()),
            );
        }
        if self.base_widths.len() != self.stages() + 3 {
            return bad(
                "base_widths",
                format!(
                    "{} widths for {} stages: need stem, first block, one per stage, last block",
                    self.base_widths.len(),
                    self.stages()
                ),
            );
        }
        for (i, &w) in self.base_widths.iter().enumerate() {
            int(format!("base_widths[{i}]"), w, 1, MAX_CHANNELS)?;
        }
        crate::bounds::entry_positive(space, "width_mult", self.width_mult, 8.0)?;
        for (i, &st) in self.stage_strides.iter().enumerate() {
            int(format!("stage_strides[{i}]"), st, 1, MAX_STRIDE)?;
        }
        for (name, v, hi) in [
            ("kernel_choices", &self.kernel_choices, MAX_KERNEL),
            ("expand_choices", &self.expand_choices, MAX_EXPAND),
            ("depth_choices", &self.depth_choices, MAX_BLOCKS / 32),
            ("resolutions", &self.resolutions, MAX_RESOLUTION),
        ] {
            if v.is_empty() {
                return bad(name, "must be a non-empty list of positive numbers".into());
            }
            for (i, &x) in v.iter().enumerate() {
                int(format!("{name}[{i}]"), x, 1, hi)?;
                if v[..i].contains(&x) {
                    return bad_value(name, x, "is listed twice");
                }
            }
        }
        if self.kernel_choices.iter().any(|k| k % 2 == 0) {
            return bad("kernel_choices", "kernels must be odd".into());
        }
        if self.kernel_transform && self.kernel_choices.iter().any(|&k| !(3..=7).contains(&k)) {
            return bad(
                "kernel_transform",
                format!(
                    "OFA's kernel transformations map 7 to 5 to 3; kernel_choices {:?} must be among 3, 5, 7",
                    self.kernel_choices
                ),
            );
        }
        int("in_channels".into(), self.in_channels, 1, MAX_CHANNELS)?;
        int("classes".into(), self.classes, 2, MAX_CLASSES)?;
        int("last_expand".into(), self.last_expand, 1, MAX_EXPAND)?;
        int("last_kernel".into(), self.last_kernel, 1, MAX_KERNEL)?;
        if self.last_kernel.is_multiple_of(2) {
            return bad_value("last_kernel", self.last_kernel, "must be odd");
        }
        Ok(())
    }

    /// The subnet has one choice per block slot and stage, each among the space's, and a
    /// resolution the space can run (not only those it was trained at: BN is recalibrated).
    pub fn check(&self, s: &SubnetConfig) -> Result<()> {
        self.network(s).map(|_| ())
    }

    /// The space's own fields and the subnet's choices (not its resolution).
    pub(super) fn check_choices(&self, s: &SubnetConfig) -> Result<()> {
        self.validate_fields()?;
        let slots = self.stages() * self.max_depth();
        let bad = |f: &str, why: String| Err(Error::bad_entry(Document::Subnet, f, why));
        let not_among = |f: &str, v: usize, all: &[usize]| {
            Err(Error::entry(
                Document::Subnet,
                f,
                v,
                format!("not among {all:?}"),
            ))
        };
        if s.kernel_size.len() != slots
            || s.expand_ratio.len() != slots
            || s.depth.len() != self.stages()
        {
            return bad(
                "lengths",
                format!(
                    "need {slots} kernel sizes and expand ratios and {} depths",
                    self.stages()
                ),
            );
        }
        if let Some(k) = s
            .kernel_size
            .iter()
            .find(|k| !self.kernel_choices.contains(k))
        {
            return not_among("kernel_size", *k, &self.kernel_choices);
        }
        if let Some(e) = s
            .expand_ratio
            .iter()
            .find(|e| !self.expand_choices.contains(e))
        {
            return not_among("expand_ratio", *e, &self.expand_choices);
        }
        if let Some(d) = s.depth.iter().find(|d| !self.depth_choices.contains(d)) {
            return not_among("depth", *d, &self.depth_choices);
        }
        Ok(())
    }

    /// The subnet with kernel `k`, expand ratio `e` and depth `d` everywhere, at `resolution`.
    pub fn uniform(&self, resolution: usize, k: usize, e: usize, d: usize) -> SubnetConfig {
        let slots = self.stages() * self.max_depth();
        SubnetConfig {
            resolution,
            kernel_size: vec![k; slots],
            expand_ratio: vec![e; slots],
            depth: vec![d; self.stages()],
        }
    }

    pub fn largest(&self, resolution: usize) -> SubnetConfig {
        let max = |v: &[usize]| v.iter().copied().max().unwrap();
        self.uniform(
            resolution,
            max(&self.kernel_choices),
            max(&self.expand_choices),
            max(&self.depth_choices),
        )
    }

    pub fn smallest(&self, resolution: usize) -> SubnetConfig {
        let min = |v: &[usize]| v.iter().copied().min().unwrap();
        self.uniform(
            resolution,
            min(&self.kernel_choices),
            min(&self.expand_choices),
            min(&self.depth_choices),
        )
    }

    /// A uniformly random subnet at `resolution`.
    pub fn sample(&self, rng: &mut impl Rng, resolution: usize) -> SubnetConfig {
        let slots = self.stages() * self.max_depth();
        SubnetConfig {
            resolution,
            kernel_size: (0..slots)
                .map(|_| *self.kernel_choices.choose(rng).unwrap())
                .collect(),
            expand_ratio: (0..slots)
                .map(|_| *self.expand_choices.choose(rng).unwrap())
                .collect(),
            depth: (0..self.stages())
                .map(|_| *self.depth_choices.choose(rng).unwrap())
                .collect(),
        }
    }

    /// Number of distinct subnets at one resolution: Π_stages Σ_d (|K|·|E|)^d.
    pub fn subnet_count(&self) -> f64 {
        let per_block = (self.kernel_choices.len() * self.expand_choices.len()) as f64;
        let per_stage: f64 = self
            .depth_choices
            .iter()
            .map(|&d| per_block.powi(d as i32))
            .sum();
        per_stage.powi(self.stages() as i32)
    }
}
