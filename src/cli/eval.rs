//! `tinynas eval`: one subnet of a trained run, after BN recalibration, on its test or
//! validation split (and, with `--int8`, through the integer executor).

use super::GpuArgs;
use crate::Result;
use crate::arch::{SearchSpace, SubnetConfig};
use crate::mcu::{self, EvalOptions, Scheduler};
use crate::train::eval::SubnetEvaluator;
use crate::train::run::{load_data, load_run};
use clap::Args;
use std::path::PathBuf;

/// Which images `eval` scores.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Test,
    Val,
}

impl Split {
    pub fn name(self) -> &'static str {
        match self {
            Split::Test => "test",
            Split::Val => "val",
        }
    }
}

/// A subnet of a trained run, as `eval` and `export` take it.
#[derive(Args, Clone)]
pub struct RunSubnetArgs {
    /// Run directory made by `tinynas train`.
    #[arg(long)]
    pub run: PathBuf,
    /// `max`, `min` or a subnet JSON file (`best_subnet.json` from `tinynas search`).
    #[arg(long, default_value = "max")]
    pub subnet: String,
    /// Resolution for max/min (default: the space's largest for max, smallest for min).
    #[arg(long)]
    pub resolution: Option<usize>,
}

impl RunSubnetArgs {
    /// The subnet, checked against `space`.
    pub fn subnet(&self, space: &SearchSpace) -> Result<SubnetConfig> {
        // Any resolution the space can run (BN is recalibrated), checked naming the flag.
        if let Some(r) = self.resolution
            && matches!(self.subnet.as_str(), "max" | "min")
        {
            space.validate()?;
            space.check_resolution(r, "--resolution")?;
        }
        super::read::parse_subnet(space, &self.subnet, self.resolution)
    }
}

#[derive(Args, Clone)]
pub struct EvalArgs {
    /// GPU options.
    #[command(flatten)]
    pub gpu: super::GpuArgs,
    #[command(flatten)]
    pub sub: RunSubnetArgs,
    /// Training images for BN recalibration (default: the run's setting).
    #[arg(long)]
    pub recal_images: Option<usize>,
    /// Evaluate on the test split or the held-out validation split.
    #[arg(long, value_enum, default_value_t = Split::Test)]
    pub split: Split,
    /// Also the top-1 of the subnet as exported: extracted, quantized to int8 (calibrated on
    /// --calib-images training images) and run by the integer executor with TF Lite Micro's
    /// arithmetic, beside its float twin on the same pixels.
    #[arg(long)]
    pub int8: bool,
    /// Training images whose activation ranges set the int8 parameters (with --int8).
    #[arg(long, default_value_t = 256, requires = "int8")]
    pub calib_images: usize,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Profile the evaluation (BN recalibration and forward passes): per-kernel table and a
    /// Chrome/Perfetto trace here (not with --int8, which runs on the CPU).
    #[arg(long, conflicts_with = "int8")]
    pub profile: Option<PathBuf>,
}

