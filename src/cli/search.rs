//! `tinynas search`: evolution under the device limits, the report and the population plot.

use super::GpuArgs;
use super::console::Console;
use super::mem::{kib, print_table};
use super::space::LimitArgs;
use crate::Result;
use crate::arch::SearchSpace;
use crate::pipeline::mem::{Latency, subnet_mem};
use crate::pipeline::search::{SearchOptions, Strategy, search_run};
use crate::pipeline::search_outputs::SearchReport;
use crate::pipeline::trust::MIN_TAU;
use crate::search::evolution::EvoOptions;

/// What each scheduler's flash and SRAM count (the figures `fits` is judged on).
pub const SCHEDULER_MEMORY: &str = "(tinyengine: the generated C, its image and its arena + stack; tflm: TF Lite Micro, the .tflite (not its own code) and the arena's head + tail; patch: the generated C with `export --patch 4`, its image and its arena + input buffer + stack; analytic: weights + bias + scale, the peak activations)";
use crate::search::{Limits, describe_limits};
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Clone)]
pub struct SearchArgs {
    /// GPU options.
    #[command(flatten)]
    pub gpu: super::GpuArgs,
    #[arg(long)]
    pub run: PathBuf,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Score every candidate by measurement (BN recalibration, validation top-1: MCUNet's way)
    /// instead of by the predictor. Without a predictor, or with one whose τ is below
    /// --min-tau, the search measures anyway.
    #[arg(long)]
    pub measure: bool,
    /// Population of the predicted evolution.
    #[arg(long, default_value_t = 100, conflicts_with = "measure")]
    pub population: usize,
    /// Generations of the predicted evolution.
    #[arg(long, default_value_t = 500, conflicts_with = "measure")]
    pub generations: usize,
    /// Population of the measured evolution.
    #[arg(long, default_value_t = 20)]
    pub measure_population: usize,
    /// Subnets the measured evolution may measure (it stops after the generation that
    /// reaches this many).
    #[arg(long, default_value_t = 200)]
    pub budget: usize,
    /// Subnets of the predicted final population measured on the validation split.
    #[arg(long, default_value_t = 10, conflicts_with = "measure")]
    pub top_k: usize,
    /// The predictor's least Kendall τ (cross-validated) for it to be trusted (not with
    /// --measure, which uses no predictor).
    #[arg(long, default_value_t = MIN_TAU, conflicts_with = "measure")]
    pub min_tau: f64,
    /// Random fitting subnets measured as a baseline (default: as many as the search measured).
    #[arg(long)]
    pub random: Option<usize>,
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
    print_rows(r);
    println!(
        "chosen subnet (from {}: {}): {}",
        r.chosen_from,
        r.chosen_because,
        serde_json::to_string(&r.subnet).unwrap()
    );
    println!(
        "  validation top-1 {:.2} % (on the images that did not choose it), test top-1 {:.2} % ({} images, after BN recalibration)",
        r.score * 100.0,
        r.test_top1 * 100.0,
        r.test_images
    );
    println!(
        "  {:<11} {:>10} {:>10} {:>12} {:>12}  {}",
        "scheduler", "M MACs", "k params", "flash", "SRAM", limits.device.name
    );
    for v in &r.per_scheduler {
        println!(
            "  {:<11} {:>10.2} {:>10.1} {:>12} {:>12}  {}",
            v.scheduler.name(),
            v.macs as f64 / 1e6,
            v.params as f64 / 1e3,
            kib(v.flash_bytes),
            kib(v.sram_bytes),
            if v.fits { "fits" } else { "does not fit" }
        );
    }
    println!("  {SCHEDULER_MEMORY}");
    let m = subnet_mem(space, &r.subnet, &limits.device, limits.scheduler)?;
    let lat = Latency::of(&limits.device);
    if let Some(l) = &lat {
        println!("  {}", super::mem::describe_latency(l, &m));
    }
    println!("per-layer memory under {}:", limits.scheduler.name());
    print_table(&m, lat.is_some());
    Ok(())
}

/// The search beside the baselines: footprint, validation and test top-1 with standard errors.
pub fn print_rows(r: &SearchReport) {
    if let Some(p) = &r.predictor {
        println!(
            "{}",
            super::flags::words(&crate::pipeline::predictor::describe_fit(p))
        );
    }
    println!(
        "validation split in halves of {} and {} images: the search and the random baseline chose on the first, so each row is measured fairly on the images that chose none of it (the second half for those two, the whole split for the baselines chosen by footprint); \"read %\" is that measurement read against what the row's MACs predict (the final choice takes the highest); \"below chosen\" is its shortfall to the chosen row on the second half with the paired standard error; the test split is measured once",
        r.search_images, r.val_images
    );
    if let Some(p) = &r.prior {
        println!(
            "  read against {} random subnets: {:+.2} points of top-1 per doubling of MACs, real spread beyond MACs {:.2} points, measurement noise {:.2} points a half",
            p.subnets,
            (p.slope[0] + p.slope[1]) / 2.0 * std::f64::consts::LN_2 * 100.0,
            p.signal_var.sqrt() * 100.0,
            p.half_noise_var.sqrt() * 100.0
        );
    }
    // The latency column where the device has a core and a clock.
    let timed = r.rows.iter().all(|w| w.footprint.latency_ms.is_some());
    let ms = |f: &crate::mcu::fast::Summary| match f.latency_ms {
        Some(ms) if timed => format!(" {ms:>8.1}"),
        _ => String::new(),
    };
    println!(
        "{:<10} {:>8} {:>10} {:>10}{} {:>9} {:>22} {:>7} {:>15} {:>16}  how",
        "choice",
        "M MACs",
        "SRAM",
        "flash",
        if timed { "  latency" } else { "" },
        "search %",
        "fair % (images)",
        "read %",
        "below chosen",
        format!("test % ({})", r.test_images)
    );
    for w in &r.rows {
        println!(
            "{:<10} {:>8.2} {:>10} {:>10}{} {:>9.2} {:>8.2} ± {:<4.2} ({:>5}) {:>7.2} {:>8.2} ± {:<4.2} {:>9.2} ± {:<4.2}  {}{}",
            w.name,
            w.footprint.macs as f64 / 1e6,
            kib(w.footprint.peak_sram_bytes),
            kib(w.footprint.flash_bytes),
            ms(&w.footprint),
            w.search_top1 * 100.0,
            w.val_top1 * 100.0,
            w.val_se * 100.0,
            w.val_images,
            w.posterior * 100.0,
            w.below_chosen * 100.0,
            w.below_chosen_se * 100.0,
            w.test_top1 * 100.0,
            w.test_se * 100.0,
            w.detail,
            w.predicted.map_or(String::new(), |p| format!(
                " (predicted {:.2} %)",
                p * 100.0
            ))
        );
    }
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
    let measure_evo = evo.with_budget(a.measure_population, a.budget);
    let out = a.out.clone().unwrap_or_else(|| a.run.join("search"));
    let o = SearchOptions {
        limits: limits.clone(),
        strategy: if a.measure {
            Strategy::Measure
        } else {
            Strategy::Predictor
        },
        evo,
        measure_evo,
        top_k: a.top_k,
        min_tau: a.min_tau,
        random: a.random,
        recal_images: a.recal_images,
        out: out.clone(),
    };
    // Every input checked (the flags first), then the run read, before --out is made and
    // locked.
    let console = Console::new();
    let (res, report, space, secs) = search_run(|| g.engine(), &a.run, &o, &*console)?;
    println!(
        "search: {} generations, {} subnets scored, {} rejected by the limits of {}; {} subnets measured ({:.1} per minute), {:.1} s",
        report.generations,
        res.scored,
        res.rejected,
        describe_limits(&limits),
        report.new_measurements,
        report.subnets_per_minute,
        secs
    );
    print_search(&report, &space, &limits)?;
    println!(
        "wrote {0}/best_subnet.json, {0}/search.json, {0}/population.png",
        out.display()
    );
    Ok(())
}
