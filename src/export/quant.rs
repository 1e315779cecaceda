//! int8 post-training quantization to TFLite's spec, and the integer-only executor that computes
//! as TF Lite Micro's reference kernels do.
//!
//! Weights: int8 in [−127, 127], zero point 0, one scale per output channel (max |w| / 127).
//! Biases: int32 at input_scale · weight_scale[c]. Activations: int8 per tensor, asymmetric,
//! from the min / max seen on the calibration images (the range always holds 0; a fused ReLU6
//! caps it at [0, 6]). PAD and AVERAGE_POOL_2D keep their input's parameters. The input is the
//! normalised image, its range the union of the channels' ranges of (pixel/255 − mean)/std;
//! firmware maps a pixel to it through a 256-entry table per channel (`QGraph::input_table`).

use super::fixed::{
    activation_range, multiply_by_quantized_multiplier as mbqm, quantize_multiplier,
    rounding_divide_by_pot, srdhm,
};
use super::graph::{Graph, OpKind, Shape, conv_geometry, pad};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// real = (q − zero_point) · scale.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct QParams {
    pub scale: f32,
    pub zero_point: i32,
}

/// The quantized constants of one op.
#[derive(Clone, Debug, Default)]
pub struct QOp {
    /// int8 weights in the op's TFLite layout, and their scales (one per output channel of a
    /// convolution, one for the fully connected layer).
    pub weight: Vec<i8>,
    pub weight_scale: Vec<f32>,
    pub bias: Vec<i32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_weight_channel_keeps_its_bias() {
        let w = [0.0, 0.0, 0.5, -0.25];
        let (q, s) = quantize_weights(&w, 2, |c, j| c * 2 + j);
        assert_eq!(s, vec![1.0, 0.5 / 127.0]);
        assert_eq!(q, vec![0, 0, 127, -64]);
        // Bias 0.3 at input scale 0.01 and weight scale 1: 30, not an overflow.
        assert_eq!(quantize_bias(&[0.3, 0.0], 0.01, &s)[0], 30);
    }
}

#[derive(Clone, Debug)]
pub struct QGraph {
    pub graph: Graph,
    /// Per tensor of `graph`.
    pub params: Vec<QParams>,
    /// Per op of `graph`.
    pub ops: Vec<QOp>,
}

/// Min and max of every tensor of `g` over the calibration images (normalised HWC).
pub fn calibrate<'a>(g: &Graph, images: impl IntoIterator<Item = &'a [f32]>) -> Vec<(f32, f32)> {
    let mut r = vec![(f32::INFINITY, f32::NEG_INFINITY); g.shapes.len()];
    for x in images {
        for (t, v) in g.run_f32(x).iter().enumerate() {
            for &a in v {
                r[t].0 = r[t].0.min(a);
                r[t].1 = r[t].1.max(a);
            }
        }
    }
    r
}

/// Asymmetric int8 parameters of the range [lo, hi] (widened to hold 0).
fn asymmetric(lo: f32, hi: f32) -> QParams {
    let (lo, hi) = (lo.min(0.0) as f64, hi.max(0.0) as f64);
    let scale = ((hi - lo) / 255.0).max(1e-8);
    let zp = (-128.0 - lo / scale).round().clamp(-128.0, 127.0) as i32;
    QParams {
        scale: scale as f32,
        zero_point: zp,
    }
}

/// Symmetric per-channel int8 weights: `w` holds `channels` output channels, channel c's
/// weights at `index(c, j)` for j in 0..w.len()/channels.
fn quantize_weights(
    w: &[f32],
    channels: usize,
    index: impl Fn(usize, usize) -> usize,
) -> (Vec<i8>, Vec<f32>) {
    let per = w.len() / channels;
    let mut q = vec![0i8; w.len()];
    let mut scales = Vec::with_capacity(channels);
    for c in 0..channels {
        let max = (0..per)
            .map(|j| w[index(c, j)].abs())
            .fold(0.0f32, f32::max);
        // A channel of (near) zero weights quantizes to zeros at scale 1: a tiny scale would
        // overflow its bias and flush its multiplier to zero, losing the bias.
        let s = if max < 1e-8 { 1.0 } else { max as f64 / 127.0 };
        for j in 0..per {
            let i = index(c, j);
            q[i] = (w[i] as f64 / s).round().clamp(-127.0, 127.0) as i8;
        }
        scales.push(s as f32);
    }
    (q, scales)
}

