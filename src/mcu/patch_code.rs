//! Patch-based inference as the generated C runs it (`tinynas export --patch N`): the one plan
//! both the code and its memory figure come from.
//!
//! The stage output (the output of op `stage_end`) is split into an n×n grid of patches; for
//! each patch every tensor of the stage gets the region its readers need (a convolution's
//! receptive field, clipped to the tensor; an ADD the region it writes), the input image
//! included. Every stage tensor but the stage output gets a buffer of its largest region; the
//! stage output is held whole from the first op on, and the last op writes each patch into it.
//! The buffers are then placed by TinyEngine's rules (4-byte sizes, in-place depthwise, first
//! fit) together with the layer-by-layer part after the stage, and the scratch region and the
//! kernel buffer are sized for the largest patch — the arena the code declares.
//!
//! `mcu::patch` is MCUNetV2's analytic count of the same idea (its published 172 KiB); this is
//! what the generated runtime holds, byte for byte.

use super::graph::{Graph, OpKind};
use super::image;
use super::place::{Order, place};
use super::sched::{Layout, buffers, depthwise_plane_bytes, op_buffers};
use crate::arch::net::Network;
use crate::error::{Error, Result};
use serde::Serialize;

/// Rows `y0..y1` and columns `x0..x1` of a tensor (half-open).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Region {
    pub y0: usize,
    pub y1: usize,
    pub x0: usize,
    pub x1: usize,
}

impl Region {
    pub fn h(&self) -> usize {
        self.y1 - self.y0
    }
    pub fn w(&self) -> usize {
        self.x1 - self.x0
    }
    fn union(self, o: Region) -> Region {
        Region {
            y0: self.y0.min(o.y0),
            y1: self.y1.max(o.y1),
            x0: self.x0.min(o.x0),
            x1: self.x1.max(o.x1),
        }
    }
    fn contains(&self, o: &Region) -> bool {
        self.y0 <= o.y0 && o.y1 <= self.y1 && self.x0 <= o.x0 && o.x1 <= self.x1
    }
}

/// The padding before the first row of a k×k convolution: k/2 (the trained network's, which
/// the export keeps: SAME at stride 1, an explicit PAD before stride 2).
pub fn conv_pad(kernel: usize) -> usize {
    kernel / 2
}

/// The input rows `a..b` of a convolution need for output rows `lo..hi` of a tensor `n` high.
fn receptive(lo: usize, hi: usize, k: usize, s: usize, n: usize) -> (usize, usize) {
    let p = conv_pad(k);
    let a = (lo * s).saturating_sub(p);
    let b = ((hi - 1) * s + k).saturating_sub(p).min(n);
    (a, b)
}

/// The generated code's patch plan.
#[derive(Clone, Debug, Serialize)]
pub struct PatchCode {
    /// Patches per side (the grid is `patches`×`patches`; empty patches dropped).
    pub patches: usize,
    /// Ops 0..=stage_end run per patch.
    pub stage_end: usize,
    /// Patches in the grid (empty ones dropped).
    pub patch_count: usize,
    /// Per patch (row-major), per tensor: its region (None outside the stage; the stage output
    /// holds the patch's own part).
    #[serde(skip)]
    pub regions: Vec<Vec<Option<Region>>>,
    /// Per tensor: the bytes its buffer holds (a stage tensor its largest region).
    #[serde(skip)]
    pub tensor_bytes: Vec<u64>,
    #[serde(skip)]
    pub layout: Layout,
    pub arena_bytes: u64,
    pub scratch_bytes: u64,
    pub kernel_bytes: u64,
    /// MACs the overlapping patches compute beyond layer-by-layer inference.
    pub extra_macs: u64,
}

impl PatchCode {
    /// The arena the code declares: activations, scratch, kernel buffer.
    pub fn total_bytes(&self) -> u64 {
        self.arena_bytes + self.scratch_bytes + self.kernel_bytes
    }
    pub fn stage_output(&self, g: &Graph) -> usize {
        g.ops[self.stage_end].output
    }
}

fn refuse(what: String) -> Error {
    Error::Invalid(format!("patch-based code: {what}"))
}

/// Stage ends the generated code can run: a block's last op (a projection or its ADD) before
/// anything that needs the whole feature map, whose output splits into `patches` rows.
pub fn stage_end_candidates(g: &Graph, patches: usize) -> Vec<usize> {
    super::patch::stage_end_candidates(g, patches)
        .into_iter()
        .filter(|&i| matches!(g.ops[i].kind, OpKind::Pointwise | OpKind::Add))
        .collect()
}

