//! `tinynas space`, `tinynas predictor collect|fit`, `tinynas search`.

use super::GpuArgs;
use super::mem::{kib, print_table};
use crate::mcu::{self, Device, EvalOptions, Scheduler};
use crate::plot::{Chart, Series, cdf_points};
use crate::search::evolution::{EvoOptions, EvoResult, evolve};
use crate::search::predictor::{FitOptions, Predictor};
use crate::search::space::{
    Rank, SpaceOptions, SpaceResult, default_resolutions, default_widths, rank_spaces,
};
use crate::search::{Checker, Limits, describe_limits};
use crate::supernet::{SearchSpace, SubnetConfig, Supernet};
use crate::train::eval::SubnetEvaluator;
use crate::train::run::{RunConfig, RunData, derive_seed, load_data, load_run};
use crate::{Engine, Error, Result};
use clap::{Args, Subcommand};
use rand::seq::IndexedRandom;
use rand::{SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Instant;

/// Device and scheduler options shared by `space` and `search`.
#[derive(Args, Clone, Debug)]
pub struct LimitArgs {
    /// Device preset: stm32f746, stm32f412, stm32h743, nrf52840.
    #[arg(long, default_value = "stm32f412")]
    pub device: String,
    /// Override the SRAM budget (KiB).
    #[arg(long)]
    pub sram: Option<u64>,
    /// Override the flash budget (KiB).
    #[arg(long)]
    pub flash: Option<u64>,
    /// Memory scheduler: analytic, tflm, tinyengine, patch.
    #[arg(long, default_value = "tinyengine")]
    pub scheduler: String,
}

impl LimitArgs {
    pub fn limits(&self) -> Result<Limits> {
        let mut device = Device::preset(&self.device)?;
        if let Some(s) = self.sram {
            device.sram_bytes = s * 1024;
            device.name = format!("{} (SRAM {s} KiB)", device.name);
        }
        if let Some(f) = self.flash {
            device.flash_bytes = f * 1024;
            device.name = format!("{} (flash {f} KiB)", device.name);
        }
        Ok(Limits {
            device,
            scheduler: Scheduler::parse(&self.scheduler)?,
        })
    }
}

#[derive(Args, Clone, Debug)]
pub struct SpaceArgs {
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Input resolutions of the grid (default 48, 64, …, 224, plus the data's own with --data).
    #[arg(long, value_delimiter = ',')]
    pub resolutions: Option<Vec<usize>>,
    /// Width multipliers of the grid (default 0.2, 0.3, …, 1.0).
    #[arg(long, value_delimiter = ',')]
    pub widths: Option<Vec<f64>>,
    /// Dataset: its image size joins the grid, its channels and classes set the space's.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Base search space JSON (kernels, expands, depths, stages); default BENCH.md's.
    #[arg(long)]
    pub space: Option<PathBuf>,
    /// Subnets sampled per space.
    #[arg(long, default_value_t = 1000)]
    pub samples: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Rank by `mean` MACs of the fitting subnets or a percentile such as `p80`.
    #[arg(long, default_value = "mean")]
    pub rank: String,
    /// Spaces where fewer than this share of the samples fit are marked and ranked last.
    #[arg(long, default_value_t = 0.05)]
    pub min_fit: f64,
    /// Spaces drawn in the CDF plot.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// Folder for space.json, space_cdf.png and chosen_space.json.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Threads (default: every core).
    #[arg(long)]
    pub threads: Option<usize>,
}

pub fn space_options(a: &SpaceArgs) -> Result<SpaceOptions> {
    let mut base = match &a.space {
        Some(p) => super::supernet::read_space(p)?,
        None => SearchSpace::default(),
    };
    let mut extra = Vec::new();
    if let Some(d) = &a.data {
        let (train, _) = crate::data::load_any(d, 32)?;
        base.in_channels = train.channels;
        base.classes = train.classes;
        extra.push(train.height);
    }
    Ok(SpaceOptions {
        base,
        resolutions: a
            .resolutions
            .clone()
            .unwrap_or_else(|| default_resolutions(&extra)),
        widths: a.widths.clone().unwrap_or_else(default_widths),
        samples: a.samples,
        seed: a.seed,
        limits: a.limits.limits()?,
        rank: Rank::parse(&a.rank)?,
        min_fit: a.min_fit,
        threads: a
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
    })
}

pub fn print_spaces(o: &SpaceOptions, r: &[SpaceResult], rows: usize) {
    println!(
        "{:>4} {:>5} {:>6} {:>12} {:>14} {:>14}  note",
        "rank", "res", "width", "fit/sampled", "mean M MACs", "score M MACs"
    );
    for (i, s) in r.iter().take(rows).enumerate() {
        println!(
            "{:>4} {:>5} {:>6.2} {:>7}/{:<4} {:>14.2} {:>14.2}  {}",
            i + 1,
            s.resolution,
            s.width,
            s.fitting,
            s.sampled,
            s.mean_macs / 1e6,
            s.score / 1e6,
            if s.too_few { "too few fit" } else { "" }
        );
    }
    if r.len() > rows {
        println!("  … {} more spaces (all in space.json)", r.len() - rows);
    }
    let _ = o;
}

/// Write the ranking (JSON), the CDF plot of the top spaces and the chosen space.
pub fn write_space_outputs(
    dir: &Path,
    o: &SpaceOptions,
    r: &[SpaceResult],
    top: usize,
) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let v = serde_json::json!({
        "device": o.limits.device, "scheduler": o.limits.scheduler.name(), "samples": o.samples,
        "seed": o.seed, "rank": o.rank, "min_fit": o.min_fit, "spaces": r,
    });
    crate::io::write_atomic(
        &dir.join("space.json"),
        serde_json::to_string_pretty(&v).unwrap().as_bytes(),
    )?;
    let series = r
        .iter()
        .filter(|s| !s.too_few)
        .take(top)
        .map(|s| {
            let m: Vec<f64> = s.macs.iter().map(|&x| x as f64 / 1e6).collect();
            Series::line(format!("r{} w{:.1}", s.resolution, s.width), cdf_points(&m))
        })
        .collect();
    crate::plot::save_png(
        &dir.join("space_cdf.png"),
        &[Chart {
            title: format!(
                "MACs of the fitting subnets ({}, {})",
                o.limits.device.name,
                o.limits.scheduler.name()
            ),
            x_label: "M MACs".into(),
            y_label: "share of fitting subnets".into(),
            series,
            vlines: vec![],
        }],
    )?;
    if let Some(best) = r.first().filter(|b| !b.too_few) {
        crate::io::write_atomic(
            &dir.join("chosen_space.json"),
            serde_json::to_string_pretty(&best.space(&o.base))
                .unwrap()
                .as_bytes(),
        )?;
    }
    Ok(())
}

pub fn space(a: &SpaceArgs) -> Result<()> {
    let o = space_options(a)?;
    let t = Instant::now();
    let r = rank_spaces(&o)?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "space optimization for {}: {} spaces × {} subnets in {:.2} s on {} threads",
        describe_limits(&o.limits),
        r.len(),
        o.samples,
        secs,
        o.threads
    );
    print_spaces(&o, &r, 20);
    match r.first() {
        Some(b) if !b.too_few => println!(
            "best space: resolution {}, width {} ({} of {} sampled subnets fit, mean {:.2} M MACs)",
            b.resolution,
            b.width,
            b.fitting,
            b.sampled,
            b.mean_macs / 1e6
        ),
        _ => {
            return Err(Error::Invalid(format!(
                "no space of the grid has enough subnets that fit {}; try lower resolutions and widths or a larger device",
                describe_limits(&o.limits)
            )));
        }
    }
    if let Some(dir) = &a.out {
        write_space_outputs(dir, &o, &r, a.top)?;
        println!(
            "wrote {0}/space.json, {0}/space_cdf.png, {0}/chosen_space.json (train it with `tinynas train --space {0}/chosen_space.json`)",
            dir.display()
        );
    }
    Ok(())
}