fn quantize_bias(b: &[f32], input_scale: f32, weight_scales: &[f32]) -> Vec<i32> {
    b.iter()
        .enumerate()
        .map(|(c, &v)| {
            let s = input_scale as f64 * weight_scales[c.min(weight_scales.len() - 1)] as f64;
            (v as f64 / s)
                .round()
                .clamp(i32::MIN as f64 + 1.0, i32::MAX as f64) as i32
        })
        .collect()
}

/// Quantize `g` with the calibrated `ranges` (from `calibrate`).
pub fn quantize(g: &Graph, ranges: &[(f32, f32)]) -> Result<QGraph> {
    if ranges.len() != g.shapes.len()
        || ranges.iter().any(|r| !(r.0.is_finite() && r.1.is_finite()))
    {
        return Err(Error::Invalid(
            "quantization: every tensor needs a finite calibrated range (calibrate on at least one image with finite activations)".into(),
        ));
    }
    let mut params = vec![
        QParams {
            scale: 0.0,
            zero_point: 0
        };
        g.shapes.len()
    ];
    let n = &g.norm;
    let (lo, hi) = (0..n.mean.len())
        .map(|c| ((0.0 - n.mean[c]) / n.std[c], (1.0 - n.mean[c]) / n.std[c]))
        .fold((0f32, 0f32), |a, r| (a.0.min(r.0), a.1.max(r.1)));
    params[0] = asymmetric(lo, hi);
    let mut ops = Vec::with_capacity(g.ops.len());
    for op in &g.ops {
        let (lo, hi) = ranges[op.output];
        let input = params[op.inputs[0]];
        let mut q = QOp::default();
        params[op.output] = match &op.kind {
            OpKind::Pad { .. } | OpKind::AvgPool => input,
            OpKind::Add => asymmetric(lo, hi),
            OpKind::Conv {
                depthwise, relu6, ..
            } => {
                let cout = op.bias.len();
                let per = op.weight.len() / cout;
                let (w, s) = if *depthwise {
                    quantize_weights(&op.weight, cout, |c, j| j * cout + c)
                } else {
                    quantize_weights(&op.weight, cout, |c, j| c * per + j)
                };
                q.bias = quantize_bias(&op.bias, input.scale, &s);
                (q.weight, q.weight_scale) = (w, s);
                if *relu6 {
                    asymmetric(0.0, hi.min(6.0))
                } else {
                    asymmetric(lo, hi)
                }
            }
            OpKind::FullyConnected => {
                // One scale for the layer (per-tensor: every runtime takes it).
                let (w, s) = quantize_weights(&op.weight, 1, |_, j| j);
                q.bias = quantize_bias(&op.bias, input.scale, &s);
                (q.weight, q.weight_scale) = (w, s);
                asymmetric(lo, hi)
            }
        };
        ops.push(q);
    }
    Ok(QGraph {
        graph: g.clone(),
        params,
        ops,
    })
}

/// The per-op constants TFLM derives from the tensors' float parameters when it prepares the
/// model: conv / fully connected output multipliers and shifts; ADD's input and output ones.
struct Prepared {
    mult: Vec<i32>,
    shift: Vec<i32>,
}

fn prepare_conv(input: f32, weight_scales: &[f32], output: f32) -> Prepared {
    let (mult, shift) = weight_scales
        .iter()
        .map(|&ws| quantize_multiplier(input as f64 * ws as f64 / output as f64))
        .unzip();
    Prepared { mult, shift }
}

/// ADD: [input1, input2, output] multipliers and shifts, TFLM's `left_shift` 20.
fn prepare_add(a: f32, b: f32, out: f32) -> Prepared {
    let twice_max = 2.0 * a.max(b) as f64;
    let m = [
        a as f64 / twice_max,
        b as f64 / twice_max,
        twice_max / ((1i64 << ADD_LEFT_SHIFT) as f64 * out as f64),
    ];
    let (mult, shift) = m.iter().map(|&x| quantize_multiplier(x)).unzip();
    Prepared { mult, shift }
}

