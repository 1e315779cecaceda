//! The generated runtime's memory plan: TinyEngine's, as `tinynas mem --scheduler tinyengine`
//! reports it (`mcu::sched::layout` and `tinyengine_buffers` on the network's op graph), laid
//! onto the exported graph's tensors. One static arena: activations (in-place depthwise,
//! residuals held while needed), then the scratch region, then the kernel buffer.

use crate::arch::net::Network;
use crate::export::QGraph;
use crate::export::graph::{OpKind, Padding, conv_geometry};
use crate::mcu::graph::{self, OpKind as McuKind};
use crate::mcu::patch_code::{self, PatchCode};
use crate::mcu::sched;
use crate::{Error, Result};
use serde::Serialize;

/// One op of the generated code: an exported op with the PAD before it fused away.
#[derive(Clone, Debug)]
pub struct Step {
    /// The exported graph's op.
    pub op: usize,
    /// The tensors it reads (a PAD's input in place of the PAD's output).
    pub inputs: Vec<usize>,
    /// Padding before the first row and column (SAME's, or the fused PAD's).
    pub pad_top: usize,
    pub pad_left: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct ArenaPlan {
    /// Arena offset of every tensor of the exported graph (None: a PAD's output, fused).
    pub offset: Vec<Option<u64>>,
    /// The activations' part: the planner's arena.
    pub activation_bytes: u64,
    /// The scratch region (im2col columns, one padded depthwise channel) and the kernel buffer.
    pub scratch_bytes: u64,
    pub kernel_bytes: u64,
    #[serde(skip)]
    pub steps: Vec<Step>,
    /// Patch-based inference of the first stage (`--patch`): step `i` is the network's op `i`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<PatchCode>,
    /// The MCU graph the plan was made on.
    #[serde(skip)]
    pub graph: graph::Graph,
    /// The MCU tensor of every exported tensor (None: a PAD's output).
    #[serde(skip)]
    pub mcu_tensor: Vec<Option<usize>>,
}

impl ArenaPlan {
    /// The arena the code declares: `mem --scheduler tinyengine`'s peak SRAM.
    pub fn total_bytes(&self) -> u64 {
        self.activation_bytes + self.scratch_bytes + self.kernel_bytes
    }
    pub fn scratch_offset(&self) -> u64 {
        self.activation_bytes
    }
    pub fn kernel_offset(&self) -> u64 {
        self.activation_bytes + self.scratch_bytes
    }
}

fn mismatch(what: String) -> Error {
    Error::Invalid(format!(
        "firmware: the exported graph does not match its network description: {what}"
    ))
}

/// How the generated code runs the network's first stage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Stage {
    /// Layer by layer, every tensor whole (TinyEngine's plan).
    #[default]
    Whole,
    /// n×n patches (MCUNetV2), the stage end chosen for the smallest arena.
    Patches(usize),
}