/// The candidate stage end whose plan declares the smallest arena (ties: the shorter stage).
pub fn best(g: &Graph, patches: usize) -> Result<PatchCode> {
    let mut best: Option<PatchCode> = None;
    let mut last_err = None;
    for end in stage_end_candidates(g, patches) {
        match plan(g, patches, end) {
            Ok(p) => {
                if best
                    .as_ref()
                    .is_none_or(|b| p.total_bytes() < b.total_bytes())
                {
                    best = Some(p);
                }
            }
            Err(e) => last_err = Some(e),
        }
    }
    best.ok_or_else(|| {
        last_err.unwrap_or_else(|| {
            refuse(format!(
                "no block ending in a projection or a residual add splits into {patches}x{patches} patches before the pooling"
            ))
        })
    })
}

/// The regions of one patch: the stage output's rows `oy`, columns `ox`, and back through the
/// stage every tensor's.
fn patch_regions(g: &Graph, stage_end: usize, out: Region) -> Result<Vec<Option<Region>>> {
    let mut reg: Vec<Option<Region>> = vec![None; g.tensors.len()];
    reg[g.ops[stage_end].output] = Some(out);
    for op in g.ops[..=stage_end].iter().rev() {
        let ro = reg[op.output].ok_or_else(|| {
            refuse(format!(
                "{}: its output feeds nothing in the stage",
                op.name
            ))
        })?;
        let need = match op.kind {
            OpKind::Add => ro,
            OpKind::Conv | OpKind::Depthwise | OpKind::Pointwise => {
                let t = g.tensors[op.inputs[0]];
                let (k, s) = (op.kernel_size, op.stride);
                let (y0, y1) = receptive(ro.y0, ro.y1, k, s, t.h);
                let (x0, x1) = receptive(ro.x0, ro.x1, k, s, t.w);
                Region { y0, y1, x0, x1 }
            }
            _ => {
                return Err(refuse(format!(
                    "{} ({:?}) cannot run patch by patch",
                    op.name, op.kind
                )));
            }
        };
        for &t in &op.inputs {
            reg[t] = Some(reg[t].map_or(need, |r| r.union(need)));
        }
    }
    // A convolution reads its input's whole region (the kernels take contiguous rows); an ADD
    // may read a part of the residual's.
    for op in &g.ops[..=stage_end] {
        let ro = reg[op.output].expect("set above");
        for &t in &op.inputs {
            let r = reg[t].expect("set above");
            let ok = if op.kind == OpKind::Add {
                r.contains(&ro)
            } else {
                let x = g.tensors[t];
                let (y0, y1) = receptive(ro.y0, ro.y1, op.kernel_size, op.stride, x.h);
                let (x0, x1) = receptive(ro.x0, ro.x1, op.kernel_size, op.stride, x.w);
                r == (Region { y0, y1, x0, x1 })
            };
            if !ok {
                return Err(refuse(format!(
                    "{} reads a part of a tensor another op reads more of",
                    op.name
                )));
            }
        }
    }
    Ok(reg)
}

