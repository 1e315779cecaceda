//! `eval`'s job: one subnet of a trained run, after BN recalibration, on its test or validation
//! split, with its footprint as the generated C; or, as exported, extracted and quantized to
//! int8, beside its float twin on the same pixels.

use super::inputs::RunSubnet;
use crate::arch::SubnetConfig;
use crate::gpu::report::ProfileReport;
use crate::mcu::{EvalOptions as McuOptions, Scheduler, evaluate};
use crate::observer::Observer;
use crate::train::open::{Run, open_run};
use crate::{Engine, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Which images `eval` scores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

#[derive(Clone, Debug)]
pub struct EvalOptions {
    pub subnet: SubnetConfig,
    pub split: Split,
    /// Training images for BN recalibration (None: the run's setting).
    pub recal_images: Option<usize>,
    /// Score the exported int8 model, calibrated on this many training images.
    pub int8_calib_images: Option<usize>,
    /// Profile the GPU evaluation (the caller finishes the profile).
    pub profile: bool,
}

/// `eval` of a run's folder: `EvalOptions` but for the subnet, chosen once the run's space is
/// known, and the profile, written here.
#[derive(Clone, Debug)]
pub struct EvalRunOptions {
    pub split: Split,
    /// Training images for BN recalibration (None: the run's setting).
    pub recal_images: Option<usize>,
    /// Score the exported int8 model, calibrated on this many training images.
    pub int8_calib_images: Option<usize>,
    /// Profile the GPU evaluation; its Chrome/Perfetto trace is written here.
    pub profile: Option<PathBuf>,
}

/// The float evaluation (its JSON is `eval --json`'s object).
#[derive(Clone, Debug, Serialize)]
pub struct FloatReport {
    pub run: String,
    pub step: usize,
    pub subnet: SubnetConfig,
    pub split: &'static str,
    pub images: usize,
    /// As asked; `recal_used` is what the training split could give.
    pub recal_images: usize,
    #[serde(skip)]
    pub recal_used: usize,
    pub top1: f64,
    pub macs: u64,
    pub params: u64,
    pub flash_bytes: u64,
    pub peak_sram_bytes_tinyengine: u64,
    pub sram_bytes_tinyengine: u64,
}

/// The exported model's evaluation (its JSON is `eval --int8 --json`'s object).
#[derive(Clone, Debug, Serialize)]
pub struct Int8Report {
    pub run: String,
    pub subnet: SubnetConfig,
    pub split: &'static str,
    pub images: usize,
    pub recal_images: usize,
    pub calib_images: usize,
    /// Calibration images the training split could give.
    #[serde(skip)]
    pub calib_used: usize,
    pub supernet_top1: f64,
    pub float_top1: f64,
    pub int8_top1: f64,
}

#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum EvalReport {
    Float(FloatReport),
    Int8(Int8Report),
}

/// Opens the run in `dir` (where it stopped told to `obs`), picks the subnet `subnet` chooses in
/// its space (checked against it) and scores it; with `o.profile`, the evaluation's profile too (its trace written).
pub fn eval_run(
    e: &Rc<Engine>,
    dir: &Path,
    subnet: &RunSubnet,
    o: &EvalRunOptions,
    obs: &dyn Observer,
) -> Result<(EvalReport, Option<ProfileReport>)> {
    let run = open_run(e, dir, obs)?;
    let eo = EvalOptions {
        subnet: subnet.config(&run.cfg.space)?,
        split: o.split,
        recal_images: o.recal_images,
        int8_calib_images: o.int8_calib_images,
        profile: o.profile.is_some(),
    };
    let report = eval(e, &run, &eo)?;
    let profile = match &o.profile {
        Some(p) => Some(crate::io::finish_profiling(&e.gpu, p)?),
        None => None,
    };
    Ok((report, profile))
}

/// Score `o.subnet` of `run` on `o.split`.
pub fn eval(e: &Rc<Engine>, run: &Run, o: &EvalOptions) -> Result<EvalReport> {
    let split = match o.split {
        Split::Test => &run.data.test,
        Split::Val => &run.data.val,
    };
    let recal = o.recal_images.unwrap_or(run.cfg.recal_images);
    let mut ev = run.evaluator(e, split, recal)?;
    let subnet = o.subnet.clone();
    if let Some(calib) = o.int8_calib_images {
        let q = super::export::extract_and_quantize(run, &subnet, &mut ev, calib)?;
        let rgb = crate::data::input_rgb(run.data.train.channels, run.cfg.space.in_channels)?;
        let (float_top1, int8_top1) = crate::export::accuracy::accuracy(&q.q, split, rgb);
        return Ok(EvalReport::Int8(Int8Report {
            run: run.dir.display().to_string(),
            subnet,
            split: o.split.name(),
            images: split.len(),
            recal_images: recal,
            calib_images: calib,
            calib_used: calib.min(run.data.train.len()),
            supernet_top1: q.supernet_top1,
            float_top1,
            int8_top1,
        }));
    }
    if o.profile {
        e.gpu.start_profiling(false);
    }
    let top1 = ev.accuracy(&run.net, &subnet)?;
    let network = crate::arch::subnet::from_subnet(&run.cfg.space, &subnet)?;
    let rep = evaluate(
        &network,
        &McuOptions {
            scheduler: Scheduler::TinyEngine,
            ..McuOptions::default()
        },
    )?;
    Ok(EvalReport::Float(FloatReport {
        run: run.dir.display().to_string(),
        step: run.step,
        subnet,
        split: o.split.name(),
        images: split.len(),
        recal_images: recal,
        recal_used: recal.min(run.data.train.len()),
        top1,
        macs: rep.macs,
        params: rep.params,
        flash_bytes: rep.flash_bytes,
        peak_sram_bytes_tinyengine: rep.peak_sram_bytes,
        sram_bytes_tinyengine: rep.sram_bytes,
    }))
}