const ADD_LEFT_SHIFT: i32 = 20;

impl QGraph {
    /// Per input channel, the int8 input of each pixel value 0..255: the normalised value
    /// quantized (round half away from zero, clamped).
    pub fn input_table(&self) -> Vec<[i8; 256]> {
        let (n, p) = (&self.graph.norm, self.params[0]);
        (0..n.mean.len())
            .map(|c| {
                std::array::from_fn(|v| {
                    let x = (v as f32 / 255.0 - n.mean[c]) / n.std[c];
                    (super::fixed::tflite_round(x / p.scale) + p.zero_point).clamp(-128, 127) as i8
                })
            })
            .collect()
    }

    /// The model's int8 input for an image of pixels (HWC, 0..255).
    pub fn input_from_pixels(&self, px: &[u8]) -> Vec<i8> {
        let t = self.input_table();
        px.iter()
            .enumerate()
            .map(|(i, &p)| t[i % t.len()][p as usize])
            .collect()
    }

    /// Every tensor of the int8 network for one input (HWC): index 0 is the input.
    pub fn run(&self, x: &[i8]) -> Vec<Vec<i8>> {
        let g = &self.graph;
        assert_eq!(x.len(), g.input().len(), "input size");
        let mut t: Vec<Vec<i8>> = vec![Vec::new(); g.shapes.len()];
        t[0] = x.to_vec();
        for (i, op) in g.ops.iter().enumerate() {
            let y = {
                let inputs: Vec<&[i8]> = op.inputs.iter().map(|&j| t[j].as_slice()).collect();
                self.run_op(i, &inputs)
            };
            t[op.output] = y;
        }
        t
    }

    /// The output of op `i` for the given input tensors, as TFLM's reference kernel computes it.
    pub fn run_op(&self, i: usize, inputs: &[&[i8]]) -> Vec<i8> {
        let g = &self.graph;
        let (op, q) = (&g.ops[i], &self.ops[i]);
        let (xs, ys) = (g.shapes[op.inputs[0]], g.shapes[op.output]);
        let (pi, po) = (self.params[op.inputs[0]], self.params[op.output]);
        let x = inputs[0];
        match &op.kind {
            OpKind::Conv {
                depthwise,
                kernel,
                stride,
                padding,
                relu6,
            } => {
                let p = prepare_conv(pi.scale, &q.weight_scale, po.scale);
                let act = activation_range(*relu6, po.scale, po.zero_point);
                let geo = ConvGeo {
                    xs,
                    ys,
                    k: *kernel,
                    s: *stride,
                    pt: conv_geometry(xs.h, *kernel, *stride, *padding).1,
                    pl: conv_geometry(xs.w, *kernel, *stride, *padding).1,
                };
                conv_i8(x, &geo, q, &p, *depthwise, pi, po, act)
            }
            OpKind::Pad { before, .. } => pad(x, xs, ys, *before, po.zero_point as i8),
            OpKind::Add => {
                let pb = self.params[op.inputs[1]];
                let p = prepare_add(pi.scale, pb.scale, po.scale);
                let scaled = |v: i8, zp: i32, i: usize| {
                    let shifted = (v as i32 - zp) * (1 << ADD_LEFT_SHIFT);
                    rounding_divide_by_pot(srdhm(shifted, p.mult[i]), -p.shift[i])
                };
                x.iter()
                    .zip(inputs[1])
                    .map(|(&a, &b)| {
                        let sum = scaled(a, pi.zero_point, 0) + scaled(b, pb.zero_point, 1);
                        let out = rounding_divide_by_pot(srdhm(sum, p.mult[2]), -p.shift[2])
                            + po.zero_point;
                        out.clamp(-128, 127) as i8
                    })
                    .collect()
            }
            OpKind::AvgPool => {
                let n = (xs.h * xs.w) as i32;
                (0..xs.c)
                    .map(|c| {
                        let acc: i32 = (0..xs.h * xs.w).map(|i| x[i * xs.c + c] as i32).sum();
                        let avg = if acc > 0 {
                            (acc + n / 2) / n
                        } else {
                            (acc - n / 2) / n
                        };
                        avg.clamp(-128, 127) as i8
                    })
                    .collect()
            }
            OpKind::FullyConnected => {
                let p = prepare_conv(pi.scale, &q.weight_scale, po.scale);
                q.bias
                    .iter()
                    .enumerate()
                    .map(|(o, &b)| {
                        let acc: i32 = q.weight[o * x.len()..(o + 1) * x.len()]
                            .iter()
                            .zip(x)
                            .map(|(&w, &v)| w as i32 * (v as i32 - pi.zero_point))
                            .sum::<i32>()
                            + b;
                        (mbqm(acc, p.mult[0], p.shift[0]) + po.zero_point).clamp(-128, 127) as i8
                    })
                    .collect()
            }
        }
    }

