//! The walk over a network description that emits, in execution order, every op an MCU
//! runtime runs (`OpInfo`: shapes, MACs, parameters, weight bytes, the residual it keeps alive);
//! `build` collects it into a graph, the fast evaluator consumes it directly.

use super::graph::{Graph, Op, OpInfo, OpKind, OpName, Part, TensorInfo};
use crate::arch::net::{Network, conv_out, tflite_pad};

struct Walker<F: FnMut(&OpInfo)> {
    f: F,
    tensors: usize,
    residual: Option<usize>,
    /// Emit the ops of the TFLite model: a PAD before each convolution whose padding SAME
    /// cannot express.
    tflite: bool,
}

impl<F: FnMut(&OpInfo)> Walker<F> {
    #[allow(clippy::too_many_arguments)]
    fn op(
        &mut self,
        name: OpName,
        kind: OpKind,
        k: usize,
        s: usize,
        inputs: &[usize],
        input: TensorInfo,
        out: TensorInfo,
        weights: u64,
        macs: u64,
    ) -> (usize, TensorInfo) {
        let output = self.tensors;
        self.tensors += 1;
        let has_bias = !matches!(
            kind,
            OpKind::Add | OpKind::Pool | OpKind::SePool | OpKind::SeMul | OpKind::Pad
        );
        let cout = out.c as u64;
        let (params, weight_bytes) = if has_bias {
            (weights + cout, weights + 8 * cout)
        } else {
            (0, 0)
        };
        let block = match name {
            OpName::Block(i, _) => Some(i),
            _ => None,
        };
        let mut ins = [0usize; 2];
        ins[..inputs.len()].copy_from_slice(inputs);
        (self.f)(&OpInfo {
            name,
            kind,
            block,
            kernel_size: k,
            stride: s,
            inputs: ins,
            n_inputs: inputs.len(),
            input,
            output,
            out,
            macs,
            params,
            weight_bytes,
            residual: self.residual,
        });
        (output, out)
    }

    /// A convolution (regular, depthwise or pointwise) of tensor `x`.
    fn conv(
        &mut self,
        name: OpName,
        (x, t): (usize, TensorInfo),
        cout: usize,
        k: usize,
        s: usize,
        depthwise: bool,
    ) -> (usize, TensorInfo) {
        let (oh, ow) = (conv_out(t.h, k, s), conv_out(t.w, k, s));
        let (x, t) = match tflite_pad(t.h, k, s) {
            Some((before, after)) if self.tflite => {
                let pad_name = match name {
                    OpName::Block(i, _) => OpName::Block(i, Part::Pad),
                    _ => OpName::StemPad,
                };
                let padded = TensorInfo {
                    h: t.h + before + after,
                    w: t.w + before + after,
                    c: t.c,
                };
                self.op(pad_name, OpKind::Pad, 1, 1, &[x], t, padded, 0, 0)
            }
            _ => (x, t),
        };
        let kind = if depthwise {
            OpKind::Depthwise
        } else if k == 1 && s == 1 {
            OpKind::Pointwise
        } else {
            OpKind::Conv
        };
        let per_out = if depthwise {
            (k * k) as u64
        } else {
            (k * k * t.c) as u64
        };
        let macs = (oh * ow * cout) as u64 * per_out;
        self.op(
            name,
            kind,
            k,
            s,
            &[x],
            t,
            TensorInfo {
                h: oh,
                w: ow,
                c: cout,
            },
            per_out * cout as u64,
            macs,
        )
    }
}

/// Visit every op of the network in execution order, without allocating.
pub fn walk(net: &Network, f: impl FnMut(&OpInfo)) {
    walk_ops(net, false, f)
}

