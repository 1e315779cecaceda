//! `tinynas bench measure`: its flags and its lines. The work (how fast the search measures
//! subnets beside plain forward passes over the same images) is `pipeline::bench::measure`.

use super::GpuArgs;
use super::console::Console;
use crate::Result;
use crate::error::Field;
use crate::pipeline::bench::measure::{MeasureBenchOptions, MeasureBenchReport, measure};
use clap::Args;
use std::path::PathBuf;

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
    let o = MeasureBenchOptions {
        run: a.run.clone(),
        subnets: a.subnets,
        recal_images: a.recal_images,
        seed: a.seed,
    };
    let console = Console::new();
    print(&measure(|| a.gpu.engine(), &o, &*console)?);
    Ok(())
}

fn print(r: &MeasureBenchReport) {
    let per = r.images;
    println!(
        "{} subnets, {} images each ({} recalibration + {} validation), adapter {}",
        r.rows.len(),
        per,
        per - r.eval_images,
        r.eval_images,
        r.adapter
    );
    for m in &r.rows {
        let (tm, tp) = (m.measure_secs, m.plain_secs);
        println!(
            "  {:>6.2} M MACs  measure {:>6.2} s ({:>6.0} img/s)  plain forward {:>6.2} s ({:>6.0} img/s)  top-1 {:.2} %",
            m.macs as f64 / 1e6,
            tm,
            per as f64 / tm,
            tp,
            per as f64 / tp,
            m.top1 * 100.0
        );
    }
    let (t_measure, t_plain) = (r.measure_secs(), r.plain_secs());
    let n = (r.rows.len() * per) as f64;
    println!(
        "measure: {:.1} subnets/min, {:.0} img/s; plain forward {:.0} img/s; measurement at {:.0} % of plain inference speed",
        r.rows.len() as f64 / t_measure * 60.0,
        n / t_measure,
        n / t_plain,
        t_plain / t_measure * 100.0
    );
}
