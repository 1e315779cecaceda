//! int8 post-training quantization to TFLite's spec (the integer-only executor that runs the
//! result is `super::executor`).
//!
//! Weights: int8 in [−127, 127], zero point 0, one scale per output channel (max |w| / 127).
//! Biases: int32 at input_scale · weight_scale[c]. Activations: int8 per tensor, asymmetric,
//! from the min / max seen on the calibration images (the range always holds 0; a fused ReLU6
//! caps it at [0, 6]). PAD and AVERAGE_POOL_2D keep their input's parameters. The input is the
//! normalised image, its range the union of the channels' ranges of (pixel/255 − mean)/std;
//! firmware maps a pixel to it through a 256-entry table per channel (`QGraph::input_table`).

use super::graph::{Graph, OpKind};
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
