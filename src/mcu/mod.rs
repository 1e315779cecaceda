//! The MCU evaluator: MACs, parameters, flash and peak SRAM of a network as TinyEngine, TF Lite
//! Micro, the analytic bound and patch-based inference would run it. Pure CPU.

pub mod device;
pub mod fast;
pub mod graph;
pub mod image;
pub mod latency;
pub mod latency_fit;
pub mod patch;
pub mod patch_code;
pub mod place;
pub mod sched;
pub mod tflm_tail;
pub mod walk;

pub use device::Device;
pub use sched::Scheduler;

use crate::Result;
use crate::arch::Network;
use serde::Serialize;

/// Options of one evaluation.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    pub scheduler: Scheduler,
    /// Analytic scheduler: depthwise in place (default true).
    pub inplace_depthwise: bool,
    /// Patch scheduler: n×n patches and the op that ends the patch stage (default: automatic).
    pub patches: usize,
    pub patch_stage_end: Option<usize>,
    /// Flash taken by the runtime and code, added to the weights.
    pub runtime_flash_bytes: u64,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            scheduler: Scheduler::TinyEngine,
            inplace_depthwise: true,
            patches: 4,
            patch_stage_end: None,
            runtime_flash_bytes: 0,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub network: String,
    pub scheduler: Scheduler,
    pub macs: u64,
    pub params: u64,
    /// The deliverable's flash under the runtime the scheduler stands for (`image`), plus
    /// `runtime_flash_bytes`.
    pub flash_bytes: u64,
    /// The planner's peak (the arena).
    pub peak_sram_bytes: u64,
    /// The SRAM the device must hold: the peak plus the runtime's own (`image`).
    pub sram_bytes: u64,
    pub peak_layer: String,
    pub peak_tensors: Vec<String>,
    pub peak: sched::Peak,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<patch::PatchPlan>,
    /// The patch scheduler: what `export --patch` generates (its flash and SRAM are the
    /// report's), or why the generated C cannot run the stage in patches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch_code: Option<std::result::Result<patch_code::Estimate, String>>,
    #[serde(skip)]
    pub graph: graph::Graph,
}

pub fn evaluate(net: &Network, opts: &EvalOptions) -> Result<Report> {
    net.validate()?;
    // TF Lite Micro runs the exported model, PADs included.
    let g = walk::build_ops(net, opts.scheduler == Scheduler::Tflm);
    let (peak, patch) = match opts.scheduler {
        Scheduler::Analytic => (sched::analytic(&g, opts.inplace_depthwise), None),
        Scheduler::Tflm => (sched::tflm(&g), None),
        Scheduler::TinyEngine => (sched::tinyengine(&g), None),
        Scheduler::Patch => {
            let (plan, peak) = match opts.patch_stage_end {
                Some(end) => patch::plan(&g, opts.patches, end)?,
                None => patch::best_plan(&g, opts.patches)?,
            };
            (peak, Some(plan))
        }
    };
    let tensor_name = |t: usize| -> String {
        match g.ops.iter().find(|o| o.output == t) {
            Some(o) => format!(
                "{} out {}x{}x{}",
                o.name, g.tensors[t].h, g.tensors[t].w, g.tensors[t].c
            ),
            None => format!(
                "input {}x{}x{}",
                g.tensors[t].h, g.tensors[t].w, g.tensors[t].c
            ),
        }
    };
    let (flash, sram) = match opts.scheduler {
        Scheduler::TinyEngine => {
            let mut image = image::ImageCounter::default();
            walk::walk_ops(net, false, |o| image.add(o));
            (
                image.bytes(net.input.channels),
                peak.peak_sram_bytes + image::RUNTIME_STACK_BYTES,
            )
        }
        Scheduler::Tflm => {
            let tail = peak.tflm_tail.expect("the TFLM planner estimates its tail");
            let mut file = image::TfliteCounter::default();
            walk::walk_ops(net, true, |o| file.add(o));
            (file.bytes(), tail.reserve_mcu32(peak.peak_sram_bytes))
        }
        Scheduler::Analytic | Scheduler::Patch => (g.weight_bytes(), peak.peak_sram_bytes),
    };
    let patch_code = (opts.scheduler == Scheduler::Patch)
        .then(|| patch_code::estimate(net, &g, opts.patches).map_err(|e| e.to_string()));
    let (flash, sram) = match &patch_code {
        Some(Ok(c)) => (c.flash_bytes, c.sram_bytes),
        _ => (flash, sram),
    };
    Ok(Report {
        network: net.name.clone(),
        scheduler: opts.scheduler,
        macs: g.macs(),
        params: g.params(),
        flash_bytes: flash + opts.runtime_flash_bytes,
        peak_sram_bytes: peak.peak_sram_bytes,
        sram_bytes: sram,
        peak_layer: g.ops[peak.peak_op].name.clone(),
        peak_tensors: peak.peak_tensors.iter().map(|&t| tensor_name(t)).collect(),
        peak,
        patch,
        patch_code,
        graph: g,
    })
}
