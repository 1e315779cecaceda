//! `tinynas search`: evolution under the device limits, the report and the population plot.

use super::GpuArgs;
use super::console::Console;
use super::mem::{kib, print_table};
use super::space::LimitArgs;
use crate::Result;
use crate::arch::SearchSpace;
use crate::mcu::{self, EvalOptions};
use crate::pipeline::predictor::open_run;
use crate::pipeline::search::{SearchOptions, SearchReport, run_search};
use crate::search::evolution::EvoOptions;
use crate::search::{Limits, describe_limits};
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args, Clone)]
pub struct SearchArgs {
    /// GPU options.
    #[command(flatten)]
    pub gpu: super::GpuArgs,
    #[arg(long)]
    pub run: PathBuf,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Score candidates by direct measurement (BN recalibration + validation top-1) instead of
    /// the predictor.
    #[arg(long)]
    pub measure: bool,
    #[arg(long, default_value_t = 100)]
    pub population: usize,
    #[arg(long, default_value_t = 500)]
    pub generations: usize,
    #[arg(long, default_value_t = 0.25)]
    pub parent_ratio: f64,
    #[arg(long, default_value_t = 0.1)]
    pub mutation_prob: f64,
    /// Share of the children made by mutation (the rest by crossover).
    #[arg(long, default_value_t = 0.5)]
    pub mutation_ratio: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Training images for BN recalibration (default: the run's setting).
    #[arg(long)]
    pub recal_images: Option<usize>,
    /// Output folder (default RUN/search).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn print_search(r: &SearchReport, space: &SearchSpace, limits: &Limits) -> Result<()> {
    println!(
        "chosen subnet: {}",
        serde_json::to_string(&r.subnet).unwrap()
    );
    println!(
        "  {} {:.2} %; measured test top-1 {:.2} % ({} images, after BN recalibration)",
        r.scored_by,
        r.score * 100.0,
        r.test_top1 * 100.0,
        r.test_images
    );
    println!(
        "  {:<11} {:>10} {:>10} {:>12} {:>14}  {}",
        "scheduler", "M MACs", "k params", "flash", "peak SRAM", limits.device.name
    );
    for v in &r.per_scheduler {
        println!(
            "  {:<11} {:>10.2} {:>10.1} {:>12} {:>14}  {}",
            v.scheduler.name(),
            v.macs as f64 / 1e6,
            v.params as f64 / 1e3,
            kib(v.flash_bytes),
            kib(v.peak_sram_bytes),
            if v.fits { "fits" } else { "does not fit" }
        );
    }
    let network = mcu::net::from_subnet(space, &r.subnet)?;
    let rep = mcu::evaluate(
        &network,
        &EvalOptions {
            scheduler: limits.scheduler,
            ..EvalOptions::default()
        },
    )?;
    println!("per-layer memory under {}:", limits.scheduler.name());
    print_table(&rep);
    Ok(())
}

pub fn search(g: &GpuArgs, a: &SearchArgs) -> Result<()> {
    let limits = a.limits.limits()?;
    let evo = EvoOptions {
        population: a.population,
        parent_ratio: a.parent_ratio,
        mutation_prob: a.mutation_prob,
        mutation_ratio: a.mutation_ratio,
        generations: a.generations,
        seed: a.seed,
        ..EvoOptions::default()
    };
    evo.validate()?;
    let out = a.out.clone().unwrap_or_else(|| a.run.join("search"));
    crate::io::check_out_dir(&out, "--out")?;
    crate::train::run::check_run(&a.run)?;
    crate::bounds::recal_images(a.recal_images)?;
    let _lock = crate::io::lock_dir(&out, "--out")?;
    let e = g.engine()?;
    let console = Console::new();
    let run = open_run(&e, &a.run, &*console)?;
    let o = SearchOptions {
        limits: limits.clone(),
        evo: evo.clone(),
        measure: a.measure,
        recal_images: a.recal_images.unwrap_or(run.cfg.recal_images),
        out: out.clone(),
    };
    let t = Instant::now();
    let (res, report) = run_search(&e, &a.run, &run, &o, &*console)?;
    println!(
        "search: {} generations, {} subnets scored, {} rejected by the limits of {}, {:.1} s",
        evo.generations,
        res.scored,
        res.rejected,
        describe_limits(&limits),
        t.elapsed().as_secs_f64()
    );
    print_search(&report, &run.cfg.space, &limits)?;
    println!(
        "wrote {0}/best_subnet.json, {0}/search.json, {0}/population.png",
        out.display()
    );
    Ok(())
}
