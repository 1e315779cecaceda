//! Export of a trained run's subnet for a microcontroller: extraction (batch norm recalibrated
//! and folded), int8 calibration and quantization, float and int8 top-1 on the test split, and
//! the files firmware needs — model.tflite, model_data.cc/.h — with network.json (the format
//! `tinynas mem --net` reads), model.safetensors (the float weights) and report.json.

use super::firmware::elf_name;
use super::search_outputs::{SchedulerRow, scheduler_rows};
use crate::arch::SubnetConfig;
use crate::data::input_rgb;
use crate::error::Field;
use crate::export::accuracy::accuracy_and_logits;
use crate::export::{QGraph, QParams, calibrate, carray, extract, quantize, tflite};
use crate::mcu::Device;
use crate::observer::Observer;
use crate::train::eval::SubnetEvaluator;
use crate::train::open::Run;
use crate::{Engine, Error, Result};
use serde::Serialize;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;

#[derive(Clone, Debug)]
pub struct ExportOptions {
    pub subnet: SubnetConfig,
    /// Training images whose activation ranges set the int8 parameters.
    pub calib_images: usize,
    /// Training images for batch-norm recalibration before extraction.
    pub recal_images: usize,
    /// Folder for the files.
    pub out: PathBuf,
    /// Fine-tune the subnet (the largest as teacher) this many epochs before extraction, in
    /// memory (the run's files are not touched), from learning rate `finetune_lr`.
    pub finetune_epochs: usize,
    pub finetune_lr: f32,
    /// A Python with TF Lite Micro and LiteRT: run the model on `verify_images` test images
    /// before writing it; a difference from the executor fails the export.
    pub verify: Option<PathBuf>,
    pub verify_images: usize,
    /// Link the generated C runtime for this device (its core, flash and SRAM) and run it in
    /// QEMU on `target_images` test images; the ELF joins the files.
    pub target: Option<Device>,
    pub target_images: usize,
    /// Run the first stage of the generated C in n×n patches (MCUNetV2; None: layer by layer).
    pub patches: Option<usize>,
}

/// The files `export` writes (with `target`, also `elf_name(device)`).
pub const EXPORT_FILES: [&str; 10] = [
    "model.tflite",
    "model_data.cc",
    "model_data.h",
    "tinynas_model.h",
    "tinynas_model.c",
    "tinynas_kernels.h",
    "tinynas_kernels.c",
    "network.json",
    "model.safetensors",
    "report.json",
];

#[derive(Clone, Debug, Serialize)]
pub struct TensorReport {
    pub shape: Vec<usize>,
    pub scale: f32,
    pub zero_point: i32,
}

