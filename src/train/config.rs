//! A run's settings (saved in its checkpoints, compared on resume, validated before any work),
//! how to run it, and what a run reports.

use super::schedule::Schedule;
use crate::arch::SearchSpace;
use crate::error::Field;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// The settings of a run, saved in its checkpoints and compared on resume.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Dataset folder (or `synthetic`).
    pub data: String,
    /// Image folders: the size images are resized to on loading.
    pub image_size: usize,
    /// Use only the first N training images (0: all).
    pub train_images: usize,
    /// Held out of the training images for validation.
    pub val_images: usize,
    /// Training images used for BN recalibration before each evaluation.
    pub recal_images: usize,
    pub space: SearchSpace,
    pub schedule: Schedule,
    pub batch: usize,
    pub momentum: f32,
    pub weight_decay: f32,
    pub label_smoothing: f32,
    pub distill_weight: f32,
    /// Random crop after zero padding by this many pixels (0: off), and horizontal flips.
    pub crop_pad: usize,
    pub flip: bool,
    pub seed: u64,
    /// GEMMs in f16 arithmetic (`--f16`); absent from the JSON when off.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub f16_gemm: bool,
    /// Activations kept for backward as f16 (`--f16-activations`); absent from the JSON when off.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub f16_activations: bool,
    /// Data-parallel ranks (MPI processes) training together, each on `batch` images of a
    /// step; absent from the JSON for one.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub ranks: usize,
}

fn one() -> usize {
    1
}

fn is_one(n: &usize) -> bool {
    *n == 1
}

impl RunConfig {
    /// Defaults for `data` with the given space and schedule.
    pub fn new(data: &str, space: SearchSpace, schedule: Schedule) -> RunConfig {
        RunConfig {
            data: data.into(),
            image_size: 32,
            train_images: 0,
            val_images: 500,
            recal_images: 2000,
            space,
            schedule,
            batch: 64,
            momentum: 0.9,
            weight_decay: 3e-5,
            label_smoothing: 0.1,
            distill_weight: 1.0,
            crop_pad: 2,
            flip: false,
            seed: 0,
            f16_gemm: false,
            f16_activations: false,
            ranks: 1,
        }
    }
}

impl RunConfig {
    /// Every setting in range, the space and the schedule valid: checked before any work.
    pub fn validate(&self) -> Result<()> {
        use crate::bounds::{int, real};
        self.space.validate()?;
        self.schedule.validate(&self.space)?;
        int(
            Field::ImageSize,
            self.image_size,
            1,
            crate::bounds::MAX_RESOLUTION,
        )?;
        int(Field::Batch, self.batch, 2, 4096)?;
        int(Field::Ranks, self.ranks, 1, 4096)?;
        int(Field::CropPad, self.crop_pad, 0, 64)?;
        real(Field::Momentum, self.momentum as f64, 0.0, 0.999)?;
        real(Field::WeightDecay, self.weight_decay as f64, 0.0, 1.0)?;
        real(
            Field::LabelSmoothing,
            self.label_smoothing as f64,
            0.0,
            0.99,
        )?;
        real(
            Field::DistillWeight,
            self.distill_weight as f64,
            0.0,
            1000.0,
        )?;
        crate::bounds::recal_images(Some(self.recal_images))?;
        if self.val_images == 0 {
            return Err(Error::bad(
                Field::ValImages,
                0,
                "validation would score the test split; hold out at least one training image",
            ));
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct RunSummary {
    pub steps: usize,
    /// The step this invocation started from (0, or a resumed run's checkpoint): `steps`
    /// equal to it means nothing was trained this time.
    pub resumed_at: usize,
    pub seconds: f64,
    pub image_subnets_per_s: f64,
    /// Validation top-1 of the largest and smallest subnets at the end (after BN recalibration).
    pub largest_val: Option<f64>,
    pub smallest_val: Option<f64>,
    pub finished: bool,
}
