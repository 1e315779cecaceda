//! `tinynas train`: the once-for-all supernet trained into a run directory.

use super::GpuArgs;
use crate::error::Field;
use crate::pipeline::train::{self, TrainOptions, TrainReport};
use crate::train::config::RunConfig;
use crate::train::schedule::Schedule;
use crate::train::supernet_run::RunOptions;
use crate::{Error, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Clone)]
pub struct TrainArgs {
    /// GPU options.
    #[command(flatten)]
    pub gpu: super::GpuArgs,
    /// Search space JSON (default: the MCUNet space of BENCHMARKS.md, width 0.5, with the data's input
    /// channels and classes and the resolutions of --resolution).
    #[arg(long)]
    pub space: Option<PathBuf>,
    /// Dataset folder (idx, CIFAR binary, image folders) or `synthetic`
    /// (default: the bundled Fashion-MNIST subset).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Run directory: checkpoints, metrics.jsonl, training.png.
    #[arg(long)]
    pub out: PathBuf,
    /// `progressive` (full → kernel → depth → expand), `joint` (all elastic from the start) or a
    /// schedule JSON file.
    #[arg(long, default_value = "progressive")]
    pub schedule: String,
    /// Epochs in total for the preset schedules (default 8; a schedule file sets its own).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Peak learning rate of the first phase, SGD Nesterov, cosine with warm-up (default 0.1;
    /// preset schedules only).
    #[arg(long)]
    pub lr: Option<f32>,
    /// Subnets per step in the elastic phases: largest, smallest, random ones (default 4;
    /// preset schedules only).
    #[arg(long)]
    pub subnets: Option<usize>,
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Input resolutions of the default space (one is drawn per batch).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "32",
        conflicts_with = "space"
    )]
    pub resolution: Vec<usize>,
    /// Width multiplier of the default space.
    #[arg(long, default_value_t = 0.5, conflicts_with = "space")]
    pub width: f64,
    /// OFA's learned kernel transformations (7→5→3) instead of plain centre crops.
    #[arg(long)]
    pub kernel_transform: bool,
    /// Use only the first N training images (0: all).
    #[arg(long, default_value_t = 0)]
    pub train_images: usize,
    /// Training images held out for validation.
    #[arg(long, default_value_t = 500)]
    pub val_images: usize,
    /// Training images for BN recalibration before each validation.
    #[arg(long, default_value_t = 2000)]
    pub recal_images: usize,
    /// Image folders: the size images are resized to on loading (default 32).
    #[arg(long)]
    pub image_size: Option<usize>,
    #[arg(long, default_value_t = 3e-5)]
    pub weight_decay: f32,
    #[arg(long, default_value_t = 0.1)]
    pub label_smoothing: f32,
    /// Weight of the largest subnet's soft predictions in the other subnets' loss.
    #[arg(long, default_value_t = 1.0)]
    pub distill_weight: f32,
    /// Random crop after zero padding (pixels; 0 = off).
    #[arg(long, default_value_t = 2)]
    pub crop_pad: usize,
    /// Random horizontal flips.
    #[arg(long)]
    pub flip: bool,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Continue the run in --out from its last checkpoint (the same settings are required).
    #[arg(long)]
    pub resume: bool,
    /// Checkpoint every K steps as well as at every epoch and phase end.
    #[arg(long, default_value_t = 0)]
    pub checkpoint_every: usize,
    /// Stop (with a checkpoint) after this many steps in total.
    #[arg(long)]
    pub max_steps: Option<usize>,
    /// Threads preparing batches ahead of the GPU (1 to 64).
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Profile --profile-steps steps after the first: per-kernel table (GFLOP/s, GB/s) and a
    /// Chrome/Perfetto trace written to this file.
    #[arg(long)]
    pub profile: Option<PathBuf>,
    #[arg(long, default_value_t = 3, requires = "profile")]
    pub profile_steps: usize,
}

/// The run configuration the train arguments describe.
pub fn run_config(a: &TrainArgs) -> Result<RunConfig> {
    let data = a.data.clone().unwrap_or_else(super::default_data);
    let data_s = crate::data::recorded_spec(&data)?;
    for &r in &a.resolution {
        crate::bounds::int(Field::Resolution, r, 1, crate::bounds::MAX_RESOLUTION)?;
    }
    crate::bounds::positive(Field::Width, a.width, 8.0)?;
    let image_size = a.image_size.unwrap_or(32);
    crate::bounds::int(
        Field::ImageSize,
        image_size,
        1,
        crate::bounds::MAX_RESOLUTION,
    )?;
    if a.image_size.is_some() && !data.join("train").is_dir() {
        return Err(Error::Invalid(format!(
            "--image-size applies to image folders (train/<class>/, test/<class>/); {} is not one",
            data.display()
        )));
    }
    let preset = matches!(a.schedule.as_str(), "progressive" | "joint");
    if !preset && (a.epochs.is_some() || a.lr.is_some() || a.subnets.is_some()) {
        return Err(Error::Invalid(format!(
            "--epochs, --lr and --subnets shape the preset schedules; the schedule file {} sets its own",
            a.schedule
        )));
    }
    let (epochs, lr, subnets) = (
        a.epochs.unwrap_or(8),
        a.lr.unwrap_or(0.1),
        a.subnets.unwrap_or(4),
    );
    crate::bounds::int(Field::Epochs, epochs, 1, 100_000)?;
    crate::bounds::positive(Field::Lr, lr as f64, f64::MAX)?;
    crate::bounds::int(Field::Subnets, subnets, 1, 64)?;
    let mut space = match &a.space {
        Some(p) => crate::pipeline::inputs::read_space(p)?,
        // Channels and classes come from the data.
        None => crate::pipeline::train::default_space(&data, image_size, &a.resolution, a.width)?,
    };
    if a.kernel_transform {
        space.kernel_transform = true;
    }
    space.validate()?;
    let schedule = Schedule::resolve(&a.schedule, &space, epochs, lr, subnets)?;
    let cfg = RunConfig {
        image_size,
        train_images: a.train_images,
        val_images: a.val_images,
        recal_images: a.recal_images,
        batch: a.batch,
        weight_decay: a.weight_decay,
        label_smoothing: a.label_smoothing,
        distill_weight: a.distill_weight,
        crop_pad: a.crop_pad,
        flip: a.flip,
        seed: a.seed,
        ..RunConfig::new(&data_s, space, schedule)
    };
    cfg.validate()?;
    Ok(cfg)
}