/// The plan of the stage ending at op `stage_end`, in `patches`×`patches` patches.
pub fn plan(g: &Graph, patches: usize, stage_end: usize) -> Result<PatchCode> {
    if patches < 2 || stage_end >= g.ops.len() {
        return Err(refuse(format!(
            "{patches}x{patches} patches, a stage ending at op {stage_end} of {} (at least 2x2 patches)",
            g.ops.len()
        )));
    }
    let end_op = &g.ops[stage_end];
    if !matches!(end_op.kind, OpKind::Pointwise | OpKind::Add) {
        return Err(refuse(format!(
            "the stage must end in a projection or a residual add, not {} ({:?})",
            end_op.name, end_op.kind
        )));
    }
    let end_t = end_op.output;
    let out = g.tensors[end_t];
    let inside: Vec<bool> = {
        let mut v = vec![false; g.tensors.len()];
        v[0] = true;
        for op in &g.ops[..=stage_end] {
            v[op.output] = true;
        }
        v
    };
    for op in &g.ops[stage_end + 1..] {
        if let Some(&t) = op.inputs.iter().find(|&&t| inside[t] && t != end_t) {
            return Err(refuse(format!(
                "{} reads tensor {t} of the patch stage, which is never whole",
                op.name
            )));
        }
    }
    let (ph, pw) = (out.h.div_ceil(patches), out.w.div_ceil(patches));
    let mut regions = Vec::new();
    for py in 0..patches {
        for px in 0..patches {
            let (y0, x0) = (py * ph, px * pw);
            if y0 >= out.h || x0 >= out.w {
                continue;
            }
            let r = Region {
                y0,
                y1: (y0 + ph).min(out.h),
                x0,
                x1: (x0 + pw).min(out.w),
            };
            regions.push(patch_regions(g, stage_end, r)?);
        }
    }
    let mut tensor_bytes: Vec<u64> = (0..g.tensors.len()).map(|t| g.bytes(t)).collect();
    for (t, b) in tensor_bytes.iter_mut().enumerate() {
        if inside[t] && t != end_t {
            *b = regions
                .iter()
                .map(|r| r[t].map_or(0, |r| (r.h() * r.w() * g.tensors[t].c) as u64))
                .max()
                .unwrap_or(0);
        }
    }
    // TinyEngine's buffers with the patch sizes; the stage output live from op 0.
    let (mut bufs, tensor_buf) = buffers(g, 4, true);
    for b in &mut bufs {
        b.size = b
            .tensors
            .iter()
            .map(|&t| tensor_bytes[t].div_ceil(4) * 4)
            .max()
            .unwrap_or(0);
        if let Some((at, _)) = b.shrink {
            let out_t = g.ops[at].output;
            let small = tensor_bytes[out_t].div_ceil(4) * 4;
            b.shrink = (small < b.size).then_some((at, small));
        }
        if b.tensors.contains(&end_t) {
            b.first = 0;
        }
    }
    let offsets = place(&bufs, Order::EarlierFirst);
    let arena_bytes = bufs
        .iter()
        .zip(&offsets)
        .map(|(b, o)| o + b.size)
        .max()
        .unwrap_or(0);
    let layout = Layout {
        tensor_offset: tensor_buf.iter().map(|&b| offsets[b]).collect(),
        arena_bytes,
    };
    // Scratch and kernel buffer: TinyEngine's, a stage depthwise's the plane of its largest
    // patch.
    let (mut scratch, mut kernel) = (0u64, 0u64);
    for (i, op) in g.ops.iter().enumerate() {
        let (s, k) = if i <= stage_end && op.kind == OpKind::Depthwise {
            let plane = |r: &Vec<Option<Region>>| {
                let o = r[op.output].expect("a stage tensor");
                depthwise_plane_bytes(o.h(), o.w(), op.kernel_size, op.stride)
            };
            (regions.iter().map(plane).max().unwrap_or(0), 0)
        } else {
            op_buffers(g, op)
        };
        scratch = scratch.max(s);
        kernel = kernel.max(k);
    }
    let stage_macs: u64 = g.ops[..=stage_end].iter().map(|o| o.macs).sum();
    let mut patch_macs = 0u64;
    for r in &regions {
        for op in &g.ops[..=stage_end] {
            let o = g.tensors[op.output];
            let ro = r[op.output].expect("a stage tensor");
            patch_macs += op.macs / (o.h * o.w) as u64 * (ro.h() * ro.w()) as u64;
        }
    }
    Ok(PatchCode {
        patches,
        stage_end,
        patch_count: regions.len(),
        regions,
        tensor_bytes,
        layout,
        arena_bytes,
        scratch_bytes: scratch,
        kernel_bytes: kernel,
        extra_macs: patch_macs.saturating_sub(stage_macs),
    })
}

/// What the generated C with the stage in patches needs of the device: flash = the
/// layer-by-layer image (`image::ImageCounter`) + the patch tables + the driver's code; SRAM =
/// the arena + the input buffer `tinynas_input()` (held beside the arena; `tinynas_invoke`
/// reads the caller's input instead) + the runtime's stack.
#[derive(Clone, Debug, Serialize)]
pub struct Estimate {
    pub flash_bytes: u64,
    pub sram_bytes: u64,
    pub input_bytes: u64,
    pub plan: PatchCode,
}

/// `g` is `net`'s op graph (`walk::build`).
pub fn estimate(net: &Network, g: &Graph, patches: usize) -> Result<Estimate> {
    let plan = best(g, patches)?;
    let mut counter = image::ImageCounter::default();
    super::walk::walk_ops(net, false, |o| counter.add(o));
    let (n, ops) = (plan.regions.len() as u64, plan.stage_end as u64 + 1);
    let flash = counter.bytes(net.input.channels)
        + image::PATCH_ENTRY_BYTES * n * ops
        + image::PATCH_INPUT_ENTRY_BYTES * n
        + image::PATCH_CODE_BYTES
        + image::PATCH_CALL_BYTES * ops;
    let input_bytes = g.bytes(0);
    Ok(Estimate {
        flash_bytes: flash,
        // Both buffers are 8-byte aligned, so the one after the other starts at a multiple of 8.
        sram_bytes: plan.total_bytes().div_ceil(8) * 8
            + input_bytes.div_ceil(8) * 8
            + image::RUNTIME_STACK_BYTES,
        input_bytes,
        plan,
    })
}
