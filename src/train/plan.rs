//! The plan of a run's steps, a function of its settings alone: steps per epoch, the images
//! each data-parallel rank trains on at a step, the step's subnets and learning rate, the
//! augmentation. Training follows it; a test can replay it.

use super::config::RunConfig;
use super::data::RunData;
use super::loader::BatchSpec;
use super::step_subnets;
use crate::Result;
use crate::data::augment::Augment;
use crate::data::input_rgb;
use crate::nn::CosineSchedule;
use crate::seed::derive_seed;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{SeedableRng, rngs::StdRng};

/// Steps per epoch of a run with `n_train` training images: each step takes `batch` images for
/// every one of its ranks.
pub fn steps_per_epoch(cfg: &RunConfig, n_train: usize) -> usize {
    n_train / (cfg.batch * cfg.ranks)
}

/// The batches `rank` trains on from global `step` to the end of its epoch (None once the
/// schedule is done). The epoch's order of images is a function of (seed, phase, epoch); a
/// step's resolution of (seed, step), the same on every rank; each rank takes the step's
/// `rank`-th run of `batch` images, and its own augmentation seed.
pub fn epoch_batches(
    cfg: &RunConfig,
    n_train: usize,
    step: usize,
    rank: usize,
) -> Option<Vec<BatchSpec>> {
    let spe = steps_per_epoch(cfg, n_train);
    let pos = cfg.schedule.position(step, spe)?;
    let mut order: Vec<usize> = (0..n_train).collect();
    order.shuffle(&mut StdRng::seed_from_u64(derive_seed(
        cfg.seed,
        1,
        (pos.phase * 1_000_000 + pos.epoch) as u64,
    )));
    let epoch_start = step - pos.step_in_epoch;
    let world = cfg.ranks;
    let specs = (pos.step_in_epoch..spe)
        .map(|i| {
            let s = epoch_start + i;
            let mut rng = StdRng::seed_from_u64(derive_seed(cfg.seed, 2, s as u64));
            let at = (i * world + rank) * cfg.batch;
            BatchSpec {
                step: s,
                indices: order[at..at + cfg.batch].to_vec(),
                resolution: *cfg.space.resolutions.choose(&mut rng).unwrap(),
                seed: derive_seed(cfg.seed, 3, (s * world + rank) as u64),
            }
        })
        .collect();
    Some(specs)
}

/// The subnets global `step` trains (at its batch's `resolution`) and its learning rate, with
/// `spe` steps per epoch. Panics past the schedule's end.
pub fn step_plan(
    cfg: &RunConfig,
    spe: usize,
    step: usize,
    resolution: usize,
) -> (Vec<crate::arch::SubnetConfig>, f32) {
    let pos = cfg
        .schedule
        .position(step, spe)
        .expect("a step of the schedule");
    let phase = &cfg.schedule.phases[pos.phase];
    let sched = CosineSchedule {
        base: phase.lr,
        min: 0.0,
        warmup: (phase.warmup_epochs * spe as f32) as usize,
        total: phase.epochs * spe,
    };
    let mut rng = StdRng::seed_from_u64(derive_seed(cfg.seed, 4, step as u64));
    let subnets = step_subnets(
        &phase.space(&cfg.space),
        &mut rng,
        phase.subnets_per_step,
        resolution,
    );
    (subnets, sched.lr(step - pos.phase_start))
}

/// The augmentation a run's batches get.
pub fn run_augment(cfg: &RunConfig, data: &RunData) -> Result<Augment> {
    Ok(Augment {
        resolution: None,
        rgb: input_rgb(data.train.channels, cfg.space.in_channels)?,
        crop_pad: cfg.crop_pad,
        flip: cfg.flip,
    })
}
