//! MCUNetV2 patch-based inference: the first blocks run patch by patch (n×n patches of the
//! stage's output, input patches grown by each layer's receptive field) into a full-size stage
//! output; the rest runs layer by layer. Memory follows the analytic rules (in-place depthwise,
//! residual add fused into the projection); the input image is read per patch, not held.
//! By default the stage is the prefix of blocks that gives the lowest overall peak.

use super::graph::{Graph, OpKind};
use super::sched::{Peak, analytic_live, argmax};
use crate::error::{Error, Result};
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct PatchPlan {
    pub patches: usize,
    /// Ops 0..=stage_end run per patch.
    pub stage_end: usize,
    /// Patch edge (in that tensor's pixels) of every tensor of the stage.
    pub patch_size: Vec<usize>,
    pub stage_peak_bytes: u64,
    pub after_stage_peak_bytes: u64,
    pub stage_output_bytes: u64,
    /// MACs the overlapping patches compute beyond layer-by-layer inference.
    pub extra_macs: u64,
}

/// Candidate stage ends: block boundaries (the stem or a block's last op) before any op that
/// needs the whole feature map, whose output still splits into `patches` patches.
pub fn stage_end_candidates(g: &Graph, patches: usize) -> Vec<usize> {
    let mut ends = Vec::new();
    for (i, op) in g.ops.iter().enumerate() {
        if matches!(op.kind, OpKind::Pool | OpKind::SePool | OpKind::Linear) {
            break;
        }
        let next_same_block = g
            .ops
            .get(i + 1)
            .is_some_and(|n| n.block.is_some() && n.block == op.block);
        if !next_same_block && g.tensors[op.output].h >= patches {
            ends.push(i);
        }
    }
    ends
}

/// The patch stage with the lowest overall peak (ties: the shorter stage).
pub fn best_plan(g: &Graph, patches: usize) -> Result<(PatchPlan, Peak)> {
    let mut best: Option<(PatchPlan, Peak)> = None;
    for end in stage_end_candidates(g, patches) {
        let (plan, peak) = plan(g, patches, end)?;
        if best
            .as_ref()
            .is_none_or(|b| peak.peak_sram_bytes < b.1.peak_sram_bytes)
        {
            best = Some((plan, peak));
        }
    }
    best.ok_or_else(|| {
        Error::Invalid(format!(
            "patch: no block output splits into {patches}x{patches} patches before the pooling"
        ))
    })
}

pub fn plan(g: &Graph, patches: usize, stage_end: usize) -> Result<(PatchPlan, Peak)> {
    if patches == 0 || stage_end >= g.ops.len() {
        return Err(Error::Invalid(format!(
            "patch: {patches} patches, stage ending at op {stage_end} of {}",
            g.ops.len()
        )));
    }
    if let Some(op) = g.ops[..=stage_end]
        .iter()
        .find(|o| matches!(o.kind, OpKind::SePool | OpKind::Pool))
    {
        return Err(Error::Invalid(format!(
            "patch: {} needs the whole feature map and cannot run per patch; end the patch stage before it",
            op.name
        )));
    }
    let end_t = g.ops[stage_end].output;
    let out = g.tensors[end_t];
    let mut ps = vec![0usize; g.tensors.len()];
    ps[end_t] = out.h.div_ceil(patches);
    for op in g.ops[..=stage_end].iter().rev() {
        let po = ps[op.output];
        let pi = if op.kind == OpKind::Add {
            po
        } else {
            (po - 1) * op.stride + op.kernel_size
        };
        for &t in &op.inputs {
            ps[t] = ps[t].max(pi.min(g.tensors[t].h));
        }
    }
    let bytes = |t: usize| (ps[t] * ps[t] * g.tensors[t].c) as u64;
    let stage_output_bytes = out.bytes();
    let mut stage_peak = 0u64;
    let (mut patch_macs, mut stage_macs) = (0u64, 0u64);
    for (i, op) in g.ops[..=stage_end].iter().enumerate() {
        let o = g.tensors[op.output];
        stage_macs += op.macs;
        patch_macs += op.macs / (o.h * o.w) as u64 * (ps[op.output] * ps[op.output]) as u64;
        if op.kind == OpKind::Add {
            continue;
        }
        let ins: u64 = op.inputs.iter().map(|&t| bytes(t)).sum();
        // The last op writes straight into the full stage output.
        let outb = if i == stage_end { 0 } else { bytes(op.output) };
        let mut m = if op.kind == OpKind::Depthwise {
            ins.max(outb)
        } else {
            ins + outb
        };
        let feeds_add = g.ops.get(i + 1).is_some_and(|n| n.kind == OpKind::Add);
        if let Some(r) = op.residual
            && !op.inputs.contains(&r)
            && !feeds_add
        {
            m += bytes(r);
        }
        stage_peak = stage_peak.max(m + stage_output_bytes);
    }
    let extra_macs = patch_macs * (patches * patches) as u64 - stage_macs;
    let (mut peak, live) = analytic_live(g, true);
    let after = peak.per_op[stage_end + 1..]
        .iter()
        .copied()
        .max()
        .unwrap_or(0);
    for v in &mut peak.per_op[..=stage_end] {
        *v = stage_peak;
    }
    let peak_op = argmax(&peak.per_op);
    peak.peak_op = peak_op;
    peak.peak_sram_bytes = peak.per_op[peak_op];
    peak.peak_tensors = if peak_op <= stage_end {
        vec![end_t]
    } else {
        live[peak_op].clone()
    };
    let plan = PatchPlan {
        patches,
        stage_end,
        patch_size: ps,
        stage_peak_bytes: stage_peak,
        after_stage_peak_bytes: after,
        stage_output_bytes,
        extra_macs,
    };
    Ok((plan, peak))
}
