//! Peak SRAM of int8 inference under each scheduler: the analytic per-layer bound, TF Lite
//! Micro's greedy arena planner (its persistent tail counted in `super::tflm_tail`),
//! TinyEngine's in-place planner with its scratch buffers.

use super::graph::{Graph, Op, OpKind};
use super::place::{Buffer, Order, place};
use super::tflm_tail::{Tail, tflm_tail};
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheduler {
    Analytic,
    Tflm,
    TinyEngine,
    Patch,
}

impl Scheduler {
    pub const ALL: [Scheduler; 4] = [
        Scheduler::Analytic,
        Scheduler::Tflm,
        Scheduler::TinyEngine,
        Scheduler::Patch,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scheduler::Analytic => "analytic",
            Scheduler::Tflm => "tflm",
            Scheduler::TinyEngine => "tinyengine",
            Scheduler::Patch => "patch",
        }
    }

    pub fn parse(s: &str) -> crate::Result<Scheduler> {
        Scheduler::ALL
            .into_iter()
            .find(|x| x.name() == s.to_ascii_lowercase())
            .ok_or_else(|| {
                let names: Vec<&str> = Scheduler::ALL.iter().map(|x| x.name()).collect();
                crate::Error::bad(
                    crate::error::Field::Scheduler,
                    format!("{s:?}"),
                    format!("unknown scheduler; valid: {}", names.join(", ")),
                )
            })
    }
}

/// Where and how large the peak is, and the memory at every op (the per-layer table).
#[derive(Clone, Debug, Serialize)]
pub struct Peak {
    pub peak_sram_bytes: u64,
    pub peak_op: usize,
    /// Tensors live at the peak.
    pub peak_tensors: Vec<usize>,
    /// Memory in use while each op runs (for planners: the arena's top at that op).
    pub per_op: Vec<u64>,
    /// Arena, scratch and kernel-buffer parts (planners).
    pub arena_bytes: u64,
    pub scratch_bytes: u64,
    pub kernel_buffer_bytes: u64,
    /// TF Lite Micro: the persistent tail beside the planned arena (the head).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tflm_tail: Option<Tail>,
}

/// Ops whose output is immediately added to the block's residual (the block's projection).
fn feeds_add(g: &Graph, i: usize) -> bool {
    g.ops
        .get(i + 1)
        .is_some_and(|n| n.kind == OpKind::Add && n.inputs.contains(&g.ops[i].output))
}

/// Per layer: inputs + output (depthwise in place: the larger of the two), plus the block's
/// residual input while it is held. The residual add is fused into the projection, whose output
/// overwrites the residual element by element, so the projection costs input + output.
pub fn analytic(g: &Graph, inplace_depthwise: bool) -> Peak {
    analytic_live(g, inplace_depthwise).0
}

/// `analytic`, and the tensors counted at every op.
pub fn analytic_live(g: &Graph, inplace_depthwise: bool) -> (Peak, Vec<Vec<usize>>) {
    let mut per_op = Vec::with_capacity(g.ops.len());
    let mut live_at = Vec::with_capacity(g.ops.len());
    for (i, op) in g.ops.iter().enumerate() {
        if op.kind == OpKind::Add {
            per_op.push(0);
            live_at.push(vec![]);
            continue;
        }
        let ins: u64 = op.inputs.iter().map(|&t| g.bytes(t)).sum();
        let out = g.bytes(op.output);
        // In place only where the input is not held for a residual add after it.
        let mut m = if op.kind == OpKind::Depthwise
            && inplace_depthwise
            && op.residual != Some(op.inputs[0])
        {
            ins.max(out)
        } else {
            ins + out
        };
        let mut live: Vec<usize> = op.inputs.clone();
        live.push(op.output);
        if let Some(r) = op.residual
            && !op.inputs.contains(&r)
            && !feeds_add(g, i)
        {
            m += g.bytes(r);
            live.push(r);
        }
        per_op.push(m);
        live_at.push(live);
    }
    let peak_op = argmax(&per_op);
    let peak = Peak {
        peak_sram_bytes: per_op[peak_op],
        peak_op,
        peak_tensors: live_at[peak_op].clone(),
        per_op,
        arena_bytes: 0,
        scratch_bytes: 0,
        kernel_buffer_bytes: 0,
        tflm_tail: None,
    };
    (peak, live_at)
}

