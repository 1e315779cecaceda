//! `tinynas eval`: one subnet of a trained run, after BN recalibration, on its test or
//! validation split (and, with `--int8`, through the integer executor).

use super::GpuArgs;
use crate::Result;
use crate::error::Field;
use crate::observer::{Observer, Silent};
use crate::pipeline;
use crate::pipeline::eval::{EvalReport, EvalRunOptions, FloatReport, Int8Report, eval_run};
use crate::pipeline::inputs::{RunSubnet, SubnetChoice};
use clap::Args;
use std::path::PathBuf;
use std::rc::Rc;

/// Which images `eval` scores.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Test,
    Val,
}

impl From<Split> for pipeline::eval::Split {
    fn from(s: Split) -> Self {
        match s {
            Split::Test => pipeline::eval::Split::Test,
            Split::Val => pipeline::eval::Split::Val,
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
    #[arg(long, default_value = "max", value_parser = super::subnet_arg)]
    pub subnet: SubnetChoice,
    /// Resolution for max/min (default: the space's largest for max, smallest for min).
    #[arg(long)]
    pub resolution: Option<usize>,
}

impl RunSubnetArgs {
    /// The subnet the flags choose, for the library to check against the run's space.
    pub fn subnet(&self) -> RunSubnet {
        RunSubnet {
            choice: self.subnet.clone(),
            resolution: self.resolution,
        }
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
        crate::io::check_trace_path(p, Field::Profile)?;
    }
    crate::bounds::recal_images(a.recal_images)?;
    crate::bounds::int(Field::CalibImages, a.calib_images, 1, 1_000_000)?;
    if a.int8 && a.profile.is_some() {
        return Err(crate::Error::Invalid(
            "--profile profiles the GPU evaluation; --int8 runs on the CPU: use one of them".into(),
        ));
    }
    let e = g.engine()?;
    // Only --int8 has said when the run stopped before the end of its schedule.
    let obs: Rc<dyn Observer> = if a.int8 {
        super::console::Console::new()
    } else {
        Rc::new(Silent)
    };
    let o = EvalRunOptions {
        split: a.split.into(),
        recal_images: a.recal_images,
        int8_calib_images: a.int8.then_some(a.calib_images),
        profile: a.profile.clone(),
    };
    let (report, profile) = eval_run(&e, &a.sub.run, &a.sub.subnet(), &o, &*obs)?;
    if let (Some(r), Some(p)) = (&profile, &a.profile) {
        super::console::print_profile(r, p);
    }
    if a.json {
        // Through a JSON value, whose keys are sorted, as the printed object always was.
        let v = serde_json::to_value(&report).expect("a report serialises");
        println!("{}", serde_json::to_string_pretty(&v).unwrap());
        return Ok(());
    }
    match report {
        EvalReport::Float(r) => print_float(&r),
        EvalReport::Int8(r) => print_int8(&r),
    }
    Ok(())
}

fn print_float(r: &FloatReport) {
    println!("subnet: {}", serde_json::to_string(&r.subnet).unwrap());
    println!(
        "  {:.2} M MACs, {:.1} k params, flash {:.1} KiB, SRAM {:.1} KiB (the generated C: its image; its arena {:.1} KiB + stack)",
        r.macs as f64 / 1e6,
        r.params as f64 / 1e3,
        r.flash_bytes as f64 / 1024.0,
        r.sram_bytes_tinyengine as f64 / 1024.0,
        r.peak_sram_bytes_tinyengine as f64 / 1024.0
    );
    println!(
        "top-1 on {} ({} images, BN recalibrated on {} training images, step {}): {:.2} %",
        r.split,
        r.images,
        r.recal_used,
        r.step,
        r.top1 * 100.0
    );
}

/// `eval --int8`: the supernet's float top-1, the exported float network's and the int8
/// model's on the same pixels.
fn print_int8(r: &Int8Report) {
    println!("subnet: {}", serde_json::to_string(&r.subnet).unwrap());
    println!(
        "top-1 on {} ({} images): supernet {:.2} %, exported float {:.2} %, int8 {:.2} % ({:+.2} points; calibrated on {} training images)",
        r.split,
        r.images,
        r.supernet_top1 * 100.0,
        r.float_top1 * 100.0,
        r.int8_top1 * 100.0,
        (r.int8_top1 - r.float_top1) * 100.0,
        r.calib_used
    );
}
