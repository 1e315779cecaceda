//! TF Lite Micro's persistent arena tail: what its interpreter keeps beside the planned arena,
//! counted op by op from the graph.

use super::graph::{Graph, OpKind};
use serde::Serialize;

/// TF Lite Micro's persistent arena tail (what it keeps besides the planned head): bytes on
/// the 64-bit host and on a 32-bit microcontroller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Tail {
    pub host64_bytes: u64,
    pub mcu32_bytes: u64,
}

impl Tail {
    /// The arena a firmware reserves on a 32-bit MCU for `head`: head + tail rounded up to
    /// 16 bytes, + 16 for TFLM aligning an arena whose start is not.
    pub fn reserve_mcu32(&self, head: u64) -> u64 {
        (head + self.mcu32_bytes).div_ceil(16) * 16 + 16
    }
}

/// The tail of the TFLite graph `g` (built with PADs). Host, fitted on 60 random exported
/// subnets measured with TFLM's interpreter (tflite-micro 0.dev20261023, reference kernels;
/// largest error 23 B): a TfLiteEvalTensor of 24 B per tensor (weights and biases included), a
/// NodeAndRegistration of 64 B per op, the per-channel output multipliers and shifts (8 B per
/// channel of each convolution), 108 B more per convolution (its OpData and allocations), 72 B
/// per ADD, 64 B per PAD, 886 B for the rest (input and output tensors, pooling, classifier).
/// 32-bit: the same with the pointer-sized fields we know at 4 bytes (an eval tensor 12 B, a
/// node 36 B, a convolution's OpData 8 B less, the two persistent TfLiteTensors half) — an
/// estimate, not a measurement.
pub fn tflm_tail(g: &Graph) -> Tail {
    let mut c = TailCounter::default();
    for op in &g.ops {
        c.add(op.kind, g.tensors[op.output].c);
    }
    c.tail(g.tensors.len())
}

/// `tflm_tail` op by op (the fast evaluator's walk).
#[derive(Clone, Copy, Debug, Default)]
pub struct TailCounter {
    constants: u64,
    convs: u64,
    adds: u64,
    pads: u64,
    channels: u64,
    ops: u64,
}

impl TailCounter {
    pub fn add(&mut self, kind: OpKind, out_channels: usize) {
        self.ops += 1;
        match kind {
            OpKind::Conv | OpKind::Pointwise | OpKind::Depthwise | OpKind::SeFc => {
                self.constants += 2;
                self.convs += 1;
                self.channels += out_channels as u64;
            }
            OpKind::Linear => self.constants += 2,
            OpKind::Pad => {
                self.constants += 1;
                self.pads += 1;
            }
            OpKind::Add | OpKind::SeMul => self.adds += 1,
            OpKind::Pool | OpKind::SePool => {}
        }
    }

    /// The tail of a graph with `activations` activation tensors.
    pub fn tail(&self, activations: usize) -> Tail {
        let tensors = activations as u64 + self.constants;
        let common = 8 * self.channels + 72 * self.adds + 64 * self.pads;
        Tail {
            host64_bytes: 24 * tensors + 64 * self.ops + 108 * self.convs + common + 886,
            mcu32_bytes: 12 * tensors + 36 * self.ops + 100 * self.convs + common + 886 - 96,
        }
    }
}
