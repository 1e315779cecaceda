//! The integer-only executor: every op of a quantized graph computed as TF Lite Micro's
//! reference kernels do, with the output multipliers and shifts TFLM derives when it prepares
//! the model (which the generated C uses too).

use super::fixed::{
    activation_range, multiply_by_quantized_multiplier as mbqm, quantize_multiplier,
    rounding_divide_by_pot, srdhm, tflite_round,
};
use super::graph::{OpKind, Shape, conv_geometry, pad};
use super::quant::{QGraph, QOp, QParams};

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
                    (tflite_round(x / p.scale) + p.zero_point).clamp(-128, 127) as i8
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