pub fn eval(g: &GpuArgs, a: &EvalArgs) -> Result<()> {
    if let Some(p) = &a.profile {
        crate::io::check_trace_path(p, "--profile")?;
    }
    crate::bounds::recal_images(a.recal_images)?;
    crate::bounds::int("--calib-images", a.calib_images, 1, 1_000_000)?;
    if a.int8 && a.profile.is_some() {
        return Err(crate::Error::Invalid(
            "--profile profiles the GPU evaluation; --int8 runs on the CPU: use one of them".into(),
        ));
    }
    let e = g.engine()?;
    if a.int8 {
        return eval_int8(&e, a);
    }
    let (cfg, net, state) = load_run(&e, &a.sub.run)?;
    let subnet = a.sub.subnet(&cfg.space)?;
    let data = load_data(&cfg)?;
    let split = match a.split {
        Split::Test => &data.test,
        Split::Val => &data.val,
    };
    let recal = a.recal_images.unwrap_or(cfg.recal_images);
    let mut ev = SubnetEvaluator::new(
        &e,
        &data.train,
        split,
        recal.min(data.train.len()),
        cfg.space.in_channels,
        250,
        cfg.seed,
    )?;
    if a.profile.is_some() {
        e.gpu.start_profiling(false);
    }
    let acc = ev.accuracy(&net, &subnet)?;
    if let Some(p) = &a.profile {
        super::finish_profile(&e, p)?;
    }
    let network = crate::arch::net::from_subnet(&cfg.space, &subnet)?;
    let rep = mcu::evaluate(
        &network,
        &EvalOptions {
            scheduler: Scheduler::TinyEngine,
            ..EvalOptions::default()
        },
    )?;
    if a.json {
        let v = serde_json::json!({
            "run": a.sub.run.display().to_string(), "step": state.step, "subnet": subnet,
            "split": a.split.name(), "images": split.len(), "recal_images": recal, "top1": acc,
            "macs": rep.macs, "params": rep.params, "flash_bytes": rep.flash_bytes,
            "peak_sram_bytes_tinyengine": rep.peak_sram_bytes, "sram_bytes_tinyengine": rep.sram_bytes,
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap());
    } else {
        println!("subnet: {}", serde_json::to_string(&subnet).unwrap());
        println!(
            "  {:.2} M MACs, {:.1} k params, flash {:.1} KiB, SRAM {:.1} KiB (the generated C: its image; its arena {:.1} KiB + stack)",
            rep.macs as f64 / 1e6,
            rep.params as f64 / 1e3,
            rep.flash_bytes as f64 / 1024.0,
            rep.sram_bytes as f64 / 1024.0,
            rep.peak_sram_bytes as f64 / 1024.0
        );
        println!(
            "top-1 on {} ({} images, BN recalibrated on {} training images, step {}): {:.2} %",
            a.split.name(),
            split.len(),
            recal.min(data.train.len()),
            state.step,
            acc * 100.0
        );
    }
    Ok(())
}

/// `eval --int8`: the supernet's float top-1, the exported float network's and the int8
/// model's on the same pixels.
fn eval_int8(e: &std::rc::Rc<crate::Engine>, a: &EvalArgs) -> Result<()> {
    use crate::export::accuracy::accuracy;
    use crate::pipeline::export::extract_and_quantize;
    let console = super::console::Console::new();
    let run = crate::train::open::open_run(e, &a.sub.run, &*console)?;
    let subnet = a.sub.subnet(&run.cfg.space)?;
    let split = match a.split {
        Split::Test => &run.data.test,
        Split::Val => &run.data.val,
    };
    let recal = a.recal_images.unwrap_or(run.cfg.recal_images);
    let mut ev = run.evaluator(e, split, recal)?;
    let q = extract_and_quantize(&run, &subnet, &mut ev, a.calib_images)?;
    let rgb = crate::data::input_rgb(run.data.train.channels, run.cfg.space.in_channels)?;
    let (float_top1, int8_top1) = accuracy(&q.q, split, rgb);
    if a.json {
        let v = serde_json::json!({
            "run": a.sub.run.display().to_string(), "subnet": subnet, "split": a.split.name(),
            "images": split.len(), "recal_images": recal, "calib_images": a.calib_images,
            "supernet_top1": q.supernet_top1, "float_top1": float_top1, "int8_top1": int8_top1,
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap());
    } else {
        println!("subnet: {}", serde_json::to_string(&subnet).unwrap());
        println!(
            "top-1 on {} ({} images): supernet {:.2} %, exported float {:.2} %, int8 {:.2} % ({:+.2} points; calibrated on {} training images)",
            a.split.name(),
            split.len(),
            q.supernet_top1 * 100.0,
            float_top1 * 100.0,
            int8_top1 * 100.0,
            (int8_top1 - float_top1) * 100.0,
            a.calib_images.min(run.data.train.len())
        );
    }
    Ok(())
}