/// The plan of `q`, the exported graph of `net`.
pub fn plan(q: &QGraph, net: &Network, stage: Stage) -> Result<ArenaPlan> {
    let g = &q.graph;
    let mg = crate::mcu::walk::build(net);
    let (layout, scratch_bytes, kernel_bytes, patch) = match stage {
        Stage::Whole => {
            let (s, k) = sched::tinyengine_buffers(&mg);
            (sched::layout(&mg, sched::Planner::TinyEngine), s, k, None)
        }
        Stage::Patches(n) => {
            let p = patch_code::best(&mg, n)?;
            (p.layout.clone(), p.scratch_bytes, p.kernel_bytes, Some(p))
        }
    };
    // Export tensor → MCU tensor, walking both op lists in order (PADs only in the export).
    let mut map: Vec<Option<usize>> = vec![None; g.shapes.len()];
    let mut pad_of: Vec<Option<(usize, usize)>> = vec![None; g.shapes.len()];
    map[0] = Some(0);
    let mut steps = Vec::with_capacity(mg.ops.len());
    let mut j = 0;
    for (i, op) in g.ops.iter().enumerate() {
        if let OpKind::Pad { before, .. } = op.kind {
            pad_of[op.output] = Some((op.inputs[0], before));
            continue;
        }
        let m = mg.ops.get(j).ok_or_else(|| {
            mismatch(format!(
                "op {} has no counterpart ({} ops)",
                op.name,
                mg.ops.len()
            ))
        })?;
        let kind_ok = match &op.kind {
            OpKind::Conv {
                depthwise: true, ..
            } => m.kind == McuKind::Depthwise,
            OpKind::Conv { kernel: 1, .. } => m.kind == McuKind::Pointwise,
            OpKind::Conv { .. } => m.kind == McuKind::Conv,
            OpKind::Add => m.kind == McuKind::Add,
            OpKind::AvgPool => m.kind == McuKind::Pool,
            OpKind::FullyConnected => m.kind == McuKind::Linear,
            OpKind::Pad { .. } => unreachable!(),
        };
        let s = g.shapes[op.output];
        let t = mg.tensors[m.output];
        if !kind_ok || (s.h, s.w, s.c) != (t.h, t.w, t.c) {
            return Err(mismatch(format!(
                "op {} ({:?}, {}x{}x{}) against layer {} ({:?}, {}x{}x{})",
                op.name, op.kind, s.h, s.w, s.c, m.name, m.kind, t.h, t.w, t.c
            )));
        }
        map[op.output] = Some(m.output);
        let (mut pad_top, mut pad_left) = (0, 0);
        let mut inputs = Vec::with_capacity(op.inputs.len());
        for &x in &op.inputs {
            match pad_of[x] {
                Some((src, before)) => {
                    inputs.push(src);
                    (pad_top, pad_left) = (before, before);
                }
                None => inputs.push(x),
            }
        }
        if let OpKind::Conv {
            kernel,
            stride,
            padding: Padding::Same,
            ..
        } = op.kind
        {
            let xs = g.shapes[inputs[0]];
            pad_top = conv_geometry(xs.h, kernel, stride, Padding::Same).1;
            pad_left = conv_geometry(xs.w, kernel, stride, Padding::Same).1;
        }
        if patch.as_ref().is_some_and(|p| j <= p.stage_end)
            && let OpKind::Conv { kernel, .. } = op.kind
            && (pad_top, pad_left) != (patch_code::conv_pad(kernel), patch_code::conv_pad(kernel))
        {
            return Err(super::unsupported(format!(
                "{} in patches: padding ({pad_top}, {pad_left}) where the patch plan assumes {}",
                op.name,
                patch_code::conv_pad(kernel)
            )));
        }
        // The inputs are the counterparts of the MCU op's (in any order: an ADD's).
        let mut mcu_inputs: Vec<Option<usize>> = inputs.iter().map(|&x| map[x]).collect();
        let mut want: Vec<Option<usize>> = m.inputs.iter().map(|&t| Some(t)).collect();
        mcu_inputs.sort_unstable();
        want.sort_unstable();
        if mcu_inputs != want {
            return Err(mismatch(format!(
                "op {} reads other tensors than layer {}",
                op.name, m.name
            )));
        }
        steps.push(Step {
            op: i,
            inputs,
            pad_top,
            pad_left,
        });
        j += 1;
    }
    if j != mg.ops.len() {
        return Err(mismatch(format!(
            "{} exported ops for {} layers",
            j,
            mg.ops.len()
        )));
    }
    let offset = map
        .iter()
        .map(|t| t.map(|t| layout.tensor_offset[t]))
        .collect();
    Ok(ArenaPlan {
        offset,
        activation_bytes: layout.arena_bytes,
        scratch_bytes,
        kernel_bytes,
        steps,
        patch,
        graph: mg,
        mcu_tensor: map,
    })
}