/// Index of the first largest value (the planners' peak op, a model's class).
pub fn argmax<T: PartialOrd + Copy>(v: &[T]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

fn align(x: u64, a: u64) -> u64 {
    x.div_ceil(a) * a
}

/// One buffer per tensor, lifetimes by op index (the input lives from op 0, the logits to the
/// end); with `inplace_depthwise` a depthwise output shares its input's buffer where the
/// depthwise is the input's last reader (a block input that a residual add reads later keeps
/// its own buffer).
pub fn buffers(g: &Graph, alignment: u64, inplace_depthwise: bool) -> (Vec<Buffer>, Vec<usize>) {
    let n = g.tensors.len();
    let mut first = vec![0usize; n];
    let mut last = vec![0usize; n];
    for (i, op) in g.ops.iter().enumerate() {
        first[op.output] = i;
        last[op.output] = last[op.output].max(i);
        for &t in &op.inputs {
            last[t] = last[t].max(i);
        }
    }
    let mut buf_of: Vec<usize> = (0..n).collect();
    // Where an in-place depthwise leaves only its (smaller) output live.
    let mut shrink_of: Vec<Option<(usize, u64)>> = vec![None; n];
    if inplace_depthwise {
        for (i, op) in g.ops.iter().enumerate() {
            let x = op.inputs[0];
            if op.kind == OpKind::Depthwise && last[x] == i {
                buf_of[op.output] = buf_of[x];
                let (big, small) = (
                    align(g.bytes(x), alignment),
                    align(g.bytes(op.output), alignment),
                );
                if small < big {
                    shrink_of[buf_of[x]] = Some((i, small));
                }
            }
        }
    }
    let mut out: Vec<Buffer> = Vec::new();
    let mut index = vec![usize::MAX; n];
    for t in 0..n {
        let root = buf_of[t];
        if index[root] == usize::MAX {
            index[root] = out.len();
            out.push(Buffer {
                size: 0,
                first: first[t],
                last: last[t],
                tensors: vec![],
                shrink: shrink_of[root],
            });
        }
        let b = &mut out[index[root]];
        b.size = b.size.max(align(g.bytes(t), alignment));
        b.first = b.first.min(first[t]);
        b.last = b.last.max(last[t]);
        b.tensors.push(t);
    }
    let tensor_buf = (0..n).map(|t| index[buf_of[t]]).collect();
    (out, tensor_buf)
}

/// An arena planner's rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Planner {
    /// TF Lite Micro: 16-byte alignment, no in-place ops, ties placed later first.
    Tflm,
    /// TinyEngine: 4-byte sizes, in-place depthwise, ties placed earlier first.
    TinyEngine,
}

impl Planner {
    fn alignment(self) -> u64 {
        match self {
            Planner::Tflm => 16,
            Planner::TinyEngine => 4,
        }
    }
    fn inplace(self) -> bool {
        self == Planner::TinyEngine
    }
    fn order(self) -> Order {
        match self {
            Planner::Tflm => Order::LaterFirst,
            Planner::TinyEngine => Order::EarlierFirst,
        }
    }
}

/// Where a planner puts every tensor: the offset of each tensor's buffer in the arena.
#[derive(Clone, Debug)]
pub struct Layout {
    pub tensor_offset: Vec<u64>,
    /// The arena's size: the end of its highest buffer.
    pub arena_bytes: u64,
}

/// The placement of `g`'s tensors that `planned` reports (and the generated C runtime uses).
pub fn layout(g: &Graph, planner: Planner) -> Layout {
    let (_, tensor_buf, offsets, arena_bytes) = placed(g, planner);
    Layout {
        tensor_offset: tensor_buf.iter().map(|&b| offsets[b]).collect(),
        arena_bytes,
    }
}

/// `g`'s buffers as `planner` places them: the buffers, each tensor's buffer, the buffers'
/// offsets and the arena's size (the end of the highest).
fn placed(g: &Graph, planner: Planner) -> (Vec<Buffer>, Vec<usize>, Vec<u64>, u64) {
    let (bufs, tensor_buf) = buffers(g, planner.alignment(), planner.inplace());
    let offsets = place(&bufs, planner.order());
    let arena = bufs
        .iter()
        .zip(&offsets)
        .map(|(b, o)| o + b.size)
        .max()
        .unwrap_or(0);
    (bufs, tensor_buf, offsets, arena)
}

