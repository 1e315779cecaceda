//! `tinynas train-mobilenet`: train one fixed network from scratch (the small MobileNet, or
//! the network of `--net`) and print every epoch's loss and test top-1.

use super::console::Console;
use crate::Result;
use crate::pipeline::train::train_network;
use crate::train::fixed::FixedOptions;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Clone)]
pub struct TrainMobilenetArgs {
    /// GPU options.
    #[command(flatten)]
    pub gpu: super::GpuArgs,
    /// Dataset folder: MNIST-style idx(.gz) files, CIFAR-10/100 binary batches, or image
    /// folders train/<class>/ and test/<class>/ (default: the bundled Fashion-MNIST subset).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Network description (JSON, as `tinynas mem --net` reads) to train instead of the small
    /// MobileNet; its input must match the data's channels and size.
    #[arg(long)]
    pub net: Option<PathBuf>,
    #[arg(long, default_value_t = 4)]
    pub epochs: usize,
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Image folders: the size images are resized to (default: --net's resolution, else 32;
    /// refused for other data).
    #[arg(long)]
    pub image_size: Option<usize>,
    /// Peak learning rate (SGD Nesterov, cosine schedule with warm-up).
    #[arg(long, default_value_t = 0.1)]
    pub lr: f32,
    #[arg(long, default_value_t = 4e-5)]
    pub weight_decay: f32,
    #[arg(long, default_value_t = 0.1)]
    pub label_smoothing: f32,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Profile steps 1..=N (after one warm-up step): per-kernel table, and a Chrome/Perfetto
    /// trace written to this file.
    #[arg(long)]
    pub profile: Option<PathBuf>,
    /// Steps to profile with --profile.
    #[arg(long, default_value_t = 5, requires = "profile")]
    pub profile_steps: usize,
    /// Run directory: checkpoints (safetensors + state.json, written atomically) at every epoch
    /// end, every --checkpoint-every steps, and at --max-steps.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the run in --out from its last checkpoint (same settings required).
    #[arg(long, requires = "out")]
    pub resume: bool,
    #[arg(long, default_value_t = 0, requires = "out")]
    pub checkpoint_every: usize,
    /// Stop (with a checkpoint) after this many steps in total.
    #[arg(long)]
    pub max_steps: Option<usize>,
}

pub fn run(a: &TrainMobilenetArgs) -> Result<()> {
    let network = a
        .net
        .as_deref()
        .map(crate::pipeline::inputs::read_network)
        .transpose()?;
    let o = FixedOptions {
        data: a.data.clone().unwrap_or_else(super::default_data),
        image_size: a.image_size,
        network,
        epochs: a.epochs,
        batch: a.batch,
        lr: a.lr,
        weight_decay: a.weight_decay,
        label_smoothing: a.label_smoothing,
        seed: a.seed,
        out: a.out.clone(),
        resume: a.resume,
        checkpoint_every: a.checkpoint_every,
        max_steps: a.max_steps,
        profile: a.profile.clone().map(|p| (p, a.profile_steps)),
    };
    // Every option before the GPU opens: a mistake is named as itself, not as a missing GPU.
    o.validate()?;
    let e = a.gpu.engine()?;
    let console = Console::new();
    let r = train_network(&e, &o, console.as_ref())?;
    if r.stopped {
        println!(
            "stopped after step {} (--max-steps){}",
            r.steps,
            if a.out.is_some() {
                "; continue with --resume"
            } else {
                ""
            }
        );
        return Ok(());
    }
    if let Some((profiled, plain)) = r.profile_overhead {
        println!(
            "profiler overhead: {:.1} ms per profiled step vs {:.1} ms unprofiled ({:+.0} %)",
            profiled * 1e3,
            plain * 1e3,
            100.0 * (profiled / plain - 1.0)
        );
    }
    let ran = r.steps - r.resumed_at;
    if ran == 0 {
        println!(
            "the run was already complete at step {}: nothing to train",
            r.steps
        );
        return Ok(());
    }
    println!(
        "trained {ran} steps (to step {}) in {:.1} s ({:.0} images/s) on {}",
        r.steps, r.seconds, r.images_per_s, r.adapter
    );
    if let Some(acc) = r.final_top1() {
        println!(
            "final test top-1: {:.2} % ({} test images)",
            acc * 100.0,
            r.test_images
        );
    }
    Ok(())
}
