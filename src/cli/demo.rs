//! `tinynas demo`, the main job: space optimization for the device, a short supernet training in
//! the chosen space, predictor data and fit, evolutionary search, and the chosen model with its
//! measured accuracy and memory — on the bundled Fashion-MNIST subset by default.

use super::GpuArgs;
use super::predictor::{collect, fit, open_run, print_fit};
use super::search::{print_search, run_search};
use super::space::{LimitArgs, print_spaces, write_space_outputs};
use crate::search::describe_limits;
use crate::search::evolution::EvoOptions;
use crate::search::predictor::FitOptions;
use crate::search::space::{Rank, SpaceOptions, default_resolutions, default_widths, rank_spaces};
use crate::supernet::SearchSpace;
use crate::train::run::{RunConfig, RunOptions, train_supernet};
use crate::train::schedule::Schedule;
use crate::{Error, Result};
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args, Clone)]
pub struct DemoArgs {
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Dataset (default: the bundled Fashion-MNIST subset).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Output folder (default: runs/demo-<unix time>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Training budget: the largest resolution the demo trains at.
    #[arg(long, default_value_t = 32)]
    pub max_res: usize,
    /// Training budget: the largest width multiplier the demo trains.
    #[arg(long, default_value_t = 0.5)]
    pub max_width: f64,
    /// Supernet training epochs (all choices elastic from the start, several subnets per step).
    #[arg(long, default_value_t = 4)]
    pub epochs: usize,
    /// Subnets per step: the largest, the smallest, then random ones.
    #[arg(long, default_value_t = 3)]
    pub subnets: usize,
    /// Peak learning rate (SGD Nesterov, cosine with warm-up).
    #[arg(long, default_value_t = 0.05)]
    pub lr: f32,
    /// Use only the first N training images (0: all).
    #[arg(long, default_value_t = 0)]
    pub train_images: usize,
    /// Training images held out for validation (and the predictor's measurements).
    #[arg(long, default_value_t = 500)]
    pub val_images: usize,
    #[arg(long, default_value_t = 300)]
    pub recal_images: usize,
    /// Subnets measured for the predictor.
    #[arg(long, default_value_t = 50)]
    pub collect: usize,
    #[arg(long, default_value_t = 50)]
    pub population: usize,
    #[arg(long, default_value_t = 40)]
    pub generations: usize,
    /// Subnets sampled per space in the space optimization.
    #[arg(long, default_value_t = 1000)]
    pub samples: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

pub fn demo(g: &GpuArgs, a: &DemoArgs) -> Result<()> {
    let t0 = Instant::now();
    let data = a.data.clone().unwrap_or_else(super::default_data);
    let out = a.out.clone().unwrap_or_else(|| {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        PathBuf::from(format!("runs/demo-{secs}"))
    });
    crate::io::check_out_dir(&out, "--out")?;
    let limits = a.limits.limits()?;
    let (train, test) = crate::data::load_any(&data, 32)?;
    let base = SearchSpace {
        in_channels: train.channels,
        classes: train.classes,
        ..SearchSpace::default()
    };
    // Every option is checked here, before any work: the run settings (on the base space; the
    // chosen space replaces it), the predictor's and the search's.
    let data_s = if data.as_os_str() == "synthetic" {
        "synthetic".to_string()
    } else {
        std::path::absolute(&data)?.display().to_string()
    };
    let mut cfg = RunConfig::new(
        &data_s,
        base.clone(),
        Schedule::joint(a.epochs, a.lr, a.subnets),
    );
    cfg.train_images = a.train_images;
    cfg.val_images = a.val_images;
    cfg.recal_images = a.recal_images;
    cfg.seed = a.seed;
    cfg.f16_gemm = g.f16;
    cfg.f16_activations = g.f16_activations;
    if a.epochs == 0 {
        return Err(Error::Invalid("--epochs must be at least 1".into()));
    }
    cfg.validate()?;
    let fit_options = FitOptions {
        seed: a.seed,
        ..FitOptions::default()
    };
    fit_options.validate()?;
    let evo = EvoOptions {
        population: a.population,
        generations: a.generations,
        seed: a.seed,
        ..EvoOptions::default()
    };
    evo.validate()?;
    crate::bounds::int("--collect", a.collect, 5, 100_000)?;
    crate::bounds::int("--samples", a.samples, 1, 1_000_000)?;
    crate::bounds::int("--max-res", a.max_res, 1, crate::bounds::MAX_RESOLUTION)?;
    crate::bounds::positive("--max-width", a.max_width, 8.0)?;
    let _lock = crate::io::lock_dir(&out, "--out")?;
    if out.join("train").join("state.json").exists() {
        return Err(Error::Invalid(format!(
            "{} already holds a demo run; choose another --out",
            out.display()
        )));
    }
    println!(
        "tinynas demo: the most accurate model for {} on {} ({} training / {} test images, {}x{}x{}, {} classes)",
        describe_limits(&limits),
        data.display(),
        train.len(),
        test.len(),
        train.channels,
        train.height,
        train.width,
        train.classes
    );

    // 1. Space optimization over the full grid.
    println!(
        "\n[1/5] space optimization: which (resolution, width) space holds the most computation that fits"
    );
    let so = SpaceOptions {
        base: base.clone(),
        resolutions: default_resolutions(&[train.height]),
        widths: default_widths(),
        samples: a.samples,
        seed: a.seed,
        limits: limits.clone(),
        rank: Rank::Mean,
        min_fit: 0.05,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let t = Instant::now();
    let ranked = rank_spaces(&so)?;
    println!(
        "{} spaces × {} subnets in {:.2} s",
        ranked.len(),
        so.samples,
        t.elapsed().as_secs_f64()
    );
    print_spaces(&so, &ranked, 8);
    write_space_outputs(&out.join("space"), &so, &ranked, 5)?;
    let (rank, chosen) = ranked
        .iter()
        .enumerate()
        .find(|(_, s)| !s.too_few && s.resolution <= a.max_res && s.width <= a.max_width + 1e-9)
        .ok_or_else(|| {
            Error::Invalid(format!(
                "no space within the demo's training budget (resolution ≤ {}, width ≤ {}) fits {}",
                a.max_res,
                a.max_width,
                describe_limits(&limits)
            ))
        })?;
    if rank > 0 {
        println!(
            "overall best: resolution {}, width {}; within this demo's training budget for a 2-core CPU (resolution ≤ {}, width ≤ {}): resolution {}, width {} (rank {}).\n  On a GPU, train the overall best with `tinynas train --space {}/space/chosen_space.json`.",
            ranked[0].resolution,
            ranked[0].width,
            a.max_res,
            a.max_width,
            chosen.resolution,
            chosen.width,
            rank + 1,
            out.display()
        );
    } else {
        println!(
            "chosen: resolution {}, width {}",
            chosen.resolution, chosen.width
        );
    }
    let space = chosen.space(&base);

    // 2. Supernet training.
    println!(
        "\n[2/5] supernet training: widths {:?}, {:.1e} subnets, {} epochs, {} subnets per step",
        space.widths(),
        space.subnet_count(),
        a.epochs,
        a.subnets
    );
    let e = g.engine()?;
    cfg.space = space.clone();
    let run_dir = out.join("train");
    let opts = RunOptions {
        out: run_dir.clone(),
        workers: 1,
        progress: true,
        ..RunOptions::default()
    };
    let (_, s) = train_supernet(&e, &cfg, &opts)?;
    println!(
        "trained {} steps in {:.0} s ({:.0} image-subnets/s)",
        s.steps, s.seconds, s.image_subnets_per_s
    );

    // 3–4. Predictor.
    println!(
        "\n[3/5] predictor data: {} subnets measured (BN recalibration on {} images, validation top-1 on {})",
        a.collect, a.recal_images, a.val_images
    );
    let run = open_run(&e, &run_dir)?;
    let t = Instant::now();
    let pairs = collect(&e, &run_dir, &run, a.collect, a.seed, a.recal_images, true)?;
    println!(
        "measured in {:.0} s; top-1 from {:.2} % to {:.2} %",
        t.elapsed().as_secs_f64(),
        pairs.iter().map(|p| p.top1).fold(f64::INFINITY, f64::min) * 100.0,
        pairs.iter().map(|p| p.top1).fold(0.0, f64::max) * 100.0
    );
    println!("\n[4/5] predictor fit (MLP on the GPU)");
    let t = Instant::now();
    let p = fit(&e, &run_dir, &space, &fit_options)?;
    print_fit(&p);
    println!("fitted in {:.1} s", t.elapsed().as_secs_f64());

    // 5. Search.
    println!(
        "\n[5/5] evolutionary search: population {}, {} generations, under {}",
        a.population,
        a.generations,
        describe_limits(&limits)
    );
    let t = Instant::now();
    let (res, report) = run_search(
        &e,
        &run_dir,
        &run,
        &limits,
        &evo,
        false,
        a.recal_images,
        &out.join("search"),
        true,
    )?;
    println!(
        "{} subnets scored, {} rejected by the limits, {:.1} s",
        res.scored,
        res.rejected,
        t.elapsed().as_secs_f64()
    );
    print_search(&report, &space, &limits)?;
    println!(
        "\ndemo finished in {:.0} s on {}. Outputs in {}: space/ (ranking, CDF plot), train/ (supernet, metrics, training.png), search/ (best_subnet.json, population.png)",
        t0.elapsed().as_secs_f64(),
        e.gpu.info.name,
        out.display()
    );
    let mine = report
        .per_scheduler
        .iter()
        .find(|v| v["scheduler"] == limits.scheduler.name())
        .expect("every scheduler is reported");
    let num = |k: &str| mine[k].as_u64().unwrap_or(0) as f64;
    println!(
        "result: top-1 {:.2} %, {:.2} M MACs, peak SRAM {:.1} KiB ({}), flash {:.1} KiB on {}",
        report.test_top1 * 100.0,
        num("macs") / 1e6,
        num("peak_sram_bytes") / 1024.0,
        limits.scheduler.name(),
        num("flash_bytes") / 1024.0,
        limits.device.name
    );
    Ok(())
}