    /// The output multipliers and shifts of conv or fully connected op `i` (one per output
    /// channel; one for the fully connected layer), as TFLM prepares them.
    pub fn conv_multipliers(&self, i: usize) -> (Vec<i32>, Vec<i32>) {
        let op = &self.graph.ops[i];
        let p = prepare_conv(
            self.params[op.inputs[0]].scale,
            &self.ops[i].weight_scale,
            self.params[op.output].scale,
        );
        (p.mult, p.shift)
    }

    /// ADD op `i`: the [input 1, input 2, output] multipliers and shifts, and the left shift.
    pub fn add_multipliers(&self, i: usize) -> ([i32; 3], [i32; 3], i32) {
        let op = &self.graph.ops[i];
        let p = prepare_add(
            self.params[op.inputs[0]].scale,
            self.params[op.inputs[1]].scale,
            self.params[op.output].scale,
        );
        (
            [p.mult[0], p.mult[1], p.mult[2]],
            [p.shift[0], p.shift[1], p.shift[2]],
            ADD_LEFT_SHIFT,
        )
    }

    /// The int8 logits of one input.
    pub fn logits(&self, x: &[i8]) -> Vec<i8> {
        self.run(x).swap_remove(self.graph.output())
    }
}

struct ConvGeo {
    xs: Shape,
    ys: Shape,
    k: usize,
    s: usize,
    pt: usize,
    pl: usize,
}

/// TFLM's reference ConvPerChannel / DepthwiseConvPerChannel: Σ w·(x − zp_in) over the taps
/// inside the image, + bias, × the channel's multiplier, + zp_out, clamped.
#[allow(clippy::too_many_arguments)]
fn conv_i8(
    x: &[i8],
    g: &ConvGeo,
    q: &QOp,
    p: &Prepared,
    depthwise: bool,
    pi: QParams,
    po: QParams,
    act: (i32, i32),
) -> Vec<i8> {
    let (xs, ys, k) = (g.xs, g.ys, g.k);
    let xo: Vec<i32> = x.iter().map(|&v| v as i32 - pi.zero_point).collect();
    let mut acc = vec![0i32; ys.c];
    let mut y = vec![0i8; ys.len()];
    for oy in 0..ys.h {
        for ox in 0..ys.w {
            acc.copy_from_slice(&q.bias);
            for ky in 0..k {
                let iy = (oy * g.s + ky) as isize - g.pt as isize;
                if iy < 0 || iy >= xs.h as isize {
                    continue;
                }
                for kx in 0..k {
                    let ix = (ox * g.s + kx) as isize - g.pl as isize;
                    if ix < 0 || ix >= xs.w as isize {
                        continue;
                    }
                    let inp = &xo[(iy as usize * xs.w + ix as usize) * xs.c..][..xs.c];
                    if depthwise {
                        let wk = &q.weight[(ky * k + kx) * xs.c..][..xs.c];
                        for c in 0..xs.c {
                            acc[c] += inp[c] * wk[c] as i32;
                        }
                    } else {
                        for (o, a) in acc.iter_mut().enumerate() {
                            let wk = &q.weight[((o * k + ky) * k + kx) * xs.c..][..xs.c];
                            *a += inp.iter().zip(wk).map(|(&v, &w)| v * w as i32).sum::<i32>();
                        }
                    }
                }
            }
            let out = &mut y[(oy * ys.w + ox) * ys.c..][..ys.c];
            for (c, o) in out.iter_mut().enumerate() {
                let v = mbqm(acc[c], p.mult[c], p.shift[c]) + po.zero_point;
                *o = v.clamp(act.0, act.1) as i8;
            }
        }
    }
    y
}