fn planned(g: &Graph, planner: Planner) -> Peak {
    let (bufs, _, offsets, arena) = placed(g, planner);
    let mut per_op = vec![0u64; g.ops.len()];
    for (b, off) in bufs.iter().zip(&offsets) {
        for (k, slot) in per_op.iter_mut().enumerate().take(b.last + 1).skip(b.first) {
            *slot = (*slot).max(off + b.extent(k));
        }
    }
    let peak_op = argmax(&per_op);
    // The tensors live at the peak: written at or before it, read at or after it.
    let peak_tensors = (0..g.tensors.len())
        .filter(|&t| {
            let made = g.ops.iter().position(|o| o.output == t).unwrap_or(0);
            let read = g
                .ops
                .iter()
                .rposition(|o| o.inputs.contains(&t))
                .unwrap_or(made);
            made <= peak_op && peak_op <= read.max(made)
        })
        .collect();
    Peak {
        peak_sram_bytes: arena,
        peak_op,
        peak_tensors,
        per_op,
        arena_bytes: arena,
        scratch_bytes: 0,
        kernel_buffer_bytes: 0,
        tflm_tail: None,
    }
}

/// TF Lite Micro: 16-byte alignment, no in-place ops; the arena size.
pub fn tflm(g: &Graph) -> Peak {
    let mut p = planned(g, Planner::Tflm);
    p.tflm_tail = Some(tflm_tail(g));
    p
}

/// TinyEngine's scratch and kernel buffers of `g`: the largest scratch buffer (im2col of two
/// pixels, k²·Cin·2·2 bytes, for a k>1 convolution; one padded input channel as int16,
/// 2·(H+2p)·(W+2p), for a depthwise convolution; two pixels' channels as int16, 4·Cin, for a
/// pointwise convolution) and the largest kernel buffer (the weights
/// widened to int16, 2·weights, of a k>1 convolution). The generated C runtime uses exactly
/// these (src/firmware).
pub fn tinyengine_buffers(g: &Graph) -> (u64, u64) {
    g.ops.iter().fold((0, 0), |(s, k), op| {
        let (os, ok) = op_buffers(g, op);
        (s.max(os), k.max(ok))
    })
}

/// The scratch and kernel buffer one op of `g` needs (`tinyengine_buffers`).
pub fn op_buffers(g: &Graph, op: &Op) -> (u64, u64) {
    let t = g.tensors[op.inputs[0]];
    let pad = (op.kernel_size / 2) as u64;
    let kk = op.kernel_size * op.kernel_size * t.c;
    match op.kind {
        OpKind::Conv if op.kernel_size > 1 => (
            (kk * 2 * 2) as u64,
            2 * (kk * g.tensors[op.output].c) as u64,
        ),
        OpKind::Depthwise => (2 * (t.h as u64 + 2 * pad) * (t.w as u64 + 2 * pad), 0),
        OpKind::Pointwise => (4 * t.c as u64, 0),
        _ => (0, 0),
    }
}

/// The int16 plane a depthwise kernel fills per channel for an `oh`×`ow` output: the rows and
/// columns its k×k windows at stride `s` reach, in bytes (the generated C's scratch need).
pub fn depthwise_plane_bytes(oh: usize, ow: usize, k: usize, s: usize) -> u64 {
    2 * ((oh - 1) * s + k) as u64 * ((ow - 1) * s + k) as u64
}

/// TinyEngine: 4-byte sizes, in-place depthwise, plus the largest scratch buffer and the
/// largest kernel buffer (`tinyengine_buffers`).
pub fn tinyengine(g: &Graph) -> Peak {
    let mut p = planned(g, Planner::TinyEngine);
    let (scratch, kernel) = tinyengine_buffers(g);
    p.scratch_bytes = scratch;
    p.kernel_buffer_bytes = kernel;
    p.peak_sram_bytes = p.arena_bytes + scratch + kernel;
    p
}
