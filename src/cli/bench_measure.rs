//! `tinynas bench measure`: how fast the search measures subnets (BN recalibration, then
//! validation top-1), against plain forward passes of the same subnets over the same images on
//! the same adapter. The gap is what recalibration's batch statistics and the bookkeeping cost.

use super::GpuArgs;
use super::console::Console;
use crate::Result;
use crate::error::Field;
use crate::train::open::open_run;
use clap::Args;
use rand::seq::IndexedRandom;
use rand::{SeedableRng, rngs::StdRng};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args, Clone)]
pub struct MeasureBench {
    #[command(flatten)]
    pub gpu: GpuArgs,
    /// A trained run (models/fmnist-r32-short is committed).
    #[arg(long)]
    pub run: PathBuf,
    /// Random subnets measured (the largest and the smallest first).
    #[arg(long, default_value_t = 10)]
    pub subnets: usize,
    /// Training images for BN recalibration (default: the run's setting).
    #[arg(long)]
    pub recal_images: Option<usize>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl MeasureBench {
    pub fn validate(&self) -> Result<()> {
        crate::bounds::int(Field::Subnets, self.subnets, 1, 10_000)?;
        crate::bounds::recal_images(self.recal_images)
    }
}

pub fn run(a: &MeasureBench) -> Result<()> {
    crate::train::run::check_run(&a.run)?;
    let e = a.gpu.engine()?;
    let console = Console::new();
    let run = open_run(&e, &a.run, &*console)?;
    let space = &run.cfg.space;
    let recal = a.recal_images.unwrap_or(run.cfg.recal_images);
    let mut ev = run.evaluator(&e, &run.data.val, recal)?;
    let mut rng = StdRng::seed_from_u64(a.seed);
    let (rmax, rmin) = (
        *space.resolutions.iter().max().unwrap(),
        *space.resolutions.iter().min().unwrap(),
    );
    let subnets: Vec<_> = (0..a.subnets)
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
    let per = ev.images_per_measurement();
    println!(
        "{} subnets, {} images each ({} recalibration + {} validation), adapter {}",
        subnets.len(),
        per,
        per - ev.eval_len(),
        ev.eval_len(),
        e.gpu.info.name
    );
    let (mut t_measure, mut t_plain) = (0.0, 0.0);
    for s in &subnets {
        let t = Instant::now();
        let m = ev.measure(&run.net, s)?;
        let tm = t.elapsed().as_secs_f64();
        let t = Instant::now();
        ev.plain_forward(&run.net, s)?;
        let tp = t.elapsed().as_secs_f64();
        t_measure += tm;
        t_plain += tp;
        println!(
            "  {:>6.2} M MACs  measure {:>6.2} s ({:>6.0} img/s)  plain forward {:>6.2} s ({:>6.0} img/s)  top-1 {:.2} %",
            crate::mcu::fast::Evaluator::default()
                .summary(
                    &crate::arch::subnet::from_subnet(space, s)?,
                    crate::mcu::Scheduler::Analytic,
                    true
                )
                .map_or(0.0, |f| f.macs as f64 / 1e6),
            tm,
            per as f64 / tm,
            tp,
            per as f64 / tp,
            m.top1() * 100.0
        );
    }
    let n = (subnets.len() * per) as f64;
    println!(
        "measure: {:.1} subnets/min, {:.0} img/s; plain forward {:.0} img/s; measurement at {:.0} % of plain inference speed",
        subnets.len() as f64 / t_measure * 60.0,
        n / t_measure,
        n / t_plain,
        t_plain / t_measure * 100.0
    );
    Ok(())
}