/// `walk`, with `tflite` the ops of the exported TFLite model: PADs included.
pub fn walk_ops(net: &Network, tflite: bool, f: impl FnMut(&OpInfo)) {
    let mut w = Walker {
        f,
        tensors: 1,
        residual: None,
        tflite,
    };
    let r = net.input.resolution;
    let input = (
        0,
        TensorInfo {
            h: r,
            w: r,
            c: net.input.channels,
        },
    );
    let mut x = w.conv(
        OpName::Stem,
        input,
        net.stem.out_channels,
        net.stem.kernel_size,
        net.stem.stride,
        false,
    );
    for (i, blk) in net.blocks.iter().enumerate() {
        let block_in = x;
        let mid = blk.mid();
        w.residual = blk.has_residual().then_some(block_in.0);
        let mut h = x;
        if blk.expand_ratio != 1 {
            h = w.conv(OpName::Block(i, Part::Expand), h, mid, 1, 1, false);
        }
        h = w.conv(
            OpName::Block(i, Part::Depthwise),
            h,
            mid,
            blk.kernel_size,
            blk.stride,
            true,
        );
        if let Some(se) = blk.se_channels {
            let t = h.1;
            let v = |c| TensorInfo { h: 1, w: 1, c };
            let pooled = w.op(
                OpName::Block(i, Part::SePool),
                OpKind::SePool,
                1,
                1,
                &[h.0],
                t,
                v(mid),
                0,
                t.bytes(),
            );
            let s1 = w.op(
                OpName::Block(i, Part::SeReduce),
                OpKind::SeFc,
                1,
                1,
                &[pooled.0],
                v(mid),
                v(se),
                (mid * se) as u64,
                (mid * se) as u64,
            );
            let s2 = w.op(
                OpName::Block(i, Part::SeExpand),
                OpKind::SeFc,
                1,
                1,
                &[s1.0],
                v(se),
                v(mid),
                (mid * se) as u64,
                (mid * se) as u64,
            );
            h = w.op(
                OpName::Block(i, Part::SeMul),
                OpKind::SeMul,
                1,
                1,
                &[h.0, s2.0],
                t,
                t,
                0,
                t.bytes(),
            );
        }
        h = w.conv(
            OpName::Block(i, Part::Project),
            h,
            blk.out_channels,
            1,
            1,
            false,
        );
        if blk.has_residual() {
            h = w.op(
                OpName::Block(i, Part::Add),
                OpKind::Add,
                1,
                1,
                &[h.0, block_in.0],
                h.1,
                h.1,
                0,
                0,
            );
        }
        w.residual = None;
        x = h;
    }
    if let Some(m) = net.feature_mix_channels {
        x = w.conv(OpName::FeatureMix, x, m, 1, 1, false);
    }
    let t = x.1;
    let pooled = w.op(
        OpName::Pool,
        OpKind::Pool,
        1,
        1,
        &[x.0],
        t,
        TensorInfo { h: 1, w: 1, c: t.c },
        0,
        t.bytes(),
    );
    let logits = TensorInfo {
        h: 1,
        w: 1,
        c: net.classes,
    };
    w.op(
        OpName::Classifier,
        OpKind::Linear,
        1,
        1,
        &[pooled.0],
        pooled.1,
        logits,
        (t.c * net.classes) as u64,
        (t.c * net.classes) as u64,
    );
}

/// The full op graph with names, for layer tables and the planners' reports.
pub fn build(net: &Network) -> Graph {
    build_ops(net, false)
}

/// `build`, with `tflite` the graph of the exported TFLite model (PADs included).
pub fn build_ops(net: &Network, tflite: bool) -> Graph {
    let r = net.input.resolution;
    let mut g = Graph {
        tensors: vec![TensorInfo {
            h: r,
            w: r,
            c: net.input.channels,
        }],
        ops: Vec::new(),
    };
    walk_ops(net, tflite, |o| {
        g.tensors.push(o.out);
        g.ops.push(Op {
            name: o.name.to_string(),
            kind: o.kind,
            block: o.block,
            kernel_size: o.kernel_size,
            stride: o.stride,
            inputs: o.inputs().to_vec(),
            output: o.output,
            macs: o.macs,
            params: o.params,
            weight_bytes: o.weight_bytes,
            residual: o.residual,
        });
    });
    g
}
