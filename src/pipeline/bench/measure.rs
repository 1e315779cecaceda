//! How fast the search measures subnets (BN recalibration, then validation top-1), against plain
//! forward passes of the same subnets over the same images on the same adapter
//! (`tinynas bench measure`). The gap is what recalibration's batch statistics and the
//! bookkeeping cost.

use crate::arch::subnet::from_subnet;
use crate::mcu::Scheduler;
use crate::mcu::fast::Evaluator;
use crate::observer::Observer;
use crate::train::open::open_run;
use crate::train::run::check_run;
use crate::{Engine, Result};
use rand::seq::IndexedRandom;
use rand::{SeedableRng, rngs::StdRng};
use serde::Serialize;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;

#[derive(Clone, Debug)]
pub struct MeasureBenchOptions {
    /// A trained run.
    pub run: PathBuf,
    /// Random subnets measured (the largest and the smallest first).
    pub subnets: usize,
    /// Training images for BN recalibration (None: the run's setting).
    pub recal_images: Option<usize>,
    pub seed: u64,
}

/// One subnet: measured (recalibrated, then validated) and run plainly over the same images.
#[derive(Clone, Debug, Serialize)]
pub struct MeasureRow {
    pub macs: u64,
    pub measure_secs: f64,
    pub plain_secs: f64,
    pub top1: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct MeasureBenchReport {
    /// The adapter's name.
    pub adapter: String,
    /// Images per measurement (recalibration + validation), and validation's share of them.
    pub images: usize,
    pub eval_images: usize,
    pub rows: Vec<MeasureRow>,
}

impl MeasureBenchReport {
    pub fn measure_secs(&self) -> f64 {
        self.rows.iter().map(|r| r.measure_secs).sum()
    }
    pub fn plain_secs(&self) -> f64 {
        self.rows.iter().map(|r| r.plain_secs).sum()
    }
}

/// Measures `o.subnets` subnets of the run in `o.run` on the engine `engine` makes (after the
/// run's folder is checked).
pub fn measure(
    engine: impl FnOnce() -> Result<Rc<Engine>>,
    o: &MeasureBenchOptions,
    obs: &dyn Observer,
) -> Result<MeasureBenchReport> {
    check_run(&o.run)?;
    let e = engine()?;
    let run = open_run(&e, &o.run, obs)?;
    let space = &run.cfg.space;
    let recal = o.recal_images.unwrap_or(run.cfg.recal_images);
    let mut ev = run.evaluator(&e, &run.data.val, recal)?;
    let mut rng = StdRng::seed_from_u64(o.seed);
    let (rmax, rmin) = (
        *space.resolutions.iter().max().unwrap(),
        *space.resolutions.iter().min().unwrap(),
    );
    let subnets: Vec<_> = (0..o.subnets)
        .map(|i| match i {
            0 => space.largest(rmax),
            1 => space.smallest(rmin),
            _ => {
                let r = *space.resolutions.choose(&mut rng).unwrap();
                space.sample(&mut rng, r)
            }
        })
        .collect();
    // Warm-up: uploads every resolution's batches and builds the pipelines.
    for r in &space.resolutions {
        ev.plain_forward(&run.net, &space.smallest(*r))?;
    }
    let mut rows = Vec::new();
    for s in &subnets {
        let t = Instant::now();
        let m = ev.measure(&run.net, s)?;
        let measure_secs = t.elapsed().as_secs_f64();
        let t = Instant::now();
        ev.plain_forward(&run.net, s)?;
        let plain_secs = t.elapsed().as_secs_f64();
        rows.push(MeasureRow {
            macs: Evaluator::default()
                .summary(&from_subnet(space, s)?, Scheduler::Analytic, true)
                .map_or(0, |f| f.macs),
            measure_secs,
            plain_secs,
            top1: m.top1(),
        });
    }
    Ok(MeasureBenchReport {
        adapter: e.gpu.info.name.clone(),
        images: ev.images_per_measurement(),
        eval_images: ev.eval_len(),
        rows,
    })
}