pub fn train(g: &GpuArgs, a: &TrainArgs) -> Result<()> {
    // Started by mpirun as one of several ranks: each takes its own adapter of its host; rank 0
    // alone reads and writes the run directory, and prints.
    let comm = crate::train::dist::join()?;
    let result = train_ranks(g, a, &comm);
    super::end_ranks(comm, result)
}

fn train_ranks(
    g: &GpuArgs,
    a: &TrainArgs,
    comm: &std::rc::Rc<dyn crate::train::dist::Collective>,
) -> Result<()> {
    let lead = comm.rank() == 0;
    let run = RunOptions {
        out: a.out.clone(),
        resume: a.resume,
        checkpoint_every: a.checkpoint_every,
        max_steps: a.max_steps,
        workers: a.workers,
        no_validation: false,
        profile: a.profile.clone(),
        profile_steps: a.profile_steps,
        comm: Some(comm.clone()),
    };
    train::check_run_options(&run, lead)?;
    let mut cfg = run_config(a)?;
    cfg.f16_gemm = g.f16;
    cfg.f16_activations = g.f16_activations;
    cfg.ranks = comm.size();
    let e = super::rank_engine(g, &**comm)?;
    let training = train::prepare(&e, TrainOptions { cfg, run })?;
    if lead {
        print_plan(training.cfg(), training.params);
    }
    let observer: Box<dyn crate::observer::Observer> = if lead {
        Box::new(super::console::Console::default())
    } else {
        Box::new(crate::observer::Silent)
    };
    let r = training.run(&*observer)?;
    if lead {
        print_report(&r);
    }
    Ok(())
}

/// What a run did, as rank 0 prints it.
fn print_report(r: &TrainReport) {
    let s = &r.summary;
    if !s.finished {
        println!(
            "stopped after step {} (--max-steps); continue with --resume",
            s.steps
        );
        return;
    }
    if s.steps == s.resumed_at {
        // No step ran: a rate and a time would be figures of nothing.
        println!(
            "the run in {} had already finished its {} steps: nothing to train",
            r.out.display(),
            s.steps
        );
        return;
    }
    println!(
        "trained {} steps in {:.1} s ({:.0} image-subnets/s) on {}{}",
        s.steps - s.resumed_at,
        s.seconds,
        s.image_subnets_per_s,
        r.adapter,
        if r.ranks > 1 {
            format!(" and {} other rank(s)", r.ranks - 1)
        } else {
            String::new()
        }
    );
    if let (Some(l), Some(sm)) = (s.largest_val, s.smallest_val) {
        println!(
            "validation top-1: largest {:.2} %, smallest {:.2} %",
            l * 100.0,
            sm * 100.0
        );
    }
    println!(
        "run: {} (state.json, weights-*.safetensors, metrics.jsonl, training.png)",
        r.out.display()
    );
}

/// The supernet and schedule a run trains.
fn print_plan(cfg: &RunConfig, n: usize) {
    if cfg.ranks > 1 {
        println!(
            "data-parallel: {} ranks of {} images each, {} images a step",
            cfg.ranks,
            cfg.batch,
            cfg.ranks * cfg.batch
        );
    }
    println!(
        "supernet: widths {:?}, kernels {:?}, expand {:?}, depth {:?}, resolutions {:?}; {} parameters, {:.2e} subnets per resolution",
        cfg.space.widths(),
        cfg.space.kernel_choices,
        cfg.space.expand_choices,
        cfg.space.depth_choices,
        cfg.space.resolutions,
        n,
        cfg.space.subnet_count()
    );
    for p in &cfg.schedule.phases {
        println!(
            "  phase {:<7} {} epoch(s), lr {}, {} subnet(s)/step{}",
            p.name,
            p.epochs,
            p.lr,
            p.subnets_per_step,
            if p.reorder_channels {
                ", channels re-ordered first"
            } else {
                ""
            }
        );
    }
}
