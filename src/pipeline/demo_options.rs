//! The demo's options, and the settings of its steps made from them, every one checked before
//! any work: the run's (on the base space; the chosen space replaces it), the predictor's, the
//! search's and the space optimization's.

use super::search::{SearchOptions, Strategy};
use super::trust::MIN_TAU;
use crate::arch::SearchSpace;
use crate::data::Dataset;
use crate::error::Field;
use crate::search::Limits;
use crate::search::evolution::EvoOptions;
use crate::search::predictor::FitOptions;
use crate::search::space::{Rank, SpaceOptions, default_resolutions, default_widths};
use crate::train::config::RunConfig;
use crate::train::schedule::Schedule;
use crate::{Error, Result};
use std::path::PathBuf;

#[derive(Clone, Debug)]
pub struct DemoOptions {
    pub limits: Limits,
    /// Dataset folder (or `synthetic`).
    pub data: PathBuf,
    /// Output folder: space/, train/, search/.
    pub out: PathBuf,
    /// Training budget: the largest resolution and width multiplier trained.
    pub max_res: usize,
    pub max_width: f64,
    pub epochs: usize,
    pub subnets: usize,
    pub lr: f32,
    pub train_images: usize,
    pub val_images: usize,
    pub recal_images: usize,
    /// Subnets measured for the predictor.
    pub collect: usize,
    pub population: usize,
    pub generations: usize,
    /// Subnets the search measures when it cannot trust the predictor.
    pub budget: usize,
    /// Subnets of the predicted final population measured on the validation split.
    pub top_k: usize,
    /// Subnets sampled per space in the space optimization.
    pub samples: usize,
    pub seed: u64,
    pub f16_gemm: bool,
    pub f16_activations: bool,
    /// Training images whose activation ranges set the exported model's int8 parameters.
    pub calib_images: usize,
}

/// What the demo's steps run with.
pub struct Settings {
    pub cfg: RunConfig,
    pub fit_options: FitOptions,
    pub search_o: SearchOptions,
    pub so: SpaceOptions,
}

/// The demo's settings from its options and training split, each checked.
pub fn settings(o: &DemoOptions, train: &Dataset, base: &SearchSpace) -> Result<Settings> {
    let out = &o.out;
    let data_s = crate::data::recorded_spec(&o.data)?;
    crate::bounds::int(Field::Epochs, o.epochs, 1, 100_000)?;
    crate::bounds::positive(Field::Lr, o.lr as f64, f64::MAX)?;
    crate::bounds::int(Field::Subnets, o.subnets, 1, 64)?;
    crate::bounds::int(Field::CalibImages, o.calib_images, 1, 1_000_000)?;
    // The split the run will make, checked now rather than after the space optimization.
    let kept = match o.train_images {
        0 => train.len(),
        n => n.min(train.len()),
    };
    if o.val_images >= kept || kept - o.val_images < 64 {
        return Err(Error::bad(
            Field::ValImages,
            o.val_images,
            format!(
                "with {} {}, {} training images are left of {kept}, fewer than one batch of 64",
                Field::TrainImages,
                o.train_images,
                kept.saturating_sub(o.val_images)
            ),
        ));
    }
    let mut cfg = RunConfig::new(
        &data_s,
        base.clone(),
        Schedule::joint(o.epochs, o.lr, o.subnets),
    );
    cfg.train_images = o.train_images;
    cfg.val_images = o.val_images;
    cfg.recal_images = o.recal_images;
    cfg.seed = o.seed;
    cfg.f16_gemm = o.f16_gemm;
    cfg.f16_activations = o.f16_activations;
    cfg.validate()?;
    let fit_options = FitOptions {
        seed: o.seed,
        ..FitOptions::default()
    };
    fit_options.validate()?;
    let evo = EvoOptions {
        population: o.population,
        generations: o.generations,
        seed: o.seed,
        ..EvoOptions::default()
    };
    let search_o = SearchOptions {
        limits: o.limits.clone(),
        strategy: Strategy::Predictor,
        measure_evo: evo.with_budget((o.budget / 5).clamp(4, 20), o.budget),
        evo,
        top_k: o.top_k,
        min_tau: MIN_TAU,
        random: None,
        recal_images: Some(o.recal_images),
        out: out.join("search"),
    };
    crate::bounds::int(Field::Budget, o.budget, 4, 1_000_000)?;
    search_o.validate()?;
    crate::bounds::int(Field::Collect, o.collect, 5, 100_000)?;
    crate::bounds::int(Field::MaxRes, o.max_res, 1, crate::bounds::MAX_RESOLUTION)?;
    crate::bounds::positive(Field::MaxWidth, o.max_width, 8.0)?;
    let so = SpaceOptions {
        base: base.clone(),
        resolutions: default_resolutions(&[train.height]),
        widths: default_widths(),
        samples: o.samples,
        seed: o.seed,
        limits: o.limits.clone(),
        rank: Rank::Mean,
        min_fit: 0.05,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    so.validate()?;
    Ok(Settings {
        cfg,
        fit_options,
        search_o,
        so,
    })
}