// ---------------------------------------------------------------- predictor

#[derive(Subcommand)]
pub enum PredictorCommand {
    /// Measure random subnets of a trained run (BN recalibration, validation top-1) into
    /// RUN/accuracy_pairs.jsonl.
    Collect(CollectArgs),
    /// Fit the MLP on RUN/accuracy_pairs.jsonl (on the GPU) into RUN/predictor.json.
    Fit(FitArgs),
}

#[derive(Args, Clone)]
pub struct CollectArgs {
    #[arg(long)]
    pub run: PathBuf,
    /// Subnets to measure (those already in the file count).
    #[arg(long, default_value_t = 100)]
    pub n: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Training images for BN recalibration (default: the run's setting).
    #[arg(long)]
    pub recal_images: Option<usize>,
}

#[derive(Args, Clone)]
pub struct FitArgs {
    #[arg(long)]
    pub run: PathBuf,
    #[arg(long, default_value_t = 64)]
    pub hidden: usize,
    #[arg(long, default_value_t = 600)]
    pub iterations: usize,
    #[arg(long, default_value_t = 3e-3)]
    pub lr: f32,
    /// Share of the pairs held out for the reported RMSE and Kendall's τ.
    #[arg(long, default_value_t = 0.2)]
    pub holdout: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Pair {
    pub subnet: SubnetConfig,
    pub top1: f64,
    pub macs: u64,
}

pub fn read_pairs(run: &Path) -> Vec<Pair> {
    std::fs::read_to_string(run.join("accuracy_pairs.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// A loaded run: settings, supernet, data.
pub struct Run {
    pub cfg: RunConfig,
    pub net: Supernet,
    pub data: RunData,
}

pub fn open_run(e: &Rc<Engine>, dir: &Path) -> Result<Run> {
    let (cfg, net, state) = load_run(e, dir)?;
    let data = load_data(&cfg)?;
    if cfg
        .schedule
        .position(state.step, data.train.len() / cfg.batch)
        .is_some()
    {
        eprintln!(
            "note: the run in {} stopped at step {}; its supernet is not fully trained",
            dir.display(),
            state.step
        );
    }
    Ok(Run { cfg, net, data })
}

/// Measure `n` random subnets (seeded, spread over the space's resolutions) on the validation
/// split, appending to RUN/accuracy_pairs.jsonl; subnets measured before are kept.
pub fn collect(
    e: &Rc<Engine>,
    run_dir: &Path,
    run: &Run,
    n: usize,
    seed: u64,
    recal: usize,
    progress: bool,
) -> Result<Vec<Pair>> {
    let mut pairs = read_pairs(run_dir);
    let space = &run.cfg.space;
    let mut ev = SubnetEvaluator::new(
        e,
        &run.data.train,
        &run.data.val,
        recal.min(run.data.train.len()),
        space.in_channels,
        250,
        run.cfg.seed,
    )?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(run_dir.join("accuracy_pairs.jsonl"))?;
    let bar = if progress {
        indicatif::ProgressBar::new(n as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed}<{eta} {msg}")
            .unwrap(),
    );
    bar.set_position(pairs.len().min(n) as u64);
    let mut checker = Checker::new(Limits {
        device: Device::preset("stm32f412")?,
        scheduler: Scheduler::Analytic,
    });
    let mut i = 0u64;
    while pairs.len() < n {
        let mut rng = StdRng::seed_from_u64(derive_seed(seed, 10, i));
        i += 1;
        // The largest and smallest first: they anchor the predictor's range.
        let res = *space.resolutions.choose(&mut rng).unwrap();
        let s = match pairs.len() {
            0 => space.largest(*space.resolutions.iter().max().unwrap()),
            1 => space.smallest(*space.resolutions.iter().min().unwrap()),
            _ => space.sample(&mut rng, res),
        };
        if pairs.iter().any(|p| p.subnet == s) {
            continue;
        }
        let top1 = ev.accuracy(&run.net, &s)?;
        let macs = checker.footprint(space, &s)?.macs;
        let p = Pair {
            subnet: s,
            top1,
            macs,
        };
        writeln!(file, "{}", serde_json::to_string(&p).unwrap())?;
        bar.set_message(format!(
            "last: {:.2} % at {:.1} M MACs",
            top1 * 100.0,
            macs as f64 / 1e6
        ));
        bar.inc(1);
        pairs.push(p);
    }
    bar.finish_and_clear();
    Ok(pairs)
}

pub fn fit(
    e: &Rc<Engine>,
    run_dir: &Path,
    space: &SearchSpace,
    o: &FitOptions,
) -> Result<Predictor> {
    let pairs = read_pairs(run_dir);
    if pairs.is_empty() {
        return Err(Error::Invalid(format!(
            "{} has no measured subnets; run `tinynas predictor collect --run {}` first",
            run_dir.display(),
            run_dir.display()
        )));
    }
    let data: Vec<(SubnetConfig, f64)> = pairs.into_iter().map(|p| (p.subnet, p.top1)).collect();
    let p = Predictor::fit(e, space, &data, o)?;
    p.save(&run_dir.join("predictor.json"))?;
    Ok(p)
}

pub fn print_fit(p: &Predictor) {
    if let Some(r) = &p.report {
        println!(
            "predictor: {} training / {} held-out subnets; RMSE train {:.2} pts, held-out {:.2} pts; held-out Kendall τ {:.3}",
            r.train_pairs,
            r.heldout_pairs,
            r.train_rmse * 100.0,
            r.heldout_rmse * 100.0,
            r.heldout_kendall_tau
        );
    }
}

pub fn predictor(g: &GpuArgs, c: PredictorCommand) -> Result<()> {
    match c {
        PredictorCommand::Collect(a) => {
            let e = g.engine()?;
            let run = open_run(&e, &a.run)?;
            let recal = a.recal_images.unwrap_or(run.cfg.recal_images);
            let t = Instant::now();
            let pairs = collect(&e, &a.run, &run, a.n, a.seed, recal, true)?;
            println!(
                "{} measured subnets in {} ({:.1} s this time); top-1 from {:.2} % to {:.2} %",
                pairs.len(),
                a.run.join("accuracy_pairs.jsonl").display(),
                t.elapsed().as_secs_f64(),
                pairs.iter().map(|p| p.top1).fold(f64::INFINITY, f64::min) * 100.0,
                pairs.iter().map(|p| p.top1).fold(0.0, f64::max) * 100.0
            );
            Ok(())
        }
        PredictorCommand::Fit(a) => {
            let e = g.engine()?;
            let (cfg, _, _) = load_run(&e, &a.run)?;
            let o = FitOptions {
                hidden: a.hidden,
                iterations: a.iterations,
                lr: a.lr,
                holdout: a.holdout,
                seed: a.seed,
                ..FitOptions::default()
            };
            let p = fit(&e, &a.run, &cfg.space, &o)?;
            print_fit(&p);
            println!("wrote {}", a.run.join("predictor.json").display());
            Ok(())
        }
    }
}

// ---------------------------------------------------------------- search

#[derive(Args, Clone)]
pub struct SearchArgs {
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

#[derive(Serialize)]
pub struct SearchReport {
    pub subnet: SubnetConfig,
    pub score: f64,
    pub scored_by: &'static str,
    pub test_top1: f64,
    pub test_images: usize,
    pub device: Device,
    pub scheduler: &'static str,
    pub per_scheduler: Vec<serde_json::Value>,
    pub generations: usize,
    pub scored: usize,
    pub rejected: usize,
}

#[allow(clippy::too_many_arguments)]
pub fn run_search(
    e: &Rc<Engine>,
    run_dir: &Path,
    run: &Run,
    limits: &Limits,
    evo: &EvoOptions,
    measure: bool,
    recal: usize,
    out: &Path,
    progress: bool,
) -> Result<(EvoResult, SearchReport)> {
    let space = &run.cfg.space;
    let mut checker = Checker::new(limits.clone());
    let mut val_ev = SubnetEvaluator::new(
        e,
        &run.data.train,
        &run.data.val,
        recal.min(run.data.train.len()),
        space.in_channels,
        250,
        run.cfg.seed,
    )?;
    let predictor = if measure {
        None
    } else {
        let p = run_dir.join("predictor.json");
        if !p.is_file() {
            return Err(Error::Invalid(format!(
                "{} has no predictor.json; run `tinynas predictor collect --run {d}` and `tinynas predictor fit --run {d}` (or search with --measure)",
                run_dir.display(),
                d = run_dir.display()
            )));
        }
        let p = Predictor::load(&p)?;
        if &p.space != space {
            return Err(Error::Invalid(
                "predictor.json was fitted for another search space; fit it again".into(),
            ));
        }
        Some(p)
    };
    let bar = if progress {
        indicatif::ProgressBar::new(evo.generations as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} gen {pos}/{len} {elapsed}<{eta} {msg}")
            .unwrap(),
    );
    let mut score = |subs: &[SubnetConfig]| -> Result<Vec<f64>> {
        match &predictor {
            Some(p) => p.predict(e, subs),
            None => subs.iter().map(|s| val_ev.accuracy(&run.net, s)).collect(),
        }
    };
    let res = evolve(space, &mut checker, &mut score, evo, |_, best| {
        bar.set_message(format!("best {:.2} %", best * 100.0));
        bar.inc(1);
    })?;
    bar.finish_and_clear();
    // The winner measured directly on the test split.
    let mut test_ev = SubnetEvaluator::new(
        e,
        &run.data.train,
        &run.data.test,
        recal.min(run.data.train.len()),
        space.in_channels,
        250,
        run.cfg.seed,
    )?;
    let best = &res.best;
    let test_top1 = test_ev.accuracy(&run.net, &best.subnet)?;
    let network = mcu::net::from_subnet(space, &best.subnet)?;
    let mut per = Vec::new();
    for s in Scheduler::ALL {
        let r = mcu::evaluate(
            &network,
            &EvalOptions {
                scheduler: s,
                ..EvalOptions::default()
            },
        )?;
        per.push(serde_json::json!({
            "scheduler": s.name(), "macs": r.macs, "params": r.params, "flash_bytes": r.flash_bytes,
            "peak_sram_bytes": r.peak_sram_bytes, "peak_layer": r.peak_layer,
            "fits": limits.device.fits(r.peak_sram_bytes, r.flash_bytes),
        }));
    }
    let report = SearchReport {
        subnet: best.subnet.clone(),
        score: best.score,
        scored_by: if measure {
            "measured validation top-1"
        } else {
            "predictor"
        },
        test_top1,
        test_images: run.data.test.len(),
        device: limits.device.clone(),
        scheduler: limits.scheduler.name(),
        per_scheduler: per,
        generations: evo.generations,
        scored: res.scored,
        rejected: res.rejected,
    };
    std::fs::create_dir_all(out)?;
    crate::io::write_atomic(
        &out.join("best_subnet.json"),
        serde_json::to_string_pretty(&best.subnet)
            .unwrap()
            .as_bytes(),
    )?;
    let full = serde_json::json!({ "report": &report, "population": &res.population, "history": &res.history });
    crate::io::write_atomic(
        &out.join("search.json"),
        serde_json::to_string_pretty(&full).unwrap().as_bytes(),
    )?;
    let pts: Vec<(f64, f64)> = res
        .population
        .iter()
        .map(|c| (c.footprint.peak_sram_bytes as f64 / 1024.0, c.score * 100.0))
        .collect();
    crate::plot::save_png(
        &out.join("population.png"),
        &[Chart {
            title: format!("final population ({})", limits.device.name),
            x_label: format!("peak SRAM (KiB, {})", limits.scheduler.name()),
            y_label: if measure {
                "validation top-1 %".into()
            } else {
                "predicted top-1 %".into()
            },
            series: vec![Series::points("subnets", pts)],
            vlines: vec![(
                limits.device.sram_bytes as f64 / 1024.0,
                format!("{} SRAM", limits.device.name),
            )],
        }],
    )?;
    Ok((res, report))
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
            v["scheduler"].as_str().unwrap(),
            v["macs"].as_u64().unwrap() as f64 / 1e6,
            v["params"].as_u64().unwrap() as f64 / 1e3,
            kib(v["flash_bytes"].as_u64().unwrap()),
            kib(v["peak_sram_bytes"].as_u64().unwrap()),
            if v["fits"].as_bool().unwrap() {
                "fits"
            } else {
                "does not fit"
            }
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
    let e = g.engine()?;
    let run = open_run(&e, &a.run)?;
    let evo = EvoOptions {
        population: a.population,
        parent_ratio: a.parent_ratio,
        mutation_prob: a.mutation_prob,
        mutation_ratio: a.mutation_ratio,
        generations: a.generations,
        seed: a.seed,
        ..EvoOptions::default()
    };
    let out = a.out.clone().unwrap_or_else(|| a.run.join("search"));
    let recal = a.recal_images.unwrap_or(run.cfg.recal_images);
    let t = Instant::now();
    let (res, report) = run_search(
        &e, &a.run, &run, &limits, &evo, a.measure, recal, &out, true,
    )?;
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