#[derive(Clone, Debug, Serialize)]
pub struct ExportReport {
    pub subnet: SubnetConfig,
    /// Epochs of fine-tuning before extraction, and the subnet's top-1 before them.
    pub finetune_epochs: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supernet_top1_before_finetune: Option<f64>,
    /// Top-1 of the subnet as the supernet runs it on the GPU (float, test split).
    pub supernet_top1: f64,
    /// Top-1 of the exported float network and of the int8 model (integer executor, TFLM's
    /// arithmetic) on the same pixels of the test split.
    pub float_top1: f64,
    pub int8_top1: f64,
    pub test_images: usize,
    pub calib_images: usize,
    pub recal_images: usize,
    pub macs: u64,
    pub params: u64,
    pub ops: usize,
    pub tflite_bytes: usize,
    pub per_scheduler: Vec<SchedulerRow>,
    /// The tensor arena a TF Lite Micro user reserves: the planned head (exact: TFLM's greedy
    /// planner on this graph) and the persistent tail (estimated; within 0.1 % on the host).
    pub arena: Arena,
    /// The input: NHWC int8, a pixel of channel c mapped by the table in model_data.cc
    /// (its value normalised by `mean[c]`, `std[c]`, then quantized).
    pub input: TensorReport,
    pub input_mean: Vec<f32>,
    pub input_std: Vec<f32>,
    pub output: TensorReport,
    /// The check on the real runtimes (with `verify`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<crate::export::verify::Verification>,
    /// The generated C runtime (the deliverable that fits the device).
    pub firmware: super::firmware::FirmwareReport,
    pub seconds: f64,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct Arena {
    pub head_bytes: u64,
    pub tail_mcu32_bytes: u64,
    pub tail_host64_bytes: u64,
    /// head + the 32-bit tail, rounded up to 16 bytes, + 16 for TFLM's alignment of the
    /// arena's start: TINYNAS_ARENA_BYTES in model_data.h.
    pub reserve_mcu32_bytes: u64,
}

/// A subnet extracted and quantized, with its supernet top-1.
pub struct Quantized {
    pub q: QGraph,
    pub supernet_top1: f64,
}

/// Extract `subnet` of the run (batch norm recalibrated and its GPU top-1 measured by `ev`, an
/// evaluator of the run: `Run::evaluator`) and quantize it on `calib` training images.
pub fn extract_and_quantize(
    run: &Run,
    subnet: &SubnetConfig,
    ev: &mut SubnetEvaluator,
    calib: usize,
) -> Result<Quantized> {
    if calib == 0 {
        return Err(Error::bad(
            Field::CalibImages,
            0,
            "export needs at least one calibration image",
        ));
    }
    let space = &run.cfg.space;
    space.check(subnet)?;
    let train = &run.data.train;
    // Recalibrates the subnet's batch norm, then measures it.
    let supernet_top1 = ev.accuracy(&run.net, subnet)?;
    let g = extract(&run.net, subnet, &train.mean, &train.std)?;
    let rgb = input_rgb(train.channels, space.in_channels)?;
    let idx: Vec<usize> = if calib >= train.len() {
        (0..train.len()).collect()
    } else {
        let mut all: Vec<usize> = (0..train.len()).collect();
        use rand::seq::SliceRandom;
        all.shuffle(
            &mut <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(run.cfg.seed ^ 0xca11b),
        );
        all.truncate(calib);
        all
    };
    let images: Vec<Vec<f32>> = idx
        .iter()
        .map(|&i| g.norm.apply(&train.pixels(i, subnet.resolution, rgb)))
        .collect();
    let ranges = calibrate(&g, images.iter().map(|v| v.as_slice()));
    Ok(Quantized {
        q: quantize(&g, &ranges)?,
        supernet_top1,
    })
}

/// An input or output tensor of the model: its shape and int8 parameters.
fn tensor_report(q: &QGraph, t: usize) -> TensorReport {
    let s = q.graph.shapes[t];
    let QParams { scale, zero_point } = q.params[t];
    TensorReport {
        shape: if t == 0 {
            vec![1, s.h, s.w, s.c]
        } else {
            vec![1, s.c]
        },
        scale,
        zero_point,
    }
}

/// The files an export writes into --out (and may replace there): `EXPORT_FILES`, and the ELF
/// with --target.
pub fn claimed_files(target: Option<&Device>) -> Vec<String> {
    EXPORT_FILES
        .iter()
        .map(|f| f.to_string())
        .chain(target.map(elf_name))
        .collect()
}

/// Export `o.subnet` of `run` into `o.out`.
pub fn export(
    e: &Rc<Engine>,
    run: &Run,
    o: &ExportOptions,
    obs: &dyn Observer,
) -> Result<ExportReport> {
    let run_dir = run.dir.as_path();
    let t0 = Instant::now();
    run.cfg.space.check(&o.subnet)?;
    if let Some(py) = &o.verify {
        crate::export::verify::check_python(py)?;
    }
    if let Some(dev) = &o.target {
        super::firmware::check_target(dev)?;
        super::firmware::check_fits(
            &crate::arch::subnet::from_subnet(&run.cfg.space, &o.subnet)?,
            dev,
            o.patches,
        )?;
    }
    let claimed = claimed_files(o.target.as_ref());
    let claimed: Vec<&str> = claimed.iter().map(String::as_str).collect();
    crate::io::claim_outputs(&o.out, Field::Out, &claimed)?;
    // The run's checkpoint this export is made from, recorded in --out's manifest.
    let inputs = crate::train::checkpoint::input_entries(run_dir)?;
    obs.message(&format!(
        "extracting the subnet from {} and calibrating on {} training images",
        run_dir.display(),
        o.calib_images.min(run.data.train.len())
    ));
    let test = &run.data.test;
    // One evaluator (the test images uploaded once) before and after fine-tuning.
    let mut ev = run.evaluator(e, test, o.recal_images)?;
    let before = if o.finetune_epochs > 0 {
        let before = ev.accuracy(&run.net, &o.subnet)?;
        obs.message(&format!(
            "fine-tuning the subnet for {} epoch(s), the largest as teacher (top-1 before: {:.2} %)",
            o.finetune_epochs,
            before * 100.0
        ));
        super::finetune::finetune(e, run, &o.subnet, o.finetune_epochs, o.finetune_lr, obs)?;
        Some(before)
    } else {
        None
    };
    let Quantized { q, supernet_top1 } =
        extract_and_quantize(run, &o.subnet, &mut ev, o.calib_images)?;
    let rgb = input_rgb(run.data.train.channels, run.cfg.space.in_channels)?;
    obs.message(&format!(
        "measuring the float and int8 models on {} test images",
        test.len()
    ));
    let split = accuracy_and_logits(&q, test, rgb);
    let (float_top1, int8_top1) = (split.float_top1, split.int8_top1);
    let network = crate::arch::subnet::from_subnet(&run.cfg.space, &o.subnet)?;
    let rows = scheduler_rows(&network, None)?;
    let about = format!(
        "tinynas: subnet {} of the run in {}",
        serde_json::to_string(&o.subnet).unwrap(),
        run_dir.display()
    );
    let model = tflite::write(&q, &about);
    let tflm = crate::mcu::evaluate(
        &network,
        &crate::mcu::EvalOptions {
            scheduler: crate::mcu::Scheduler::Tflm,
            ..Default::default()
        },
    )?;
    let tail = tflm
        .peak
        .tflm_tail
        .expect("the TFLM scheduler estimates the tail");
    let arena = Arena {
        head_bytes: tflm.peak_sram_bytes,
        tail_mcu32_bytes: tail.mcu32_bytes,
        tail_host64_bytes: tail.host64_bytes,
        reserve_mcu32_bytes: tail.reserve_mcu32(tflm.peak_sram_bytes),
    };
    let (h, cc) = carray::sources(&q, &model, &about, arena.reserve_mcu32_bytes);
    let (sources, firmware, elf) = super::firmware::build_firmware(
        &q,
        &network,
        &about,
        &split,
        o.target.as_ref(),
        o.target_images,
        o.patches,
        &o.out,
        obs,
    )?;
    let verified = match &o.verify {
        None => None,
        Some(py) => {
            let n = o.verify_images.min(test.len());
            obs.message(&format!(
                "verifying model.tflite on TF Lite Micro and LiteRT ({n} test images)"
            ));
            let inputs: Vec<Vec<i8>> = (0..n)
                .map(|i| q.input_from_pixels(&test.pixels(i, o.subnet.resolution, rgb)))
                .collect();
            Some(crate::export::verify::verify(py, &q, &model, &inputs)?)
        }
    };
    let report = ExportReport {
        subnet: o.subnet.clone(),
        finetune_epochs: o.finetune_epochs,
        supernet_top1_before_finetune: before,
        supernet_top1,
        float_top1,
        int8_top1,
        test_images: test.len(),
        calib_images: o.calib_images.min(run.data.train.len()),
        recal_images: o.recal_images.min(run.data.train.len()),
        macs: rows[0].macs,
        params: rows[0].params,
        ops: q.graph.ops.len(),
        tflite_bytes: model.len(),
        per_scheduler: rows,
        arena,
        input: tensor_report(&q, 0),
        input_mean: q.graph.norm.mean.clone(),
        input_std: q.graph.norm.std.clone(),
        output: tensor_report(&q, q.graph.output()),
        verified,
        firmware,
        seconds: t0.elapsed().as_secs_f64(),
    };
    // Every file's bytes first, then the writes: nothing is written half-way by a failure.
    let [mh, mc, kh, kc] = sources.files().map(|(_, text)| text.as_bytes().to_vec());
    let mut files: Vec<(String, Vec<u8>)> = vec![
        ("model.tflite".into(), model),
        ("model_data.cc".into(), cc.into_bytes()),
        ("model_data.h".into(), h.into_bytes()),
        ("tinynas_model.h".into(), mh),
        ("tinynas_model.c".into(), mc),
        ("tinynas_kernels.h".into(), kh),
        ("tinynas_kernels.c".into(), kc),
        (
            "network.json".into(),
            serde_json::to_string_pretty(&network).unwrap().into_bytes(),
        ),
        (
            "model.safetensors".into(),
            crate::export::safetensors::float_weights(&q.graph)?,
        ),
        (
            "report.json".into(),
            serde_json::to_string_pretty(&report).unwrap().into_bytes(),
        ),
    ];
    debug_assert!(files.iter().map(|f| f.0.as_str()).eq(EXPORT_FILES));
    if let (Some(dev), Some(elf)) = (&o.target, elf) {
        files.push((elf_name(dev), elf));
    }
    // An earlier export's ELF (another device, or none this time) would sit beside a model it
    // does not hold: removed as the set is published whole (io::publish).
    let stale: Vec<String> = crate::io::owned_outputs(&o.out)
        .into_iter()
        .filter(|n| n.starts_with("tinynas_") && n.ends_with(".elf"))
        .collect();
    crate::io::publish_from(&o.out, "export", &files, &stale, inputs)?;
    Ok(report)
}
