//! The exported network as a list of TFLite-shaped operators on single images in NHWC order:
//! what the float reference, the quantizer, the integer executor and the .tflite writer all
//! read. Batch norm is folded into the convolutions; weights are OHWI (CONV_2D), 1HWC
//! (DEPTHWISE_CONV_2D) and [out, in] (FULLY_CONNECTED).

use crate::arch::net::{conv_out, tflite_pad};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// One activation tensor of a single image: height, width, channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shape {
    pub h: usize,
    pub w: usize,
    pub c: usize,
}

impl Shape {
    pub fn len(&self) -> usize {
        self.h * self.w * self.c
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Padding {
    /// TFLite's SAME: out = ceil(in / stride), the odd pixel of padding after.
    Same,
    Valid,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum OpKind {
    /// CONV_2D (groups 1) or DEPTHWISE_CONV_2D (multiplier 1), ReLU6 fused or none.
    Conv {
        depthwise: bool,
        kernel: usize,
        stride: usize,
        padding: Padding,
        relu6: bool,
    },
    /// PAD of H and W by `before` / `after` pixels, with the tensor's zero: the symmetric
    /// padding of a stride-2 convolution that SAME would place differently.
    Pad { before: usize, after: usize },
    /// ADD of two tensors of the same shape (the residual shortcut).
    Add,
    /// AVERAGE_POOL_2D over the whole H×W (global average pooling).
    AvgPool,
    /// FULLY_CONNECTED: the classifier.
    FullyConnected,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Op {
    /// Where the layer comes from: "stem", "block3.expand", "head"…
    pub name: String,
    pub kind: OpKind,
    /// Activation tensors read (indices into `Graph::shapes`; 0 is the model's input).
    pub inputs: Vec<usize>,
    pub output: usize,
    /// Float weights (BN folded) in TFLite's layout, and one bias per output channel.
    #[serde(skip)]
    pub weight: Vec<f32>,
    #[serde(skip)]
    pub bias: Vec<f32>,
}

/// How the model's input relates to the sensor's pixels: channel c of the input is
/// (pixel / 255 − mean[c]) / std[c], as the network saw it in training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputNorm {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl InputNorm {
    /// An image of pixels (HWC) as the network's float input.
    pub fn apply(&self, px: &[u8]) -> Vec<f32> {
        let c = self.mean.len();
        px.iter()
            .enumerate()
            .map(|(i, &p)| (p as f32 / 255.0 - self.mean[i % c]) / self.std[i % c])
            .collect()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Graph {
    pub shapes: Vec<Shape>,
    pub ops: Vec<Op>,
    pub norm: InputNorm,
}

/// Output size and (before, after) padding of a convolution on `n` pixels.
pub fn conv_geometry(n: usize, k: usize, s: usize, padding: Padding) -> (usize, usize, usize) {
    match padding {
        Padding::Valid => ((n - k) / s + 1, 0, 0),
        Padding::Same => {
            let out = n.div_ceil(s);
            let total = ((out - 1) * s + k).saturating_sub(n);
            (out, total / 2, total - total / 2)
        }
    }
}

impl Graph {
    pub fn input(&self) -> Shape {
        self.shapes[0]
    }
    pub fn output(&self) -> usize {
        self.ops.last().map_or(0, |o| o.output)
    }
    pub fn classes(&self) -> usize {
        self.shapes[self.output()].c
    }

    fn push_tensor(&mut self, s: Shape) -> usize {
        self.shapes.push(s);
        self.shapes.len() - 1
    }

    /// A graph holding only its input.
    pub fn new(input: Shape, norm: InputNorm) -> Graph {
        Graph {
            shapes: vec![input],
            ops: Vec::new(),
            norm,
        }
    }

    /// Append a convolution of `x` with PyTorch's symmetric padding k/2, as SAME where TFLite's
    /// SAME pads the same pixels and as PAD + VALID where it does not (a stride-2 convolution of
    /// an even size pads one pixel before in PyTorch, one after in SAME). `weight` is OHWI, or
    /// 1HWC for a depthwise convolution.
    #[allow(clippy::too_many_arguments)]
    pub fn conv(
        &mut self,
        name: &str,
        x: usize,
        depthwise: bool,
        kernel: usize,
        stride: usize,
        relu6: bool,
        weight: Vec<f32>,
        bias: Vec<f32>,
    ) -> Result<usize> {
        let s = self.shapes[x];
        let cout = bias.len();
        let cin = if depthwise { 1 } else { s.c };
        if weight.len() != cout * kernel * kernel * cin || (depthwise && cout != s.c) {
            return Err(Error::Invalid(format!(
                "export: layer {name}: {} weights for {cout} output channels of {kernel}x{kernel}x{cin}",
                weight.len()
            )));
        }
        let (oh, ow) = (conv_out(s.h, kernel, stride), conv_out(s.w, kernel, stride));
        let (input, padding) = match tflite_pad(s.h, kernel, stride) {
            None if kernel == 1 => (x, Padding::Valid),
            None => (x, Padding::Same),
            Some((before, after)) => {
                let padded = Shape {
                    h: s.h + before + after,
                    w: s.w + before + after,
                    c: s.c,
                };
                let t = self.push_tensor(padded);
                self.ops.push(Op {
                    name: format!("{name}.pad"),
                    kind: OpKind::Pad { before, after },
                    inputs: vec![x],
                    output: t,
                    weight: Vec::new(),
                    bias: Vec::new(),
                });
                (t, Padding::Valid)
            }
        };
        let o = self.push_tensor(Shape {
            h: oh,
            w: ow,
            c: cout,
        });
        self.ops.push(Op {
            name: name.into(),
            kind: OpKind::Conv {
                depthwise,
                kernel,
                stride,
                padding,
                relu6,
            },
            inputs: vec![input],
            output: o,
            weight,
            bias,
        });
        Ok(o)
    }

    pub fn add(&mut self, name: &str, a: usize, b: usize) -> Result<usize> {
        if self.shapes[a] != self.shapes[b] {
            return Err(Error::Invalid(format!(
                "export: {name}: ADD of shapes {:?} and {:?}",
                self.shapes[a], self.shapes[b]
            )));
        }
        let o = self.push_tensor(self.shapes[a]);
        self.ops.push(Op {
            name: name.into(),
            kind: OpKind::Add,
            inputs: vec![a, b],
            output: o,
            weight: Vec::new(),
            bias: Vec::new(),
        });
        Ok(o)
    }

    pub fn avg_pool(&mut self, name: &str, x: usize) -> usize {
        let c = self.shapes[x].c;
        let o = self.push_tensor(Shape { h: 1, w: 1, c });
        self.ops.push(Op {
            name: name.into(),
            kind: OpKind::AvgPool,
            inputs: vec![x],
            output: o,
            weight: Vec::new(),
            bias: Vec::new(),
        });
        o
    }

    pub fn fully_connected(
        &mut self,
        name: &str,
        x: usize,
        weight: Vec<f32>,
        bias: Vec<f32>,
    ) -> Result<usize> {
        let cin = self.shapes[x].len();
        if weight.len() != bias.len() * cin {
            return Err(Error::Invalid(format!(
                "export: {name}: {} weights for {} outputs of {cin} inputs",
                weight.len(),
                bias.len()
            )));
        }
        let o = self.push_tensor(Shape {
            h: 1,
            w: 1,
            c: bias.len(),
        });
        self.ops.push(Op {
            name: name.into(),
            kind: OpKind::FullyConnected,
            inputs: vec![x],
            output: o,
            weight,
            bias,
        });
        Ok(o)
    }

    /// Every tensor of the float network for one normalised image (HWC): index 0 is the input.
    pub fn run_f32(&self, x: &[f32]) -> Vec<Vec<f32>> {
        assert_eq!(x.len(), self.input().len(), "input size");
        let mut t: Vec<Vec<f32>> = vec![Vec::new(); self.shapes.len()];
        t[0] = x.to_vec();
        for op in &self.ops {
            let xs = self.shapes[op.inputs[0]];
            let ys = self.shapes[op.output];
            let y = match &op.kind {
                OpKind::Conv {
                    depthwise,
                    kernel,
                    stride,
                    padding,
                    relu6,
                } => {
                    let mut y = conv_f32(
                        &t[op.inputs[0]],
                        xs,
                        ys,
                        &op.weight,
                        &op.bias,
                        *depthwise,
                        *kernel,
                        *stride,
                        *padding,
                    );
                    if *relu6 {
                        y.iter_mut().for_each(|v| *v = v.clamp(0.0, 6.0));
                    }
                    y
                }
                OpKind::Pad { before, .. } => pad(&t[op.inputs[0]], xs, ys, *before, 0.0f32),
                OpKind::Add => t[op.inputs[0]]
                    .iter()
                    .zip(&t[op.inputs[1]])
                    .map(|(a, b)| a + b)
                    .collect(),
                OpKind::AvgPool => {
                    let hw = xs.h * xs.w;
                    let v = &t[op.inputs[0]];
                    (0..xs.c)
                        .map(|c| (0..hw).map(|i| v[i * xs.c + c]).sum::<f32>() / hw as f32)
                        .collect()
                }
                OpKind::FullyConnected => {
                    let v = &t[op.inputs[0]];
                    op.bias
                        .iter()
                        .enumerate()
                        .map(|(o, b)| {
                            b + op.weight[o * v.len()..(o + 1) * v.len()]
                                .iter()
                                .zip(v)
                                .map(|(w, x)| w * x)
                                .sum::<f32>()
                        })
                        .collect()
                }
            };
            t[op.output] = y;
        }
        t
    }
}

/// The tensor `x` of shape `xs` padded by `before` pixels (top, left) into `ys` with `zero`.
pub fn pad<T: Copy>(x: &[T], xs: Shape, ys: Shape, before: usize, zero: T) -> Vec<T> {
    let mut y = vec![zero; ys.len()];
    for r in 0..xs.h {
        let dst = ((r + before) * ys.w + before) * ys.c;
        y[dst..dst + xs.w * xs.c].copy_from_slice(&x[r * xs.w * xs.c..(r + 1) * xs.w * xs.c]);
    }
    y
}

#[allow(clippy::too_many_arguments)]
fn conv_f32(
    x: &[f32],
    xs: Shape,
    ys: Shape,
    w: &[f32],
    b: &[f32],
    depthwise: bool,
    k: usize,
    s: usize,
    padding: Padding,
) -> Vec<f32> {
    let (_, pt, _) = conv_geometry(xs.h, k, s, padding);
    let (_, pl, _) = conv_geometry(xs.w, k, s, padding);
    let mut y = vec![0.0f32; ys.len()];
    for oy in 0..ys.h {
        for ox in 0..ys.w {
            let out = &mut y[(oy * ys.w + ox) * ys.c..][..ys.c];
            out.copy_from_slice(b);
            for ky in 0..k {
                let iy = (oy * s + ky) as isize - pt as isize;
                if iy < 0 || iy >= xs.h as isize {
                    continue;
                }
                for kx in 0..k {
                    let ix = (ox * s + kx) as isize - pl as isize;
                    if ix < 0 || ix >= xs.w as isize {
                        continue;
                    }
                    let inp = &x[(iy as usize * xs.w + ix as usize) * xs.c..][..xs.c];
                    if depthwise {
                        let wk = &w[(ky * k + kx) * xs.c..][..xs.c];
                        for c in 0..xs.c {
                            out[c] += inp[c] * wk[c];
                        }
                    } else {
                        for (o, acc) in out.iter_mut().enumerate() {
                            let wk = &w[((o * k + ky) * k + kx) * xs.c..][..xs.c];
                            *acc += inp.iter().zip(wk).map(|(a, b)| a * b).sum::<f32>();
                        }
                    }
                }
            }
        }
    }
    y
}
